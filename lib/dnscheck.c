/*
 * dnscheck — the checks of mm-dnscheck; the design note (planning in
 * waves, findings) is at the top of dnscheck.h.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dkimkey.h"
#include "dmarc.h"
#include "dns.h"
#include "dnscheck.h"
#include "spf.h"
#include "util.h"

/* Selectors found under --root for one domain. */
struct rootsel {
	char **v;
	size_t n;
};

struct ctx {
	struct dns_resolver *r;
	struct dmarc_psl *psl;
	const struct dnscheck_opts *o;
	struct dnscheck_report *rep;
	int dry;                  /* planning pass: findings are thrown away */
	struct dns_answer **arena;
	size_t narena;
};

/* ---------- findings ---------- */

static const char *status_str[] = { "PASS", "INFO", "WARN", "FAIL" };

const char *dnscheck_status_str(enum dnscheck_status st)
{
	return (size_t)st < MM_NELEM(status_str) ? status_str[st] : "?";
}

static void report_vadd(struct dnscheck_report *r, const char *check, const char *subject,
    enum dnscheck_status st, char *fix, const char *fmt, va_list ap) MM_PRINTF(6, 0);
static void report_vadd(struct dnscheck_report *r, const char *check, const char *subject,
    enum dnscheck_status st, char *fix, const char *fmt, va_list ap)
{
	struct buf b;
	struct dnscheck_finding *f;

	buf_init(&b);
	buf_vprintf(&b, fmt, ap);
	r->f = xreallocarray(r->f, r->n + 1, sizeof *r->f);
	f = &r->f[r->n++];
	f->check = check;
	f->subject = xstrdup(subject);
	f->message = dnscheck_clean(b.data ? b.data : "", b.len);
	buf_free(&b);
	f->fix = fix;
	f->status = st;
}

void dnscheck_report_add(struct dnscheck_report *r, const char *check, const char *subject,
    enum dnscheck_status st, char *fix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_vadd(r, check, subject, st, fix, fmt, ap);
	va_end(ap);
}

enum dnscheck_status dnscheck_report_worst(const struct dnscheck_report *r)
{
	enum dnscheck_status worst = DNSCHECK_PASS;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->f[i].status != DNSCHECK_INFO && r->f[i].status > worst)
			worst = r->f[i].status;
	return worst;
}

void dnscheck_report_free(struct dnscheck_report *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->f[i].subject);
		free(r->f[i].message);
		free(r->f[i].fix);
	}
	free(r->f);
	r->f = NULL;
	r->n = 0;
}

/* A finding of the current pass; the dry passes drop it. */
static void add(struct ctx *c, const char *check, const char *subject, enum dnscheck_status st,
    char *fix /* taken */, const char *fmt, ...) MM_PRINTF(6, 7);
static void add(struct ctx *c, const char *check, const char *subject, enum dnscheck_status st,
    char *fix, const char *fmt, ...)
{
	va_list ap;

	if (c->dry) {
		free(fix);
		return;
	}
	va_start(ap, fmt);
	report_vadd(c->rep, check, subject, st, fix, fmt, ap);
	va_end(ap);
}

char *dnscheck_clean(const char *s, size_t n)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f)
			buf_putc(&b, (char)ch);
		else
			buf_printf(&b, "\\%03u", ch);
		if (b.len > DNSCHECK_CLEAN_MAX) {
			buf_puts(&b, "...");
			break;
		}
	}
	if (!b.data)
		return xstrdup("");
	return buf_steal(&b);
}

void dnscheck_zone_txt(struct buf *b, const char *owner, const char *text)
{
	size_t n = strlen(text), i, k;

	buf_printf(b, "%s%s IN TXT", b->len ? "\n" : "", owner);
	for (i = 0; i < n || i == 0; i += DNSCHECK_TXT_CHUNK) {
		buf_puts(b, " \"");
		for (k = i; k < n && k < i + DNSCHECK_TXT_CHUNK; k++) {
			if (text[k] == '"' || text[k] == '\\')
				buf_putc(b, '\\');
			buf_putc(b, text[k]);
		}
		buf_putc(b, '"');
		if (n == 0)
			break;
	}
}

char *dnscheck_fix_txt(const char *owner, const char *text)
{
	struct buf b;

	buf_init(&b);
	dnscheck_zone_txt(&b, owner, text);
	return buf_steal(&b);
}

static char *fix_servfail(const char *name)
{
	return xasprintf("; the authoritative servers for %s answer SERVFAIL: check that the zone\n"
	    "; loads (nsd-checkzone, named-checkzone) and that its delegation is right", name);
}

static char *fix_keygen(const char *sel)
{
	return xasprintf("; make a key with mm-keygen -s %s ADDRESS and publish the one record it prints", sel);
}

/* ---------- DNS through the planner ---------- */

static const struct dns_answer *q(struct ctx *c, const char *name, int type)
{
	struct dns_answer *a = xcalloc(1, sizeof *a);

	dns_query(c->r, name, type, a, NULL);
	c->arena = xreallocarray(c->arena, c->narena + 1, sizeof *c->arena);
	c->arena[c->narena++] = a;
	return a;
}

static void arena_free(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->narena; i++) {
		dns_answer_free(c->arena[i]);
		free(c->arena[i]);
	}
	free(c->arena);
	c->arena = NULL;
	c->narena = 0;
}

static int missing(const struct dns_answer *a)
{
	return a->status == DNS_NXDOMAIN || a->status == DNS_NODATA;
}

/*
 * The answer says nothing (deferred, or the resolver failed): report
 * "could not check" once and return 1.  SERVFAIL, a CNAME loop and the
 * like are the zone's fault and are returned to the check as they are.
 */
