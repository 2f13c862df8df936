/*
 * io — buffered, deadline-bounded I/O on a pair of file descriptors, with
 * optional TLS (OpenSSL) switched on mid-stream (STARTTLS).
 *
 * Timeouts live here, not in callers: every read and every flush waits at
 * most io->timeout_ms for progress, so a peer that stops talking (or stops
 * reading) can never hold a process forever.  Lines are read with a hard
 * bound; an over-long line is consumed and discarded, so memory stays
 * bounded whatever the peer sends.
 *
 * Reads and writes may use different descriptors (a pipe pair under ssh or
 * in tests, or one socket twice under inetd).  The descriptors are put in
 * non-blocking mode while the io is open and restored by io_close.
 */
#ifndef MM_IO_H
#define MM_IO_H

#include <openssl/ssl.h>
#include "util.h"

#define IO_READ_CHUNK 16384
#define IO_DEFAULT_TIMEOUT_MS (5 * 60 * 1000)

enum io_result {
	IO_OK = 0,
	IO_EOF = 1,        /* orderly end of input */
	IO_TOOLONG = 2,    /* line exceeded the limit (it was discarded) */
	IO_TIMEOUT = 3,    /* no progress within the timeout */
	IO_ERROR = 4,      /* system or TLS error (see err) */
};

struct io {
	int rfd, wfd;
	int rfl, wfl;              /* original fcntl flags, restored on close */
	int timeout_ms;
	SSL *ssl;
	char *rbuf;
	size_t rpos, rlen, rcap;
	size_t rchunk;             /* least free space offered to read(2) */
	struct buf wbuf;
	int eof;
	uint64_t bytes_in, bytes_out;
};

void io_init(struct io *io, int rfd, int wfd, int timeout_ms);
/* Restore fd flags, free buffers and the SSL object (descriptors stay open). */
void io_close(struct io *io);
void io_set_timeout(struct io *io, int timeout_ms);
/* Offer read(2) at least n bytes of space (default IO_READ_CHUNK).  A bulk
 * reader behind a pipe wants the pipe's size: a writer woken for every
 * 16 KiB drained (ssh) copies its own backlog over and over. */
void io_set_read_chunk(struct io *io, size_t n);

/*
 * Read one line, up to and including '\n' (or to EOF).  *line points into
 * the io's buffer and stays valid until the next read; len counts the
 * bytes including the terminator.  A line longer than max is read through
 * its end, dropped, and reported as IO_TOOLONG.  An unterminated last line
 * before EOF is returned as a line (callers see it lacks '\n').
 */
enum io_result io_read_line(struct io *io, size_t max, const char **line, size_t *len,
    struct mm_err *err);
/* Read up to n bytes (at least 1 unless EOF). */
enum io_result io_read(struct io *io, void *p, size_t n, size_t *got, struct mm_err *err);
/* Exactly n bytes, or IO_EOF if the stream ends first. */
enum io_result io_read_full(struct io *io, void *p, size_t n, struct mm_err *err);

/* Bytes already received but not yet consumed. */
size_t io_pending(const struct io *io);
/* 1 if a read would not block now (buffered data, or readable within
 * wait_ms), 0 if not, -1 on error.  Used for PIPELINING flush decisions and
 * for catching clients that talk before the greeting. */
int io_input_ready(struct io *io, int wait_ms);

/* Buffered writes; io_flush sends everything (within the timeout). */
void io_write(struct io *io, const void *p, size_t n);
void io_puts(struct io *io, const char *s);
void io_printf(struct io *io, const char *fmt, ...) MM_PRINTF(2, 3);
enum io_result io_flush(struct io *io, struct mm_err *err);

/*
 * Switch to TLS.  Anything already buffered for reading is an error for
 * the server side (bytes pipelined after STARTTLS must not be read as if
 * they came through TLS): callers check io_pending() first; these calls
 * drop any buffered input regardless.  The client verifies the peer when
 * the SSL_CTX says so; host is used for SNI and name checks (may be NULL).
 */
enum io_result io_starttls_server(struct io *io, SSL_CTX *ctx, struct mm_err *err);
enum io_result io_starttls_client(struct io *io, SSL_CTX *ctx, const char *host,
    int verify_host, struct mm_err *err);
int io_is_tls(const struct io *io);
/* "TLSv1.3", cipher name; NULL without TLS. */
const char *io_tls_version(const struct io *io);
const char *io_tls_cipher(const struct io *io);

/* Set up SSL_CTXs with mm's policy (TLS 1.2 or later). */
SSL_CTX *io_tls_server_ctx(const char *cert_file, const char *key_file, struct mm_err *err);
/* ca_file NULL: the system store.  verify: require a valid certificate. */
SSL_CTX *io_tls_client_ctx(const char *ca_file, int verify, struct mm_err *err);

#endif
