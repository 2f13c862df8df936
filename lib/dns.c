/*
 * dns — see dns.h.  How it works, and why:
 *
 * libresolv builds queries (res_nmkquery) and splits answers
 * (ns_initparse/ns_parserr/ns_name_uncompress); everything else is ours so
 * that many queries can be on the wire at once.  Each query in flight has
 * its own connected UDP socket: the kernel then filters foreign sources,
 * the source port is random per query, and an ICMP "port unreachable"
 * shows up as ECONNREFUSED instead of a silent timeout.  The ID is random
 * too and the question is compared on the way back.
 *
 * A batch runs in rounds ("waves"): every pending query goes out at once,
 * answers are parsed as they arrive, and a CNAME chain that leaves the
 * message is followed by a further round (at most DNS_CNAME_MAX hops, a
 * name seen twice is a loop).  Truncated UDP answers are asked again over
 * TCP with the same deadline.  Answers are cached for the resolver's
 * lifetime, so tools can ask the same question from several checks.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNS_UDP_MAX       512     /* we send no EDNS: answers fit or are TC */
#define DNS_RECV_MAX      65535
#define DNS_QUERY_MAX     512     /* a built query message */
#define DNS_RESOLV_CONF   "/etc/resolv.conf"
#define DNS_RESOLV_CONF_MAX (64 * 1024)
#define DNS_SERVER_STR_MAX 64

struct cache_ent {
	char *name;
	int type;
	struct dns_answer ans;
	struct cache_ent *next;
};

struct dns_resolver {
	struct sockaddr_storage ss;
	socklen_t sslen;
	char str[DNS_SERVER_STR_MAX];
	int timeout_ms;
	struct __res_state res;
	struct dns_stats stats;
	struct cache_ent *cache;
	int defer;
	char **pend_name;       /* deferred queries */
	int *pend_type;
	size_t npend;
};

const char *dns_status_str(enum dns_status st)
{
	switch (st) {
	case DNS_OK: return "ok";
	case DNS_NXDOMAIN: return "nxdomain";
	case DNS_NODATA: return "nodata";
	case DNS_SERVFAIL: return "servfail";
	case DNS_TIMEOUT: return "timeout";
	case DNS_ERROR: return "error";
	}
	return "error";
}

static const char *type_str(int t)
{
	switch (t) {
	case ns_t_a: return "A";
	case ns_t_aaaa: return "AAAA";
	case ns_t_mx: return "MX";
	case ns_t_txt: return "TXT";
	case ns_t_ptr: return "PTR";
	case ns_t_cname: return "CNAME";
	case ns_t_ns: return "NS";
	case ns_t_soa: return "SOA";
	case 99: return "SPF";
	default: return "requested";
	}
}

/* ---------- names ---------- */

/* Lowercase copy without the trailing dot ("." -> ""). */
static char *norm_name(const char *s)
{
	char *n = xstrdup(s);
	size_t l = strlen(n);

	if (l > 0 && n[l - 1] == '.' && !(l >= 2 && n[l - 2] == '\\'))
		n[--l] = '\0';
	ascii_lower(n);
	return n;
}

int dns_name_ok(const char *name, struct mm_err *err)
{
	size_t len, lab = 0;
	const unsigned char *p;

	if (!name || !*name)
		return err_set(err, "empty domain name");
	len = strlen(name);
	if (len > 1 && name[len - 1] == '.')
		len--;
	if (len > NS_MAXCDNAME - 2)
		return err_set(err, "domain name too long (%zu octets, at most %d)",
		    len, NS_MAXCDNAME - 2);
	for (p = (const unsigned char *)name; p < (const unsigned char *)name + len; p++) {
		if (*p == '.') {
			if (lab == 0)
				return err_set(err, "empty label in domain name");
			lab = 0;
			continue;
		}
		if (*p >= 0x80)
			return err_set(err, "non-ASCII domain name (use the A-label, xn--...)");
		if (!(isalnum(*p) || *p == '-' || *p == '_' || *p == '*' || *p == '/'))
			return err_set(err, "invalid character 0x%02x in domain name", *p);
		if (++lab > NS_MAXLABEL)
			return err_set(err, "label longer than %d octets in domain name", NS_MAXLABEL);
	}
	if (lab == 0 && len > 0 && !(len == 1 && name[0] == '.'))
		return err_set(err, "empty label in domain name");
	return 0;
}