static int unusable(struct ctx *c, const struct dns_answer *a, const char *check, const char *subject)
{
	if (a->deferred)
		return 1;
	if (a->status == DNS_TIMEOUT || (a->status == DNS_ERROR && a->rcode == -1 && !a->cname_loop &&
	    a->error && strstr(a->error, "no DNS server"))) {
		c->rep->cant = 1;
		add(c, check, subject, DNSCHECK_FAIL, NULL, "could not check: %s", a->error ? a->error : "DNS failure");
		return 1;
	}
	return 0;
}

/* Describe a failed lookup. */
static const char *why(const struct dns_answer *a)
{
	return a->error ? a->error : dns_status_str(a->status);
}

/* ---------- TXT helpers ---------- */

static char *txt_of(const struct dns_rr *rr)
{
	return dnscheck_clean(rr->txt ? rr->txt : "", rr->txt_len);
}

/* ---------- MX and addresses ---------- */

struct addrs {
	char ip[DNSCHECK_ADDRS_MAX][DNS_ADDRSTR_MAX];
	char host[DNSCHECK_ADDRS_MAX][DNS_NAME_MAX];   /* MX name it came from, or "" for --ip */
	size_t n;
};

static void addrs_add(struct ctx *c, struct addrs *as, const char *ip, const char *host)
{
	size_t i;

	for (i = 0; i < as->n; i++)
		if (!strcmp(as->ip[i], ip))
			return;
	if (as->n >= DNSCHECK_ADDRS_MAX)
		return;
	/* both are looked up and printed later: one that does not fit is
	 * reported, not checked under a shortened name */
	if (snprintf_ok(as->ip[as->n], sizeof as->ip[0], "%s", ip) < 0 ||
	    snprintf_ok(as->host[as->n], sizeof as->host[0], "%s", host) < 0) {
		add(c, "address", ip, DNSCHECK_FAIL, NULL, "address or its MX name too long to check (%d, %d)",
		    DNS_ADDRSTR_MAX - 1, DNS_NAME_MAX - 1);
		return;
	}
	as->n++;
}

static int is_ip_literal(const char *s)
{
	unsigned char b[16];
	const char *p;
	int digits_only = 1;

	if (inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1)
		return 1;
	if (s[0] == '[')
		return 1;
	for (p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '.'))
			digits_only = 0;
	return digits_only && *s;
}

static void check_host_addresses(struct ctx *c, const char *d, const char *host, struct addrs *as)
{
	const struct dns_answer *a4 = q(c, host, ns_t_a), *a6 = q(c, host, ns_t_aaaa);
	struct buf b;
	size_t i;

	if (unusable(c, a4, "address", host) || unusable(c, a6, "address", host))
		return;
	if (a4->cname_loop || a6->cname_loop) {
		add(c, "address", host, DNSCHECK_FAIL, xasprintf("; remove the CNAME loop; %s needs an A record:\n%s. IN A 192.0.2.1 ; your server's address", host, host),
		    "CNAME loop: %s", why(a4->cname_loop ? a4 : a6));
		return;
	}
	if (a4->ncnames > 0 || a6->ncnames > 0) {
		const struct dns_answer *x = a4->ncnames ? a4 : a6;

		add(c, "address", host, DNSCHECK_FAIL,
		    xasprintf("; point the MX at the canonical name instead:\n%s. IN MX 10 %s.", d, x->canon),
		    "MX target is a CNAME (to %s); RFC 2181 10.3 forbids it", x->canon);
	}
	if (a4->status == DNS_SERVFAIL || a6->status == DNS_SERVFAIL) {
		add(c, "address", host, DNSCHECK_FAIL, fix_servfail(host), "address lookup fails: %s", why(a4->status == DNS_SERVFAIL ? a4 : a6));
		return;
	}
	if (a4->status != DNS_OK && a6->status != DNS_OK) {
		add(c, "address", host, DNSCHECK_FAIL, xasprintf("%s. IN A 192.0.2.1 ; your server's address", host),
		    "MX target has no A or AAAA record (%s)", why(a4));
		return;
	}
	buf_init(&b);
	for (i = 0; i < a4->nrr; i++) {
		buf_printf(&b, "%s%s", b.len ? ", " : "", a4->rr[i].addrstr);
		addrs_add(c, as, a4->rr[i].addrstr, host);
	}
	for (i = 0; i < a6->nrr; i++) {
		buf_printf(&b, "%s%s", b.len ? ", " : "", a6->rr[i].addrstr);
		addrs_add(c, as, a6->rr[i].addrstr, host);
	}
	if (a4->ncnames == 0 && a6->ncnames == 0)
		add(c, "address", host, DNSCHECK_PASS, NULL, "has address%s %s", (a4->nrr + a6->nrr) > 1 ? "es" : "", b.data);
	buf_free(&b);
}

