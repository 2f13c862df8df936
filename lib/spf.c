/*
 * spf — see spf.h.  Two decisions shape this file:
 *
 * 1. libspf2 never runs in the caller's process.  It has unfixed CVEs in
 *    its macro and record handling and calls abort() on bad input, so both
 *    evaluation and syntax checking run in a forked child (sandbox_run)
 *    with RLIMIT_CPU and RLIMIT_AS (the latter not under AddressSanitizer,
 *    whose shadow memory alone exceeds any sane limit) and a deadline the
 *    parent enforces with SIGKILL.  The child writes a fixed-size result
 *    into a pipe and leaves with _exit; anything short of a full result is
 *    a temperror.
 *
 * 2. libspf2's DNS goes through a custom SPF_dns_server_t layer that asks
 *    lib/dns, so --resolver/MM_RESOLVER apply to SPF too, and lib/dns's
 *    distinct statuses map onto libspf2's h_errno codes (NXDOMAIN ->
 *    HOST_NOT_FOUND, NODATA -> NO_DATA, everything else -> TRY_AGAIN,
 *    which libspf2 turns into temperror).
 *
 * The analysis half (lookup counting) is ours: libspf2 evaluates but
 * cannot explain where a record tree breaks the limits.
 */
#include "spf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#if defined(__SANITIZE_ADDRESS__)
#define SPF_SANDBOX_AS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPF_SANDBOX_AS 0
#endif
#endif
#ifndef SPF_SANDBOX_AS
#define SPF_SANDBOX_AS 1
#endif

#define SPF_NODES_MAX      200   /* records visited in one analysis */
#define SPF_TERMS_MAX      100   /* terms looked at in one record */
#define SPF_SYNTAX_TIMEOUT_MS 5000
#define SPF_SYNTAX_MEMO_MAX 256  /* syntax verdicts remembered per process */

const char *spf_vresult_str(enum spf_vresult r)
{
	switch (r) {
	case SPF_V_NONE: return "none";
	case SPF_V_NEUTRAL: return "neutral";
	case SPF_V_PASS: return "pass";
	case SPF_V_FAIL: return "fail";
	case SPF_V_SOFTFAIL: return "softfail";
	case SPF_V_TEMPERROR: return "temperror";
	case SPF_V_PERMERROR: return "permerror";
	}
	return "temperror";
}

/* ---------- the sandbox ---------- */

typedef void (*sandbox_fn)(void *arg, void *out, size_t outsz);

/*
 * Run fn(arg, out) in a child and copy its out back.  0 on a complete
 * result; -1 with err if the child crashed, was killed, or timed out.
 */
