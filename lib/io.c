/*
 * io — see io.h.
 *
 * Everything funnels through two primitives, fill() and drain(), which wait
 * with poll(2) for at most timeout_ms per step of progress.  With TLS the
 * same loop handles OpenSSL's WANT_READ/WANT_WRITE by polling the
 * descriptor OpenSSL asked for.
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

void io_init(struct io *io, int rfd, int wfd, int timeout_ms)
{
	memset(io, 0, sizeof *io);
	io->rfd = rfd;
	io->wfd = wfd;
	io->timeout_ms = timeout_ms > 0 ? timeout_ms : IO_DEFAULT_TIMEOUT_MS;
	io->rchunk = IO_READ_CHUNK;
	io->rfl = fcntl(rfd, F_GETFL);
	io->wfl = fcntl(wfd, F_GETFL);
	if (io->rfl >= 0)
		fcntl(rfd, F_SETFL, io->rfl | O_NONBLOCK);
	if (io->wfl >= 0 && wfd != rfd)
		fcntl(wfd, F_SETFL, io->wfl | O_NONBLOCK);
	buf_init(&io->wbuf);
}

void io_close(struct io *io)
{
	if (io->ssl) {
		SSL_free(io->ssl);
		io->ssl = NULL;
	}
	if (io->rfl >= 0)
		fcntl(io->rfd, F_SETFL, io->rfl);
	if (io->wfl >= 0 && io->wfd != io->rfd)
		fcntl(io->wfd, F_SETFL, io->wfl);
	free(io->rbuf);
	io->rbuf = NULL;
	buf_free(&io->wbuf);
}

void io_set_timeout(struct io *io, int timeout_ms)
{
	io->timeout_ms = timeout_ms > 0 ? timeout_ms : IO_DEFAULT_TIMEOUT_MS;
}

void io_set_read_chunk(struct io *io, size_t n)
{
	io->rchunk = n > 0 ? n : IO_READ_CHUNK;
}

static enum io_result wait_fd(int fd, short ev, int ms, struct mm_err *err)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int64_t deadline = now_ms() + ms;

	for (;;) {
		int left = (int)(deadline - now_ms()), r;

		if (left < 0)
			left = 0;
		r = poll(&p, 1, left);
		if (r > 0)
			return IO_OK;
		if (r == 0) {
			err_set(err, "timed out after %d s", ms / 1000);
			return IO_TIMEOUT;
		}
		if (errno != EINTR) {
			err_sys(err, "poll");
			return IO_ERROR;
		}
	}
}

static void tls_error(struct mm_err *err, const char *what)
{
	unsigned long e = ERR_get_error();
	char b[256];

	if (e) {
		ERR_error_string_n(e, b, sizeof b);
		err_set(err, "%s: %s", what, b);
	} else if (errno) {
		err_sys(err, "%s", what);
	} else {
		err_set(err, "%s: connection closed", what);
	}
	ERR_clear_error();
}

/* One step of SSL progress: wait for what OpenSSL wants. */
static enum io_result tls_wait(struct io *io, int ret, const char *what, struct mm_err *err)
{
	switch (SSL_get_error(io->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(io->rfd, POLLIN, io->timeout_ms, err);
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(io->wfd, POLLOUT, io->timeout_ms, err);
	case SSL_ERROR_ZERO_RETURN:
		return IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && errno == 0)
			return IO_EOF;   /* peer closed without close_notify */
		/* FALLTHROUGH */
	default:
		tls_error(err, what);
		return IO_ERROR;
	}
}