static void check_mx(struct ctx *c, const char *d, struct addrs *as)
{
	const struct dns_answer *mx = q(c, d, ns_t_mx);
	size_t i;
	int null_mx = 0;
	struct buf b;

	if (unusable(c, mx, "mx", d))
		return;
	if (mx->status == DNS_NXDOMAIN) {
		add(c, "mx", d, DNSCHECK_FAIL, xasprintf("%s. IN MX 10 mail.%s.", d, d), "the domain does not exist (NXDOMAIN)");
		return;
	}
	if (mx->status == DNS_SERVFAIL || mx->status == DNS_ERROR) {
		add(c, "mx", d, DNSCHECK_FAIL, fix_servfail(d), "MX lookup fails: %s", why(mx));
		return;
	}
	if (mx->status == DNS_NODATA) {
		const struct dns_answer *a4 = q(c, d, ns_t_a), *a6 = q(c, d, ns_t_aaaa);

		if (unusable(c, a4, "mx", d) || unusable(c, a6, "mx", d))
			return;
		if (a4->status == DNS_OK || a6->status == DNS_OK) {
			add(c, "mx", d, DNSCHECK_WARN, xasprintf("%s. IN MX 10 %s.", d, d),
			    "no MX record: mail goes to the domain's own address (implicit MX); publish an MX");
			check_host_addresses(c, d, d, as);
		} else {
			add(c, "mx", d, DNSCHECK_FAIL, xasprintf("%s. IN MX 10 mail.%s.\nmail.%s. IN A 192.0.2.1 ; your server's address", d, d, d),
			    "no MX and no address: the domain cannot receive mail (publish an MX, or a null MX \"0 .\" if it should not)");
		}
		return;
	}
	for (i = 0; i < mx->nrr; i++)
		if (mx->rr[i].name && !mx->rr[i].name[0])
			null_mx = 1;
	if (null_mx) {
		if (mx->nrr == 1 && mx->rr[0].pref == 0)
			add(c, "mx", d, DNSCHECK_PASS, NULL, "null MX: the domain accepts no mail (RFC 7505)");
		else
			add(c, "mx", d, DNSCHECK_FAIL, xasprintf("%s. IN MX 0 .", d),
			    "null MX mixed with other MX records (RFC 7505: it must be the only one, preference 0)");
		return;
	}
	buf_init(&b);
	for (i = 0; i < mx->nrr; i++)
		buf_printf(&b, "%s%u %s", i ? ", " : "", mx->rr[i].pref, mx->rr[i].name);
	add(c, "mx", d, DNSCHECK_PASS, NULL, "%zu MX: %s", mx->nrr, b.data);
	buf_free(&b);
	for (i = 0; i < mx->nrr; i++) {
		const char *t = mx->rr[i].name;

		if (is_ip_literal(t)) {
			add(c, "mx", t, DNSCHECK_FAIL, xasprintf("%s. IN MX %u mail.%s.\nmail.%s. IN A %s", d, mx->rr[i].pref, d, d, t),
			    "MX target is an IP address, not a host name");
			continue;
		}
		check_host_addresses(c, d, t, as);
	}
}

/* ---------- PTR ---------- */

static void check_ptr(struct ctx *c, const char *d, const char *ip, const char *host)
{
	char rev[DNS_NAME_MAX];
	const struct dns_answer *p;
	size_t i, j;
	int v6 = strchr(ip, ':') != NULL, confirmed = 0, pending = 0;
	struct buf names;

	if (dns_reverse_name(ip, rev, sizeof rev) < 0) {
		add(c, "ptr", ip, DNSCHECK_FAIL, NULL, "not an IP address");
		return;
	}
	p = q(c, rev, ns_t_ptr);
	if (unusable(c, p, "ptr", ip))
		return;
	if (p->status != DNS_OK) {
		add(c, "ptr", ip, DNSCHECK_FAIL, host[0] ? xasprintf("%s. IN PTR %s.", rev, host) : xasprintf("%s. IN PTR mail.%s.", rev, d),
		    "no PTR record (%s): receivers distrust mail from unnamed hosts; ask your provider to set it",
		    p->status == DNS_NXDOMAIN || p->status == DNS_NODATA ? "none published" : why(p));
		return;
	}
	buf_init(&names);
	for (i = 0; i < p->nrr && !confirmed; i++) {
		const struct dns_answer *f = q(c, p->rr[i].name, v6 ? ns_t_aaaa : ns_t_a);

		buf_printf(&names, "%s%s", names.len ? ", " : "", p->rr[i].name);
		if (f->deferred) {
			pending = 1;
			continue;
		}
		for (j = 0; j < f->nrr; j++) {
			unsigned char a[16], b[16];

			if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, a) == 1 &&
			    inet_pton(v6 ? AF_INET6 : AF_INET, f->rr[j].addrstr, b) == 1 &&
			    !memcmp(a, b, v6 ? 16 : 4))
				confirmed = 1;
		}
		if (confirmed)
			add(c, "ptr", ip, DNSCHECK_PASS, NULL, "PTR %s, which resolves back (forward-confirmed)", p->rr[i].name);
	}
	if (!confirmed && !pending)
		add(c, "ptr", ip, DNSCHECK_FAIL, xasprintf("%s. IN %s %s", p->rr[0].name, v6 ? "AAAA" : "A", ip),
		    "PTR %s does not resolve back to %s", names.data, ip);
	buf_free(&names);
}

/* ---------- SPF ---------- */

char *dnscheck_spf_suggest(const char *const *ips, size_t nips)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	buf_puts(&b, "v=spf1 mx");
	for (i = 0; i < nips; i++)
		buf_printf(&b, " %s:%s", strchr(ips[i], ':') ? "ip6" : "ip4", ips[i]);
	buf_puts(&b, " -all");
	return buf_steal(&b);
}

char *dnscheck_spf_with_ip(const char *rec, const char *ip)
{
	const char *mech = strchr(ip, ':') ? "ip6" : "ip4";
	char *term = xasprintf("%s:%s", mech, ip), *out;
	const char *p = rec, *all = NULL;

	if (strstr(rec, term)) {
		free(term);
		return xstrdup(rec);
	}
	while ((p = strstr(p, "all"))) {
		if ((p == rec || p[-1] == ' ' || (strchr("+-~?", p[-1]) && (p - 1 == rec || p[-2] == ' '))) &&
		    (p[3] == '\0' || p[3] == ' ')) {
			all = p > rec && strchr("+-~?", p[-1]) ? p - 1 : p;
			break;
		}
		p += 3;
	}
	if (all)
		out = xasprintf("%.*s%s %s", (int)(all - rec), rec, term, all);
	else
		out = xasprintf("%s %s", rec, term);
	free(term);
	return out;
}

