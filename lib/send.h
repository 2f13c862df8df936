/*
 * send — mm-send's transports: one signed message to a list of recipients
 * by --via CMD (an SMTP session on a program's stdin/stdout), --relay
 * HOST (submission with TLS and optional AUTH) or straight to each
 * recipient domain's MX hosts (RFC 5321 5.1): MX records in preference
 * order, a random order among equal preferences, the domain's own A/AAAA
 * when it has no MX, nothing at all for a null MX (RFC 7505).  On the MX
 * path STARTTLS is used when offered (opportunistic: the certificate is
 * not checked, as no MX certificate can be checked without DANE or
 * MTA-STS); a failed handshake moves on to the next address.
 *
 * The outcome is per recipient (struct smtpc_rcpt's st and text): the
 * caller queues, bounces or reports; this module never exits.
 */
#ifndef MM_SEND_H
#define MM_SEND_H

#include "smtpc.h"

#define SEND_PASSWORD_MAX 1024

struct send_opts {
	const char *via;          /* --via: command line (split into words, execvp) */
	const char *relay;        /* --relay HOST[:PORT] or [HOST]:PORT; neither: MX */
	const char *mx_port;      /* NULL: "25" (--mx-port, for tests) */
	const char *tls_ca;       /* --relay: CA file, NULL for the system's */
	const char *helo;         /* NULL: gethostname() */
	const char *auth_user, *auth_pw_file, *auth_pw_cmd;
	int smtps;                /* --relay: implicit TLS (465) */
	int verbose;              /* log the SMTP dialogue */
	int timeout_ms;           /* per SMTP reply */
};

/* TLS modes of send_session */
enum send_tls { SEND_TLS_NONE, SEND_TLS_REQUIRED, SEND_TLS_OPPORTUNISTIC, SEND_TLS_IMPLICIT };

/* The name we say hello with: so->helo, else the host name, else "localhost". */
const char *send_helo_name(const struct send_opts *so);

/* Set every rcpt's status and text (text cut to fit). */
void send_set_all(struct smtpc_rcpt *r, size_t n, enum smtpc_status st, const char *text);

/* Talk SMTP on an open connection: hello, TLS as tls_mode says, AUTH
 * (so->auth_user, not in plaintext nor opportunistic TLS), send. */
enum smtpc_status send_session(const struct send_opts *so, struct smtpc *c,
    enum send_tls tls_mode, SSL_CTX *ctx, const char *from, struct smtpc_rcpt *r, size_t n,
    const char *msg, size_t len, struct mm_err *err);

/* Deliver to every rcpt by the MX path, grouped by domain; sets each
 * rcpt's status.  mta, if not NULL: per rcpt, the host that decided its
 * outcome (allocated, or NULL); for DSNs. */
void send_mx_deliver(const struct send_opts *so, char **mta, const char *from,
    struct smtpc_rcpt *r, size_t n, const char *msg, size_t len);

/* Deliver to every rcpt by the configured transport (via, relay, else MX);
 * per-rcpt status set, and, for MX, mta as send_mx_deliver.  A relay's
 * "replayed" refusal (mm-recv --submit saw this signature before: our
 * earlier 250 was lost) counts as delivered, with a warning. */
void send_deliver(const struct send_opts *so, const char *from, struct smtpc_rcpt *r,
    char **mta, size_t n, const char *msg, size_t len);

#endif