/* Read more bytes into rbuf; IO_OK means at least one byte arrived. */
static enum io_result fill(struct io *io, struct mm_err *err)
{
	if (io->eof)
		return IO_EOF;
	if (io->rpos == io->rlen)
		io->rpos = io->rlen = 0;
	if (io->rcap - io->rlen < io->rchunk) {
		if (io->rpos > 0) {
			memmove(io->rbuf, io->rbuf + io->rpos, io->rlen - io->rpos);
			io->rlen -= io->rpos;
			io->rpos = 0;
		}
		if (io->rcap - io->rlen < io->rchunk) {
			io->rcap = io->rlen + io->rchunk;
			io->rbuf = xrealloc(io->rbuf, io->rcap);
		}
	}
	for (;;) {
		enum io_result r;

		if (io->ssl) {
			int n;
			errno = 0;
			n = SSL_read(io->ssl, io->rbuf + io->rlen, (int)(io->rcap - io->rlen));
			if (n > 0) {
				io->rlen += (size_t)n;
				io->bytes_in += (uint64_t)n;
				return IO_OK;
			}
			r = tls_wait(io, n, "TLS read", err);
		} else {
			ssize_t n = read(io->rfd, io->rbuf + io->rlen, io->rcap - io->rlen);
			if (n > 0) {
				io->rlen += (size_t)n;
				io->bytes_in += (uint64_t)n;
				return IO_OK;
			}
			if (n == 0)
				r = IO_EOF;
			else if (errno == EAGAIN || errno == EWOULDBLOCK)
				r = wait_fd(io->rfd, POLLIN, io->timeout_ms, err);
			else if (errno == EINTR)
				r = IO_OK;
			else if (errno == ECONNRESET) {
				r = IO_EOF;
			} else {
				err_sys(err, "read");
				r = IO_ERROR;
			}
		}
		if (r == IO_EOF)
			io->eof = 1;
		if (r != IO_OK)
			return r;
	}
}

enum io_result io_read_line(struct io *io, size_t max, const char **line, size_t *len,
    struct mm_err *err)
{
	size_t scanned = 0;
	int discarding = 0;

	for (;;) {
		char *start = io->rbuf ? io->rbuf + io->rpos : NULL;
		size_t avail = io->rlen - io->rpos;
		char *nl = avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
		enum io_result r;

		if (nl) {
			size_t n = (size_t)(nl - start) + 1;
			io->rpos += n;
			if (discarding || n > max)
				return IO_TOOLONG;
			*line = start;
			*len = n;
			return IO_OK;
		}
		scanned = avail;
		if (avail > max) {
			/* drop what we have and keep reading to the line's end */
			discarding = 1;
			io->rpos = io->rlen;
			scanned = 0;
		}
		r = fill(io, err);
		if (r == IO_EOF) {
			avail = io->rlen - io->rpos;
			if (discarding)
				return IO_TOOLONG;
			if (avail == 0)
				return IO_EOF;
			*line = io->rbuf + io->rpos;
			*len = avail;
			io->rpos = io->rlen;
			return IO_OK;
		}
		if (r != IO_OK)
			return r;
	}
}

enum io_result io_read(struct io *io, void *p, size_t n, size_t *got, struct mm_err *err)
{
	size_t avail;

	*got = 0;
	if (n == 0)
		return IO_OK;
	if (io->rpos == io->rlen) {
		enum io_result r = fill(io, err);
		if (r != IO_OK)
			return r;
	}
	avail = io->rlen - io->rpos;
	if (avail > n)
		avail = n;
	memcpy(p, io->rbuf + io->rpos, avail);
	io->rpos += avail;
	*got = avail;
	return IO_OK;
}

enum io_result io_read_full(struct io *io, void *p, size_t n, struct mm_err *err)
{
	char *c = p;

	while (n) {
		size_t got;
		enum io_result r = io_read(io, c, n, &got, err);
		if (r != IO_OK)
			return r;
		c += got;
		n -= got;
	}
	return IO_OK;
}

size_t io_pending(const struct io *io)
{
	size_t n = io->rlen - io->rpos;

	if (io->ssl)
		n += (size_t)SSL_pending(io->ssl);
	return n;
}

int io_input_ready(struct io *io, int wait_ms)
{
	struct pollfd p = { .fd = io->rfd, .events = POLLIN };
	int r;

	if (io_pending(io) > 0)
		return 1;
	do
		r = poll(&p, 1, wait_ms);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -1 : r > 0;
}

void io_write(struct io *io, const void *p, size_t n)
{
	buf_append(&io->wbuf, p, n);
}

void io_puts(struct io *io, const char *s)
{
	buf_puts(&io->wbuf, s);
}

void io_printf(struct io *io, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&io->wbuf, fmt, ap);
	va_end(ap);
}

enum io_result io_flush(struct io *io, struct mm_err *err)
{
	size_t off = 0;
	enum io_result r = IO_OK;

