/*
 * mxauth — inbound authentication for MX mode: SPF (lib/spf) for the
 * HELO name and the envelope sender, DKIM (lib/dkimverify) for every
 * signature, DMARC (lib/dmarc) for the From: domain, the anti-forgery rule
 * for our own domains, and the Authentication-Results: (RFC 8601) and
 * Received-SPF: fields (one per SPF identity) that record it all.
 *
 * Each check has a mode: off (not evaluated), tag (recorded in the header
 * only), enforce (a failing result refuses the message):
 *   spf enforce    "fail" of the HELO name or of MAIL FROM refuses MAIL
 *                  FROM (550 5.7.23);
 *   dkim enforce   signatures present, none passing: 550 5.7.20;
 *   dmarc enforce  a failing message of a p=reject domain: 550 5.7.1;
 *                  of a p=quarantine domain: accepted with tx->quarantine
 *                  set (lib/mx files it in the junk folder).  pct= is
 *                  honoured (RFC 7489 6.6.4): a message not sampled gets
 *                  the next milder policy (reject -> quarantine -> none).
 *                  The disposition is recorded in Authentication-Results:
 *                  as "dmarc=fail (p=POLICY dis=DISPOSITION)".
 * The anti-forgery rule is not a mode: an envelope sender or From: in one
 * of our domains needs a passing DKIM signature of exactly that domain
 * (550 5.7.1 otherwise).  It is decided at the end of DATA, where the
 * signature is.  A repeated or unparseable From: is refused (550 5.6.0):
 * the header a reader sees must be the one that was judged.  A message
 * without From: shows no sender to forge and is judged without DMARC.
 */
#ifndef MM_MXAUTH_H
#define MM_MXAUTH_H

#include "dkimverify.h"
#include "dmarc.h"
#include "dns.h"
#include "smtpd.h"
#include "spf.h"

enum mxauth_mode { MXAUTH_OFF, MXAUTH_TAG, MXAUTH_ENFORCE };
int mxauth_parse_mode(const char *s, enum mxauth_mode *out);

#define MXAUTH_SPF_TIMEOUT_MS 20000   /* SPF evaluation deadline, all lookups */

struct mxauth_conf {
	enum mxauth_mode spf, dkim, dmarc;
	const char *resolver;           /* NULL: MM_RESOLVER / resolv.conf */
	int spf_timeout_ms;
	const struct dmarc_psl *psl;    /* NULL: relaxed alignment = exact names */
	const char *hostname;           /* authserv-id */
	int (*is_ours)(void *ctx, const char *domain);
	void *ours_ctx;
};

/* The HELO identity (RFC 7208 2.3) is checked once per HELO name and kept
 * across transactions; for the null sender it is also the MAIL FROM
 * identity (RFC 7208 2.4), so it is not evaluated twice. */
struct mxauth_helo {
	int done;                          /* evaluated for name */
	char name[SMTPD_HELO_MAX + 1];
	struct spf_verdict spf;
};

struct mxauth_tx {
	int spf_done;
	struct spf_verdict spf;
	char spf_domain[ADDR_DOMAIN_MAX + 1];
	struct mxauth_helo helo;           /* survives the per-MAIL reset */
	int quarantine;                    /* set by mxauth_data: DMARC says quarantine */
};

#define MXAUTH_DNSBL_MAX 16      /* --dnsbl zones */

/*
 * Connect: DNS block lists.  A client whose reversed address has an A
 * record 127.0.0.2..127.0.0.255 under a zone is listed (refused 554 5.7.1
 * with the list's TXT reason); 127.255.255.x means the list refused our
 * query (logged, not a listing); no answer or an error is not a listing.
 */
int mxauth_dnsbl(const struct mxauth_conf *c, struct dns_resolver **dns, struct smtpd *s,
    const char *const *zones, size_t nzones, struct smtpd_reply *r);

/* MAIL FROM: SPF.  0 accept, -1 refuse with r filled. */
int mxauth_mail(const struct mxauth_conf *c, struct dns_resolver **dns, struct smtpd *s,
    struct mxauth_tx *tx, struct smtpd_reply *r);

/*
 * End of DATA: judge msg (CRLF).  On acceptance (0) head gets the fields
 * to prepend (LF line ends) and body the message without any incoming
 * Authentication-Results: that claims our authserv-id.  -1: refused, r
 * filled.
 */
int mxauth_data(const struct mxauth_conf *c, struct dns_resolver **dns, struct smtpd *s,
    struct mxauth_tx *tx, const struct buf *msg, struct buf *head, struct buf *body,
    struct smtpd_reply *r);

#endif
