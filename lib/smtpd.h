/*
 * smtpd — the server side of one SMTP session (RFC 5321), shaped after
 * OpenSMTPD's smtp_session.c: an explicit state, a command table whose
 * entries say in which states a verb is allowed, and bounded reads.
 *
 * The module has two halves.  The pure half (smtpd_parse_cmd, the DATA
 * dot-unstuffing machine smtpd_dot_*, smtpd_parse_mail_params) does no
 * I/O and no allocation beyond its output buffer, so fuzzers drive it
 * directly.  The I/O half (smtpd_run) reads through lib/io with deadlines
 * and asks the caller's hooks for every policy decision (recipient valid?
 * message delivered?), so MX mode and a later submit mode share one
 * protocol engine and differ only in their hooks.
 *
 * Hygiene that lives here, because it is protocol, not policy: command
 * lines end in CRLF and are at most 512 octets; NUL, bare CR and bare LF
 * in a command are refused; only CRLF.CRLF ends DATA (a "\n.\n" or
 * "\r.\r" is content, never an end: no SMTP smuggling); text lines are at
 * most 998 octets; bytes pipelined after STARTTLS, or pipelined by a
 * client that was not offered PIPELINING, drop the connection.
 */
#ifndef MM_SMTPD_H
#define MM_SMTPD_H

#include <openssl/ssl.h>
#include "addr.h"
#include "io.h"
#include "util.h"

#define SMTPD_CMD_MAX         512            /* RFC 5321 4.5.3.1.4, incl. CRLF */
#define SMTPD_TEXT_LINE_MAX   1000           /* RFC 5321 4.5.3.1.6, 998 + CRLF */
#define SMTPD_DATA_READ_MAX   (64 * 1024)    /* a raw line longer than this drops the link */
#define SMTPD_SIZE_DEFAULT    ((size_t)50 * 1024 * 1024)
#define SMTPD_RCPT_DEFAULT    100            /* RFC 5321 4.5.3.1.8 minimum */
#define SMTPD_ERRORS_DEFAULT  10
#define SMTPD_CMD_TIMEOUT_DEFAULT  300       /* RFC 5321 4.5.3.2.7: 5 minutes */
#define SMTPD_DATA_TIMEOUT_DEFAULT 300       /* waiting for a data block */
#define SMTPD_GREET_TIMEOUT_DEFAULT 60       /* banner (or STARTTLS) to HELO/EHLO */
#define SMTPD_REPLY_MAX       512
#define SMTPD_REPLY_BACKLOG_MAX (64 * 1024)  /* unsent replies are flushed at this size even
                                                while pipelined input waits: a client that
                                                never reads cannot make us buffer without bound */
#define SMTPD_HELO_MAX        255

/* ---- pure half ------------------------------------------------------- */

enum smtpd_verb {
	SMTPD_V_UNKNOWN = 0,
	SMTPD_V_HELO, SMTPD_V_EHLO, SMTPD_V_MAIL, SMTPD_V_RCPT, SMTPD_V_DATA,
	SMTPD_V_RSET, SMTPD_V_NOOP, SMTPD_V_QUIT, SMTPD_V_VRFY, SMTPD_V_EXPN,
	SMTPD_V_HELP, SMTPD_V_STARTTLS,
	SMTPD_V_BDAT, SMTPD_V_AUTH,             /* recognised, not offered */
};

/* What is wrong with a command line before it is even looked at. */
enum smtpd_line_error {
	SMTPD_L_OK = 0,
	SMTPD_L_NUL,        /* NUL byte */
	SMTPD_L_BARE_LF,    /* ends in LF without CR */
	SMTPD_L_BARE_CR,    /* CR not followed by LF */
	SMTPD_L_NOEOL,      /* no line end at all (EOF) */
};

struct smtpd_cmd {
	enum smtpd_verb verb;
	enum smtpd_line_error lerr;
	char arg[SMTPD_CMD_MAX + 1];    /* after the verb and one space, CRLF cut */
	size_t arglen;
	int has_arg;                    /* something followed the verb */
};

/* Split one raw line (with its terminator) into verb and argument. */
void smtpd_parse_cmd(const char *line, size_t len, struct smtpd_cmd *out);
const char *smtpd_verb_name(enum smtpd_verb v);

/* ESMTP parameters of MAIL FROM (after the path). */
struct smtpd_mail_params {
	int has_size;
	unsigned long long size;
	int body_8bit;      /* BODY=8BITMIME */
	int smtputf8;
};
/* 0, or -1 with a reply text in err->msg and err->code = the SMTP code. */
int smtpd_parse_mail_params(const char *s, struct smtpd_mail_params *out, struct mm_err *err);

/*
 * DATA: a byte-level state machine that unstuffs dots and recognises the
 * end only as CRLF "." CRLF.  It is fed raw bytes in any chunks and
 * appends the message, with CRLF line ends, to out (at most max bytes;
 * beyond that it only counts).  Bare CR or bare LF are recorded, and with
 * normalise they become CRLF; either way the line they end is never a
 * place where the terminating dot or dot-stuffing is recognised.
 */
