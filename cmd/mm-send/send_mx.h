/*
 * send_mx — mm-send's --mx transport: straight to each recipient domain's
 * MX hosts (RFC 5321 5.1): MX records in preference order, a random
 * order among equal preferences, the domain's own A/AAAA when it has no
 * MX, nothing at all for a null MX (RFC 7505).  STARTTLS is used when
 * offered (opportunistic: the certificate is not checked, as no MX
 * certificate can be checked without DANE or MTA-STS); a failed handshake
 * moves on to the next address.
 */
#ifndef MM_SEND_MX_H
#define MM_SEND_MX_H

#include "smtpc.h"

/* the SMTP session of main.c: tls_mode 0 none, 1 required, 2 opportunistic,
 * 3 implicit */
enum smtpc_status send_session(struct smtpc *c, int tls_mode, SSL_CTX *ctx,
    const char *from, struct smtpc_rcpt *r, size_t n, const char *msg, size_t len,
    struct mm_err *err);

struct send_mx_opts {
	const char *port;        /* "25", or --mx-port for tests */
	int timeout_ms;
	char **mta;              /* if not NULL: per rcpt, the host that decided
	                            its outcome (allocated, or NULL); for DSNs */
};

/* Deliver to every rcpt, grouped by domain; sets each rcpt's status. */
void send_mx_deliver(const struct send_mx_opts *o, const char *from, struct smtpc_rcpt *r,
    size_t n, const char *msg, size_t len);

#endif