static void check_spf(struct ctx *c, const char *d, const struct addrs *as)
{
	struct spf_analysis a;
	struct mm_err err;
	char *sugg = dnscheck_spf_suggest(c->o->ips, c->o->nips), *owner = xasprintf("%s.", d);
	const struct dns_answer *txt = q(c, d, ns_t_txt);
	int bad = 0;
	size_t i;
	char *root_rec = NULL;

	if (unusable(c, txt, "spf", d))
		goto out;
	if (txt->status == DNS_SERVFAIL || (txt->status == DNS_ERROR && !txt->deferred)) {
		add(c, "spf", d, DNSCHECK_FAIL, fix_servfail(d), "TXT lookup fails: %s", why(txt));
		goto out;
	}
	spf_analyze(c->r, d, &a, &err);
	if (c->dry) {
		spf_analysis_free(&a);
		goto out;
	}
	if (a.nrecords == 0) {
		add(c, "spf", d, DNSCHECK_FAIL, dnscheck_fix_txt(owner, sugg), "no SPF record: receivers cannot tell your servers from forgers");
		spf_analysis_free(&a);
		goto out;
	}
	if (a.nrecords > 1) {
		add(c, "spf", d, DNSCHECK_FAIL, dnscheck_fix_txt(owner, sugg),
		    "%d SPF records: exactly one \"v=spf1\" record is allowed (RFC 7208 3.2), this is a permerror", a.nrecords);
		bad = 1;
	}
	if (a.root->syntax_error || a.first_syntax_error) {
		add(c, "spf", d, DNSCHECK_FAIL, dnscheck_fix_txt(owner, sugg), "invalid SPF record: %s",
		    a.first_syntax_error ? a.first_syntax_error : a.root->syntax_error);
		bad = 1;
	}
	if (a.lookups > SPF_LOOKUP_LIMIT) {
		add(c, "spf", d, DNSCHECK_FAIL, dnscheck_fix_txt(owner, sugg),
		    "%d DNS lookups, more than the limit of %d (permerror); the limit breaks at %s",
		    a.lookups, SPF_LOOKUP_LIMIT, a.limit_path ? a.limit_path : "?");
		bad = 1;
	}
	if (a.voids > SPF_VOID_LIMIT) {
		add(c, "spf", d, DNSCHECK_FAIL, dnscheck_fix_txt(owner, sugg),
		    "%d void lookups, more than the limit of %d (permerror): %s", a.voids, SPF_VOID_LIMIT,
		    a.void_path ? a.void_path : "");
		bad = 1;
	}
	if (a.loop) {
		char *t = xstrdup(a.tree), *p;

		for (p = t; *p; p++)
			if (*p == '\n')
				*p = p[1] ? ';' : '\0';
		add(c, "spf", d, DNSCHECK_FAIL, dnscheck_fix_txt(owner, sugg), "include/redirect loop (permerror): %s", t);
		free(t);
		bad = 1;
	}
	if (a.too_deep) {
		add(c, "spf", d, DNSCHECK_FAIL, dnscheck_fix_txt(owner, sugg), "includes nested deeper than %d", SPF_DEPTH_MAX);
		bad = 1;
	}
	for (i = 0; i < a.root->nkids; i++) {
		const struct spf_node *k = a.root->kids[i];

		if (!k->record && !k->loop) {
			add(c, "spf", d, k->status == DNS_TIMEOUT ? DNSCHECK_WARN : DNSCHECK_FAIL, k->status == DNS_TIMEOUT ? NULL : dnscheck_fix_txt(owner, sugg),
			    "%s:%s has no SPF record (%s): evaluation ends in %s", k->via, k->domain,
			    dns_status_str(k->status), k->status == DNS_TIMEOUT || k->status == DNS_SERVFAIL ? "temperror" : "permerror");
			bad = 1;
		}
	}
	if (a.all_qual == '+') {
		add(c, "spf", d, DNSCHECK_FAIL, dnscheck_fix_txt(owner, sugg), "\"+all\" lets every host on the Internet send as %s", d);
		bad = 1;
	} else if (a.all_qual == '?') {
		add(c, "spf", d, DNSCHECK_WARN, NULL, "\"?all\" (neutral) protects nothing; end with \"-all\" or \"~all\"");
		bad = 1;
	} else if (!a.all_qual && !a.has_redirect) {
		add(c, "spf", d, DNSCHECK_WARN, NULL, "no \"all\" and no redirect: unlisted hosts get neutral; end with \"-all\"");
		bad = 1;
	}
	if (!bad) {
		char *rec = dnscheck_clean(a.root->record, strlen(a.root->record));

		add(c, "spf", d, DNSCHECK_PASS, NULL, "one valid record, %d DNS lookup%s, %d void: %s", a.lookups,
		    a.lookups == 1 ? "" : "s", a.voids, rec);
		free(rec);
	}
	root_rec = a.nrecords == 1 && a.root->record && !a.root->syntax_error ? xstrdup(a.root->record) : NULL;
	spf_analysis_free(&a);

	/* Is each address allowed to send?  Evaluate all first, so the fix
	 * for the failures is one record that admits them all. */
	{
		struct spf_verdict *vs = xcalloc(as->n ? as->n : 1, sizeof *vs);
		char *from = xasprintf("postmaster@%s", d);

		for (i = 0; i < as->n; i++) {
			spf_eval_r(c->r, as->ip[i], as->host[i][0] ? as->host[i] : d, from, DNSCHECK_SPF_EVAL_MS, &vs[i], &err);
			if (vs[i].result != SPF_V_PASS && !as->host[i][0] && root_rec) {
				char *fixed = dnscheck_spf_with_ip(root_rec, as->ip[i]);

				free(root_rec);
				root_rec = fixed;
				free(sugg);
				sugg = xstrdup(fixed);
			}
		}
		for (i = 0; i < as->n; i++) {
			char *subj = xasprintf("%s %s", d, as->ip[i]);
			int is_mx = as->host[i][0] != '\0';

			if (vs[i].result == SPF_V_PASS)
				add(c, "spf", subj, DNSCHECK_PASS, NULL, "%s %s may send for %s (SPF pass)",
				    is_mx ? "MX address" : "address", as->ip[i], d);
			else
				add(c, "spf", subj, is_mx ? DNSCHECK_WARN : DNSCHECK_FAIL, is_mx ? NULL : dnscheck_fix_txt(owner, sugg),
				    "%s %s is not permitted to send for %s: SPF %s (%s)", is_mx ? "MX address" : "address",
				    as->ip[i], d, spf_vresult_str(vs[i].result), vs[i].explanation);
			free(subj);
		}
		free(from);
		free(vs);
	}
out:
	free(root_rec);
	free(sugg);
	free(owner);
}

