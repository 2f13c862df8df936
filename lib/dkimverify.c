/*
 * dkimverify — see dkimverify.h.  One DKIM_LIB per call: verification is
 * once per message, and a fresh handle keeps no state between sessions.
 */
#include "dkimverify.h"

#include <arpa/nameser.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <opendkim/dkim.h>

const char *dkimv_result_str(enum dkimv_result r)
{
	static const char *const s[] = { "pass", "fail", "neutral", "policy", "temperror", "permerror" };

	return (size_t)r < MM_NELEM(s) ? s[r] : "permerror";
}

struct keysrc {
	dkimv_key_fn fn;
	void *ctx;
	struct dns_resolver *r;
};

/* libopendkim asks for "selector._domainkey.domain" TXT: the caller's key
 * source first, then lib/dns. */
static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	const struct keysrc *ks = dkim_get_user_context(dkim);
	struct dns_resolver *r = ks ? ks->r : NULL;
	const char *sel = (const char *)dkim_sig_getselector(sig);
	const char *dom = (const char *)dkim_sig_getdomain(sig);
	struct dns_answer a;
	char name[DNS_NAME_MAX];
	enum dns_status st;

	if (!sel || !dom)
		return DKIM_STAT_NOKEY;
	if (ks && ks->fn) {
		int k = ks->fn(ks->ctx, sel, dom, (char *)buf, buflen);
		if (k == 0)
			return DKIM_STAT_OK;
		if (k < 0)
			return DKIM_STAT_KEYFAIL;
	}
	if (!r || snprintf_ok(name, sizeof name, "%s._domainkey.%s", sel, dom) < 0)
		return DKIM_STAT_NOKEY;
	st = dns_query(r, name, ns_t_txt, &a, NULL);
	if (st == DNS_NXDOMAIN || st == DNS_NODATA || (st == DNS_OK && a.nrr == 0)) {
		dns_answer_free(&a);
		return DKIM_STAT_NOKEY;
	}
	if (st != DNS_OK) {
		dns_answer_free(&a);
		return DKIM_STAT_KEYFAIL;
	}
	if (a.rr[0].txt_len + 1 > buflen || memchr(a.rr[0].txt, '\0', a.rr[0].txt_len)) {
		dns_answer_free(&a);
		return DKIM_STAT_NOKEY;
	}
	memcpy(buf, a.rr[0].txt, a.rr[0].txt_len + 1);
	dns_answer_free(&a);
	return DKIM_STAT_OK;
}

static long long tag_num(DKIM_SIGINFO *s, const char *tag)
{
	const char *v = (const char *)dkim_sig_gettagvalue(s, 0, (u_char *)tag);
	long long n;

	if (!v || parse_long(v, 0, INT64_MAX / 2, &n) < 0)
		return -1;
	return n;
}

/* The tags a stricter policy needs, copied out of libopendkim's parse;
 * -1 if h= does not fit (the caller refuses the signature rather than
 * judging a shortened field list). */