static int sandbox_run(sandbox_fn fn, void *arg, void *out, size_t outsz,
    int timeout_ms, struct mm_err *err)
{
	int p[2], st = 0;
	pid_t pid;
	size_t got = 0;
	int64_t deadline = now_ms() + timeout_ms;
	int timed_out = 0;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_sys(err, "pipe");
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return err_sys(err, "fork");
	}
	if (pid == 0) {
		struct rlimit rl;

		close(p[0]);
		rl.rlim_cur = rl.rlim_max = SPF_CHILD_CPU_LIMIT;
		setrlimit(RLIMIT_CPU, &rl);
		if (SPF_SANDBOX_AS) {
			rl.rlim_cur = rl.rlim_max = SPF_CHILD_AS_LIMIT;
			setrlimit(RLIMIT_AS, &rl);
		}
		rl.rlim_cur = rl.rlim_max = 0;
		setrlimit(RLIMIT_CORE, &rl);
		memset(out, 0, outsz);
		fn(arg, out, outsz);
		if (write_all(p[1], out, outsz) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	while (got < outsz) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		n = poll(&pf, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			timed_out = 1;
			break;
		}
		n = read(p[0], (char *)out + got, outsz - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	if (got < outsz)
		kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got == outsz)
		return 0;
	if (timed_out)
		return err_set(err, "libspf2 did not finish within %d ms", timeout_ms);
	if (WIFSIGNALED(st))
		return err_set(err, "libspf2 crashed (signal %d)", WTERMSIG(st));
	return err_set(err, "libspf2 exited without a result (status %d)",
	    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* ---------- libspf2's DNS through lib/dns ---------- */

static SPF_dns_rr_t *layer_lookup(SPF_dns_server_t *srv, const char *domain,
    ns_type type, int should_cache)
{
	struct dns_resolver *r = srv->hook;
	struct dns_answer a;
	struct mm_err err;
	SPF_dns_rr_t *rr;
	int herr;
	size_t i;
	int cnt = 0;

	(void)should_cache;
	if ((int)type == 99) {
		/* the SPF RR type is obsolete (RFC 7208 3.1): answer "no data"
		 * without a round trip, libspf2 then asks for TXT */
		return SPF_dns_rr_new_init(srv, domain, type, 0, NO_DATA);
	}
	switch (dns_query(r, domain, (int)type, &a, &err)) {
	case DNS_OK: herr = NETDB_SUCCESS; break;
	case DNS_NXDOMAIN: herr = HOST_NOT_FOUND; break;
	case DNS_NODATA: herr = NO_DATA; break;
	default: herr = TRY_AGAIN; break;
	}
	rr = SPF_dns_rr_new_init(srv, domain, type, 0, herr);
	if (!rr) {
		dns_answer_free(&a);
		return NULL;
	}
	for (i = 0; i < a.nrr; i++) {
		const struct dns_rr *x = &a.rr[i];
		size_t need;

		switch (type) {
		case ns_t_a: need = sizeof(struct in_addr); break;
		case ns_t_aaaa: need = sizeof(struct in6_addr); break;
		case ns_t_txt: need = x->txt_len + 1; break;
		case ns_t_mx: case ns_t_ptr: need = strlen(x->name ? x->name : "") + 1; break;
		default: continue;
		}
		if (type == ns_t_txt && memchr(x->txt, '\0', x->txt_len))
			continue;   /* a TXT with NUL bytes cannot be an SPF record */
		if (SPF_dns_rr_buf_realloc(rr, cnt, need) != SPF_E_SUCCESS)
			break;
		switch (type) {
		case ns_t_a: memcpy(&rr->rr[cnt]->a, x->addr, 4); break;
		case ns_t_aaaa: memcpy(&rr->rr[cnt]->aaaa, x->addr, 16); break;
		case ns_t_txt: memcpy(rr->rr[cnt]->txt, x->txt, x->txt_len + 1); break;
		case ns_t_mx: strcpy(rr->rr[cnt]->mx, x->name ? x->name : ""); break;
		case ns_t_ptr: strcpy(rr->rr[cnt]->ptr, x->name ? x->name : ""); break;
		default: break;
		}
		cnt++;
	}
	rr->num_rr = cnt;
	if (herr == NETDB_SUCCESS && cnt == 0)
		rr->herrno = NO_DATA;
	dns_answer_free(&a);
	return rr;
}

static void layer_destroy(SPF_dns_server_t *srv)
{
	free(srv);
}

static SPF_dns_server_t *layer_new(struct dns_resolver *r)
{
	SPF_dns_server_t *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->destroy = layer_destroy;
	s->lookup = layer_lookup;
	s->name = "mm-dns";
	s->hook = r;
	return s;
}

/* ---------- evaluation ---------- */

struct eval_args {
	const char *resolver, *client_ip, *helo, *mail_from;
	struct dns_resolver *r;   /* or NULL: open resolver */
	int timeout_ms;
};

struct eval_out {
	struct spf_verdict v;
	struct dns_stats st;
};

/* header-safe: no CR/LF from a record may reach a header field */
static void crlf_to_space(char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n')
			*s = ' ';
}

/* For explanations and messages (text): a long one is cut visibly. */
static void copy_str(char *dst, size_t sz, const char *s)
{
	str_trunc(dst, sz, "%s", s ? s : "");
	crlf_to_space(dst);
}

static enum spf_vresult map_result(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_NEUTRAL: return SPF_V_NEUTRAL;
	case SPF_RESULT_PASS: return SPF_V_PASS;
	case SPF_RESULT_FAIL: return SPF_V_FAIL;
	case SPF_RESULT_SOFTFAIL: return SPF_V_SOFTFAIL;
	case SPF_RESULT_NONE: return SPF_V_NONE;
	case SPF_RESULT_PERMERROR: return SPF_V_PERMERROR;
	default: return SPF_V_TEMPERROR;
	}
}

/*
 * libspf2 reports a DNS failure or an uncompilable record while fetching
 * the first record as "none" (RFC 7208 says temperror and permerror).
 * Put that right from the error code and messages; 1 if overridden.
 */
static int override_result(SPF_response_t *resp, SPF_errcode_t e, struct spf_verdict *v)
{
	int i, compile = 0;
	const char *first = NULL;

	for (i = 0; i < SPF_response_messages(resp); i++) {
		SPF_error_t *er = SPF_response_message(resp, i);
		const char *m = er ? SPF_error_message(er) : NULL;

		if (!m)
			continue;
		if (strstr(m, "compile"))
			compile = 1;
		else if (!first && SPF_error_errorp(er))
			first = m;
	}
	if (e == SPF_E_DNS_ERROR) {
		v->result = SPF_V_TEMPERROR;
		copy_str(v->explanation, sizeof v->explanation, "DNS failure while fetching the SPF record");
		return 1;
	}
	if (e == SPF_E_NOT_SPF && compile) {
		v->result = SPF_V_PERMERROR;
		str_trunc(v->explanation, sizeof v->explanation, "invalid SPF record: %s",
		    first ? first : "does not compile");
		crlf_to_space(v->explanation);
		return 1;
	}
	if (SPF_response_result(resp) == SPF_RESULT_INVALID) {
		v->result = SPF_V_PERMERROR;
		copy_str(v->explanation, sizeof v->explanation, SPF_strerror(e));
		return 1;
	}
	return 0;
}

static void eval_child(void *argp, void *outp, size_t outsz)
{
	struct eval_args *a = argp;
	struct eval_out *eo = outp;
	struct spf_verdict *v = &eo->v;
	struct dns_resolver *r;
	struct dns_stats before;
	struct mm_err err;
	SPF_dns_server_t *layer;
	SPF_server_t *srv;
	SPF_request_t *req;
	SPF_response_t *resp = NULL;
	struct in6_addr a6;
	SPF_errcode_t e;

	(void)outsz;
	v->result = SPF_V_TEMPERROR;
	/* fault injection for the tests: the child dying or hanging must
	 * cost the caller nothing but a temperror */
	if (getenv("MM_SPF_TEST_ABORT"))
		abort();
	if (getenv("MM_SPF_TEST_HANG"))
		for (;;)
			pause();
	if (a->r) {
		r = a->r;
		dns_set_defer(r, 0);
	} else if (!(r = dns_open(a->resolver, &err))) {
		copy_str(v->explanation, sizeof v->explanation, err.msg);
		return;
	}
	dns_get_stats(r, &before);
	dns_set_timeout(r, a->timeout_ms / 4);
	layer = layer_new(r);
	srv = layer ? SPF_server_new_dns(layer, getenv("MM_SPF_DEBUG") ? 2 : 0) : NULL;
	if (!srv) {
		copy_str(v->explanation, sizeof v->explanation, "cannot start libspf2");
		return;
	}
	req = SPF_request_new(srv);
	if (inet_pton(AF_INET6, a->client_ip, &a6) == 1)
		SPF_request_set_ipv6_str(req, a->client_ip);
	else
		SPF_request_set_ipv4_str(req, a->client_ip);
	SPF_request_set_helo_dom(req, a->helo);
	if (a->mail_from && *a->mail_from)
		SPF_request_set_env_from(req, a->mail_from);
	e = SPF_request_query_mailfrom(req, &resp);
	if (resp) {
		const char *c;

		v->result = map_result(SPF_response_result(resp));
		if (e != SPF_E_SUCCESS && override_result(resp, e, v))
			goto done;
		c = SPF_response_get_header_comment(resp);
		copy_str(v->explanation, sizeof v->explanation, c);
		/* a header value is not cut: one that does not fit is left out
		 * ("") and spf_eval_r writes its own, built to fit */
		if (snprintf_ok(v->received_spf, sizeof v->received_spf, "%s",
		    SPF_response_get_received_spf_value(resp) ?
		    SPF_response_get_received_spf_value(resp) : "") < 0)
			v->received_spf[0] = '\0';
		crlf_to_space(v->received_spf);
	}
done:
	if (resp)
		SPF_response_free(resp);
	SPF_request_free(req);
	SPF_server_free(srv);
	dns_get_stats(r, &eo->st);
	eo->st.queries -= before.queries;
	eo->st.waves -= before.waves;
	eo->st.retries -= before.retries;
	eo->st.tcp -= before.tcp;
	eo->st.cache_hits -= before.cache_hits;
	if (!a->r)
		dns_close(r);
}

/* A Received-SPF value of our own, when libspf2 gave none. */
static void fill_header(struct spf_verdict *out, const char *client_ip,
    const char *helo, const char *mail_from)
{
	const char *ident = mail_from && *mail_from ? mail_from : (helo ? helo : "");
	const char *res = spf_vresult_str(out->result);
	char data[SPF_HEADER_MAX], comment[SPF_HEADER_MAX];
	size_t fixed;

	/* the key=value part is data and is never cut: if it does not fit,
	 * the value is the bare result (RFC 7208 9.1 allows that); only the
	 * comment, a human explanation, is shortened (visibly) */
	if (snprintf_ok(data, sizeof data, "client-ip=%s; envelope-from=\"%s\"; helo=%s;",
	    client_ip ? client_ip : "unknown", ident, helo ? helo : "unknown") < 0 ||
	    (fixed = strlen(res) + strlen(" () ") + strlen(data)) >= sizeof out->received_spf) {
		copy_str(out->received_spf, sizeof out->received_spf, res);
		return;
	}
	str_trunc(comment, sizeof out->received_spf - fixed, "%s", out->explanation);
	if (snprintf_ok(out->received_spf, sizeof out->received_spf, "%s (%s) %s", res, comment,
	    data) < 0)
		copy_str(out->received_spf, sizeof out->received_spf, res);   /* cannot: sized above */
	crlf_to_space(out->received_spf);
}

static int eval_common(struct dns_resolver *r, const char *resolver,
    const char *client_ip, const char *helo, const char *mail_from,
    int timeout_ms, struct spf_verdict *out, struct mm_err *err)
{
	struct eval_args a;
	struct eval_out eo;
	unsigned char ip[16];
	struct mm_err e2;

	memset(out, 0, sizeof *out);
	out->result = SPF_V_TEMPERROR;
	if (timeout_ms <= 0)
		timeout_ms = SPF_EVAL_TIMEOUT_DEFAULT_MS;
	if (!client_ip || (inet_pton(AF_INET, client_ip, ip) != 1 && inet_pton(AF_INET6, client_ip, ip) != 1)) {
		err_set(err, "SPF: bad client address '%s'", client_ip ? client_ip : "(null)");
		goto made_up;
	}
	if (!helo || !*helo || dns_name_ok(helo, &e2) < 0) {
		/* libspf2 needs a HELO name; an unusable one still lets MAIL FROM be checked */
		helo = "unknown.invalid";
	}
	a.resolver = resolver;
	a.r = r;
	a.client_ip = client_ip;
	a.helo = helo;
	a.mail_from = mail_from;
	a.timeout_ms = timeout_ms;
	if (sandbox_run(eval_child, &a, &eo, sizeof eo, timeout_ms, err) < 0)
		goto made_up;
	*out = eo.v;
	if (r)
		dns_add_stats(r, &eo.st);
	out->explanation[sizeof out->explanation - 1] = '\0';
	out->received_spf[sizeof out->received_spf - 1] = '\0';
	if ((unsigned)out->result > SPF_V_PERMERROR)
		out->result = SPF_V_TEMPERROR;
	if (!out->received_spf[0])
		fill_header(out, client_ip, helo, mail_from);
	return 0;
made_up:
	memset(out, 0, sizeof *out);
	out->result = SPF_V_TEMPERROR;
	copy_str(out->explanation, sizeof out->explanation, err ? err->msg : "SPF check failed");
	fill_header(out, client_ip, helo, mail_from);
	return -1;
}

int spf_eval(const char *resolver, const char *client_ip, const char *helo,
    const char *mail_from, int timeout_ms, struct spf_verdict *out,
    struct mm_err *err)
{
	return eval_common(NULL, resolver, client_ip, helo, mail_from, timeout_ms, out, err);
}

int spf_eval_r(struct dns_resolver *r, const char *client_ip, const char *helo,
    const char *mail_from, int timeout_ms, struct spf_verdict *out,
    struct mm_err *err)
{
	return eval_common(r, NULL, client_ip, helo, mail_from, timeout_ms, out, err);
}

/* ---------- syntax ---------- */

struct syntax_out {
	int ok;
	char msg[512];
};

static void syntax_child(void *argp, void *outp, size_t outsz)
{
	const char *rec = argp;
	struct syntax_out *o = outp;
	SPF_server_t *srv;
	SPF_response_t *resp;
	SPF_record_t *record = NULL;
	SPF_errcode_t e;

	(void)outsz;
	srv = SPF_server_new(SPF_DNS_RESOLV, 0);
	if (!srv) {
		copy_str(o->msg, sizeof o->msg, "cannot start libspf2");
		return;
	}
	resp = SPF_response_new(NULL);
	e = SPF_record_compile(srv, resp, &record, rec);
	if (e == SPF_E_SUCCESS) {
		o->ok = 1;
	} else {
		const char *m = NULL;

		if (resp && SPF_response_messages(resp) > 0) {
			int i;

			for (i = 0; i < SPF_response_messages(resp); i++) {
				SPF_error_t *er = SPF_response_message(resp, i);

				if (er && SPF_error_errorp(er)) {
					m = SPF_error_message(er);
					break;
				}
			}
		}
		copy_str(o->msg, sizeof o->msg, m ? m : SPF_strerror(e));
	}
	if (record)
		SPF_record_free(record);
	if (resp)
		SPF_response_free(resp);
	SPF_server_free(srv);
}

/* Verdicts of earlier checks: a planner asks about the same records in
 * every pass, and each check costs a fork. */
struct syntax_memo {
	char *record;
	struct syntax_out o;
	struct syntax_memo *next;
};
static struct syntax_memo *memo;
static size_t nmemo;

int spf_syntax_check(const char *record, struct mm_err *err)
{
	struct syntax_out o;
	struct syntax_memo *m;

	for (m = memo; m; m = m->next)
		if (!strcmp(m->record, record)) {
			o = m->o;
			goto have;
		}
	if (sandbox_run(syntax_child, (void *)record, &o, sizeof o, SPF_SYNTAX_TIMEOUT_MS, err) < 0)
		return err_wrap(err, "SPF syntax check");
	o.msg[sizeof o.msg - 1] = '\0';
	if (nmemo < SPF_SYNTAX_MEMO_MAX) {
		m = xcalloc(1, sizeof *m);
		m->record = xstrdup(record);
		m->o = o;
		m->next = memo;
		memo = m;
		nmemo++;
	}
have:
	if (!o.ok)
		return err_set(err, "%s", o.msg[0] ? o.msg : "invalid SPF record");
	return 0;
}

/* ---------- terms ---------- */

enum term_kind { TK_OTHER, TK_INCLUDE, TK_REDIRECT, TK_A, TK_MX, TK_PTR, TK_EXISTS, TK_ALL };

struct term {
	enum term_kind kind;
	char qual;
	char *arg;     /* domain-spec (include:, redirect=, a:, mx:, exists:) or NULL */
};

static int is_lookup(enum term_kind k)
{
	return k == TK_INCLUDE || k == TK_REDIRECT || k == TK_A || k == TK_MX ||
	    k == TK_PTR || k == TK_EXISTS;
}

/* Split a record into terms (v=spf1 skipped).  Returns the count. */
static size_t parse_terms(const char *rec, struct term **out)
{
	char *copy = xstrdup(rec), *tok, *save = NULL;
	struct term *v = NULL;
	size_t n = 0;

	for (tok = strtok_r(copy, " \t", &save); tok && n < SPF_TERMS_MAX;
	    tok = strtok_r(NULL, " \t", &save)) {
		struct term t = { TK_OTHER, '+', NULL };
		char *name = tok, *arg = NULL, *e;

		if (!ascii_strcasecmp(tok, "v=spf1"))
			continue;
		if (strchr("+-~?", *name))
			t.qual = *name++;
		for (e = name; *e && *e != ':' && *e != '=' && *e != '/'; e++)
			;
		if (*e == ':' || *e == '=')
			arg = e + 1;
		{
			size_t l = (size_t)(e - name);
			char *slash;

			if (l == 7 && !ascii_strncasecmp(name, "include", 7) && *e == ':')
				t.kind = TK_INCLUDE;
			else if (l == 8 && !ascii_strncasecmp(name, "redirect", 8) && *e == '=')
				t.kind = TK_REDIRECT;
			else if (l == 1 && !ascii_strncasecmp(name, "a", 1) && *e != '=')
				t.kind = TK_A;
			else if (l == 2 && !ascii_strncasecmp(name, "mx", 2) && *e != '=')
				t.kind = TK_MX;
			else if (l == 3 && !ascii_strncasecmp(name, "ptr", 3) && *e != '=')
				t.kind = TK_PTR;
			else if (l == 6 && !ascii_strncasecmp(name, "exists", 6) && *e == ':')
				t.kind = TK_EXISTS;
			else if (l == 3 && !ascii_strncasecmp(name, "all", 3) && !*e)
				t.kind = TK_ALL;
			if (arg && t.kind != TK_OTHER) {
				t.arg = xstrdup(arg);
				/* a:/mx: may carry a CIDR suffix after the domain */
				if ((t.kind == TK_A || t.kind == TK_MX) && (slash = strchr(t.arg, '/')))
					*slash = '\0';
				ascii_lower(t.arg);
			}
		}
		v = xreallocarray(v, n + 1, sizeof *v);
		v[n++] = t;
	}
	free(copy);
	*out = v;
	return n;
}

static void terms_free(struct term *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(t[i].arg);
	free(t);
}

int spf_count_terms(const char *record, char ***targets, char ***via, size_t *ntargets)
{
	struct term *t;
	size_t n = parse_terms(record, &t), i;
	int count = 0;

	if (ntargets)
		*ntargets = 0;
	if (targets)
		*targets = NULL;
	if (via)
		*via = NULL;
	for (i = 0; i < n; i++) {
		if (!is_lookup(t[i].kind))
			continue;
		count++;
		if ((t[i].kind == TK_INCLUDE || t[i].kind == TK_REDIRECT) && targets && ntargets) {
			*targets = xreallocarray(*targets, *ntargets + 1, sizeof(char *));
			(*targets)[*ntargets] = xstrdup(t[i].arg ? t[i].arg : "");
			if (via) {
				*via = xreallocarray(*via, *ntargets + 1, sizeof(char *));
				(*via)[*ntargets] = xstrdup(t[i].kind == TK_INCLUDE ? "include" : "redirect");
			}
			(*ntargets)++;
		}
	}
	terms_free(t, n);
	return count;
}

/* ---------- analysis ---------- */

struct anode {
	struct spf_node pub;
	struct term *terms;
	size_t nterms;
	size_t *kid_of_term;   /* term index -> kid index (or (size_t)-1) */
	size_t *void_q;        /* term index -> batch query for void check, or -1 */
	struct anode *parent;
	int depth;
};

static int is_spf(const struct dns_rr *rr)
{
	return rr->txt && rr->txt_len >= 6 && !ascii_strncasecmp(rr->txt, "v=spf1", 6) &&
	    (rr->txt_len == 6 || rr->txt[6] == ' ');
}

static int has_macro(const char *s) { return s && strchr(s, '%') != NULL; }

static int ancestor_has(const struct anode *n, const char *dom)
{
	for (; n; n = n->parent)
		if (!strcmp(n->pub.domain, dom))
			return 1;
	return 0;
}

static void node_free(struct spf_node *pn)
{
	struct anode *n = (struct anode *)pn;
	size_t i;

	if (!n)
		return;
	for (i = 0; i < pn->nkids; i++)
		node_free(pn->kids[i]);
	free(pn->kids);
	free(pn->domain);
	free(pn->record);
	free(pn->syntax_error);
	terms_free(n->terms, n->nterms);
	free(n->kid_of_term);
	free(n->void_q);
	free(n);
}

void spf_analysis_free(struct spf_analysis *a)
{
	node_free(a->root);
	free(a->limit_path);
	free(a->void_path);
	free(a->tree);
	free(a->first_syntax_error);
	memset(a, 0, sizeof *a);
}

static struct anode *node_new(const char *domain, struct anode *parent, const char *via)
{
	struct anode *n = xcalloc(1, sizeof *n);

	n->pub.domain = xstrdup(domain);
	n->parent = parent;
	n->depth = parent ? parent->depth + 1 : 0;
	/* callers pass "include" or "redirect"; anything longer is a bug here */
	if (snprintf_ok(n->pub.via, sizeof n->pub.via, "%s", via) < 0)
		abort();
	return n;
}

/* Walk in evaluation order, counting lookups and voids, recording where
 * each limit is first crossed. */
static void walk(struct spf_analysis *a, struct anode *n, struct buf *path,
    int *lookups, int *voids)
{
	size_t i, mark = path->len;
	int before_l = *lookups, before_v = *voids;

	for (i = 0; i < n->nterms; i++) {
		struct term *t = &n->terms[i];

		if (!is_lookup(t->kind))
			continue;
		(*lookups)++;
		if (*lookups > SPF_LOOKUP_LIMIT && !a->limit_path) {
			struct buf b;

			buf_init(&b);
			buf_printf(&b, "%s -> %s%s%s (lookup %d)", path->data,
			    t->kind == TK_INCLUDE ? "include:" : t->kind == TK_REDIRECT ? "redirect=" :
			    t->kind == TK_A ? "a" : t->kind == TK_MX ? "mx" : t->kind == TK_PTR ? "ptr" : "exists:",
			    (t->kind == TK_A || t->kind == TK_MX || t->kind == TK_PTR) && t->arg ? ":" : "",
			    t->arg ? t->arg : "", *lookups);
			a->limit_path = buf_steal(&b);
		}
		if (n->void_q && n->void_q[i] == (size_t)-2) {
			(*voids)++;
			n->pub.voids++;
			if (*voids > SPF_VOID_LIMIT && !a->void_path)
				a->void_path = xasprintf("%s -> %s (void lookup %d)", path->data,
				    t->arg ? t->arg : n->pub.domain, *voids);
		}
		if (n->kid_of_term && n->kid_of_term[i] != (size_t)-1) {
			struct anode *k = (struct anode *)n->pub.kids[n->kid_of_term[i]];

			buf_printf(path, " -> %s:%s", k->pub.via, k->pub.domain);
			if (!k->pub.record && !k->pub.loop && (k->pub.status == DNS_NXDOMAIN || k->pub.status == DNS_NODATA)) {
				(*voids)++;
				k->pub.voids++;
				if (*voids > SPF_VOID_LIMIT && !a->void_path)
					a->void_path = xasprintf("%s (void lookup %d)", path->data, *voids);
			}
			if (!k->pub.loop)
				walk(a, k, path, lookups, voids);
			path->len = mark;
			path->data[mark] = '\0';
		}
	}
	n->pub.total_lookups = *lookups - before_l;
	n->pub.total_voids = *voids - before_v;
}

static void print_tree(struct buf *b, const struct spf_node *n, int depth)
{
	size_t i;

	buf_printf(b, "%*s%s%s%s: ", depth * 2, "", n->via, n->via[0] ? ":" : "", n->domain);
	if (n->loop)
		buf_puts(b, "loop, not followed");
	else if (!n->record)
		buf_printf(b, "no SPF record (%s)", dns_status_str(n->status));
	else
		buf_printf(b, "%d lookup%s here, %d with includes%s%s", n->lookups,
		    n->lookups == 1 ? "" : "s", n->total_lookups,
		    n->syntax_error ? "; syntax error: " : "",
		    n->syntax_error ? n->syntax_error : "");
	buf_putc(b, '\n');
	for (i = 0; i < n->nkids; i++)
		print_tree(b, n->kids[i], depth + 1);
}

int spf_analyze(struct dns_resolver *r, const char *domain,
    struct spf_analysis *out, struct mm_err *err)
{
	struct anode **level = NULL, **next = NULL;
	size_t nlevel = 0, nnext = 0, i, j, nodes = 1;
	struct buf path, tree;
	int lookups = 0, voids = 0, rc = 0;
	struct anode *root;

	memset(out, 0, sizeof *out);
	root = node_new(domain, NULL, "");
	ascii_lower(root->pub.domain);
	out->root = &root->pub;
	level = xmalloc(sizeof *level);
	level[nlevel++] = root;

	while (nlevel > 0) {
		struct dns_batch *b = dns_batch_new(r);
		size_t *txtq = xcalloc(nlevel, sizeof *txtq);

		/* one wave: every record of this level */
		for (i = 0; i < nlevel; i++)
			txtq[i] = dns_batch_add(b, level[i]->pub.domain, ns_t_txt);
		dns_batch_run(b, NULL);
		for (i = 0; i < nlevel; i++) {
			struct anode *n = level[i];
			const struct dns_answer *ans = dns_batch_answer(b, txtq[i]);
			struct mm_err e2;

			n->pub.status = ans->status;
			int has_nul = 0;

			for (j = 0; j < ans->nrr; j++) {
				if (!is_spf(&ans->rr[j]))
					continue;
				n->pub.nrecords++;
				if (!n->pub.record) {
					n->pub.record = xstrdup(ans->rr[j].txt);
					has_nul = memchr(ans->rr[j].txt, '\0', ans->rr[j].txt_len) != NULL;
				}
			}
			if (n->pub.nrecords > 1 || !n->pub.record)
				continue;
			if (has_nul || spf_syntax_check(n->pub.record, &e2) < 0) {
				n->pub.syntax_error = xstrdup(has_nul ? "NUL byte in record" : e2.msg);
				if (!out->first_syntax_error)
					out->first_syntax_error = xasprintf("%s: %s", n->pub.domain, n->pub.syntax_error);
			}
			n->nterms = parse_terms(n->pub.record, &n->terms);
			n->kid_of_term = xreallocarray(NULL, n->nterms ? n->nterms : 1, sizeof(size_t));
			n->void_q = xreallocarray(NULL, n->nterms ? n->nterms : 1, sizeof(size_t));
			for (j = 0; j < n->nterms; j++) {
				struct term *t = &n->terms[j];

				n->kid_of_term[j] = n->void_q[j] = (size_t)-1;
				if (is_lookup(t->kind))
					n->pub.lookups++;
				if (t->kind == TK_ALL && n == root)
					out->all_qual = t->qual;
				if (t->kind == TK_REDIRECT && n == root)
					out->has_redirect = 1;
				if ((t->kind == TK_INCLUDE || t->kind == TK_REDIRECT) && t->arg && !has_macro(t->arg)) {
					struct anode *k;

					if (nodes >= SPF_NODES_MAX || n->depth + 1 > SPF_DEPTH_MAX) {
						out->too_deep = 1;
						continue;
					}
					k = node_new(t->arg, n, t->kind == TK_INCLUDE ? "include" : "redirect");
					nodes++;
					n->pub.kids = xreallocarray(n->pub.kids, n->pub.nkids + 1, sizeof(void *));
					n->kid_of_term[j] = n->pub.nkids;
					n->pub.kids[n->pub.nkids++] = &k->pub;
					if (ancestor_has(n, k->pub.domain)) {
						k->pub.loop = 1;
						out->loop = 1;
						continue;
					}
					next = xreallocarray(next, nnext + 1, sizeof *next);
					next[nnext++] = k;
				}
			}
		}
		dns_batch_free(b);
		free(txtq);

		/* void checks for a/mx/exists of this level, batched with nothing
		 * else to wait for: one more wave per level at most */
		b = dns_batch_new(r);
		for (i = 0; i < nlevel; i++) {
			struct anode *n = level[i];

			for (j = 0; j < n->nterms; j++) {
				struct term *t = &n->terms[j];
				const char *d = t->arg ? t->arg : n->pub.domain;

				if ((t->kind == TK_A || t->kind == TK_MX || t->kind == TK_EXISTS) && !has_macro(d) && *d)
					n->void_q[j] = dns_batch_add(b, d, t->kind == TK_MX ? ns_t_mx : ns_t_a);
			}
		}
		if (dns_batch_count(b) > 0)
			dns_batch_run(b, NULL);
		for (i = 0; i < nlevel; i++) {
			struct anode *n = level[i];

			for (j = 0; j < n->nterms; j++) {
				const struct dns_answer *ans;

				if (n->void_q[j] == (size_t)-1)
					continue;
				ans = dns_batch_answer(b, n->void_q[j]);
				if (ans && (ans->status == DNS_NXDOMAIN || ans->status == DNS_NODATA))
					n->void_q[j] = (size_t)-2;
				else
					n->void_q[j] = (size_t)-1;
			}
		}
		dns_batch_free(b);

		free(level);
		level = next;
		nlevel = nnext;
		next = NULL;
		nnext = 0;
	}
	free(level);

	out->nrecords = root->pub.nrecords;
	for (i = 0; i < root->pub.nkids; i++) {
		const struct spf_node *k = root->pub.kids[i];

		if (k->status == DNS_TIMEOUT || k->status == DNS_SERVFAIL || k->status == DNS_ERROR)
			out->temp_error = 1;
	}
	buf_init(&path);
	buf_puts(&path, root->pub.domain);
	walk(out, root, &path, &lookups, &voids);
	buf_free(&path);
	out->lookups = lookups;
	out->voids = voids;
	buf_init(&tree);
	print_tree(&tree, &root->pub, 0);
	out->tree = buf_steal(&tree);
	if (root->pub.status == DNS_TIMEOUT || root->pub.status == DNS_SERVFAIL || root->pub.status == DNS_ERROR) {
		out->temp_error = 1;
		rc = err_set(err, "%s: TXT lookup failed: %s", domain, dns_status_str(root->pub.status));
	}
	return rc;
}