int dns_reverse_name(const char *ip, char *out, size_t outsz)
{
	unsigned char a[16];
	struct buf b;
	int i, rc = -1;

	if (!ip || !out || outsz == 0)
		return -1;
	buf_init(&b);
	if (inet_pton(AF_INET, ip, a) == 1) {
		buf_printf(&b, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		for (i = 15; i >= 0; i--)
			buf_printf(&b, "%x.%x.", a[i] & 0xf, a[i] >> 4);
		buf_puts(&b, "ip6.arpa");
	} else {
		goto out;
	}
	if (b.len + 1 > outsz)
		goto out;
	memcpy(out, b.data, b.len + 1);
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

/* ---------- answers ---------- */

static void rr_free(struct dns_rr *rr)
{
	size_t i;

	free(rr->owner);
	free(rr->name);
	free(rr->txt);
	for (i = 0; i < rr->nstrings; i++)
		free(rr->strings[i]);
	free(rr->strings);
	free(rr->string_lens);
	memset(rr, 0, sizeof *rr);
}

void dns_answer_free(struct dns_answer *a)
{
	size_t i;

	if (!a)
		return;
	free(a->qname);
	free(a->canon);
	for (i = 0; i < a->ncnames; i++)
		free(a->cnames[i]);
	free(a->cnames);
	for (i = 0; i < a->nrr; i++)
		rr_free(&a->rr[i]);
	free(a->rr);
	free(a->error);
	memset(a, 0, sizeof *a);
	a->rcode = -1;
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

static char *memdup0(const char *p, size_t n)
{
	size_t sz;
	char *d;

	if (size_add(n, 1, &sz) < 0)
		abort();
	d = xmalloc(sz);
	if (n)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

static void answer_copy(struct dns_answer *dst, const struct dns_answer *src)
{
	size_t i, j;

	*dst = *src;
	dst->qname = dup_or_null(src->qname);
	dst->canon = dup_or_null(src->canon);
	dst->error = dup_or_null(src->error);
	dst->cnames = src->ncnames ? xreallocarray(NULL, src->ncnames, sizeof(char *)) : NULL;
	for (i = 0; i < src->ncnames; i++)
		dst->cnames[i] = xstrdup(src->cnames[i]);
	dst->rr = src->nrr ? xcalloc(src->nrr, sizeof *dst->rr) : NULL;
	for (i = 0; i < src->nrr; i++) {
		const struct dns_rr *s = &src->rr[i];
		struct dns_rr *d = &dst->rr[i];

		*d = *s;
		d->owner = dup_or_null(s->owner);
		d->name = dup_or_null(s->name);
		d->txt = s->txt ? memdup0(s->txt, s->txt_len) : NULL;
		if (s->nstrings) {
			d->strings = xreallocarray(NULL, s->nstrings, sizeof(char *));
			d->string_lens = xreallocarray(NULL, s->nstrings, sizeof(size_t));
			for (j = 0; j < s->nstrings; j++) {
				d->strings[j] = memdup0(s->strings[j], s->string_lens[j]);
				d->string_lens[j] = s->string_lens[j];
			}
		}
	}
}

static void answer_set_error(struct dns_answer *a, enum dns_status st, const char *fmt, ...)
    MM_PRINTF(3, 4);
static void answer_set_error(struct dns_answer *a, enum dns_status st, const char *fmt, ...)
{
	va_list ap;

	free(a->error);
	va_start(ap, fmt);
	a->error = xvasprintf(fmt, ap);
	va_end(ap);
	a->status = st;
}

static void answer_add_cname(struct dns_answer *a, const char *target)
{
	a->cnames = xreallocarray(a->cnames, a->ncnames + 1, sizeof(char *));
	a->cnames[a->ncnames++] = xstrdup(target);
}

/* Was name already on the chain (or the question)? */
static int chain_has(const struct dns_answer *a, const char *name)
{
	size_t i;

	if (a->qname && !strcmp(a->qname, name))
		return 1;
	for (i = 0; i < a->ncnames; i++)
		if (!strcmp(a->cnames[i], name))
			return 1;
	return 0;
}

static int uncompress_name(ns_msg *m, const unsigned char *p, char *out, size_t outsz)
{
	if (ns_name_uncompress(ns_msg_base(*m), ns_msg_end(*m), p, out, outsz) < 0)
		return -1;
	return 0;
}

/* Fill one RR of the asked type; -1 on malformed rdata. */
static int parse_rdata(ns_msg *m, ns_rr *rr, struct dns_rr *o)
{
	const unsigned char *rd = ns_rr_rdata(*rr);
	size_t rdlen = ns_rr_rdlen(*rr), off;
	char name[DNS_NAME_MAX];
	struct buf txt;

	o->type = ns_rr_type(*rr);
	o->ttl = ns_rr_ttl(*rr);
	o->owner = norm_name(ns_rr_name(*rr));
	switch (o->type) {
	case ns_t_a:
		if (rdlen != 4)
			return -1;
		o->family = AF_INET;
		memcpy(o->addr, rd, 4);
		inet_ntop(AF_INET, rd, o->addrstr, sizeof o->addrstr);
		return 0;
	case ns_t_aaaa:
		if (rdlen != 16)
			return -1;
		o->family = AF_INET6;
		memcpy(o->addr, rd, 16);
		inet_ntop(AF_INET6, rd, o->addrstr, sizeof o->addrstr);
		return 0;
	case ns_t_mx:
		if (rdlen < 3)
			return -1;
		o->pref = ns_get16(rd);
		if (uncompress_name(m, rd + 2, name, sizeof name) < 0)
			return -1;
		o->name = norm_name(name);
		return 0;
	case ns_t_cname:
	case ns_t_ptr:
	case ns_t_ns:
		if (uncompress_name(m, rd, name, sizeof name) < 0)
			return -1;
		o->name = norm_name(name);
		return 0;
	case ns_t_txt:
	case 99: /* SPF */
		buf_init(&txt);
		for (off = 0; off < rdlen;) {
			size_t l = rd[off++];

			if (l > rdlen - off) {
				buf_free(&txt);
				return -1;
			}
			o->strings = xreallocarray(o->strings, o->nstrings + 1, sizeof(char *));
			o->string_lens = xreallocarray(o->string_lens, o->nstrings + 1, sizeof(size_t));
			o->strings[o->nstrings] = memdup0((const char *)rd + off, l);
			o->string_lens[o->nstrings++] = l;
			buf_append(&txt, rd + off, l);
			off += l;
		}
		o->txt_len = txt.len;
		o->txt = txt.data ? buf_steal(&txt) : xstrdup("");
		buf_free(&txt);
		return 0;
	default:
		return 0;
	}
}

enum dns_status dns_parse_response(const unsigned char *msg, size_t len,
    const char *qname, int qtype, struct dns_answer *out)
{
	ns_msg m;
	ns_rr rr;
	int i, n, rcode, progress;
	char *cur;

	dns_answer_free(out);
	out->qname = norm_name(qname);
	out->qtype = qtype;
	out->rcode = -1;
	if (len > DNS_RECV_MAX || ns_initparse(msg, (int)len, &m) < 0) {
		answer_set_error(out, DNS_ERROR, "malformed DNS answer");
		return out->status;
	}
	rcode = ns_msg_getflag(m, ns_f_rcode);
	out->rcode = rcode;
	n = ns_msg_count(m, ns_s_an);

	/* Follow the chain inside the message. */
	cur = xstrdup(out->qname);
	do {
		progress = 0;
		if (qtype == ns_t_cname)
			break;
		for (i = 0; i < n; i++) {
			char tgt[DNS_NAME_MAX], *t, *o;

			if (ns_parserr(&m, ns_s_an, i, &rr) < 0)
				break;
			if (ns_rr_type(rr) != ns_t_cname || ns_rr_class(rr) != ns_c_in)
				continue;
			o = norm_name(ns_rr_name(rr));
			if (strcmp(o, cur)) {
				free(o);
				continue;
			}
			free(o);
			if (uncompress_name(&m, ns_rr_rdata(rr), tgt, sizeof tgt) < 0)
				continue;
			t = norm_name(tgt);
			if (chain_has(out, t) || out->ncnames >= DNS_CNAME_MAX) {
				answer_add_cname(out, t);
				free(t);
				free(cur);
				out->cname_loop = 1;
				out->canon = xstrdup(out->cnames[out->ncnames - 1]);
				answer_set_error(out, DNS_ERROR, "CNAME loop or chain longer than %d at %s",
				    DNS_CNAME_MAX, out->qname);
				return out->status;
			}
			answer_add_cname(out, t);
			free(cur);
			cur = t;
			progress = 1;
			break;
		}
	} while (progress);
	out->canon = cur;

	for (i = 0; i < n; i++) {
		char *o;
		struct dns_rr one;

		if (ns_parserr(&m, ns_s_an, i, &rr) < 0) {
			answer_set_error(out, DNS_ERROR, "malformed DNS answer (record %d)", i);
			return out->status;
		}
		if ((int)ns_rr_type(rr) != qtype || ns_rr_class(rr) != ns_c_in)
			continue;
		o = norm_name(ns_rr_name(rr));
		if (strcmp(o, cur)) {
			free(o);
			continue;
		}
		free(o);
		if (out->nrr >= DNS_RR_MAX)
			break;
		memset(&one, 0, sizeof one);
		if (parse_rdata(&m, &rr, &one) < 0) {
			rr_free(&one);
			answer_set_error(out, DNS_ERROR, "malformed %s record for %s",
			    type_str(qtype), cur);
			return out->status;
		}
		out->rr = xreallocarray(out->rr, out->nrr + 1, sizeof *out->rr);
		out->rr[out->nrr++] = one;
	}

	if (out->nrr > 0) {
		out->status = DNS_OK;
		return out->status;
	}
	switch (rcode) {
	case ns_r_noerror:
		out->status = DNS_NODATA;
		if (out->ncnames > 0)
			out->chain_open = 1;
		break;
	case ns_r_nxdomain:
		answer_set_error(out, DNS_NXDOMAIN, "%s: no such domain", out->canon);
		break;
	case ns_r_servfail:
		answer_set_error(out, DNS_SERVFAIL, "%s: server failure (SERVFAIL)", out->canon);
		break;
	case ns_r_refused:
		answer_set_error(out, DNS_SERVFAIL, "%s: query refused by the server (REFUSED)", out->canon);
		break;
	default:
		answer_set_error(out, DNS_ERROR, "%s: DNS error rcode %d", out->canon, rcode);
		break;
	}
	if (out->status == DNS_NODATA && !out->error)
		answer_set_error(out, DNS_NODATA, "%s: no %s record", out->canon, type_str(qtype));
	return out->status;
}

/* ---------- resolver ---------- */

static int parse_server(const char *s, struct sockaddr_storage *ss, socklen_t *sslen,
    char *str, size_t strsz, struct mm_err *err)
{
	char host[DNS_SERVER_STR_MAX];
	const char *port = NULL, *colon;
	long long p = DNS_PORT;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (strlen(s) >= sizeof host)
		return err_set(err, "resolver address too long: %.64s", s);
	if (s[0] == '[') {
		const char *e = strchr(s, ']');

		if (!e)
			return err_set(err, "bad resolver address '%s'", s);
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		if (e[1] == ':')
			port = e + 2;
		else if (e[1])
			return err_set(err, "bad resolver address '%s'", s);
	} else if ((colon = strchr(s, ':')) && !strchr(colon + 1, ':')) {
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	} else {
		strcpy(host, s);
	}
	if (port && parse_long(port, 1, 65535, &p) < 0)
		return err_set(err, "bad port in resolver address '%s'", s);
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		*sslen = sizeof *s4;
		if (snprintf_ok(str, strsz, "%s:%lld", host, p) < 0)
			return err_set(err, "resolver address too long: %s", s);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		*sslen = sizeof *s6;
		if (snprintf_ok(str, strsz, "[%s]:%lld", host, p) < 0)
			return err_set(err, "resolver address too long: %s", s);
	} else {
		return err_set(err, "bad resolver address '%s' (want IP[:PORT])", s);
	}
	return 0;
}

static int resolv_conf_server(char *out, size_t outsz, struct mm_err *err)
{
	struct buf b;
	char *line, *save = NULL;
	int rc = -1;

	buf_init(&b);
	if (read_file_all(DNS_RESOLV_CONF, DNS_RESOLV_CONF_MAX, &b, err) < 0) {
		buf_free(&b);
		return -1;
	}
	for (line = strtok_r(b.data ? b.data : (char *)"", "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		char *p = line, *e;

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "nameserver", 10) || (p[10] != ' ' && p[10] != '\t'))
			continue;
		p += 10;
		while (*p == ' ' || *p == '\t')
			p++;
		for (e = p; *e && *e != ' ' && *e != '\t' && *e != '\r' && *e != '#'; e++)
			;
		*e = '\0';
		if (strchr(p, '%'))     /* scoped IPv6: not supported, try the next */
			continue;
		if (strchr(p, ':'))
			rc = snprintf_ok(out, outsz, "[%s]", p);
		else
			rc = snprintf_ok(out, outsz, "%s", p);
		if (rc < 0)
			err_set(err, "%s: nameserver too long", DNS_RESOLV_CONF);
		break;
	}
	if (rc < 0 && !line)
		err_set(err, "%s: no nameserver line", DNS_RESOLV_CONF);
	buf_free(&b);
	return rc;
}

struct dns_resolver *dns_open(const char *server, struct mm_err *err)
{
	struct dns_resolver *r = xcalloc(1, sizeof *r);
	char conf[DNS_SERVER_STR_MAX];

	if (!server || !*server) {
		server = getenv("MM_RESOLVER");
		if (!server || !*server) {
			if (resolv_conf_server(conf, sizeof conf, err) < 0) {
				free(r);
				return NULL;
			}
			server = conf;
		}
	}
	if (parse_server(server, &r->ss, &r->sslen, r->str, sizeof r->str, err) < 0) {
		free(r);
		return NULL;
	}
	r->timeout_ms = DNS_TIMEOUT_DEFAULT_MS;
	if (res_ninit(&r->res) < 0) {
		/* res_ninit still leaves usable defaults; only the options matter */
	}
	r->res.options |= RES_RECURSE;
	/* no EDNS even if resolv.conf asks for it: answers are then bounded
	 * to 512 octets and a bigger one comes back truncated, over TCP */
	r->res.options &= ~(unsigned long)(RES_USE_EDNS0 | RES_USE_DNSSEC);
	return r;
}

void dns_close(struct dns_resolver *r)
{
	struct cache_ent *c, *n;

	if (!r)
		return;
	for (c = r->cache; c; c = n) {
		n = c->next;
		free(c->name);
		dns_answer_free(&c->ans);
		free(c);
	}
	dns_set_defer(r, 0);
	res_nclose(&r->res);
	free(r);
}

void dns_set_defer(struct dns_resolver *r, int on)
{
	size_t i;

	r->defer = on;
	if (!on) {
		for (i = 0; i < r->npend; i++)
			free(r->pend_name[i]);
		free(r->pend_name);
		free(r->pend_type);
		r->pend_name = NULL;
		r->pend_type = NULL;
		r->npend = 0;
	}
}

size_t dns_pending(const struct dns_resolver *r) { return r->npend; }

static void defer_add(struct dns_resolver *r, const char *name, int type)
{
	size_t i;

	for (i = 0; i < r->npend; i++)
		if (r->pend_type[i] == type && !strcmp(r->pend_name[i], name))
			return;
	if (r->npend >= DNS_BATCH_MAX)
		return;
	r->pend_name = xreallocarray(r->pend_name, r->npend + 1, sizeof(char *));
	r->pend_type = xreallocarray(r->pend_type, r->npend + 1, sizeof(int));
	r->pend_name[r->npend] = xstrdup(name);
	r->pend_type[r->npend++] = type;
}

int dns_flush(struct dns_resolver *r, struct mm_err *err)
{
	struct dns_batch *b;
	size_t i;
	int rc, was = r->defer;

	if (r->npend == 0)
		return 0;
	r->defer = 0;
	b = dns_batch_new(r);
	for (i = 0; i < r->npend; i++)
		dns_batch_add(b, r->pend_name[i], r->pend_type[i]);
	rc = dns_batch_run(b, err);
	dns_batch_free(b);
	dns_set_defer(r, 0);
	r->defer = was;
	return rc;
}

void dns_add_stats(struct dns_resolver *r, const struct dns_stats *add)
{
	r->stats.queries += add->queries;
	r->stats.waves += add->waves;
	r->stats.retries += add->retries;
	r->stats.tcp += add->tcp;
	r->stats.cache_hits += add->cache_hits;
}

void dns_set_timeout(struct dns_resolver *r, int ms)
{
	r->timeout_ms = ms > 0 ? ms : DNS_TIMEOUT_DEFAULT_MS;
}

const char *dns_server_str(const struct dns_resolver *r) { return r->str; }

void dns_get_stats(const struct dns_resolver *r, struct dns_stats *out) { *out = r->stats; }

static struct cache_ent *cache_find(struct dns_resolver *r, const char *name, int type)
{
	struct cache_ent *c;

	for (c = r->cache; c; c = c->next)
		if (c->type == type && !strcmp(c->name, name))
			return c;
	return NULL;
}

static void cache_put(struct dns_resolver *r, const char *name, int type, const struct dns_answer *a)
{
	struct cache_ent *c;

	if (cache_find(r, name, type))
		return;
	c = xcalloc(1, sizeof *c);
	c->name = xstrdup(name);
	c->type = type;
	answer_copy(&c->ans, a);
	c->next = r->cache;
	r->cache = c;
}

/* ---------- the wire ---------- */

struct wq {
	char *name;
	int type;
	int fd;
	unsigned char pkt[DNS_QUERY_MAX];
	int pktlen;
	int sent;
	int64_t next_send;
	int64_t deadline;
	int done;
	struct dns_answer ans;
};

/* Does msg answer our question (ID, QR, one question equal to ours)? */
static int matches(const struct wq *q, const unsigned char *msg, size_t len)
{
	ns_msg m;
	ns_rr rr;
	char *n;
	int ok;

	if (len < NS_HFIXEDSZ || memcmp(msg, q->pkt, 2))
		return 0;
	if (ns_initparse(msg, (int)len, &m) < 0 || !ns_msg_getflag(m, ns_f_qr))
		return 0;
	if (ns_msg_count(m, ns_s_qd) != 1 || ns_parserr(&m, ns_s_qd, 0, &rr) < 0)
		return 0;
	n = norm_name(ns_rr_name(rr));
	ok = (int)ns_rr_type(rr) == q->type && !strcmp(n, q->name);
	free(n);
	return ok;
}

static int wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return 0;
		n = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

static int tcp_io(int fd, void *p, size_t n, int wr, int64_t deadline)
{
	size_t off = 0;
	ssize_t k;

	while (off < n) {
		if (wait_fd(fd, wr ? POLLOUT : POLLIN, deadline) <= 0)
			return -1;
		k = wr ? send(fd, (char *)p + off, n - off, MSG_NOSIGNAL)
		       : recv(fd, (char *)p + off, n - off, 0);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			return -1;
		off += (size_t)k;
	}
	return 0;
}

/* Ask q over TCP (after a truncated UDP answer). */
static void tcp_exchange(struct dns_resolver *r, struct wq *q)
{
	int fd, e;
	unsigned char lenb[2], *resp = NULL;
	size_t rlen;
	socklen_t el = sizeof e;

	r->stats.tcp++;
	r->stats.queries++;
	fd = socket(r->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		answer_set_error(&q->ans, DNS_ERROR, "%s: TCP socket: %s", q->name, strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&r->ss, r->sslen) < 0 && errno != EINPROGRESS) {
		answer_set_error(&q->ans, DNS_ERROR, "%s: TCP connect to %s: %s", q->name, r->str, strerror(errno));
		goto out;
	}
	if (wait_fd(fd, POLLOUT, q->deadline) <= 0) {
		answer_set_error(&q->ans, DNS_TIMEOUT, "%s: TCP connect to %s timed out", q->name, r->str);
		goto out;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e) {
		answer_set_error(&q->ans, DNS_ERROR, "%s: TCP connect to %s: %s", q->name, r->str, strerror(e));
		goto out;
	}
	lenb[0] = (unsigned char)(q->pktlen >> 8);
	lenb[1] = (unsigned char)q->pktlen;
	if (tcp_io(fd, lenb, 2, 1, q->deadline) < 0 || tcp_io(fd, q->pkt, (size_t)q->pktlen, 1, q->deadline) < 0 ||
	    tcp_io(fd, lenb, 2, 0, q->deadline) < 0) {
		answer_set_error(&q->ans, DNS_TIMEOUT, "%s: no answer over TCP from %s", q->name, r->str);
		goto out;
	}
	rlen = (size_t)lenb[0] << 8 | lenb[1];
	resp = xmalloc(rlen ? rlen : 1);
	if (tcp_io(fd, resp, rlen, 0, q->deadline) < 0) {
		answer_set_error(&q->ans, DNS_TIMEOUT, "%s: no answer over TCP from %s", q->name, r->str);
		goto out;
	}
	if (!matches(q, resp, rlen)) {
		answer_set_error(&q->ans, DNS_ERROR, "%s: TCP answer does not match the question", q->name);
		goto out;
	}
	dns_parse_response(resp, rlen, q->name, q->type, &q->ans);
	q->ans.used_tcp = 1;
out:
	free(resp);
	close(fd);
}

static void wq_finish(struct wq *q)
{
	q->done = 1;
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
}

static void wq_send(struct dns_resolver *r, struct wq *q, int64_t now)
{
	int64_t per = r->timeout_ms / DNS_TRIES;

	if (per < 1)
		per = 1;
	if (send(q->fd, q->pkt, (size_t)q->pktlen, 0) < 0 && errno != EAGAIN && errno != EINTR) {
		answer_set_error(&q->ans, DNS_ERROR, "%s: cannot send to %s: %s", q->name, r->str, strerror(errno));
		wq_finish(q);
		return;
	}
	if (q->sent)
		r->stats.retries++;
	q->sent++;
	r->stats.queries++;
	q->next_send = now + per;
}

static void wq_start(struct dns_resolver *r, struct wq *q, int64_t now)
{
	int n;

	q->fd = -1;
	q->ans.rcode = -1;
	n = res_nmkquery(&r->res, ns_o_query, q->name, ns_c_in, q->type, NULL, 0, NULL,
	    q->pkt, sizeof q->pkt);
	if (n < 0) {
		answer_set_error(&q->ans, DNS_ERROR, "%s: cannot build a query for this name", q->name);
		q->ans.qname = xstrdup(q->name);
		q->ans.qtype = q->type;
		q->done = 1;
		return;
	}
	q->pktlen = n;
	random_bytes(q->pkt, 2);
	q->fd = socket(r->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&r->ss, r->sslen) < 0) {
		answer_set_error(&q->ans, DNS_ERROR, "%s: UDP socket to %s: %s", q->name, r->str, strerror(errno));
		q->ans.qname = xstrdup(q->name);
		q->ans.qtype = q->type;
		wq_finish(q);
		return;
	}
	q->deadline = now + r->timeout_ms;
	wq_send(r, q, now);
}

static void wq_receive(struct dns_resolver *r, struct wq *q, unsigned char *buf)
{
	ssize_t n;

	for (;;) {
		n = recv(q->fd, buf, DNS_RECV_MAX, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			answer_set_error(&q->ans, DNS_ERROR,
			    "%s: no DNS server at %s: %s", q->name, r->str, strerror(errno));
			q->ans.qname = xstrdup(q->name);
			q->ans.qtype = q->type;
			wq_finish(q);
			return;
		}
		if (!matches(q, buf, (size_t)n))
			continue;       /* stray or forged: keep waiting */
		if (buf[2] & 0x02) { /* TC: ask again over TCP */
			wq_finish(q);
			tcp_exchange(r, q);
			return;
		}
		dns_parse_response(buf, (size_t)n, q->name, q->type, &q->ans);
		wq_finish(q);
		return;
	}
}

/* Run every query of qs to completion, DNS_INFLIGHT_MAX at a time. */
static int run_wire(struct dns_resolver *r, struct wq *qs, size_t n, struct mm_err *err)
{
	struct pollfd *pf;
	size_t *idx, started = 0, active, i, k;
	unsigned char *buf;

	if (n == 0)
		return 0;
	r->stats.waves++;
	pf = xcalloc(DNS_INFLIGHT_MAX, sizeof *pf);
	idx = xcalloc(DNS_INFLIGHT_MAX, sizeof *idx);
	buf = xmalloc(DNS_RECV_MAX);
	for (;;) {
		int64_t now = now_ms(), wake = now + 1000000;
		int rc;

		active = 0;
		for (i = 0; i < started; i++)
			if (!qs[i].done)
				active++;
		while (started < n && active < DNS_INFLIGHT_MAX) {
			wq_start(r, &qs[started], now);
			if (!qs[started].done)
				active++;
			started++;
		}
		if (active == 0 && started == n)
			break;
		k = 0;
		for (i = 0; i < started && k < DNS_INFLIGHT_MAX; i++) {
			struct wq *q = &qs[i];

			if (q->done)
				continue;
			if (now >= q->deadline) {
				answer_set_error(&q->ans, DNS_TIMEOUT, "%s: no answer from %s within %d ms",
				    q->name, r->str, r->timeout_ms);
				q->ans.qname = xstrdup(q->name);
				q->ans.qtype = q->type;
				wq_finish(q);
				continue;
			}
			if (now >= q->next_send && q->sent < DNS_TRIES)
				wq_send(r, q, now);
			if (q->done)
				continue;
			if (q->sent < DNS_TRIES && q->next_send < wake)
				wake = q->next_send;
			if (q->deadline < wake)
				wake = q->deadline;
			pf[k].fd = q->fd;
			pf[k].events = POLLIN;
			pf[k].revents = 0;
			idx[k++] = i;
		}
		if (k == 0)
			continue;
		rc = poll(pf, k, (int)(wake > now ? wake - now : 0));
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			err_sys(err, "poll");
			free(pf);
			free(idx);
			free(buf);
			for (i = 0; i < n; i++)
				if (!qs[i].done) {
					answer_set_error(&qs[i].ans, DNS_ERROR, "poll failed");
					wq_finish(&qs[i]);
				}
			return -1;
		}
		for (i = 0; i < k; i++)
			if (pf[i].revents)
				wq_receive(r, &qs[idx[i]], buf);
	}
	free(pf);
	free(idx);
	free(buf);
	return 0;
}

