/*
 * send — mm-send's transports (see send.h).
 *
 * Why per domain on the MX path: each recipient domain has its own MX set;
 * a message to three domains is three SMTP transactions, each with its own
 * outcome.  A host that cannot be reached or greets with 4xx is skipped
 * for the next one; the first host that answers the transaction decides.
 */
#include "send.h"
#include "conf.h"
#include "dns.h"
#include "log.h"
#include "submit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

static int read_password(const struct send_opts *so, char *out, size_t n, struct mm_err *err)
{
	struct buf b;

	buf_init(&b);
	if (so->auth_pw_file) {
		if (read_file_all(so->auth_pw_file, SEND_PASSWORD_MAX, &b, err) < 0) {
			buf_free(&b);
			return -1;
		}
	} else if (so->auth_pw_cmd) {
		struct argvec av;
		pid_t pid;
		int rfd, wfd, st;
		argvec_init(&av);
		if (conf_split_words(so->auth_pw_cmd, &av, err) < 0 || av.n == 0) {
			argvec_free(&av);
			buf_free(&b);
			return err_set(err, "--auth-password-cmd: no command");
		}
		if (smtpc_spawn(argvec_argv(&av), &pid, &rfd, &wfd, err) < 0) {
			argvec_free(&av);
			buf_free(&b);
			return -1;
		}
		argvec_free(&av);
		close(wfd);
		int r = read_fd_all(rfd, SEND_PASSWORD_MAX, &b, err);
		close(rfd);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			buf_free(&b);
			return err_set(err, "--auth-password-cmd failed");
		}
	} else {
		buf_free(&b);
		return err_set(err, "--auth-user needs --auth-password-file or --auth-password-cmd");
	}
	{
		char *nl = b.data ? strpbrk(b.data, "\r\n") : NULL;
		if (nl)
			*nl = 0;
	}
	if (snprintf_ok(out, n, "%s", b.data ? b.data : "") < 0) {
		buf_free(&b);
		return err_set(err, "password too long");
	}
	OPENSSL_cleanse(b.data, b.len);
	buf_free(&b);
	return 0;
}

const char *send_helo_name(const struct send_opts *so)
{
	static char host[256];

	if (so->helo)
		return so->helo;
	if (gethostname(host, sizeof(host) - 1) == 0 && host[0])
		return host;
	return "localhost";
}

void send_set_all(struct smtpc_rcpt *r, size_t n, enum smtpc_status st, const char *text)
{
	for (size_t i = 0; i < n; i++) {
		r[i].st = st;
		snprintf(r[i].text, sizeof(r[i].text), "%.*s", SMTPC_TEXT_MAX - 1, text);
	}
}

enum smtpc_status send_session(const struct send_opts *so, struct smtpc *c,
    enum send_tls tls_mode, SSL_CTX *ctx, const char *from, struct smtpc_rcpt *r, size_t n,
    const char *msg, size_t len, struct mm_err *err)
{
	enum smtpc_status st;

	c->verbose = so->verbose;
	if (tls_mode == SEND_TLS_IMPLICIT) {
		st = smtpc_tls_now(c, ctx, 1, err);
		if (st != SMTPC_OK)
			return st;
	}
	st = smtpc_hello(c, send_helo_name(so), err);
	if (st != SMTPC_OK)
		return st;
	if (tls_mode == SEND_TLS_REQUIRED || tls_mode == SEND_TLS_OPPORTUNISTIC) {
		if (c->ext & SMTPC_EXT_STARTTLS) {
			st = smtpc_starttls(c, ctx, tls_mode == SEND_TLS_REQUIRED, send_helo_name(so), err);
			if (st != SMTPC_OK)
				return SMTPC_TEMP;
		} else if (tls_mode == SEND_TLS_REQUIRED) {
			err_set(err, "%s does not offer STARTTLS; not sending in plaintext", c->host);
			return SMTPC_TEMP;
		}
	}
	if (so->auth_user && tls_mode != SEND_TLS_OPPORTUNISTIC && tls_mode != SEND_TLS_NONE) {
		char pw[SEND_PASSWORD_MAX + 1];
		if (read_password(so, pw, sizeof(pw), err) < 0)
			return SMTPC_TEMP;
		st = smtpc_auth(c, so->auth_user, pw, err);
		OPENSSL_cleanse(pw, sizeof(pw));
		if (st != SMTPC_OK)
			return st;
	}
	st = smtpc_send(c, from, r, n, msg, len, err);
	smtpc_quit(c);
	return st;
}

