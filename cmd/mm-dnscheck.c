/*
 * mm-dnscheck — is the DNS of a mail domain right?  MX, addresses, PTR
 * (forward-confirmed), SPF, DKIM keys, DMARC, DNSBL, MTA-STS/TLS-RPT.
 *
 * How it stays fast: the checks are written as plain sequential code over
 * dns_query, and run several times.  While the resolver is in deferred
 * mode, a pass sends nothing: every question it cannot answer from the
 * cache is collected, and dns_flush then asks all of them at once.  Each
 * pass gets one dependency level further (MX -> addresses -> PTR ->
 * forward confirmation; SPF includes level by level), so the whole check
 * costs about one round trip per level.  A last pass, with the cache full,
 * prints the findings.  Findings of the dry passes are thrown away.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkimkey.h"
#include "dmarc.h"
#include "dns.h"
#include "exitcode.h"
#include "log.h"
#include "spf.h"
#include "util.h"

#define PROG "mm-dnscheck"
#define MAX_ARGS_LIST    64     /* --ip, --selector, --dnsbl each */
#define MAX_PASSES       16     /* planning passes (dependency depth bound) */
#define MAX_ADDRS        64     /* addresses checked per domain */
#define MAX_ROOT_USERS   256    /* selectors taken from --root per domain */
#define TXT_CHUNK        255    /* octets per character-string */
#define SPF_EVAL_MS      10000

enum fst { F_PASS, F_INFO, F_WARN, F_FAIL };
static const char *fst_str[] = { "PASS", "INFO", "WARN", "FAIL" };
static const char *fst_color[] = { "\033[32m", "\033[36m", "\033[33m", "\033[31m" };

struct finding {
	const char *check;
	char *subject, *msg, *fix;
	enum fst st;
};

struct list {
	char *v[MAX_ARGS_LIST];
	size_t n;
};

struct ctx {
	struct dns_resolver *r;
	struct dmarc_psl *psl;
	int dry;
	int cant;                 /* some check could not be done */
	struct finding *f;
	size_t nf;
	struct dns_answer **arena;
	size_t narena;
	/* options */
	struct list ips, selectors, dnsbls;
	const char *key, *root;
	int json, quiet, color, stats;
};

/* ---------- findings ---------- */

static char *clean(const char *s, size_t n);

static void add(struct ctx *c, const char *check, const char *subject, enum fst st,
    char *fix /* taken */, const char *fmt, ...) MM_PRINTF(6, 7);
static void add(struct ctx *c, const char *check, const char *subject, enum fst st,
    char *fix, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	if (c->dry) {
		free(fix);
		return;
	}
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	c->f = xreallocarray(c->f, c->nf + 1, sizeof *c->f);
	c->f[c->nf].check = check;
	c->f[c->nf].subject = xstrdup(subject);
	c->f[c->nf].msg = clean(b.data ? b.data : "", b.len);
	buf_free(&b);
	c->f[c->nf].fix = fix;
	c->f[c->nf].st = st;
	c->nf++;
}

/* Printable, single-line, ASCII copy of untrusted text (records). */
static char *clean(const char *s, size_t n)
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
		if (b.len > 2000) {
			buf_puts(&b, "...");
			break;
		}
	}
	if (!b.data)
		return xstrdup("");
	return buf_steal(&b);
}

/* Zone-file line for a TXT record, split into 255-octet strings. */
static void zone_txt(struct buf *b, const char *owner, const char *text)
{
	size_t n = strlen(text), i, k;

	buf_printf(b, "%s%s IN TXT", b->len ? "\n" : "", owner);
	for (i = 0; i < n || i == 0; i += TXT_CHUNK) {
		buf_puts(b, " \"");
		for (k = i; k < n && k < i + TXT_CHUNK; k++) {
			if (text[k] == '"' || text[k] == '\\')
				buf_putc(b, '\\');
			buf_putc(b, text[k]);
		}
		buf_putc(b, '"');
		if (n == 0)
			break;
	}
}

static char *fix_txt(const char *owner, const char *text)
{
	struct buf b;

	buf_init(&b);
	zone_txt(&b, owner, text);
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
		c->cant = 1;
		add(c, check, subject, F_FAIL, NULL, "could not check: %s", a->error ? a->error : "DNS failure");
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
	return clean(rr->txt ? rr->txt : "", rr->txt_len);
}

/* ---------- MX and addresses ---------- */

