/*
 * mx — the --mx transport (see send_mx.h).
 *
 * Why per domain: each recipient domain has its own MX set; a message to
 * three domains is three SMTP transactions, each with its own outcome.
 * A host that cannot be reached or greets with 4xx is skipped for the
 * next one; the first host that answers the transaction decides.
 */
#include "send_mx.h"
#include "dns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MX_HOSTS_MAX 16   /* MX hosts tried per domain */
#define MX_ADDRS_MAX 8    /* addresses tried per host */

struct mxhost {
	char *name;
	unsigned pref;
	unsigned rnd;
};

static int cmp_mx(const void *a, const void *b)
{
	const struct mxhost *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->rnd < y->rnd ? -1 : x->rnd > y->rnd;
}

static void set(struct smtpc_rcpt *r, size_t n, enum smtpc_status st, const char *text)
{
	for (size_t i = 0; i < n; i++) {
		r[i].st = st;
		snprintf(r[i].text, sizeof(r[i].text), "%.*s", SMTPC_TEXT_MAX - 1, text);
	}
}

/* Try one host's addresses; returns 1 if a session decided the outcome. */
static int try_host(struct dns_resolver *res, const struct send_mx_opts *o, const char *host,
    SSL_CTX *ctx, const char *from, struct smtpc_rcpt *r, char **mta, size_t n, const char *msg,
    size_t len, struct mm_err *err)
{
	static const int types[] = { ns_t_aaaa, ns_t_a };
	size_t tried = 0;

	for (size_t t = 0; t < MM_NELEM(types); t++) {
		struct dns_answer a;
		struct mm_err qe = { 0 };
		if (dns_query(res, host, types[t], &a, &qe) != DNS_OK) {
			if (a.status != DNS_NODATA && a.status != DNS_NXDOMAIN)
				err_set(err, "%s: address lookup: %s", host, qe.msg);
			else if (!err->msg[0])
				err_set(err, "%s: no address", host);
			dns_answer_free(&a);
			continue;
		}
		for (size_t i = 0; i < a.nrr && tried < MX_ADDRS_MAX; i++, tried++) {
			struct smtpc c;
			int fd;
			enum smtpc_status st;
			if (smtpc_connect_tcp(a.rr[i].addrstr, o->port, SMTPC_CONNECT_TIMEOUT_MS, &fd, err) < 0) {
				err_wrap(err, "%s", host);
				continue;
			}
			smtpc_init(&c, fd, fd, host, o->timeout_ms);
			for (size_t k = 0; k < n; k++) {
				r[k].st = SMTPC_TEMP;
				r[k].text[0] = 0;
			}
			st = send_session(&c, 2, ctx, from, r, n, msg, len, err);
			smtpc_close(&c);
			close(fd);
			/* delivered or refused for good: decided; any temporary
			 * failure (unreachable, 4xx, TLS) moves on to the next */
			int decided = st != SMTPC_TEMP;
			if (mta)
				for (size_t k = 0; k < n; k++) {
					free(mta[k]);
					mta[k] = xstrdup(host);
				}
			if (decided) {
				dns_answer_free(&a);
				return 1;
			}
		}
		dns_answer_free(&a);
	}
	return 0;
}