/* ---------- batches ---------- */

struct bent {
	char *name;        /* as asked, normalised */
	int type;
	char *cur;         /* name to ask next (follows CNAMEs) */
	int done;
	int wqi;           /* index into this round's wire queries */
	struct dns_answer ans;
};

struct dns_batch {
	struct dns_resolver *r;
	struct bent *e;
	size_t n, cap;
};

struct dns_batch *dns_batch_new(struct dns_resolver *r)
{
	struct dns_batch *b = xcalloc(1, sizeof *b);

	b->r = r;
	return b;
}

size_t dns_batch_add(struct dns_batch *b, const char *name, int type)
{
	struct bent *e;

	if (b->n >= DNS_BATCH_MAX)
		return (size_t)-1;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->e = xreallocarray(b->e, b->cap, sizeof *b->e);
	}
	e = &b->e[b->n];
	memset(e, 0, sizeof *e);
	e->name = norm_name(name ? name : "");
	e->type = type;
	e->cur = xstrdup(e->name);
	e->ans.rcode = -1;
	return b->n++;
}

size_t dns_batch_count(const struct dns_batch *b) { return b->n; }

const struct dns_answer *dns_batch_answer(const struct dns_batch *b, size_t i)
{
	return i < b->n ? &b->e[i].ans : NULL;
}