struct addrs {
	char ip[MAX_ADDRS][DNS_ADDRSTR_MAX];
	char host[MAX_ADDRS][DNS_NAME_MAX];   /* MX name it came from, or "" for --ip */
	size_t n;
};

static void addrs_add(struct addrs *as, const char *ip, const char *host)
{
	size_t i;

	for (i = 0; i < as->n; i++)
		if (!strcmp(as->ip[i], ip))
			return;
	if (as->n >= MAX_ADDRS)
		return;
	snprintf(as->ip[as->n], sizeof as->ip[0], "%s", ip);
	snprintf(as->host[as->n], sizeof as->host[0], "%s", host);
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
		add(c, "address", host, F_FAIL, xasprintf("; remove the CNAME loop; %s needs an A record:\n%s. IN A 192.0.2.1 ; your server's address", host, host),
		    "CNAME loop: %s", why(a4->cname_loop ? a4 : a6));
		return;
	}
	if (a4->ncnames > 0 || a6->ncnames > 0) {
		const struct dns_answer *x = a4->ncnames ? a4 : a6;

		add(c, "address", host, F_FAIL,
		    xasprintf("; point the MX at the canonical name instead:\n%s. IN MX 10 %s.", d, x->canon),
		    "MX target is a CNAME (to %s); RFC 2181 10.3 forbids it", x->canon);
	}
	if (a4->status == DNS_SERVFAIL || a6->status == DNS_SERVFAIL) {
		add(c, "address", host, F_FAIL, fix_servfail(host), "address lookup fails: %s", why(a4->status == DNS_SERVFAIL ? a4 : a6));
		return;
	}
	if (a4->status != DNS_OK && a6->status != DNS_OK) {
		add(c, "address", host, F_FAIL, xasprintf("%s. IN A 192.0.2.1 ; your server's address", host),
		    "MX target has no A or AAAA record (%s)", why(a4));
		return;
	}
	buf_init(&b);
	for (i = 0; i < a4->nrr; i++) {
		buf_printf(&b, "%s%s", b.len ? ", " : "", a4->rr[i].addrstr);
		addrs_add(as, a4->rr[i].addrstr, host);
	}
	for (i = 0; i < a6->nrr; i++) {
		buf_printf(&b, "%s%s", b.len ? ", " : "", a6->rr[i].addrstr);
		addrs_add(as, a6->rr[i].addrstr, host);
	}
	if (a4->ncnames == 0 && a6->ncnames == 0)
		add(c, "address", host, F_PASS, NULL, "has address%s %s", (a4->nrr + a6->nrr) > 1 ? "es" : "", b.data);
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
		add(c, "mx", d, F_FAIL, xasprintf("%s. IN MX 10 mail.%s.", d, d), "the domain does not exist (NXDOMAIN)");
		return;
	}
	if (mx->status == DNS_SERVFAIL || mx->status == DNS_ERROR) {
		add(c, "mx", d, F_FAIL, fix_servfail(d), "MX lookup fails: %s", why(mx));
		return;
	}
	if (mx->status == DNS_NODATA) {
		const struct dns_answer *a4 = q(c, d, ns_t_a), *a6 = q(c, d, ns_t_aaaa);

		if (unusable(c, a4, "mx", d) || unusable(c, a6, "mx", d))
			return;
		if (a4->status == DNS_OK || a6->status == DNS_OK) {
			add(c, "mx", d, F_WARN, xasprintf("%s. IN MX 10 %s.", d, d),
			    "no MX record: mail goes to the domain's own address (implicit MX); publish an MX");
			check_host_addresses(c, d, d, as);
		} else {
			add(c, "mx", d, F_FAIL, xasprintf("%s. IN MX 10 mail.%s.\nmail.%s. IN A 192.0.2.1 ; your server's address", d, d, d),
			    "no MX and no address: the domain cannot receive mail (publish an MX, or a null MX \"0 .\" if it should not)");
		}
		return;
	}
	for (i = 0; i < mx->nrr; i++)
		if (mx->rr[i].name && !mx->rr[i].name[0])
			null_mx = 1;
	if (null_mx) {
		if (mx->nrr == 1 && mx->rr[0].pref == 0)
			add(c, "mx", d, F_PASS, NULL, "null MX: the domain accepts no mail (RFC 7505)");
		else
			add(c, "mx", d, F_FAIL, xasprintf("%s. IN MX 0 .", d),
			    "null MX mixed with other MX records (RFC 7505: it must be the only one, preference 0)");
		return;
	}
	buf_init(&b);
	for (i = 0; i < mx->nrr; i++)
		buf_printf(&b, "%s%u %s", i ? ", " : "", mx->rr[i].pref, mx->rr[i].name);
	add(c, "mx", d, F_PASS, NULL, "%zu MX: %s", mx->nrr, b.data);
	buf_free(&b);
	for (i = 0; i < mx->nrr; i++) {
		const char *t = mx->rr[i].name;

		if (is_ip_literal(t)) {
			add(c, "mx", t, F_FAIL, xasprintf("%s. IN MX %u mail.%s.\nmail.%s. IN A %s", d, mx->rr[i].pref, d, d, t),
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
		add(c, "ptr", ip, F_FAIL, NULL, "not an IP address");
		return;
	}
	p = q(c, rev, ns_t_ptr);
	if (unusable(c, p, "ptr", ip))
		return;
	if (p->status != DNS_OK) {
		add(c, "ptr", ip, F_FAIL, host[0] ? xasprintf("%s. IN PTR %s.", rev, host) : xasprintf("%s. IN PTR mail.%s.", rev, d),
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
			add(c, "ptr", ip, F_PASS, NULL, "PTR %s, which resolves back (forward-confirmed)", p->rr[i].name);
	}
	if (!confirmed && !pending)
		add(c, "ptr", ip, F_FAIL, xasprintf("%s. IN %s %s", p->rr[0].name, v6 ? "AAAA" : "A", ip),
		    "PTR %s does not resolve back to %s", names.data, ip);
	buf_free(&names);
}

/* ---------- SPF ---------- */

static char *spf_suggest(const char *d, const struct list *ips)
{
	struct buf b;
	size_t i;

	buf_init(&b);
	buf_puts(&b, "v=spf1 mx");
	for (i = 0; i < ips->n; i++)
		buf_printf(&b, " %s:%s", strchr(ips->v[i], ':') ? "ip6" : "ip4", ips->v[i]);
	buf_puts(&b, " -all");
	(void)d;
	return buf_steal(&b);
}

/* The published record with "ip4:IP"/"ip6:IP" added before its "all" term
 * (or at the end); a record that already names it is returned as it is. */
static char *spf_with_ip(const char *rec, const char *ip)
{
	const char *mech = strchr(ip, ':') ? "ip6" : "ip4";
	char *term = xasprintf("%s:%s", mech, ip), *out;
	const char *p = rec, *all = NULL;
	size_t tl = strlen(term);

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
	(void)tl;
	free(term);
	return out;
}

static void check_spf(struct ctx *c, const char *d, const struct addrs *as)
{
	struct spf_analysis a;
	struct mm_err err;
	char *sugg = spf_suggest(d, &c->ips), *owner = xasprintf("%s.", d);
	const struct dns_answer *txt = q(c, d, ns_t_txt);
	int bad = 0;
	size_t i;
	char *root_rec = NULL;

	if (unusable(c, txt, "spf", d))
		goto out;
	if (txt->status == DNS_SERVFAIL || (txt->status == DNS_ERROR && !txt->deferred)) {
		add(c, "spf", d, F_FAIL, fix_servfail(d), "TXT lookup fails: %s", why(txt));
		goto out;
	}
	spf_analyze(c->r, d, &a, &err);
	if (c->dry) {
		spf_analysis_free(&a);
		goto out;
	}
	if (a.nrecords == 0) {
		add(c, "spf", d, F_FAIL, fix_txt(owner, sugg), "no SPF record: receivers cannot tell your servers from forgers");
		spf_analysis_free(&a);
		goto out;
	}
	if (a.nrecords > 1) {
		add(c, "spf", d, F_FAIL, fix_txt(owner, sugg),
		    "%d SPF records: exactly one \"v=spf1\" record is allowed (RFC 7208 3.2), this is a permerror", a.nrecords);
		bad = 1;
	}
	if (a.root->syntax_error || a.first_syntax_error) {
		add(c, "spf", d, F_FAIL, fix_txt(owner, sugg), "invalid SPF record: %s",
		    a.first_syntax_error ? a.first_syntax_error : a.root->syntax_error);
		bad = 1;
	}
	if (a.lookups > SPF_LOOKUP_LIMIT) {
		add(c, "spf", d, F_FAIL, fix_txt(owner, sugg),
		    "%d DNS lookups, more than the limit of %d (permerror); the limit breaks at %s",
		    a.lookups, SPF_LOOKUP_LIMIT, a.limit_path ? a.limit_path : "?");
		bad = 1;
	}
	if (a.voids > SPF_VOID_LIMIT) {
		add(c, "spf", d, F_FAIL, fix_txt(owner, sugg),
		    "%d void lookups, more than the limit of %d (permerror): %s", a.voids, SPF_VOID_LIMIT,
		    a.void_path ? a.void_path : "");
		bad = 1;
	}
	if (a.loop) {
		char *t = xstrdup(a.tree), *p;

		for (p = t; *p; p++)
			if (*p == '\n')
				*p = p[1] ? ';' : '\0';
		add(c, "spf", d, F_FAIL, fix_txt(owner, sugg), "include/redirect loop (permerror): %s", t);
		free(t);
		bad = 1;
	}
	if (a.too_deep) {
		add(c, "spf", d, F_FAIL, fix_txt(owner, sugg), "includes nested deeper than %d", SPF_DEPTH_MAX);
		bad = 1;
	}
	for (i = 0; i < a.root->nkids; i++) {
		const struct spf_node *k = a.root->kids[i];

		if (!k->record && !k->loop) {
			add(c, "spf", d, k->status == DNS_TIMEOUT ? F_WARN : F_FAIL, k->status == DNS_TIMEOUT ? NULL : fix_txt(owner, sugg),
			    "%s:%s has no SPF record (%s): evaluation ends in %s", k->via, k->domain,
			    dns_status_str(k->status), k->status == DNS_TIMEOUT || k->status == DNS_SERVFAIL ? "temperror" : "permerror");
			bad = 1;
		}
	}
	if (a.all_qual == '+') {
		add(c, "spf", d, F_FAIL, fix_txt(owner, sugg), "\"+all\" lets every host on the Internet send as %s", d);
		bad = 1;
	} else if (a.all_qual == '?') {
		add(c, "spf", d, F_WARN, NULL, "\"?all\" (neutral) protects nothing; end with \"-all\" or \"~all\"");
		bad = 1;
	} else if (!a.all_qual && !a.has_redirect) {
		add(c, "spf", d, F_WARN, NULL, "no \"all\" and no redirect: unlisted hosts get neutral; end with \"-all\"");
		bad = 1;
	}
	if (!bad) {
		char *rec = clean(a.root->record, strlen(a.root->record));

		add(c, "spf", d, F_PASS, NULL, "one valid record, %d DNS lookup%s, %d void: %s", a.lookups,
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
			spf_eval_r(c->r, as->ip[i], as->host[i][0] ? as->host[i] : d, from, SPF_EVAL_MS, &vs[i], &err);
			if (vs[i].result != SPF_V_PASS && !as->host[i][0] && root_rec) {
				char *fixed = spf_with_ip(root_rec, as->ip[i]);

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
				add(c, "spf", subj, F_PASS, NULL, "%s %s may send for %s (SPF pass)",
				    is_mx ? "MX address" : "address", as->ip[i], d);
			else
				add(c, "spf", subj, is_mx ? F_WARN : F_FAIL, is_mx ? NULL : fix_txt(owner, sugg),
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
		add(c, "dkim", name, F_FAIL, want ? fix_txt(owner, want) : fix_keygen(sel),
		    "no DKIM key published (%s)", missing(a) ? "no TXT record" : why(a));
		goto out;
	}
	for (i = 0; i < a->nrr; i++)
		if (a->rr[i].txt_len > 0) {
			nrec++;
			idx = i;
		}
	if (nrec != 1) {
		add(c, "dkim", name, F_FAIL, want ? fix_txt(owner, want) : fix_keygen(sel),
		    "%zu TXT records: a selector must hold exactly one key record", nrec);
		goto out;
	}
	{
		char *txt = xstrndup(a->rr[idx].txt, a->rr[idx].txt_len);

		if (strlen(txt) != a->rr[idx].txt_len) {
			add(c, "dkim", name, F_FAIL, want ? fix_txt(owner, want) : fix_keygen(sel), "key record contains a NUL byte");
			free(txt);
			goto out;
		}
		r = dkimkey_parse(txt, &k, &err);
		free(txt);
	}
	if (r < 0) {
		add(c, "dkim", name, F_FAIL, want ? fix_txt(owner, want) : fix_keygen(sel), "bad key record: %s", err.msg);
		goto out;
	}
	if (k.revoked) {
		add(c, "dkim", name, keyfile ? F_FAIL : F_WARN, want ? fix_txt(owner, want) : NULL,
		    "key revoked (empty p=): mail signed with this selector fails DKIM");
		dkimkey_free(&k);
		goto out;
	}
	if (!strcmp(k.ktype, "rsa") && k.bits < DKIMKEY_RSA_MIN)
		add(c, "dkim", name, F_FAIL, xasprintf("; make a new %d-bit key: mm-keygen -b %d -s %s ADDRESS", DKIMKEY_RSA_GOOD, DKIMKEY_RSA_GOOD, sel),
		    "RSA key of %d bits: below %d, receivers ignore the signature (RFC 8301)", k.bits, DKIMKEY_RSA_MIN);
	else if (!strcmp(k.ktype, "rsa") && k.bits < DKIMKEY_RSA_GOOD)
		add(c, "dkim", name, F_WARN, NULL, "RSA key of %d bits: weak, use %d", k.bits, DKIMKEY_RSA_GOOD);
	else
		add(c, "dkim", name, F_PASS, NULL, "%s key, %d bits", k.ktype, k.bits);
	if (k.testing)
		add(c, "dkim", name, F_WARN, NULL, "t=y: testing mode, receivers treat signatures as unsigned");
	if (k.warnings)
		add(c, "dkim", name, F_WARN, NULL, "%s", k.warnings);
	if (keyfile) {
		r = dkimkey_match_private(&k, keyfile, &err);
		if (r == 1)
			add(c, "dkim", name, F_PASS, NULL, "published key matches %s", keyfile);
		else if (r == 0)
			add(c, "dkim", name, F_FAIL, want ? fix_txt(owner, want) : NULL,
			    "published key does not match the private key %s", keyfile);
		else
			add(c, "dkim", name, F_FAIL, NULL, "%s", err.msg);
	}
	dkimkey_free(&k);
out:
	free(want);
	free(name);
	free(owner);
}

/* Selectors from --root: ROOT/<domain>/<user>/ (the selector is the local part). */
static void root_selectors(struct ctx *c, const char *d, struct list *out)
{
	char *dir = xasprintf("%s/%s", c->root, d);
	DIR *dp = opendir(dir);
	struct dirent *e;

	out->n = 0;
	if (!dp) {
		if (!c->dry)
			add(c, "dkim", d, F_WARN, NULL, "--root: %s: %s", dir, strerror(errno));
		free(dir);
		return;
	}
	while ((e = readdir(dp)) && out->n < MAX_ARGS_LIST) {
		struct stat st;
		char *p;

		if (e->d_name[0] == '.' || !strcmp(e->d_name, "tmp") || !strcmp(e->d_name, "new") ||
		    !strcmp(e->d_name, "cur"))
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && dns_name_ok(e->d_name, NULL) == 0 &&
		    !strchr(e->d_name, '.'))
			out->v[out->n++] = xstrdup(e->d_name);
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
		add(c, "dmarc", name, F_FAIL, fix_servfail(name), "TXT lookup fails: %s", why(a));
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
					add(c, "dmarc", name, F_PASS, NULL, "no record here; the organisational domain %s's record applies", org);
					goto out;
				}
		}
		add(c, "dmarc", name, F_FAIL, fix_txt(owner, suggest), "no DMARC record");
		goto out;
	}
	if (n > 1) {
		add(c, "dmarc", name, F_FAIL, fix_txt(owner, suggest),
		    "%zu DMARC records: exactly one is allowed, receivers ignore them all", n);
		goto out;
	}
	txt = xstrndup(a->rr[idx].txt, a->rr[idx].txt_len);
	if (dmarc_parse(txt, &rec, &err) < 0) {
		add(c, "dmarc", name, F_FAIL, fix_txt(owner, suggest), "invalid record: %s", err.msg);
		goto out;
	}
	if (rec.p == DMARC_POLICY_NONE)
		add(c, "dmarc", name, F_WARN, NULL, "p=none: receivers only report, they do not act; move to quarantine or reject when reports are clean");
	else
		add(c, "dmarc", name, F_PASS, NULL, "p=%s%s%s, pct=%d", dmarc_policy_str(rec.p),
		    rec.sp ? ", sp=" : "", rec.sp ? dmarc_policy_str(rec.sp) : "", rec.pct);
	if (rec.pct < 100)
		add(c, "dmarc", name, F_INFO, NULL, "pct=%d: the policy applies to %d%% of failing mail", rec.pct, rec.pct);
	if (rec.warnings)
		add(c, "dmarc", name, F_WARN, NULL, "%s", rec.warnings);
	if (rec.nrua == 0)
		add(c, "dmarc", name, F_INFO, NULL, "no rua=: you get no aggregate reports");
	if (dmarc_org_domain(c->psl, d, org, sizeof org) < 0)
		snprintf(org, sizeof org, "%s", d);
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
			add(c, "dmarc", name, F_PASS, NULL, "external report destination %s has authorised reports for %s", dest, d);
		else
			add(c, "dmarc", name, F_FAIL, fix_txt(aowner, "v=DMARC1"),
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
		add(c, "dnsbl", subj, F_FAIL, NULL, "not an IP address");
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
		add(c, "dnsbl", subj, F_PASS, NULL, "not listed");
	} else if (a->status != DNS_OK) {
		add(c, "dnsbl", subj, F_WARN, NULL, "could not query the list: %s", why(a));
	} else {
		const unsigned char *b = a->rr[0].addr;
		char *reason = NULL;

		if (t->status == DNS_OK && t->nrr > 0)
			reason = txt_of(&t->rr[0]);
		if (b[0] == 127 && b[1] == 255 && b[2] == 255)
			add(c, "dnsbl", subj, F_WARN, NULL,
			    "the list refused to answer this resolver (%s): the result says nothing about %s; query it through your own resolver",
			    a->rr[0].addrstr, ip);
		else if (b[0] == 127 && b[1] == 0 && b[2] == 0 && b[3] >= 2)
			add(c, "dnsbl", subj, F_FAIL, xasprintf("; ask %s to delist %s after fixing the cause", zone, ip),
			    "listed (%s)%s%s", a->rr[0].addrstr, reason ? ": " : "", reason ? reason : "");
		else
			add(c, "dnsbl", subj, F_WARN, NULL, "unexpected answer %s (not a listing code)", a->rr[0].addrstr);
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
		add(c, check, name, F_WARN, NULL, "TXT lookup fails: %s", why(a));
		return;
	}
	for (i = 0; i < a->nrr; i++)
		if (a->rr[i].txt && !strncmp(a->rr[i].txt, version, strlen(version))) {
			n++;
			free(txt);
			txt = txt_of(&a->rr[i]);
		}
	if (n == 0)
		add(c, check, name, F_INFO, NULL, "no record (optional)");
	else if (n > 1)
		add(c, check, name, F_WARN, NULL, "%zu records: exactly one is allowed", n);
	else {
		char *needle = xasprintf("%s=", required_tag);
		const char *p = strstr(txt, needle);
		int ok = p && (p == txt || p[-1] == ';' || p[-1] == ' ') && p[strlen(needle)] && p[strlen(needle)] != ';';
		size_t vl = strlen(version);

		if (txt[vl] != ';' && txt[vl] != ' ' && txt[vl] != '\0')
			ok = 0;
		if (ok)
			add(c, check, name, F_INFO, NULL, "present: %s", txt);
		else
			add(c, check, name, F_WARN, NULL, "invalid (needs %s and %s=): %s", version, required_tag, txt);
		free(needle);
	}
	free(txt);
}

/* ---------- one domain ---------- */

static void check_domain1(struct ctx *c, const char *d);

/* Names are compared lowercase and without the trailing dot. */
static void check_domain(struct ctx *c, const char *arg)
{
	char *d = xstrdup(arg);
	size_t l = strlen(d);
	struct mm_err err;

	if (l > 1 && d[l - 1] == '.')
		d[l - 1] = '\0';
	ascii_lower(d);
	if (dns_name_ok(d, &err) < 0 || !strchr(d, '.')) {
		char *cl = clean(arg, strlen(arg) > 300 ? 300 : strlen(arg));

		add(c, "mx", cl, F_FAIL, NULL, "not a usable domain name: %s", strchr(d, '.') ? err.msg : "no dot in the name");
		free(cl);
	} else {
		check_domain1(c, d);
	}
	free(d);
}

static void check_domain1(struct ctx *c, const char *d)
{
	struct addrs as;
	struct list rootsel;
	size_t i, j;

	memset(&as, 0, sizeof as);
	check_mx(c, d, &as);
	for (i = 0; i < c->ips.n; i++)
		addrs_add(&as, c->ips.v[i], "");
	for (i = 0; i < as.n; i++)
		check_ptr(c, d, as.ip[i], as.host[i]);
	check_spf(c, d, &as);
	for (i = 0; i < c->selectors.n; i++)
		check_dkim(c, d, c->selectors.v[i], c->key);
	if (c->root) {
		root_selectors(c, d, &rootsel);
		for (i = 0; i < rootsel.n; i++) {
			check_dkim(c, d, rootsel.v[i], NULL);
			free(rootsel.v[i]);
		}
	}
	check_dmarc(c, d);
	for (i = 0; i < c->ips.n; i++)
		for (j = 0; j < c->dnsbls.n; j++)
			check_dnsbl(c, c->ips.v[i], c->dnsbls.v[j]);
	{
		char *n1 = xasprintf("_mta-sts.%s", d), *n2 = xasprintf("_smtp._tls.%s", d);

		check_tagrec(c, "mta-sts", n1, "v=STSv1", "id");
		check_tagrec(c, "tls-rpt", n2, "v=TLSRPTv1", "rua");
		free(n1);
		free(n2);
	}
}

/* ---------- output ---------- */

static void json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void print_findings(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->nf; i++) {
		struct finding *f = &c->f[i];

		if (c->quiet && (f->st == F_PASS || f->st == F_INFO))
			continue;
		if (c->json) {
			fputs("{\"check\":", stdout);
			json_str(stdout, f->check);
			fputs(",\"subject\":", stdout);
			json_str(stdout, f->subject);
			fputs(",\"status\":", stdout);
			json_str(stdout, fst_str[f->st]);
			fputs(",\"message\":", stdout);
			json_str(stdout, f->msg);
			fputs(",\"fix\":", stdout);
			json_str(stdout, f->fix);
			fputs("}\n", stdout);
			continue;
		}
		printf("%s%s%s %-7s %s: %s\n", c->color ? fst_color[f->st] : "", fst_str[f->st],
		    c->color ? "\033[0m" : "", f->check, f->subject, f->msg);
		if (f->fix) {
			const char *p = f->fix, *nl;

			printf("    fix:\n");
			while (*p) {
				nl = strchr(p, '\n');
				printf("      %.*s\n", (int)(nl ? nl - p : (ptrdiff_t)strlen(p)), p);
				if (!nl)
					break;
				p = nl + 1;
			}
		}
	}
}

static void findings_free(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->nf; i++) {
		free(c->f[i].subject);
		free(c->f[i].msg);
		free(c->f[i].fix);
	}
	free(c->f);
	c->f = NULL;
	c->nf = 0;
}

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: %s [--ip ADDR]... [--selector S]... [--key FILE] [--dnsbl ZONE]...\n"
	    "           [--root DIR] [--json] [-q] [--resolver IP[:PORT]] [--timeout SECONDS]\n"
	    "           DOMAIN...\n"
	    "Checks MX, addresses, PTR, SPF, DKIM, DMARC, DNSBL, MTA-STS and TLS-RPT.\n"
	    "Exit: 0 all pass, 1 warnings, 2 failures, 3 could not check, 64 usage.\n", PROG);
}