enum {
	SMTPD_DOT_BARE_CR  = 1 << 0,
	SMTPD_DOT_BARE_LF  = 1 << 1,
	SMTPD_DOT_NUL      = 1 << 2,
	SMTPD_DOT_LONGLINE = 1 << 3,
	SMTPD_DOT_TOOBIG   = 1 << 4,
};

struct smtpd_dot {
	int state;
	int normalise;
	int flags;          /* SMTPD_DOT_* seen so far */
	size_t linelen;     /* octets in the current line, without its end */
	size_t max;         /* bytes kept at most */
	uint64_t total;     /* bytes of message seen (even when not kept) */
	int done;
};

void smtpd_dot_init(struct smtpd_dot *d, size_t max, int normalise);
/* Feed n bytes; returns how many were consumed (fewer than n only when the
 * end was reached: d->done is then set and the rest belongs to the next
 * command). */
size_t smtpd_dot_feed(struct smtpd_dot *d, const char *p, size_t n, struct buf *out);

/* ---- the session ----------------------------------------------------- */

enum smtpd_state {
	SMTPD_S_CONNECTED,   /* banner sent, no HELO/EHLO yet */
	SMTPD_S_HELO,        /* greeted; no transaction */
	SMTPD_S_MAIL,        /* MAIL accepted */
	SMTPD_S_RCPT,        /* at least one RCPT accepted */
	SMTPD_S_QUIT,
};

struct smtpd_reply {
	int code;                         /* 0: hook did not set one */
	char text[SMTPD_REPLY_MAX];       /* "5.1.1 <x@d>: no such mailbox" */
};
void smtpd_reply_set(struct smtpd_reply *r, int code, const char *fmt, ...) MM_PRINTF(3, 4);

struct smtpd_rcpt {
	struct addr addr;
	void *data;                       /* hook's per-recipient state */
};

struct smtpd;

/* The policy side.  Each hook returns 0 to accept (reply may be left for
 * the default) or -1 to refuse with the reply it filled. */
struct smtpd_hooks {
	int (*connect)(void *ctx, struct smtpd *s, struct smtpd_reply *r);
	int (*helo)(void *ctx, struct smtpd *s, struct smtpd_reply *r);
	int (*mail)(void *ctx, struct smtpd *s, struct smtpd_reply *r);
	int (*rcpt)(void *ctx, struct smtpd *s, struct smtpd_rcpt *rc, struct smtpd_reply *r);
	/* msg: the unstuffed message, CRLF line ends */
	int (*data)(void *ctx, struct smtpd *s, const struct buf *msg, struct smtpd_reply *r);
	void (*reset)(void *ctx, struct smtpd *s);   /* transaction ends */
};

struct smtpd_conf {
	const char *hostname;
	size_t max_size;
	size_t max_rcpt;
	int max_errors;
	int cmd_timeout;       /* seconds */
	int data_timeout;
	int greet_timeout;     /* seconds until HELO/EHLO; 0: cmd_timeout */
	int greet_delay;       /* seconds; 0: none */
	int normalise_eol;     /* bare CR/LF in DATA become CRLF instead of 5xx */
	SSL_CTX *tls;          /* NULL: no STARTTLS */
	int trace;             /* --test: write decisions to the client; a script on
	                          stdin may pipeline and talk first */
};

struct smtpd {
	const struct smtpd_conf *conf;
	struct io *io;
	enum smtpd_state state;
	const char *peer_ip;             /* "192.0.2.1" or "local" */
	char helo[SMTPD_HELO_MAX + 1];
	int esmtp;                       /* EHLO (PIPELINING offered) */
	int tls_done;
	struct addr mail;
	int mail_null;
	struct smtpd_mail_params params;
	struct smtpd_rcpt *rcpt;
	size_t nrcpt;
	int errors;
	unsigned long messages;          /* accepted in this session */
	char id[32];                     /* session id for logs */
	const struct smtpd_hooks *hooks;
	void *ctx;
};

enum smtpd_end {
	SMTPD_END_QUIT,       /* orderly QUIT */
	SMTPD_END_EOF,        /* client went away */
	SMTPD_END_TIMEOUT,
	SMTPD_END_DROPPED,    /* we dropped it (errors, pipelining, policy) */
	SMTPD_END_IOERR,
};

void smtpd_init(struct smtpd *s, const struct smtpd_conf *conf, struct io *io,
    const char *peer_ip, const struct smtpd_hooks *hooks, void *ctx);
/* Run the session to its end. */
enum smtpd_end smtpd_run(struct smtpd *s);
void smtpd_free(struct smtpd *s);
/* --test: a note for the human beside the replies ("  > text"). */
void smtpd_trace(struct smtpd *s, const char *fmt, ...) MM_PRINTF(2, 3);

#endif
