/*
 * mxauth — see mxauth.h.  Every value written into a header comes from a
 * validated field: addresses that passed lib/addr, domains that pass
 * addr_domain_ok, selectors limited to [a-z0-9._-]; anything else is
 * written as "invalid", so a crafted d= or selector cannot add header
 * text.
 */
#include "mxauth.h"

#include <arpa/nameser.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "msg.h"

int mxauth_parse_mode(const char *s, enum mxauth_mode *out)
{
	if (!strcmp(s, "off"))
		*out = MXAUTH_OFF;
	else if (!strcmp(s, "tag"))
		*out = MXAUTH_TAG;
	else if (!strcmp(s, "enforce"))
		*out = MXAUTH_ENFORCE;
	else
		return -1;
	return 0;
}

static struct dns_resolver *resolver(const struct mxauth_conf *c, struct dns_resolver **dns)
{
	struct mm_err e;

	if (!*dns) {
		*dns = dns_open(c->resolver, &e);
		if (!*dns)
			log_err("resolver: %s", e.msg);
	}
	return *dns;
}

static int token_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		    *s == '.' || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

static const char *safe_domain(const char *d)
{
	return addr_domain_ok(d, NULL) == 0 ? d : "invalid";
}

static void header_safe(char *p)
{
	for (; *p; p++)
		if (*p == '\r' || *p == '\n' || *p == '\t')
			*p = ' ';
}

/* A HELO argument that names a host (not an address literal, not a bare
 * word): only such a name has an SPF identity (RFC 7208 2.3). */
static int helo_is_name(const char *h)
{
	return h[0] && strchr(h, '.') && addr_domain_ok(h, NULL) == 0;
}

/* SPF of the HELO name, once per name per session. */
static void spf_helo(const struct mxauth_conf *c, struct dns_resolver *d, struct smtpd *s,
    struct mxauth_helo *h)
{
	struct mm_err e;

	if (h->done && !strcmp(h->name, s->helo))
		return;
	memset(h, 0, sizeof *h);
	_Static_assert(sizeof h->name == sizeof s->helo, "the HELO name fits");
	memcpy(h->name, s->helo, strlen(s->helo) + 1);
	if (!helo_is_name(s->helo))
		return;
	if (spf_eval_r(d, s->peer_ip, s->helo, "", c->spf_timeout_ms, &h->spf, &e) < 0)
		log_warn("%s: SPF (HELO): %s", s->id, e.msg);
	header_safe(h->spf.received_spf);
	h->done = 1;
	smtpd_trace(s, "SPF for HELO %s from %s: %s (%s)", s->helo, s->peer_ip,
	    spf_vresult_str(h->spf.result), h->spf.explanation);
	log_info("%s: %s: SPF %s for HELO %s", s->id, s->peer_ip, spf_vresult_str(h->spf.result),
	    s->helo);
}

int mxauth_mail(const struct mxauth_conf *c, struct dns_resolver **dns, struct smtpd *s,
    struct mxauth_tx *tx, struct smtpd_reply *r)
{
	char from[ADDR_STR_MAX];
	struct dns_resolver *d;
	struct mm_err e;
	struct mxauth_helo keep = tx->helo;

