/*
 * dkimverify — DKIM verification (RFC 6376) of an incoming message with
 * libopendkim, tightened where its defaults are too lax:
 *   - rsa-sha1 signatures fail (RFC 8301);
 *   - a signature whose l= covers less than the body counts as absent
 *     (result "policy"): appended text would ride on it;
 *   - duplicate From: (and other RFC 5322 count violations) fail, through
 *     DKIM_LIBFLAGS_STRICTHDRS;
 *   - RSA keys under 1024 bits fail (RFC 8301);
 *   - keys come from lib/dns (so --resolver applies) through
 *     dkim_set_key_lookup; the bytes verified are the bytes handed in.
 * Every signature gets its own result, for Authentication-Results:.
 */
#ifndef MM_DKIMVERIFY_H
#define MM_DKIMVERIFY_H

#include "dns.h"
#include "util.h"

#define DKIMV_SIGS_MAX     16      /* signatures evaluated per message */
#define DKIMV_RSA_MIN_BITS 1024    /* RFC 8301 3.2 */
#define DKIMV_TAG_MAX      1024    /* h= and b= kept up to this (b= of RSA-4096 is 684) */

enum dkimv_result {
	DKIMV_PASS,
	DKIMV_FAIL,
	DKIMV_NEUTRAL,
	DKIMV_POLICY,       /* valid but unacceptable to us (l= short of the body) */
	DKIMV_TEMPERROR,
	DKIMV_PERMERROR,
};
/* RFC 8601 names: "pass", "fail", "neutral", "policy", "temperror", "permerror" */
const char *dkimv_result_str(enum dkimv_result r);

struct dkimv_sig {
	enum dkimv_result result;
	char domain[256];
	char selector[256];
	char alg[24];             /* "rsa-sha256", "ed25519-sha256", "rsa-sha1" */
	unsigned bits;
	char why[128];
	/* tag values, for policies stricter than "it verifies" (submit mode) */
	int has_l;                /* an l= tag is present at all */
	long long t, x;           /* t= and x=; -1 when absent or not a number */
	char h[DKIMV_TAG_MAX];    /* h= as written (a longer one: PERMERROR) */
	char b[DKIMV_TAG_MAX];    /* b= with white space removed; "" if too long */
};

struct dkimv {
	struct dkimv_sig sig[DKIMV_SIGS_MAX];
	size_t n;
	int header_error;         /* the header itself is unacceptable (duplicate From:) */
	char why[128];            /* for header_error or a library failure */
};

/* Verify msg (CRLF line ends).  Fills out; -1 with err only when the
 * library itself could not run (then every signature is a temperror). */
int dkimv_verify(struct dns_resolver *r, const char *msg, size_t len, struct dkimv *out,
    struct mm_err *err);
/*
 * A key source other than DNS (mm-recv --submit --keys DIR): fill rec
 * (NUL-terminated, at most cap) with the key record for
 * selector._domainkey.domain.  Return 0 found, 1 none here (then DNS is
 * asked, if a resolver was given), -1 temporary failure.
 */
typedef int (*dkimv_key_fn)(void *ctx, const char *selector, const char *domain, char *rec,
    size_t cap);
int dkimv_verify_keys(dkimv_key_fn fn, void *fnctx, struct dns_resolver *r, const char *msg,
    size_t len, struct dkimv *out, struct mm_err *err);
/* 1 if some signature with d= exactly domain passed. */
int dkimv_passed_for(const struct dkimv *v, const char *domain);

#endif
