/*
 * mx — mm-recv's MX-mode policy: which recipients exist (the file system
 * says: ROOT/domain/local[/suffix]/), and delivery of an accepted message
 * into every recipient's Maildir with Return-Path:, Delivered-To: and
 * Received: prepended.  It plugs into lib/smtpd as its hooks, so the
 * protocol engine knows nothing about mailboxes.
 *
 * postmaster@domain (RFC 5321 4.5.1) is always a valid recipient of a
 * domain we serve; it is delivered to ROOT/domain/postmaster/, which the
 * administrator creates.  If that folder is missing the RCPT gets a 451
 * (the sender retries, nothing is lost) and an error is logged, rather
 * than mail for postmaster silently going somewhere unexpected.
 *
 * Authentication (SPF, DKIM, DMARC, the anti-forgery rule for our own
 * domains) is lib/mxauth's; this module calls it at MAIL FROM and at the
 * end of DATA and prepends what it reports.
 */
#ifndef MM_MX_H
#define MM_MX_H

#include "mxauth.h"
#include "smtpd.h"

#define MX_SUFFIX_SEP_DEFAULT "+/"
/* A message whose From: domain's DMARC policy says quarantine (under
 * --dmarc enforce) goes to ROOT/domain/local/junk/ when the user made that
 * folder, else to the usual folder with "X-Spam-Flag: YES" prepended. */
#define MX_JUNK_FOLDER "junk"
#define MX_HEAD_MAX 4096

struct mx {
	const char *root;         /* for messages */
	int rootfd;
	const char *suffix_sep;
	const char *hostname;
	struct mxauth_conf auth;
	struct dns_resolver *dns;  /* opened on first use, per process */
	struct mxauth_tx tx;
	const char *dnsbl[MXAUTH_DNSBL_MAX];
	size_t ndnsbl;
};

/* Open ROOT (a directory; symlink allowed only for ROOT itself). */
int mx_init(struct mx *mx, const char *root, struct mm_err *err);
void mx_free(struct mx *mx);

/* 1 if domain is one of ours (ROOT/domain is a directory). */
int mx_is_our_domain(const struct mx *mx, const char *domain);

extern const struct smtpd_hooks mx_hooks;

#endif