/* ---------- DKIM ---------- */

static void check_dkim(struct ctx *c, const char *d, const char *sel, const char *keyfile)
{
	char *name = xasprintf("%s._domainkey.%s", sel, d), *owner = xasprintf("%s.", name);
	const struct dns_answer *a = q(c, name, ns_t_txt);
	char *want = NULL;
	struct dkimkey k;
	struct mm_err err;
	size_t i, nrec = 0, idx = 0;
	int r;

	if (unusable(c, a, "dkim", name))
		goto out;
	if (keyfile)
		want = dkimkey_record_for_private(keyfile, &err);
	if (a->status != DNS_OK) {
		add(c, "dkim", name, DNSCHECK_FAIL, want ? dnscheck_fix_txt(owner, want) : fix_keygen(sel),
		    "no DKIM key published (%s)", missing(a) ? "no TXT record" : why(a));
		goto out;
	}
	for (i = 0; i < a->nrr; i++)
		if (a->rr[i].txt_len > 0) {
			nrec++;
			idx = i;
		}
	if (nrec != 1) {
		add(c, "dkim", name, DNSCHECK_FAIL, want ? dnscheck_fix_txt(owner, want) : fix_keygen(sel),
		    "%zu TXT records: a selector must hold exactly one key record", nrec);
		goto out;
	}
	{
		char *txt = xstrndup(a->rr[idx].txt, a->rr[idx].txt_len);

		if (strlen(txt) != a->rr[idx].txt_len) {
			add(c, "dkim", name, DNSCHECK_FAIL, want ? dnscheck_fix_txt(owner, want) : fix_keygen(sel), "key record contains a NUL byte");
			free(txt);
			goto out;
		}
		r = dkimkey_parse(txt, &k, &err);
		free(txt);
	}
	if (r < 0) {
		add(c, "dkim", name, DNSCHECK_FAIL, want ? dnscheck_fix_txt(owner, want) : fix_keygen(sel), "bad key record: %s", err.msg);
		goto out;
	}
	if (k.revoked) {
		add(c, "dkim", name, keyfile ? DNSCHECK_FAIL : DNSCHECK_WARN, want ? dnscheck_fix_txt(owner, want) : NULL,
		    "key revoked (empty p=): mail signed with this selector fails DKIM");
		dkimkey_free(&k);
		goto out;
	}
	if (!strcmp(k.ktype, "rsa") && k.bits < DKIMKEY_RSA_MIN)
		add(c, "dkim", name, DNSCHECK_FAIL, xasprintf("; make a new %d-bit key: mm-keygen -b %d -s %s ADDRESS", DKIMKEY_RSA_GOOD, DKIMKEY_RSA_GOOD, sel),
		    "RSA key of %d bits: below %d, receivers ignore the signature (RFC 8301)", k.bits, DKIMKEY_RSA_MIN);
	else if (!strcmp(k.ktype, "rsa") && k.bits < DKIMKEY_RSA_GOOD)
		add(c, "dkim", name, DNSCHECK_WARN, NULL, "RSA key of %d bits: weak, use %d", k.bits, DKIMKEY_RSA_GOOD);
	else
		add(c, "dkim", name, DNSCHECK_PASS, NULL, "%s key, %d bits", k.ktype, k.bits);
	if (k.testing)
		add(c, "dkim", name, DNSCHECK_WARN, NULL, "t=y: testing mode, receivers treat signatures as unsigned");
	if (k.warnings)
		add(c, "dkim", name, DNSCHECK_WARN, NULL, "%s", k.warnings);
	if (keyfile) {
		r = dkimkey_match_private(&k, keyfile, &err);
		if (r == 1)
			add(c, "dkim", name, DNSCHECK_PASS, NULL, "published key matches %s", keyfile);
		else if (r == 0)
			add(c, "dkim", name, DNSCHECK_FAIL, want ? dnscheck_fix_txt(owner, want) : NULL,
			    "published key does not match the private key %s", keyfile);
		else
			add(c, "dkim", name, DNSCHECK_FAIL, NULL, "%s", err.msg);
	}
	dkimkey_free(&k);
out:
	free(want);
	free(name);
	free(owner);
}

