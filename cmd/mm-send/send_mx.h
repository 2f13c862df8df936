/*
 * send_mx — mm-send's --mx transport: straight to each recipient domain's
 * MX hosts (RFC 5321 5.1), opportunistic STARTTLS.
 */
#ifndef MM_SEND_MX_H
#define MM_SEND_MX_H

#include "smtpc.h"

struct send_mx_opts {
	const char *port;        /* "25", or --mx-port for tests */
	const char *helo;
	int timeout_ms;
	int verbose;
	const char *tls_ca;
};

/* Deliver to every rcpt, grouped by domain; sets each rcpt's status. */
void send_mx_deliver(const struct send_mx_opts *o, const char *from, struct smtpc_rcpt *r,
    size_t n, const char *msg, size_t len);

#endif
