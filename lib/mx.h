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

/* The recipient check and reset of MX mode, for another mode's hooks
 * (submit mode validates our own mailboxes the same way). */
int mx_rcpt(void *ctx, struct smtpd *s, struct smtpd_rcpt *rc, struct smtpd_reply *r);
void mx_reset(void *ctx, struct smtpd *s);

/* A Received: field (LF line ends) appended to out; with hide_client the
 * client's HELO name and address are left out (submit mode: the privacy
 * of the sender's home connection). */
void mx_received(const struct mx *mx, struct smtpd *s, const char *for_addr, int hide_client,
    struct buf *out);

/*
 * Called for each copy once all are written to tmp/ and before any is
 * linked into new/: folder (domain/local[/suffix] below ROOT) and the
 * file name it will have in new/; then once with both NULL (all told).
 * Returning -1 abandons the delivery.
 */
struct mx_note {
	int (*fn)(void *ctx, const char *folder, const char *name);
	void *ctx;
};

/*
 * Deliver body (CRLF) into the Maildir of every recipient of s that
 * mx_rcpt accepted (rcpt data set; others are skipped), each copy with
 * Return-Path:, Delivered-To:, Received: and extra (LF) prepended.
 * note may be NULL.  Returns the number of copies, all durable; -1 with
 * r a 4xx and nothing delivered.
 */
long mx_deliver(struct mx *mx, struct smtpd *s, const char *extra, size_t extralen,
    const char *body, size_t bodylen, int hide_client, const struct mx_note *note,
    struct smtpd_reply *r);

#endif