/* Selectors from --root: ROOT/<domain>/<user>/ (the selector is the local part). */
static void root_selectors(struct ctx *c, const char *d, struct rootsel *out)
{
	char *dir = xasprintf("%s/%s", c->o->root, d);
	DIR *dp = opendir(dir);
	struct dirent *e;

	out->n = 0;
	out->v = NULL;
	if (!dp) {
		if (!c->dry)
			add(c, "dkim", d, DNSCHECK_WARN, NULL, "--root: %s: %s", dir, strerror(errno));
		free(dir);
		return;
	}
	while ((e = readdir(dp))) {
		struct stat st;
		char *p;

		if (e->d_name[0] == '.' || !strcmp(e->d_name, "tmp") || !strcmp(e->d_name, "new") ||
		    !strcmp(e->d_name, "cur"))
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && dns_name_ok(e->d_name, NULL) == 0 &&
		    !strchr(e->d_name, '.')) {
			if (out->n == DNSCHECK_ROOT_USERS_MAX) {
				/* said, not silently dropped */
				if (!c->dry)
					add(c, "dkim", d, DNSCHECK_WARN, NULL,
					    "--root: %s has more than %d mailboxes; only %d were checked",
					    dir, DNSCHECK_ROOT_USERS_MAX, DNSCHECK_ROOT_USERS_MAX);
				free(p);
				break;
			}
			out->v = xreallocarray(out->v, out->n + 1, sizeof *out->v);
			out->v[out->n++] = xstrdup(e->d_name);
		}
		free(p);
	}
	closedir(dp);
	free(dir);
}

/* ---------- DMARC ---------- */

static void check_dmarc(struct ctx *c, const char *d)
{
	char *name = xasprintf("_dmarc.%s", d), *owner = xasprintf("%s.", name);
	char org[DMARC_DOMAIN_MAX + 1], *suggest = xasprintf("v=DMARC1; p=none; rua=mailto:postmaster@%s", d);
	const struct dns_answer *a = q(c, name, ns_t_txt);
	struct dmarc_record rec;
	struct mm_err err;
	size_t i, n = 0, idx = 0;
	char *txt = NULL;

	if (unusable(c, a, "dmarc", name))
		goto out;
	if (a->status == DNS_SERVFAIL || a->status == DNS_ERROR) {
		add(c, "dmarc", name, DNSCHECK_FAIL, fix_servfail(name), "TXT lookup fails: %s", why(a));
		goto out;
	}
	for (i = 0; i < a->nrr; i++)
		if (a->rr[i].txt && dmarc_is_record(a->rr[i].txt)) {
			n++;
			idx = i;
		}
	if (n == 0) {
		/* a subdomain falls back to its organisational domain's record */
		if (dmarc_org_domain(c->psl, d, org, sizeof org) == 0 && strcmp(org, d)) {
			char *oname = xasprintf("_dmarc.%s", org);
			const struct dns_answer *o = q(c, oname, ns_t_txt);

			free(oname);
			if (o->deferred)
				goto out;
			for (i = 0; i < o->nrr; i++)
				if (o->rr[i].txt && dmarc_is_record(o->rr[i].txt)) {
					add(c, "dmarc", name, DNSCHECK_PASS, NULL, "no record here; the organisational domain %s's record applies", org);
					goto out;
				}
		}
		add(c, "dmarc", name, DNSCHECK_FAIL, dnscheck_fix_txt(owner, suggest), "no DMARC record");
		goto out;
	}
	if (n > 1) {
		add(c, "dmarc", name, DNSCHECK_FAIL, dnscheck_fix_txt(owner, suggest),
		    "%zu DMARC records: exactly one is allowed, receivers ignore them all", n);
		goto out;
	}
	txt = xstrndup(a->rr[idx].txt, a->rr[idx].txt_len);
	if (dmarc_parse(txt, &rec, &err) < 0) {
		add(c, "dmarc", name, DNSCHECK_FAIL, dnscheck_fix_txt(owner, suggest), "invalid record: %s", err.msg);
		goto out;
	}
	if (rec.p == DMARC_POLICY_NONE)
		add(c, "dmarc", name, DNSCHECK_WARN, NULL, "p=none: receivers only report, they do not act; move to quarantine or reject when reports are clean");
	else
		add(c, "dmarc", name, DNSCHECK_PASS, NULL, "p=%s%s%s, pct=%d", dmarc_policy_str(rec.p),
		    rec.sp ? ", sp=" : "", rec.sp ? dmarc_policy_str(rec.sp) : "", rec.pct);
	if (rec.pct < 100)
		add(c, "dmarc", name, DNSCHECK_INFO, NULL, "pct=%d: the policy applies to %d%% of failing mail", rec.pct, rec.pct);
	if (rec.warnings)
		add(c, "dmarc", name, DNSCHECK_WARN, NULL, "%s", rec.warnings);
	if (rec.nrua == 0)
		add(c, "dmarc", name, DNSCHECK_INFO, NULL, "no rua=: you get no aggregate reports");
	if (dmarc_org_domain(c->psl, d, org, sizeof org) < 0 &&
	    snprintf_ok(org, sizeof org, "%s", d) < 0) {
		add(c, "dmarc", name, DNSCHECK_FAIL, NULL, "domain longer than %d octets", DMARC_DOMAIN_MAX);
		goto out;
	}
	for (i = 0; i < rec.nrua + rec.nruf; i++) {
		const char *uri = i < rec.nrua ? rec.rua[i] : rec.ruf[i - rec.nrua];
		char dest[DMARC_DOMAIN_MAX + 1], dorg[DMARC_DOMAIN_MAX + 1], *auth, *aowner;
		const struct dns_answer *x;
		size_t j;
		int ok = 0;

		if (dmarc_uri_domain(uri, dest, sizeof dest) < 0 || dmarc_org_domain(c->psl, dest, dorg, sizeof dorg) < 0)
			continue;
		if (!strcmp(dorg, org))
			continue;
		auth = xasprintf("%s._report._dmarc.%s", d, dest);
		x = q(c, auth, ns_t_txt);
		if (x->deferred || unusable(c, x, "dmarc", auth)) {
			free(auth);
			continue;
		}
		for (j = 0; j < x->nrr; j++)
			if (x->rr[j].txt && dmarc_is_record(x->rr[j].txt))
				ok = 1;
		aowner = xasprintf("%s.", auth);
		if (ok)
			add(c, "dmarc", name, DNSCHECK_PASS, NULL, "external report destination %s has authorised reports for %s", dest, d);
		else
			add(c, "dmarc", name, DNSCHECK_FAIL, dnscheck_fix_txt(aowner, "v=DMARC1"),
			    "external report destination %s (%s) has not authorised reports for %s: no \"v=DMARC1\" at %s",
			    dest, i < rec.nrua ? "rua" : "ruf", d, auth);
		free(aowner);
		free(auth);
	}
	dmarc_record_free(&rec);
out:
	free(txt);
	free(suggest);
	free(name);
	free(owner);
}