	memset(tx, 0, sizeof *tx);
	tx->helo = keep;
	if (c->spf == MXAUTH_OFF || !strcmp(s->peer_ip, "local"))
		return 0;
	if (!(d = resolver(c, dns)))
		return 0;
	spf_helo(c, d, s, &tx->helo);
	if (c->spf == MXAUTH_ENFORCE && tx->helo.done && tx->helo.spf.result == SPF_V_FAIL) {
		smtpd_reply_set(r, 550, "5.7.23 HELO %s: its SPF does not allow %s to use that name",
		    safe_domain(s->helo), s->peer_ip);
		return -1;
	}
	if (s->mail_null)
		from[0] = '\0';
	else
		addr_format(&s->mail, from);
	if (s->mail_null && tx->helo.done)
		tx->spf = tx->helo.spf;      /* the same identity: postmaster@HELO */
	else if (spf_eval_r(d, s->peer_ip, s->helo, from, c->spf_timeout_ms, &tx->spf, &e) < 0)
		log_warn("%s: SPF: %s", s->id, e.msg);
	tx->spf_done = 1;
	_Static_assert(sizeof tx->spf_domain >= sizeof s->helo &&
	    sizeof tx->spf_domain >= sizeof s->mail.domain, "the SPF identity fits");
	memcpy(tx->spf_domain, s->mail_null ? s->helo : s->mail.domain,
	    strlen(s->mail_null ? s->helo : s->mail.domain) + 1);
	header_safe(tx->spf.received_spf);
	smtpd_trace(s, "SPF for %s from %s: %s (%s)", from[0] ? from : "<> (HELO)", s->peer_ip,
	    spf_vresult_str(tx->spf.result), tx->spf.explanation);
	log_info("%s: %s: SPF %s for <%s>", s->id, s->peer_ip, spf_vresult_str(tx->spf.result), from);
	if (c->spf == MXAUTH_ENFORCE && tx->spf.result == SPF_V_FAIL) {
		smtpd_reply_set(r, 550, "5.7.23 <%s>: SPF of %s does not allow %s to send its mail",
		    from, safe_domain(tx->spf_domain), s->peer_ip);
		return -1;
	}
	return 0;
}

int mxauth_dnsbl(const struct mxauth_conf *c, struct dns_resolver **dns, struct smtpd *s,
    const char *const *zones, size_t nzones, struct smtpd_reply *r)
{
	char rev[DNS_NAME_MAX], name[DNS_NAME_MAX];
	struct dns_resolver *d;
	char *arpa;

	if (!nzones || !strcmp(s->peer_ip, "local") || !(d = resolver(c, dns)))
		return 0;
	if (dns_reverse_name(s->peer_ip, rev, sizeof rev) < 0)
		return 0;
	arpa = strstr(rev, ".in-addr.arpa");
	if (!arpa)
		arpa = strstr(rev, ".ip6.arpa");
	if (!arpa)
		return 0;
	*arpa = '\0';
	for (size_t i = 0; i < nzones; i++) {
		struct dns_answer a, t;
		int listed = 0;

		if (snprintf_ok(name, sizeof name, "%s.%s", rev, zones[i]) < 0)
			continue;
		if (dns_query(d, name, ns_t_a, &a, NULL) == DNS_OK)
			for (size_t k = 0; k < a.nrr; k++) {
				const unsigned char *b = a.rr[k].addr;
				if (a.rr[k].family != AF_INET || b[0] != 127)
					continue;
				if (b[1] == 255 && b[2] == 255) {
					log_warn("%s: DNSBL %s refused our query (%s): not a listing", s->id,
					    zones[i], a.rr[k].addrstr);
					continue;
				}
				if (b[1] == 0 && b[2] == 0 && b[3] >= 2)
					listed = 1;
			}
		dns_answer_free(&a);
		smtpd_trace(s, "DNSBL %s: %s %s", zones[i], s->peer_ip, listed ? "listed" : "not listed");
		if (!listed)
			continue;
		{
			char why[200] = "listed";
			if (dns_query(d, name, ns_t_txt, &t, NULL) == DNS_OK && t.nrr) {
				size_t o = 0;
				for (const char *p = t.rr[0].txt; *p && o + 1 < sizeof why; p++)
					why[o++] = (*p >= 0x20 && *p < 0x7f) ? *p : ' ';
				why[o] = '\0';
			}
			dns_answer_free(&t);
			log_info("%s: %s: refused: listed by %s: %s", s->id, s->peer_ip, zones[i], why);
			smtpd_reply_set(r, 554, "5.7.1 %s is listed by %s: %s", s->peer_ip, zones[i], why);
		}
		return -1;
	}
	return 0;
}

/* DMARC: the record of the From: domain or of its organisational domain. */
struct dmarc_out {
	int evaluated;
	const char *result;     /* "pass", "fail", "none", "temperror", "permerror" */
	enum dmarc_policy policy;
	int pct;                /* of the record */
	enum dmarc_policy dis;  /* what is done: policy, milder when not sampled */
};