static void deliver_domain(struct dns_resolver *res, const struct send_mx_opts *o,
    const char *domain, SSL_CTX *ctx, const char *from, struct smtpc_rcpt *r, char **mta,
    size_t n, const char *msg, size_t len)
{
	struct dns_answer a;
	struct mm_err err = { 0 };
	struct mxhost hosts[MX_HOSTS_MAX];
	size_t nh = 0;
	enum dns_status st = dns_query(res, domain, ns_t_mx, &a, &err);

	if (st == DNS_NXDOMAIN) {
		char t[SMTPC_TEXT_MAX];
		snprintf(t, sizeof(t), "%.200s: no such domain", domain);
		set(r, n, SMTPC_PERM, t);
		dns_answer_free(&a);
		return;
	}
	if (st != DNS_OK && st != DNS_NODATA) {
		char t[SMTPC_TEXT_MAX];
		snprintf(t, sizeof(t), "%.200s: MX lookup: %.200s", domain, err.msg);
		set(r, n, SMTPC_TEMP, t);
		dns_answer_free(&a);
		return;
	}
	if (st == DNS_OK) {
		for (size_t i = 0; i < a.nrr; i++) {
			if (a.rr[i].name[0] == 0) {
				if (a.nrr == 1) {   /* RFC 7505 null MX */
					char t[SMTPC_TEXT_MAX];
					snprintf(t, sizeof(t), "%.200s accepts no mail (null MX)", domain);
					set(r, n, SMTPC_PERM, t);
					dns_answer_free(&a);
					return;
				}
				continue;
			}
			if (nh < MX_HOSTS_MAX) {
				unsigned rnd;
				random_bytes(&rnd, sizeof(rnd));
				hosts[nh++] = (struct mxhost){ xstrdup(a.rr[i].name), a.rr[i].pref, rnd };
			}
		}
	}
	dns_answer_free(&a);
	if (nh == 0)   /* no MX: the domain itself (RFC 5321 5.1) */
		hosts[nh++] = (struct mxhost){ xstrdup(domain), 0, 0 };
	qsort(hosts, nh, sizeof(hosts[0]), cmp_mx);
	err_clear(&err);
	int done = 0;
	for (size_t i = 0; i < nh && !done; i++)
		done = try_host(res, o, hosts[i].name, ctx, from, r, mta, n, msg, len, &err);
	/* no host decided: a recipient keeps the last host's own answer to
	 * it (a 550 to its RCPT stays permanent, a 451 keeps its code for the
	 * queue and the DSN); one that never got an answer takes the error */
	for (size_t i = 0; i < n && !done; i++)
		if (!r[i].text[0] || r[i].st == SMTPC_OK)
			set(&r[i], 1, SMTPC_TEMP, err.msg[0] ? err.msg : "no MX host answered");
	for (size_t i = 0; i < nh; i++)
		free(hosts[i].name);
}

void send_mx_deliver(const struct send_mx_opts *o, const char *from, struct smtpc_rcpt *r,
    size_t n, const char *msg, size_t len)
{
	struct mm_err err = { 0 };
	struct dns_resolver *res = dns_open(NULL, &err);
	SSL_CTX *ctx;
	char *done = xcalloc(n ? n : 1, 1);

	if (!res) {
		char t[SMTPC_TEXT_MAX];
		snprintf(t, sizeof(t), "resolver: %.400s", err.msg);
		set(r, n, SMTPC_TEMP, t);
		free(done);
		return;
	}
	ctx = io_tls_client_ctx(NULL, 0, &err);
	for (size_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		const char *dom = strchr(r[i].addr, '@') + 1;
		/* the recipients of this domain, in one transaction */
		struct smtpc_rcpt *sub = xcalloc(n, sizeof(*sub));
		char **submta = o->mta ? xcalloc(n, sizeof(*submta)) : NULL;
		size_t *idx = xcalloc(n, sizeof(*idx));
		size_t k = 0;
		for (size_t j = i; j < n; j++)
			if (!done[j] && !strcmp(strchr(r[j].addr, '@') + 1, dom)) {
				sub[k].addr = r[j].addr;
				idx[k++] = j;
				done[j] = 1;
			}
		if (ctx)
			deliver_domain(res, o, dom, ctx, from, sub, submta, k, msg, len);
		else
			set(sub, k, SMTPC_TEMP, err.msg);
		for (size_t j = 0; j < k; j++) {
			r[idx[j]] = sub[j], r[idx[j]].addr = sub[j].addr;
			if (submta)
				o->mta[idx[j]] = submta[j];
		}
		free(submta);
		free(sub);
		free(idx);
	}
	free(done);
	SSL_CTX_free(ctx);
	dns_close(res);
}