static void list_add(struct list *l, const char *v, const char *opt)
{
	if (l->n >= MAX_ARGS_LIST)
		mm_die(DNSCHECK_EXIT_USAGE, "%s: at most %d", opt, MAX_ARGS_LIST);
	l->v[l->n++] = (char *)v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "selector", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "dnsbl", required_argument, NULL, 'b' },
		{ "root", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "resolver", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ "stats", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctx c;
	struct mm_err err;
	const char *resolver = NULL;
	long long timeout_s = 0;
	int ch, i, pass, worst = F_PASS;
	size_t k;

	log_init(PROG, LOG_DEST_STDERR);
	memset(&c, 0, sizeof c);
	while ((ch = getopt_long(argc, argv, "hqVj", opts, NULL)) != -1) {
		switch (ch) {
		case 'i': {
			unsigned char b[16];

			if (inet_pton(AF_INET, optarg, b) != 1 && inet_pton(AF_INET6, optarg, b) != 1)
				mm_die(DNSCHECK_EXIT_USAGE, "--ip %s: not an IP address", optarg);
			list_add(&c.ips, optarg, "--ip");
			break;
		}
		case 's':
			if (dns_name_ok(optarg, &err) < 0)
				mm_die(DNSCHECK_EXIT_USAGE, "--selector %s: %s", optarg, err.msg);
			list_add(&c.selectors, optarg, "--selector");
			break;
		case 'k': c.key = optarg; break;
		case 'b':
			if (dns_name_ok(optarg, &err) < 0)
				mm_die(DNSCHECK_EXIT_USAGE, "--dnsbl %s: %s", optarg, err.msg);
			list_add(&c.dnsbls, optarg, "--dnsbl");
			break;
		case 'r': c.root = optarg; break;
		case 'j': c.json = 1; break;
		case 'q': c.quiet = 1; break;
		case 'R': resolver = optarg; break;
		case 't':
			if (parse_long(optarg, 1, 300, &timeout_s) < 0)
				mm_die(DNSCHECK_EXIT_USAGE, "--timeout %s: want 1..300 seconds", optarg);
			break;
		case 'S': c.stats = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("%s %s\n", PROG, MM_VERSION); return 0;
		default: usage(stderr); return DNSCHECK_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return DNSCHECK_EXIT_USAGE;
	}
	if (c.key) {
		char *rec = dkimkey_record_for_private(c.key, &err);

		if (!rec)
			mm_die(DNSCHECK_EXIT_USAGE, "--key: %s", err.msg);
		free(rec);
		if (c.selectors.n == 0)
			mm_die(DNSCHECK_EXIT_USAGE, "--key needs --selector");
	}
	if (c.root) {
		struct stat st;

		if (stat(c.root, &st) < 0 || !S_ISDIR(st.st_mode))
			mm_die(DNSCHECK_EXIT_USAGE, "--root %s: not a directory", c.root);
	}
	c.color = !c.json && isatty(1) && !getenv("NO_COLOR");
	if (!(c.r = dns_open(resolver, &err)))
		mm_die(DNSCHECK_EXIT_USAGE, "resolver: %s", err.msg);
	if (timeout_s)
		dns_set_timeout(c.r, (int)(timeout_s * 1000));
	if (!(c.psl = dmarc_psl_load(NULL, &err)))
		mm_die(DNSCHECK_EXIT_CANT, "%s", err.msg);

	/* Plan: dry passes until nothing new is needed, one wave each. */
	dns_set_defer(c.r, 1);
	for (pass = 0; pass < MAX_PASSES; pass++) {
		c.dry = 1;
		for (i = optind; i < argc; i++)
			check_domain(&c, argv[i]);
		arena_free(&c);
		if (dns_pending(c.r) == 0)
			break;
		dns_flush(c.r, &err);
		if (pass == 0) {
			/* the first wave tells whether anyone answers at all */
			struct dns_answer a;
			const char *d = argv[optind];

			dns_set_defer(c.r, 1);
			if (dns_name_ok(d, NULL) == 0) {
				dns_query(c.r, d, ns_t_mx, &a, NULL);
				if (a.status == DNS_TIMEOUT || (a.status == DNS_ERROR && a.error && strstr(a.error, "no DNS server")))
					mm_die(DNSCHECK_EXIT_CANT, "resolver %s does not answer: %s",
					    dns_server_str(c.r), a.error ? a.error : dns_status_str(a.status));
				dns_answer_free(&a);
			}
		}
	}
	dns_set_defer(c.r, 0);
	c.dry = 0;
	c.cant = 0;
	for (i = optind; i < argc; i++)
		check_domain(&c, argv[i]);
	arena_free(&c);
	print_findings(&c);
	for (k = 0; k < c.nf; k++)
		if (c.f[k].st != F_INFO && (int)c.f[k].st > worst)
			worst = c.f[k].st;
	if (c.stats) {
		struct dns_stats st;

		dns_get_stats(c.r, &st);
		fprintf(stderr, "%s: stats: queries=%lu waves=%lu retries=%lu tcp=%lu cache_hits=%lu\n",
		    PROG, st.queries, st.waves, st.retries, st.tcp, st.cache_hits);
	}
	findings_free(&c);
	dmarc_psl_free(c.psl);
	dns_close(c.r);
	fflush(stdout);
	if (c.cant)
		return DNSCHECK_EXIT_CANT;
	return worst == F_FAIL ? DNSCHECK_EXIT_FAIL : worst == F_WARN ? DNSCHECK_EXIT_WARN : DNSCHECK_EXIT_PASS;
}