static enum smtpc_status via_deliver(const struct send_opts *so, const char *from, struct smtpc_rcpt *r, size_t n,
    const char *msg, size_t len, struct mm_err *err)
{
	struct argvec av;
	struct smtpc c;
	pid_t pid;
	int rfd, wfd, st;
	enum smtpc_status s;

	argvec_init(&av);
	if (conf_split_words(so->via, &av, err) < 0 || av.n == 0) {
		argvec_free(&av);
		err_set(err, "--via: no command");
		return SMTPC_PERM;
	}
	if (smtpc_spawn(argvec_argv(&av), &pid, &rfd, &wfd, err) < 0) {
		argvec_free(&av);
		return SMTPC_TEMP;
	}
	smtpc_init(&c, rfd, wfd, av.v[0], so->timeout_ms);
	argvec_free(&av);
	s = send_session(so, &c, SEND_TLS_NONE, NULL, from, r, n, msg, len, err);
	smtpc_close(&c);
	close(rfd);
	close(wfd);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return s;
}

static enum smtpc_status relay_deliver(const struct send_opts *so, const char *from, struct smtpc_rcpt *r, size_t n,
    const char *msg, size_t len, struct mm_err *err)
{
	char host[256], port[16];
	const char *p = so->relay, *colon;
	struct smtpc c;
	SSL_CTX *ctx;
	int fd;
	enum smtpc_status s;

	if (*p == '[') {
		const char *e = strchr(p, ']');
		if (!e || (e[1] && e[1] != ':')) {
			err_set(err, "--relay %s: bad host", so->relay);
			return SMTPC_PERM;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(e - p - 1), p + 1);
		snprintf(port, sizeof(port), "%s", e[1] ? e + 2 : (so->smtps ? "465" : "587"));
	} else if ((colon = strrchr(p, ':')) && strchr(p, ':') == colon) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - p), p);
		snprintf(port, sizeof(port), "%s", colon + 1);
	} else {
		snprintf(host, sizeof(host), "%s", p);
		snprintf(port, sizeof(port), "%s", so->smtps ? "465" : "587");
	}
	ctx = io_tls_client_ctx(so->tls_ca, 1, err);
	if (!ctx)
		return SMTPC_TEMP;
	if (smtpc_connect_tcp(host, port, SMTPC_CONNECT_TIMEOUT_MS, &fd, err) < 0) {
		SSL_CTX_free(ctx);
		return SMTPC_TEMP;
	}
	smtpc_init(&c, fd, fd, host, so->timeout_ms);
	s = send_session(so, &c, so->smtps ? SEND_TLS_IMPLICIT : SEND_TLS_REQUIRED, ctx, from, r,
	    n, msg, len, err);
	smtpc_close(&c);
	close(fd);
	SSL_CTX_free(ctx);
	return s;
}

void send_deliver(const struct send_opts *so, const char *from, struct smtpc_rcpt *r, char **mta, size_t n,
    const char *msg, size_t len)
{
	struct mm_err err = { 0 };
	enum smtpc_status s;

	for (size_t i = 0; i < n; i++) {
		r[i].st = SMTPC_TEMP;
		r[i].text[0] = 0;
	}
	if (so->via)
		s = via_deliver(so, from, r, n, msg, len, &err);
	else if (so->relay)
		s = relay_deliver(so, from, r, n, msg, len, &err);
	else {
		send_mx_deliver(so, mta, from, r, n, msg, len);
		return;
	}
	if (s != SMTPC_OK) {
		/* whatever smtpc_send did not mark, the session's outcome decides */
		for (size_t i = 0; i < n; i++)
			if (r[i].st == SMTPC_OK && s != SMTPC_OK && !r[i].text[0])
				r[i].st = s;
		int any_text = 0;
		for (size_t i = 0; i < n; i++)
			if (r[i].text[0])
				any_text = 1;
		if (!any_text)
			send_set_all(r, n, s, err.msg);
	}
	/* mm-recv --submit refuses a signature it took before: this is the
	 * resend of a message whose 250 was lost (the session died after its
	 * commit), so it was delivered, not refused */
	for (size_t i = 0; i < n; i++)
		if (r[i].st == SMTPC_PERM && strstr(r[i].text, SUBMIT_REPLAYED_REPLY)) {
			mm_warnx("<%s>: the relay had taken this message before (its answer was "
			    "lost): counted as sent", r[i].addr);
			r[i].st = SMTPC_OK;
		}
}