/* RFC 7489 6.6.4: pct% of failing messages get the policy, the rest the
 * next milder one.  pct 100 and 0 are exact (no randomness). */
static enum dmarc_policy disposition(enum dmarc_policy p, int pct)
{
	unsigned char b[2];

	if (p != DMARC_POLICY_REJECT && p != DMARC_POLICY_QUARANTINE)
		return DMARC_POLICY_NONE;
	if (pct < 100) {
		random_bytes(b, sizeof b);
		if ((int)((((unsigned)b[0] << 8) | b[1]) % 100) >= pct)
			return p == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
	}
	return p;
}

static int fetch_dmarc(struct dns_resolver *d, const char *domain, struct dmarc_record *rec,
    int *temp)
{
	struct dns_answer a;
	char name[DNS_NAME_MAX];
	int found = 0;

	if (snprintf_ok(name, sizeof name, "_dmarc.%s", domain) < 0)
		return 0;
	if (dns_query(d, name, ns_t_txt, &a, NULL) == DNS_OK) {
		for (size_t i = 0; i < a.nrr && !found; i++)
			if (dmarc_is_record(a.rr[i].txt) && dmarc_parse(a.rr[i].txt, rec, NULL) == 0)
				found = 1;
	} else if (a.status == DNS_TIMEOUT || a.status == DNS_SERVFAIL)
		*temp = 1;
	dns_answer_free(&a);
	return found;
}

static int aligned(const struct mxauth_conf *c, const char *a, const char *b, char mode)
{
	if (mode == 's' || !c->psl)
		return !ascii_strcasecmp(a, b);
	return dmarc_aligned(c->psl, a, b, 0);
}

static void dmarc_eval(const struct mxauth_conf *c, struct dns_resolver *d, struct smtpd *s,
    const struct mxauth_tx *tx, const struct dkimv *v, const char *from_domain,
    struct dmarc_out *out)
{
	struct dmarc_record rec;
	char org[DMARC_DOMAIN_MAX + 1];
	int temp = 0, found, subdomain = 0, pass = 0;

	memset(&rec, 0, sizeof rec);
	out->evaluated = 1;
	out->result = "none";
	out->policy = DMARC_POLICY_NONE;
	found = fetch_dmarc(d, from_domain, &rec, &temp);
	if (!found && !temp && c->psl && dmarc_org_domain(c->psl, from_domain, org, sizeof org) == 0 &&
	    ascii_strcasecmp(org, from_domain)) {
		found = fetch_dmarc(d, org, &rec, &temp);
		subdomain = 1;
	}
	if (!found) {
		out->result = temp ? "temperror" : "none";
		return;
	}
	for (size_t i = 0; i < v->n; i++)
		if (v->sig[i].result == DKIMV_PASS && aligned(c, v->sig[i].domain, from_domain, rec.adkim))
			pass = 1;
	/* the SPF-authenticated domain: MAIL FROM's, or for the null sender the
	 * HELO name's (RFC 7489 3.1.2, RFC 7208 2.4) */
	if (tx->spf_done && tx->spf.result == SPF_V_PASS && tx->spf_domain[0] &&
	    aligned(c, tx->spf_domain, from_domain, rec.aspf))
		pass = 1;
	out->result = pass ? "pass" : "fail";
	out->policy = subdomain && rec.sp != DMARC_POLICY_UNSET ? rec.sp : rec.p;
	out->pct = rec.pct;
	out->dis = pass ? DMARC_POLICY_NONE : disposition(out->policy, rec.pct);
	dmarc_record_free(&rec);
}

/* The From: header: exactly one field with exactly one usable address. */
static int from_domain_of(const struct msg *m, char *out, size_t cap, const char **why)
{
	const struct msg_field *f;
	struct addr_list l = { 0 };
	struct mm_err e;

	out[0] = '\0';
	if (msg_count(m, "From") == 0)
		return 0;      /* nothing a reader could take for one of ours */
	if (msg_count(m, "From") > 1) {
		*why = "more than one From: field";
		return -1;
	}
	f = msg_find(m, "From");
	if (addr_list_parse(f->value, f->value_len, &l, &e) < 0 || l.n != 1) {
		addr_list_free(&l);
		*why = "From: does not hold exactly one usable address";
		return -1;
	}
	if (snprintf_ok(out, cap, "%s", l.v[0].domain) < 0) {
		addr_list_free(&l);
		out[0] = '\0';
		*why = "From: domain too long";
		return -1;
	}
	addr_list_free(&l);
	return 0;
}