void dns_batch_free(struct dns_batch *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->n; i++) {
		free(b->e[i].name);
		free(b->e[i].cur);
		dns_answer_free(&b->e[i].ans);
	}
	free(b->e);
	free(b);
}

/* Merge one round's result r for e->cur into e's answer. */
static void merge(struct bent *e, struct dns_answer *res, int first)
{
	size_t i;

	if (first) {
		dns_answer_free(&e->ans);
		answer_copy(&e->ans, res);
		free(e->ans.qname);
		e->ans.qname = xstrdup(e->name);
		return;
	}
	for (i = 0; i < res->ncnames; i++) {
		if (chain_has(&e->ans, res->cnames[i]) || e->ans.ncnames >= DNS_CNAME_MAX) {
			answer_add_cname(&e->ans, res->cnames[i]);
			e->ans.cname_loop = 1;
			e->ans.chain_open = 0;
			free(e->ans.canon);
			e->ans.canon = xstrdup(res->cnames[i]);
			answer_set_error(&e->ans, DNS_ERROR, "CNAME loop or chain longer than %d at %s",
			    DNS_CNAME_MAX, e->name);
			for (i = 0; i < e->ans.nrr; i++)
				rr_free(&e->ans.rr[i]);
			e->ans.nrr = 0;
			return;
		}
		answer_add_cname(&e->ans, res->cnames[i]);
	}
	for (i = 0; i < e->ans.nrr; i++)
		rr_free(&e->ans.rr[i]);
	free(e->ans.rr);
	e->ans.rr = NULL;
	e->ans.nrr = 0;
	{
		struct dns_answer tmp;

		answer_copy(&tmp, res);
		e->ans.rr = tmp.rr;
		e->ans.nrr = tmp.nrr;
		tmp.rr = NULL;
		tmp.nrr = 0;
		free(e->ans.canon);
		e->ans.canon = tmp.canon;
		tmp.canon = NULL;
		free(e->ans.error);
		e->ans.error = tmp.error;
		tmp.error = NULL;
		e->ans.status = tmp.status;
		e->ans.rcode = tmp.rcode;
		e->ans.chain_open = tmp.chain_open;
		e->ans.cname_loop |= tmp.cname_loop;
		e->ans.used_tcp |= tmp.used_tcp;
		dns_answer_free(&tmp);
	}
}