/* ---------- DNSBL ---------- */

static void check_dnsbl(struct ctx *c, const char *ip, const char *zone)
{
	char rev[DNS_NAME_MAX], *name, *subj = xasprintf("%s %s", ip, zone);
	const struct dns_answer *a, *t;
	size_t len;

	if (dns_reverse_name(ip, rev, sizeof rev) < 0) {
		add(c, "dnsbl", subj, DNSCHECK_FAIL, NULL, "not an IP address");
		free(subj);
		return;
	}
	/* strip ".in-addr.arpa" / ".ip6.arpa" */
	len = strlen(rev);
	if (len > 13 && !strcmp(rev + len - 13, ".in-addr.arpa"))
		rev[len - 13] = '\0';
	else if (len > 9 && !strcmp(rev + len - 9, ".ip6.arpa"))
		rev[len - 9] = '\0';
	name = xasprintf("%s.%s", rev, zone);
	a = q(c, name, ns_t_a);
	t = q(c, name, ns_t_txt);
	if (unusable(c, a, "dnsbl", subj))
		goto out;
	if (missing(a)) {
		add(c, "dnsbl", subj, DNSCHECK_PASS, NULL, "not listed");
	} else if (a->status != DNS_OK) {
		add(c, "dnsbl", subj, DNSCHECK_WARN, NULL, "could not query the list: %s", why(a));
	} else {
		const unsigned char *b = a->rr[0].addr;
		char *reason = NULL;

		if (t->status == DNS_OK && t->nrr > 0)
			reason = txt_of(&t->rr[0]);
		if (b[0] == 127 && b[1] == 255 && b[2] == 255)
			add(c, "dnsbl", subj, DNSCHECK_WARN, NULL,
			    "the list refused to answer this resolver (%s): the result says nothing about %s; query it through your own resolver",
			    a->rr[0].addrstr, ip);
		else if (b[0] == 127 && b[1] == 0 && b[2] == 0 && b[3] >= 2)
			add(c, "dnsbl", subj, DNSCHECK_FAIL, xasprintf("; ask %s to delist %s after fixing the cause", zone, ip),
			    "listed (%s)%s%s", a->rr[0].addrstr, reason ? ": " : "", reason ? reason : "");
		else
			add(c, "dnsbl", subj, DNSCHECK_WARN, NULL, "unexpected answer %s (not a listing code)", a->rr[0].addrstr);
		free(reason);
	}
out:
	free(name);
	free(subj);
}

/* ---------- MTA-STS / TLS-RPT ---------- */

static void check_tagrec(struct ctx *c, const char *check, const char *name, const char *version,
    const char *required_tag)
{
	const struct dns_answer *a = q(c, name, ns_t_txt);
	size_t i, n = 0;
	char *txt = NULL;

	if (unusable(c, a, check, name))
		return;
	if (a->status == DNS_SERVFAIL || a->status == DNS_ERROR) {
		add(c, check, name, DNSCHECK_WARN, NULL, "TXT lookup fails: %s", why(a));
		return;
	}
	for (i = 0; i < a->nrr; i++)
		if (a->rr[i].txt && !strncmp(a->rr[i].txt, version, strlen(version))) {
			n++;
			free(txt);
			txt = txt_of(&a->rr[i]);
		}
	if (n == 0)
		add(c, check, name, DNSCHECK_INFO, NULL, "no record (optional)");
	else if (n > 1)
		add(c, check, name, DNSCHECK_WARN, NULL, "%zu records: exactly one is allowed", n);
	else {
		char *needle = xasprintf("%s=", required_tag);
		const char *p = strstr(txt, needle);
		int ok = p && (p == txt || p[-1] == ';' || p[-1] == ' ') && p[strlen(needle)] && p[strlen(needle)] != ';';
		size_t vl = strlen(version);

		if (txt[vl] != ';' && txt[vl] != ' ' && txt[vl] != '\0')
			ok = 0;
		if (ok)
			add(c, check, name, DNSCHECK_INFO, NULL, "present: %s", txt);
		else
			add(c, check, name, DNSCHECK_WARN, NULL, "invalid (needs %s and %s=): %s", version, required_tag, txt);
		free(needle);
	}
	free(txt);
}

/* ---------- one domain ---------- */

static void check_domain1(struct ctx *c, const char *d);

/* Names are compared lowercase and without the trailing dot. */
char *dnscheck_domain_name(const char *arg, struct mm_err *err)
{
	char *d = xstrdup(arg);
	size_t l = strlen(d);
	struct mm_err e;

	if (l > 1 && d[l - 1] == '.')
		d[l - 1] = '\0';
	ascii_lower(d);
	if (dns_name_ok(d, &e) < 0 || !strchr(d, '.')) {
		err_set(err, "%s", strchr(d, '.') ? e.msg : "no dot in the name");
		free(d);
		return NULL;
	}
	return d;
}