static int tags(DKIM_SIGINFO *s, struct dkimv_sig *o)
{
	const char *h = (const char *)dkim_sig_gettagvalue(s, 0, (u_char *)"h");
	const char *b = (const char *)dkim_sig_gettagvalue(s, 0, (u_char *)"b");
	size_t n = 0;

	o->has_l = dkim_sig_gettagvalue(s, 0, (u_char *)"l") != NULL;
	o->t = tag_num(s, "t");
	o->x = tag_num(s, "x");
	int rc = snprintf_ok(o->h, sizeof o->h, "%s", h ? h : "");

	for (; b && *b; b++) {
		if (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
			continue;
		if (n + 1 >= sizeof o->b) {
			n = 0;        /* too long to be a key we accept: no replay identity */
			break;
		}
		o->b[n++] = *b;
	}
	o->b[n] = '\0';
	return rc;
}

static void judge(DKIM *d, DKIM_SIGINFO *s, struct dkimv_sig *o)
{
	dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
	unsigned int bits = 0;
	ssize_t msglen = -1, canonlen = -1, signlen = -1;
	int e = dkim_sig_geterror(s);
	const char *dom = (const char *)dkim_sig_getdomain(s);
	const char *sel = (const char *)dkim_sig_getselector(s);

	/* d=, s= and h= are compared and looked up: one that does not fit is
	 * refused below, never judged shortened */
	int cut = snprintf_ok(o->domain, sizeof o->domain, "%s", dom ? dom : "") < 0;

	cut |= snprintf_ok(o->selector, sizeof o->selector, "%s", sel ? sel : "") < 0;
	ascii_lower(o->domain);
	/* The signer's a= tag, not dkim_sig_getsignalg(): on a signature
	 * libopendkim refused early (t= in the future, say) the latter still
	 * holds 0, which is DKIM_SIGN_RSASHA1, and such a signature would be
	 * misreported as rsa-sha1. */
	const char *a = (const char *)dkim_sig_gettagvalue(s, 0, (u_char *)"a");

	if (a && !strcasecmp(a, "rsa-sha1"))
		alg = DKIM_SIGN_RSASHA1;
	else if (a && !strcasecmp(a, "rsa-sha256"))
		alg = DKIM_SIGN_RSASHA256;
	else if (a && !strcasecmp(a, "ed25519-sha256"))
		alg = DKIM_SIGN_ED25519SHA256;
	cut |= snprintf_ok(o->alg, sizeof o->alg, "%s", alg == DKIM_SIGN_RSASHA1 ? "rsa-sha1" :
	    alg == DKIM_SIGN_RSASHA256 ? "rsa-sha256" : alg == DKIM_SIGN_ED25519SHA256 ?
	    "ed25519-sha256" : "unknown") < 0;
	cut |= tags(s, o) < 0;
	if (dkim_sig_getkeysize(s, &bits) == DKIM_STAT_OK)
		o->bits = bits;
	(void)dkim_sig_getcanonlen(d, s, &msglen, &canonlen, &signlen);

	if (DKIM_SIG_CHECK(s))
		o->result = DKIMV_PASS;
	else if (e == DKIM_SIGERROR_KEYFAIL || e == DKIM_SIGERROR_DNSSYNTAX) {
		o->result = DKIMV_TEMPERROR;
	} else if (e == DKIM_SIGERROR_NOKEY || e == DKIM_SIGERROR_KEYTOOSMALL ||
	    e == DKIM_SIGERROR_VERSION ||
	    e == DKIM_SIGERROR_INVALID_HC || e == DKIM_SIGERROR_MISSING_A ||
	    e == DKIM_SIGERROR_INVALID_A || e == DKIM_SIGERROR_MISSING_S ||
	    e == DKIM_SIGERROR_MISSING_D || e == DKIM_SIGERROR_MISSING_B ||
	    e == DKIM_SIGERROR_MISSING_BH || e == DKIM_SIGERROR_KEYDECODE ||
	    e == DKIM_SIGERROR_DOMAIN)
		o->result = DKIMV_PERMERROR;
	else
		o->result = DKIMV_FAIL;
	if (o->result != DKIMV_PASS)
		str_trunc(o->why, sizeof o->why, "%s",
		    e != DKIM_SIGERROR_UNKNOWN && e != DKIM_SIGERROR_OK ? dkim_sig_geterrorstr(e) :
		    dkim_sig_getbh(s) == DKIM_SIGBH_MISMATCH ? "body hash mismatch" : "bad signature");
	/* mm's tightening, applied to what the library let pass */
	if (o->result == DKIMV_PASS && alg == DKIM_SIGN_RSASHA1) {
		o->result = DKIMV_FAIL;
		str_trunc(o->why, sizeof o->why, "rsa-sha1 is not acceptable (RFC 8301)");
	}
	if (o->result == DKIMV_PASS && alg != DKIM_SIGN_ED25519SHA256 && bits < DKIMV_RSA_MIN_BITS) {
		o->result = DKIMV_FAIL;
		str_trunc(o->why, sizeof o->why, "%u-bit key is too small (RFC 8301)", bits);
	}
	if (o->result == DKIMV_PASS && signlen >= 0 && msglen >= 0 && signlen < msglen) {
		o->result = DKIMV_POLICY;
		str_trunc(o->why, sizeof o->why, "l= covers %zd of %zd body octets", signlen, msglen);
	}
	if (cut) {
		o->result = DKIMV_PERMERROR;
		str_trunc(o->why, sizeof o->why, "d=, s= or h= longer than mm keeps (%zu, %zu, %d)",
		    sizeof o->domain - 1, sizeof o->selector - 1, DKIMV_TAG_MAX - 1);
	}
}

int dkimv_verify(struct dns_resolver *r, const char *msg, size_t len, struct dkimv *out,
    struct mm_err *err)
{
	return dkimv_verify_keys(NULL, NULL, r, msg, len, out, err);
}

int dkimv_verify_keys(dkimv_key_fn fn, void *fnctx, struct dns_resolver *r, const char *msg,
    size_t len, struct dkimv *out, struct mm_err *err)
{
	struct keysrc ks = { fn, fnctx, r };
	DKIM_LIB *lib;
	DKIM *d;
	DKIM_STAT st;
	DKIM_SIGINFO **sigs = NULL;
	int nsigs = 0;
	unsigned int flags = DKIM_LIBFLAGS_STRICTHDRS | DKIM_LIBFLAGS_BADSIGHANDLES;
	unsigned int minbits = DKIMV_RSA_MIN_BITS;

	memset(out, 0, sizeof *out);
	lib = dkim_init(NULL, NULL);
	if (!lib)
		return err_set(err, "libopendkim: cannot initialise");
	(void)dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags);
	(void)dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &minbits, sizeof minbits);
	(void)dkim_set_key_lookup(lib, key_lookup);
	d = dkim_verify(lib, (const unsigned char *)"mm-recv", NULL, &st);
	if (!d) {
		dkim_close(lib);
		return err_set(err, "libopendkim: cannot start verification (status %d)", st);
	}
	(void)dkim_set_user_context(d, &ks);
	st = dkim_chunk(d, (u_char *)msg, len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(d, NULL, 0);
	if (st == DKIM_STAT_SYNTAX) {
		out->header_error = 1;
		str_trunc(out->why, sizeof out->why, "header violates RFC 5322 (e.g. duplicate From:)");
	}
	if (st == DKIM_STAT_OK || st == DKIM_STAT_NOSIG) {
		st = dkim_eom(d, NULL);
		if (st == DKIM_STAT_SYNTAX) {
			out->header_error = 1;
			str_trunc(out->why, sizeof out->why, "header violates RFC 5322 (e.g. duplicate From:)");
		}
	}
	if (dkim_getsiglist(d, &sigs, &nsigs) == DKIM_STAT_OK)
		for (int i = 0; i < nsigs && out->n < DKIMV_SIGS_MAX; i++) {
			struct dkimv_sig *o = &out->sig[out->n++];
			judge(d, sigs[i], o);
			if (out->header_error && o->result == DKIMV_PASS) {
				o->result = DKIMV_FAIL;
				str_trunc(o->why, sizeof o->why, "%s", out->why);
			}
		}
	dkim_free(d);
	dkim_close(lib);
	return 0;
}

int dkimv_passed_for(const struct dkimv *v, const char *domain)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->sig[i].result == DKIMV_PASS && !ascii_strcasecmp(v->sig[i].domain, domain))
			return 1;
	return 0;
}