int dns_batch_run(struct dns_batch *b, struct mm_err *err)
{
	struct dns_resolver *r = b->r;
	struct wq *qs = NULL;
	size_t i, j, nq, round;
	int rc = 0;
	struct mm_err e2;

	for (round = 0; round <= DNS_CNAME_MAX + 1; round++) {
		nq = 0;
		free(qs);
		qs = xcalloc(b->n ? b->n : 1, sizeof *qs);
		for (i = 0; i < b->n; i++) {
			struct bent *e = &b->e[i];
			struct cache_ent *c;

			if (e->done)
				continue;
			e->wqi = -1;
			if (dns_name_ok(e->cur, &e2) < 0) {
				dns_answer_free(&e->ans);
				e->ans.qname = xstrdup(e->name);
				e->ans.qtype = e->type;
				answer_set_error(&e->ans, DNS_ERROR, "%s: %s", e->cur, e2.msg);
				e->done = 1;
				continue;
			}
			if ((c = cache_find(r, e->cur, e->type))) {
				r->stats.cache_hits++;
				continue;
			}
			if (r->defer) {
				defer_add(r, e->cur, e->type);
				dns_answer_free(&e->ans);
				e->ans.qname = xstrdup(e->name);
				e->ans.qtype = e->type;
				e->ans.deferred = 1;
				answer_set_error(&e->ans, DNS_ERROR, "%s: deferred", e->cur);
				e->done = 1;
				continue;
			}
			for (j = 0; j < nq; j++)
				if (qs[j].type == e->type && !strcmp(qs[j].name, e->cur))
					break;
			if (j == nq) {
				qs[nq].name = xstrdup(e->cur);
				qs[nq].type = e->type;
				qs[nq].ans.rcode = -1;
				nq++;
			}
			e->wqi = (int)j;
		}
		if (run_wire(r, qs, nq, err) < 0)
			rc = -1;
		for (j = 0; j < nq; j++)
			if (!qs[j].ans.chain_open)
				cache_put(r, qs[j].name, qs[j].type, &qs[j].ans);
		for (i = 0; i < b->n; i++) {
			struct bent *e = &b->e[i];
			struct dns_answer *res;
			struct cache_ent *c = NULL;
			int first = !strcmp(e->cur, e->name);

			if (e->done)
				continue;
			if (e->wqi >= 0)
				res = &qs[e->wqi].ans;
			else if ((c = cache_find(r, e->cur, e->type)))
				res = &c->ans;
			else
				continue;
			merge(e, res, first);
			if (e->ans.chain_open && !e->ans.cname_loop) {
				free(e->cur);
				e->cur = xstrdup(e->ans.canon);
				continue;
			}
			e->ans.chain_open = 0;
			e->done = 1;
		}
		for (j = 0; j < nq; j++) {
			free(qs[j].name);
			dns_answer_free(&qs[j].ans);
		}
		for (i = 0; i < b->n; i++)
			if (!b->e[i].done)
				break;
		if (i == b->n)
			break;
	}
	free(qs);
	for (i = 0; i < b->n; i++) {
		struct bent *e = &b->e[i];

		if (!e->done) {
			e->ans.cname_loop = 1;
			e->ans.chain_open = 0;
			answer_set_error(&e->ans, DNS_ERROR, "CNAME chain too long at %s", e->name);
			e->done = 1;
		}
		if (!e->ans.qname)
			e->ans.qname = xstrdup(e->name);
		e->ans.qtype = e->type;
	}
	return rc;
}

enum dns_status dns_query(struct dns_resolver *r, const char *name, int type,
    struct dns_answer *out, struct mm_err *err)
{
	struct dns_batch *b = dns_batch_new(r);
	size_t i = dns_batch_add(b, name, type);

	memset(out, 0, sizeof *out);
	dns_batch_run(b, err);
	answer_copy(out, &b->e[i].ans);
	dns_batch_free(b);
	if (out->status != DNS_OK)
		err_set(err, "%s", out->error ? out->error : dns_status_str(out->status));
	return out->status;
}