/* An incoming Authentication-Results: with our authserv-id is forged. */
static int ours_ar(const struct mxauth_conf *c, const struct msg_field *f)
{
	const char *v = f->value;
	size_t n;

	if (!msg_field_is(f, "Authentication-Results"))
		return 0;
	while (*v == ' ' || *v == '\t')
		v++;
	n = strcspn(v, "; \t(");
	return n == strlen(c->hostname) && !ascii_strncasecmp(v, c->hostname, n);
}

int mxauth_data(const struct mxauth_conf *c, struct dns_resolver **dns, struct smtpd *s,
    struct mxauth_tx *tx, const struct buf *msg, struct buf *head, struct buf *body,
    struct smtpd_reply *r)
{
	struct msg m;
	struct mm_err e;
	struct dkimv v;
	struct dmarc_out dm = { 0 };
	struct dns_resolver *d = resolver(c, dns);
	char from_domain[ADDR_DOMAIN_MAX + 1];
	const char *why = NULL;
	int env_ours, from_ours, did_dkim = 0, helo_extra, rc = -1;
	size_t pos = 0;

	memset(&v, 0, sizeof v);
	tx->quarantine = 0;
	if (msg_parse(&m, msg->data, msg->len, 0, &e) < 0) {
		smtpd_reply_set(r, 550, "5.6.0 message header cannot be parsed: %s", e.msg);
		return -1;
	}
	if (from_domain_of(&m, from_domain, sizeof from_domain, &why) < 0) {
		smtpd_trace(s, "From: refused: %s", why);
		smtpd_reply_set(r, 550, "5.6.0 %s", why);
		goto out;
	}
	env_ours = !s->mail_null && c->is_ours(c->ours_ctx, s->mail.domain);
	from_ours = from_domain[0] && c->is_ours(c->ours_ctx, from_domain);
	if (c->dkim != MXAUTH_OFF || env_ours || from_ours || c->dmarc != MXAUTH_OFF) {
		if (!d || dkimv_verify(d, msg->data, msg->len, &v, &e) < 0) {
			log_err("%s: DKIM: %s", s->id, d ? e.msg : "no resolver");
			smtpd_reply_set(r, 451, "4.7.5 cannot verify DKIM signatures now: try again later");
			goto out;
		}
		did_dkim = 1;
		for (size_t i = 0; i < v.n; i++)
			smtpd_trace(s, "DKIM d=%s s=%s a=%s (%u bits): %s%s%s", safe_domain(v.sig[i].domain),
			    token_ok(v.sig[i].selector) ? v.sig[i].selector : "invalid", v.sig[i].alg,
			    v.sig[i].bits, dkimv_result_str(v.sig[i].result), v.sig[i].why[0] ? ": " : "",
			    v.sig[i].why);
		if (!v.n)
			smtpd_trace(s, "DKIM: no signature");
	}
	if (env_ours && !dkimv_passed_for(&v, s->mail.domain)) {
		smtpd_trace(s, "anti-forgery: envelope sender in our domain %s without its DKIM signature",
		    s->mail.domain);
		smtpd_reply_set(r, 550, "5.7.1 mail from %s must carry a valid DKIM signature of %s",
		    s->mail.domain, s->mail.domain);
		goto out;
	}
	if (from_ours && !dkimv_passed_for(&v, from_domain)) {
		smtpd_trace(s, "anti-forgery: From: in our domain %s without its DKIM signature",
		    from_domain);
		smtpd_reply_set(r, 550, "5.7.1 From: %s needs a valid DKIM signature of %s",
		    from_domain, from_domain);
		goto out;
	}
	if (c->dkim == MXAUTH_ENFORCE && v.n) {
		int any = 0;
		for (size_t i = 0; i < v.n; i++)
			any |= v.sig[i].result == DKIMV_PASS;
		if (!any) {
			smtpd_reply_set(r, 550, "5.7.20 no valid DKIM signature: %s", v.sig[0].why);
			goto out;
		}
	}
	if (c->dmarc != MXAUTH_OFF && d && from_domain[0]) {
		dmarc_eval(c, d, s, tx, &v, from_domain, &dm);
		if (c->dmarc != MXAUTH_ENFORCE)
			dm.dis = DMARC_POLICY_NONE;
		smtpd_trace(s, "DMARC for %s: %s (policy %s, pct %d, disposition %s)", from_domain,
		    dm.result, dmarc_policy_str(dm.policy), dm.pct, dmarc_policy_str(dm.dis));
		if (dm.dis == DMARC_POLICY_REJECT) {
			smtpd_reply_set(r, 550, "5.7.1 DMARC policy of %s says reject: no aligned SPF "
			    "or DKIM pass", from_domain);
			goto out;
		}
		if (dm.dis == DMARC_POLICY_QUARANTINE) {
			tx->quarantine = 1;
			log_info("%s: %s: DMARC policy of %s says quarantine", s->id, s->peer_ip,
			    from_domain);
		}
	}
	/* the record: the HELO identity first (checked first), then MAIL FROM's */
	helo_extra = tx->spf_done && tx->helo.done && !s->mail_null;
	if (helo_extra && tx->helo.spf.received_spf[0])
		buf_printf(head, "Received-SPF: %s\n", tx->helo.spf.received_spf);
	if (tx->spf_done && tx->spf.received_spf[0])
		buf_printf(head, "Received-SPF: %s\n", tx->spf.received_spf);
	buf_printf(head, "Authentication-Results: %s", c->hostname);
	if (!tx->spf_done && !did_dkim && !dm.evaluated)
		buf_puts(head, "; none");
	if (helo_extra)
		buf_printf(head, ";\n\tspf=%s smtp.helo=%s", spf_vresult_str(tx->helo.spf.result),
		    safe_domain(s->helo));
	if (tx->spf_done) {
		if (s->mail_null)
			buf_printf(head, ";\n\tspf=%s smtp.helo=%s", spf_vresult_str(tx->spf.result),
			    safe_domain(s->helo));
		else {
			char a[ADDR_STR_MAX];
			addr_format(&s->mail, a);
			buf_printf(head, ";\n\tspf=%s smtp.mailfrom=%s", spf_vresult_str(tx->spf.result), a);
		}
	}
	if (did_dkim && !v.n)
		buf_puts(head, ";\n\tdkim=none");
	for (size_t i = 0; i < v.n; i++)
		buf_printf(head, ";\n\tdkim=%s header.d=%s header.s=%s header.a=%s",
		    dkimv_result_str(v.sig[i].result), safe_domain(v.sig[i].domain),
		    token_ok(v.sig[i].selector) ? v.sig[i].selector : "invalid",
		    token_ok(v.sig[i].alg) ? v.sig[i].alg : "unknown");
	if (dm.evaluated && !strcmp(dm.result, "fail"))
		buf_printf(head, ";\n\tdmarc=fail (p=%s dis=%s) header.from=%s",
		    dmarc_policy_str(dm.policy), dmarc_policy_str(dm.dis), from_domain);
	else if (dm.evaluated)
		buf_printf(head, ";\n\tdmarc=%s header.from=%s", dm.result, from_domain);
	buf_puts(head, "\n");
	/* the message without forged results of ours */
	for (size_t i = 0; i < m.n; i++) {
		if (ours_ar(c, &m.f[i])) {
			smtpd_trace(s, "removed an incoming Authentication-Results: claiming to be ours");
			buf_append(body, msg->data + pos, m.f[i].off - pos);
			pos = m.f[i].off + m.f[i].raw_len;
		}
	}
	buf_append(body, msg->data + pos, msg->len - pos);
	rc = 0;
out:
	msg_free(&m);
	return rc;
}
