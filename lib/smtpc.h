/*
 * smtpc — the SMTP client side (RFC 5321) over lib/io, as mm-send uses it.
 *
 * Every reply is read with hard bounds: a line longer than
 * SMTPC_LINE_MAX, more than SMTPC_REPLY_LINES_MAX continuation lines or a
 * reply over SMTPC_REPLY_BYTES_MAX ends the session with an error (a
 * temporary failure), so a hostile or broken server can neither hang the
 * client nor make it allocate without bound.  After STARTTLS the client
 * drops anything the server sent ahead of the handshake and says EHLO
 * again (RFC 3207 4.2).  PIPELINING is used when offered (MAIL, every
 * RCPT and DATA in one write, RFC 2920).
 *
 * Outcomes are three-valued, the way a queue needs them: OK, TEMP (4xx,
 * a dropped or silent connection, a protocol error: try again later) and
 * PERM (5xx: give up and tell the sender).
 */
#ifndef MM_SMTPC_H
#define MM_SMTPC_H

#include <sys/types.h>
#include "io.h"
#include "util.h"

#define SMTPC_LINE_MAX        2048          /* one reply line, with CRLF (RFC: 512) */
#define SMTPC_REPLY_LINES_MAX 100           /* lines in one multi-line reply */
#define SMTPC_REPLY_BYTES_MAX (64 * 1024)   /* bytes of one whole reply */
#define SMTPC_TEXT_MAX        512           /* reply text kept for messages */
#define SMTPC_TIMEOUT_MS      (5 * 60 * 1000)
#define SMTPC_CONNECT_TIMEOUT_MS (30 * 1000)
#define SMTPC_DATA_CHUNK      (256 * 1024)  /* message bytes per write while sending */

enum smtpc_status {
	SMTPC_OK = 0,
	SMTPC_TEMP = 1,
	SMTPC_PERM = 2,
};

/* ESMTP extensions seen in the EHLO reply */
#define SMTPC_EXT_PIPELINING 0x01
#define SMTPC_EXT_STARTTLS   0x02
#define SMTPC_EXT_8BITMIME   0x04
#define SMTPC_EXT_SIZE       0x08
#define SMTPC_EXT_AUTH_PLAIN 0x10
#define SMTPC_EXT_AUTH_LOGIN 0x20

/* One reply being assembled from lines (pure: no I/O, unit-tested). */
struct smtpc_reply {
	int code;                 /* 3 digits; 0 until the first line */
	size_t nlines;
	size_t bytes;
	struct buf text;          /* the lines' text, joined with '\n' */
};

void smtpc_reply_init(struct smtpc_reply *r);
void smtpc_reply_free(struct smtpc_reply *r);
/* Add one received line (with or without its CRLF).  Returns 1 when the
 * reply is complete, 0 when more lines follow, -1 (err) when the line is
 * malformed or a bound is crossed. */
int smtpc_reply_add(struct smtpc_reply *r, const char *line, size_t len, struct mm_err *err);
/* The reply text as one printable line (controls replaced), for messages. */
void smtpc_reply_summary(const struct smtpc_reply *r, char *out, size_t outsz);

struct smtpc {
	struct io io;
	int ext;                  /* SMTPC_EXT_* */
	size_t size_max;          /* SIZE value, 0 if none */
	int verbose;              /* log the dialogue to stderr */
	char host[256];           /* for TLS names and messages */
	int host_cut;             /* host did not fit: STARTTLS refuses */
};

void smtpc_init(struct smtpc *c, int rfd, int wfd, const char *host, int timeout_ms);
void smtpc_close(struct smtpc *c);

/* Set c->ext and c->size_max from a complete 250 reply to EHLO (pure:
 * the first line is the greeting, each further line one extension). */
void smtpc_parse_ehlo(struct smtpc *c, const struct smtpc_reply *r);
/* Read one reply.  -1 (err) on I/O or protocol failure. */
int smtpc_read_reply(struct smtpc *c, struct smtpc_reply *r, struct mm_err *err);

/* Greeting, then EHLO (HELO if EHLO is refused). */
enum smtpc_status smtpc_hello(struct smtpc *c, const char *helo, struct mm_err *err);
/* STARTTLS, handshake (verifying per ctx and verify_host), EHLO again. */
enum smtpc_status smtpc_starttls(struct smtpc *c, SSL_CTX *ctx, int verify_host,
    const char *helo, struct mm_err *err);
/* Implicit TLS (smtps): handshake before the greeting; then smtpc_hello. */
enum smtpc_status smtpc_tls_now(struct smtpc *c, SSL_CTX *ctx, int verify_host,
    struct mm_err *err);
/* AUTH PLAIN (or LOGIN if only that is offered). */
enum smtpc_status smtpc_auth(struct smtpc *c, const char *user, const char *pass,
    struct mm_err *err);

struct smtpc_rcpt {
	const char *addr;
	enum smtpc_status st;     /* set by smtpc_send */
	char text[SMTPC_TEXT_MAX];
};

/*
 * One transaction: MAIL FROM:<from> (empty from = null sender), RCPT TO
 * each, DATA with the message (CRLF canonical; dot-stuffed here).  Each
 * rcpt gets its own status; the return value is the status of the message
 * for the accepted recipients (OK: delivered to every rcpt whose st is
 * OK), TEMP or PERM when nothing was accepted or DATA failed (then every
 * rcpt not already PERM gets that status and text).
 */
enum smtpc_status smtpc_send(struct smtpc *c, const char *from, struct smtpc_rcpt *rcpts,
    size_t n, const char *msg, size_t len, struct mm_err *err);
/* QUIT, reply read with a short wait; errors ignored. */
void smtpc_quit(struct smtpc *c);

/* Dot-stuff msg (CRLF canonical) into out and terminate it with ".\r\n";
 * a message not ending in CRLF gets one. */
void smtpc_dot_stuff(const char *msg, size_t len, struct buf *out);

/* TCP connection to host:port within timeout_ms (every address tried in
 * order).  -1 (err) when none answers. */
int smtpc_connect_tcp(const char *host, const char *port, int timeout_ms, int *fd,
    struct mm_err *err);
/* Start argv[0] (PATH search) with its stdin/stdout on pipes to us. */
int smtpc_spawn(char *const argv[], pid_t *pid, int *rfd, int *wfd, struct mm_err *err);

#endif