static void check_domain(struct ctx *c, const char *arg)
{
	struct mm_err err;
	char *d = dnscheck_domain_name(arg, &err);

	if (!d) {
		size_t l = strlen(arg);
		char *cl = dnscheck_clean(arg, l > DNSCHECK_NAME_SHOWN ? DNSCHECK_NAME_SHOWN : l);

		add(c, "mx", cl, DNSCHECK_FAIL, NULL, "not a usable domain name: %s", err.msg);
		free(cl);
		return;
	}
	check_domain1(c, d);
	free(d);
}

static void check_domain1(struct ctx *c, const char *d)
{
	struct addrs as;
	struct rootsel rootsel;
	size_t i, j;

	memset(&as, 0, sizeof as);
	check_mx(c, d, &as);
	for (i = 0; i < c->o->nips; i++)
		addrs_add(c, &as, c->o->ips[i], "");
	for (i = 0; i < as.n; i++)
		check_ptr(c, d, as.ip[i], as.host[i]);
	check_spf(c, d, &as);
	for (i = 0; i < c->o->nselectors; i++)
		check_dkim(c, d, c->o->selectors[i], c->o->key);
	if (c->o->root) {
		root_selectors(c, d, &rootsel);
		for (i = 0; i < rootsel.n; i++) {
			check_dkim(c, d, rootsel.v[i], NULL);
			free(rootsel.v[i]);
		}
		free(rootsel.v);
	}
	check_dmarc(c, d);
	for (i = 0; i < c->o->nips; i++)
		for (j = 0; j < c->o->ndnsbls; j++)
			check_dnsbl(c, c->o->ips[i], c->o->dnsbls[j]);
	{
		char *n1 = xasprintf("_mta-sts.%s", d), *n2 = xasprintf("_smtp._tls.%s", d);

		check_tagrec(c, "mta-sts", n1, "v=STSv1", "id");
		check_tagrec(c, "tls-rpt", n2, "v=TLSRPTv1", "rua");
		free(n1);
		free(n2);
	}
}


/* ---------- the run ---------- */

/* What main() checked before the resolver was opened: the key loads and
 * has selectors to go with it, the root is a directory. */
static int opts_check(const struct dnscheck_opts *o, struct mm_err *err)
{
	if (o->key) {
		char *rec = dkimkey_record_for_private(o->key, err);

		if (!rec)
			return err_wrap(err, "--key");
		free(rec);
		if (o->nselectors == 0)
			return err_set(err, "--key needs --selector");
	}
	if (o->root) {
		struct stat st;

		if (stat(o->root, &st) < 0 || !S_ISDIR(st.st_mode))
			return err_set(err, "--root %s: not a directory", o->root);
	}
	return 0;
}

/* After the first wave: does anyone answer at all?  (Asked for the first
 * domain as given; a name that is not one asks nothing.) */
static int resolver_answers(struct dns_resolver *r, const char *d, struct mm_err *err)
{
	struct dns_answer a;
	int rc = 0;

	if (dns_name_ok(d, NULL) < 0)
		return 0;
	dns_query(r, d, ns_t_mx, &a, NULL);
	if (a.status == DNS_TIMEOUT || (a.status == DNS_ERROR && a.error && strstr(a.error, "no DNS server")))
		rc = err_set(err, "resolver %s does not answer: %s", dns_server_str(r),
		    a.error ? a.error : dns_status_str(a.status));
	dns_answer_free(&a);
	return rc;
}

static void run_pass(struct ctx *c, const char *const *domains, size_t ndomains)
{
	size_t i;

	for (i = 0; i < ndomains; i++)
		check_domain(c, domains[i]);
	arena_free(c);
}

enum dnscheck_rc dnscheck_run(const struct dnscheck_opts *o, const char *const *domains,
    size_t ndomains, struct dnscheck_report *out, struct mm_err *err)
{
	struct ctx c;
	enum dnscheck_rc rc = DNSCHECK_OK;
	int pass;

	memset(out, 0, sizeof *out);
	memset(&c, 0, sizeof c);
	c.o = o;
	c.rep = out;
	if (opts_check(o, err) < 0)
		return DNSCHECK_EOPTS;
	if (!(c.r = dns_open(o->resolver, err))) {
		err_wrap(err, "resolver");
		return DNSCHECK_EOPTS;
	}
	if (o->timeout_ms)
		dns_set_timeout(c.r, o->timeout_ms);
	if (!(c.psl = dmarc_psl_load(o->psl_path, err))) {
		dns_close(c.r);
		return DNSCHECK_ECANT;
	}

	/* Plan: dry passes until nothing new is needed, one wave each. */
	dns_set_defer(c.r, 1);
	for (pass = 0; pass < DNSCHECK_PASSES_MAX; pass++) {
		c.dry = 1;
		run_pass(&c, domains, ndomains);
		if (dns_pending(c.r) == 0)
			break;
		dns_flush(c.r, err);
		if (pass == 0 && ndomains > 0) {
			dns_set_defer(c.r, 1);
			if (resolver_answers(c.r, domains[0], err) < 0) {
				rc = DNSCHECK_ECANT;
				goto out;
			}
		}
	}
	dns_set_defer(c.r, 0);
	c.dry = 0;
	out->cant = 0;
	run_pass(&c, domains, ndomains);
	dns_get_stats(c.r, &out->stats);
out:
	dmarc_psl_free(c.psl);
	dns_close(c.r);
	return rc;
}