/* ---- queue ---- */

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

/* Try one host's addresses; returns 1 if a session decided the outcome. */
static int try_host(struct dns_resolver *res, const struct send_opts *so, const char *host,
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
			if (smtpc_connect_tcp(a.rr[i].addrstr, so->mx_port ? so->mx_port : "25",
			    SMTPC_CONNECT_TIMEOUT_MS, &fd, err) < 0) {
				err_wrap(err, "%s", host);
				continue;
			}
			smtpc_init(&c, fd, fd, host, so->timeout_ms);
			for (size_t k = 0; k < n; k++) {
				r[k].st = SMTPC_TEMP;
				r[k].text[0] = 0;
			}
			st = send_session(so, &c, SEND_TLS_OPPORTUNISTIC, ctx, from, r, n, msg, len, err);
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

static void deliver_domain(struct dns_resolver *res, const struct send_opts *so,
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
		send_set_all(r, n, SMTPC_PERM, t);
		dns_answer_free(&a);
		return;
	}
	if (st != DNS_OK && st != DNS_NODATA) {
		char t[SMTPC_TEXT_MAX];
		snprintf(t, sizeof(t), "%.200s: MX lookup: %.200s", domain, err.msg);
		send_set_all(r, n, SMTPC_TEMP, t);
		dns_answer_free(&a);
		return;
	}
	if (st == DNS_OK) {
		for (size_t i = 0; i < a.nrr; i++) {
			if (a.rr[i].name[0] == 0) {
				if (a.nrr == 1) {   /* RFC 7505 null MX */
					char t[SMTPC_TEXT_MAX];
					snprintf(t, sizeof(t), "%.200s accepts no mail (null MX)", domain);
					send_set_all(r, n, SMTPC_PERM, t);
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
		done = try_host(res, so, hosts[i].name, ctx, from, r, mta, n, msg, len, &err);
	/* no host decided: a recipient keeps the last host's own answer to
	 * it (a 550 to its RCPT stays permanent, a 451 keeps its code for the
	 * queue and the DSN); one that never got an answer takes the error */
	for (size_t i = 0; i < n && !done; i++)
		if (!r[i].text[0] || r[i].st == SMTPC_OK)
			send_set_all(&r[i], 1, SMTPC_TEMP, err.msg[0] ? err.msg : "no MX host answered");
	for (size_t i = 0; i < nh; i++)
		free(hosts[i].name);
}

void send_mx_deliver(const struct send_opts *so, char **mta, const char *from,
    struct smtpc_rcpt *r, size_t n, const char *msg, size_t len)
{
	struct mm_err err = { 0 };
	struct dns_resolver *res = dns_open(NULL, &err);
	SSL_CTX *ctx;
	char *done = xcalloc(n ? n : 1, 1);

	if (!res) {
		char t[SMTPC_TEXT_MAX];
		snprintf(t, sizeof(t), "resolver: %.400s", err.msg);
		send_set_all(r, n, SMTPC_TEMP, t);
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
		char **submta = mta ? xcalloc(n, sizeof(*submta)) : NULL;
		size_t *idx = xcalloc(n, sizeof(*idx));
		size_t k = 0;
		for (size_t j = i; j < n; j++)
			if (!done[j] && !strcmp(strchr(r[j].addr, '@') + 1, dom)) {
				sub[k].addr = r[j].addr;
				idx[k++] = j;
				done[j] = 1;
			}
		if (ctx)
			deliver_domain(res, so, dom, ctx, from, sub, submta, k, msg, len);
		else
			send_set_all(sub, k, SMTPC_TEMP, err.msg);
		for (size_t j = 0; j < k; j++) {
			r[idx[j]] = sub[j], r[idx[j]].addr = sub[j].addr;
			if (submta)
				mta[idx[j]] = submta[j];
		}
		free(submta);
		free(sub);
		free(idx);
	}
	free(done);
	SSL_CTX_free(ctx);
	dns_close(res);
}