	while (off < io->wbuf.len) {
		size_t left = io->wbuf.len - off;

		if (io->ssl) {
			int n;
			errno = 0;
			n = SSL_write(io->ssl, io->wbuf.data + off, left > INT_MAX ? INT_MAX : (int)left);
			if (n > 0) {
				off += (size_t)n;
				continue;
			}
			r = tls_wait(io, n, "TLS write", err);
		} else {
			ssize_t n = write(io->wfd, io->wbuf.data + off, left);
			if (n > 0) {
				off += (size_t)n;
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				r = wait_fd(io->wfd, POLLOUT, io->timeout_ms, err);
			else if (n < 0 && errno == EINTR)
				r = IO_OK;
			else {
				err_sys(err, "write");
				r = IO_ERROR;
			}
		}
		if (r != IO_OK)
			break;
	}
	io->bytes_out += off;
	if (r == IO_EOF) {
		err_set(err, "connection closed while writing");
		r = IO_ERROR;
	}
	if (off == io->wbuf.len)
		buf_reset(&io->wbuf);
	else if (off) {
		memmove(io->wbuf.data, io->wbuf.data + off, io->wbuf.len - off);
		io->wbuf.len -= off;
	}
	return r;
}

static enum io_result handshake(struct io *io, int server, struct mm_err *err)
{
	/* Whatever was read before the switch was plaintext: drop it. */
	io->rpos = io->rlen = 0;
	for (;;) {
		int n;
		enum io_result r;

		errno = 0;
		n = server ? SSL_accept(io->ssl) : SSL_connect(io->ssl);
		if (n == 1)
			return IO_OK;
		r = tls_wait(io, n, "TLS handshake", err);
		if (r == IO_EOF) {
			err_set(err, "TLS handshake: connection closed");
			return IO_ERROR;
		}
		if (r != IO_OK)
			return r;
	}
}

static enum io_result tls_attach(struct io *io, SSL_CTX *ctx, struct mm_err *err)
{
	if (io->ssl) {
		err_set(err, "TLS already active");
		return IO_ERROR;
	}
	io->ssl = SSL_new(ctx);
	if (!io->ssl || !SSL_set_rfd(io->ssl, io->rfd) || !SSL_set_wfd(io->ssl, io->wfd)) {
		tls_error(err, "TLS setup");
		return IO_ERROR;
	}
	return IO_OK;
}

enum io_result io_starttls_server(struct io *io, SSL_CTX *ctx, struct mm_err *err)
{
	enum io_result r = tls_attach(io, ctx, err);

	return r != IO_OK ? r : handshake(io, 1, err);
}

enum io_result io_starttls_client(struct io *io, SSL_CTX *ctx, const char *host,
    int verify_host, struct mm_err *err)
{
	enum io_result r = tls_attach(io, ctx, err);

	if (r != IO_OK)
		return r;
	if (host && *host) {
		SSL_set_tlsext_host_name(io->ssl, host);
		if (verify_host) {
			SSL_set_hostflags(io->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if (!SSL_set1_host(io->ssl, host)) {
				tls_error(err, "TLS host name");
				return IO_ERROR;
			}
		}
	}
	r = handshake(io, 0, err);
	if (r == IO_OK && SSL_get_verify_mode(io->ssl) != SSL_VERIFY_NONE &&
	    SSL_get_verify_result(io->ssl) != X509_V_OK) {
		err_set(err, "TLS certificate: %s",
		    X509_verify_cert_error_string(SSL_get_verify_result(io->ssl)));
		return IO_ERROR;
	}
	return r;
}

int io_is_tls(const struct io *io)
{
	return io->ssl != NULL;
}

const char *io_tls_version(const struct io *io)
{
	return io->ssl ? SSL_get_version(io->ssl) : NULL;
}

const char *io_tls_cipher(const struct io *io)
{
	return io->ssl ? SSL_get_cipher_name(io->ssl) : NULL;
}

SSL_CTX *io_tls_server_ctx(const char *cert_file, const char *key_file, struct mm_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		tls_error(err, "TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_error(err, cert_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, key_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *io_tls_client_ctx(const char *ca_file, int verify, struct mm_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		tls_error(err, "TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if ((ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
		    : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
			tls_error(err, ca_file ? ca_file : "system CA store");
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}
