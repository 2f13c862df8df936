/*
 * submit — see submit.h.  The checks are split so the policy that decides
 * (submit_judge_sig, submit_h_covers) is pure and unit-tested without a
 * key, and the parts that touch keys, DNS and the disk are thin around it.
 */
#include "submit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "keys.h"
#include "log.h"
#include "maildir.h"
#include "msg.h"

#define SUBMIT_LOCK_NAME  ".lock"
#define SUBMIT_SWEPT_NAME ".swept"

/* ---- pure parts ------------------------------------------------------ */

int submit_h_covers(const char *h, const char **missing)
{
	static const char *const need[] = { "From", "To", "Subject", "Date" };

	for (size_t i = 0; i < MM_NELEM(need); i++) {
		size_t nl = strlen(need[i]);
		int found = 0;

		for (const char *p = h; *p && !found;) {
			const char *e = strchr(p, ':');
			const char *a = p, *z = e ? e : p + strlen(p);

			while (a < z && (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\n'))
				a++;
			while (z > a && (z[-1] == ' ' || z[-1] == '\t' || z[-1] == '\r' || z[-1] == '\n'))
				z--;
			if ((size_t)(z - a) == nl && !ascii_strncasecmp(a, need[i], nl))
				found = 1;
			if (!e)
				break;
			p = e + 1;
		}
		if (!found) {
			if (missing)
				*missing = need[i];
			return 0;
		}
	}
	return 1;
}

static enum submit_verdict why_set(enum submit_verdict v, char *why, size_t cap,
    const char *fmt, ...) MM_PRINTF(4, 5);
static enum submit_verdict why_set(enum submit_verdict v, char *why, size_t cap,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	str_vtrunc(why, cap, fmt, ap);     /* a reason: cut visibly */
	va_end(ap);
	return v;
}

enum submit_verdict submit_judge_sig(const struct dkimv_sig *sig, const struct addr *from,
    char sels[][KEYS_SELECTOR_MAX + 1], size_t nsels, time_t now, long long window,
    char *why, size_t whycap)
{
	const char *missing = NULL;
	int mine = 0;

	if (ascii_strcasecmp(sig->domain, from->domain))
		return why_set(SUBMIT_OTHER_DOMAIN, why, whycap, "d=%s, From: is in %s",
		    sig->domain, from->domain);
	if (!strcmp(sig->alg, "rsa-sha1"))
		return why_set(SUBMIT_WEAK_ALG, why, whycap, "rsa-sha1 (RFC 8301)");
	if (!submit_h_covers(sig->h, &missing))
		return why_set(SUBMIT_WEAK_H, why, whycap, "%s", missing);
	if (sig->has_l)
		return why_set(SUBMIT_WEAK_L, why, whycap, "l= tag present");
	if (sig->result != DKIMV_PASS)
		return why_set(SUBMIT_BAD_SIG, why, whycap, "%s (s=%s)",
		    sig->why[0] ? sig->why : dkimv_result_str(sig->result), sig->selector);
	for (size_t i = 0; i < nsels; i++)
		if (!ascii_strcasecmp(sels[i], sig->selector))
			mine = 1;
	if (!mine)
		return why_set(SUBMIT_WRONG_KEY, why, whycap, "s=%s is not a key of %s@%s",
		    sig->selector, from->local, from->domain);
	if (sig->t < 0)
		return why_set(SUBMIT_STALE, why, whycap, "no t= (signing time) in the signature");
	if (sig->t < (long long)now - window)
		return why_set(SUBMIT_STALE, why, whycap, "signed %lld s ago, the limit is %lld s",
		    (long long)now - sig->t, window);
	if (sig->t > (long long)now + SUBMIT_FUTURE_MAX)
		return why_set(SUBMIT_STALE, why, whycap, "t= is %lld s in the future",
		    sig->t - (long long)now);
	if (sig->x >= 0 && sig->x < (long long)now)
		return why_set(SUBMIT_STALE, why, whycap, "expired (x=) %lld s ago",
		    (long long)now - sig->x);
	if (!sig->b[0])
		return why_set(SUBMIT_BAD_SIG, why, whycap, "b= unusable");
	return SUBMIT_OK;
}

void submit_reply(const struct submit_result *res, struct smtpd_reply *r)
{
	const char *w = res->why;

	switch (res->v) {
	case SUBMIT_OK:
		smtpd_reply_set(r, 250, "2.0.0 ok");
		break;
	case SUBMIT_BAD_HEADER:
		smtpd_reply_set(r, 550, "5.6.0 submit: From: must hold exactly one address (%s)", w);
		break;
	case SUBMIT_NOT_OURS:
		smtpd_reply_set(r, 550, "5.7.1 submit: not our domain: %s is not served here", w);
		break;
	case SUBMIT_NO_SIG:
		smtpd_reply_set(r, 550, "5.7.20 submit: no DKIM signature: sign the message with your "
		    "key (mm-send does), it is the login here");
		break;
	case SUBMIT_OTHER_DOMAIN:
		smtpd_reply_set(r, 550, "5.7.22 submit: signed for another domain: %s", w);
		break;
	case SUBMIT_WEAK_ALG:
		smtpd_reply_set(r, 550, "5.7.21 submit: rsa-sha1 signatures are not accepted (RFC 8301): "
		    "sign with rsa-sha256 or ed25519-sha256");
		break;
	case SUBMIT_WEAK_H:
		smtpd_reply_set(r, 550, "5.7.21 submit: the signature must cover From, To, Subject "
		    "and Date (h= lacks %s)", w);
		break;
	case SUBMIT_WEAK_L:
		smtpd_reply_set(r, 550, "5.7.21 submit: signatures with l= (body length) are not "
		    "accepted: sign the whole body");
		break;
	case SUBMIT_BAD_SIG:
		smtpd_reply_set(r, 550, "5.7.20 submit: bad signature: %s", w);
		break;
	case SUBMIT_WRONG_KEY:
		smtpd_reply_set(r, 550, "5.7.1 submit: signed with another user's key: %s", w);
		break;
	case SUBMIT_STALE:
		smtpd_reply_set(r, 550, "5.7.1 submit: stale signature: %s; sign again", w);
		break;
	case SUBMIT_MISMATCH:
		smtpd_reply_set(r, 550, "5.7.1 submit: sender mismatch: %s", w);
		break;
	case SUBMIT_REPLAYED:
		smtpd_reply_set(r, 550, SUBMIT_REPLAYED_REPLY " this signature was already accepted "
		    "once (the message was taken then)");
		break;
	case SUBMIT_TEMP:
	default:
		smtpd_reply_set(r, 451, "4.7.0 submit: cannot check the signature now (%s): try again "
		    "later", w);
		break;
	}
}

void submit_replay_id(const char *b, char out[SUBMIT_REPLAY_ID_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(b, strlen(b), md, &n, EVP_sha256(), NULL) != 1 || n != 32) {
		memset(out, '0', SUBMIT_REPLAY_ID_LEN);   /* cannot happen; never matches a real one */
		out[SUBMIT_REPLAY_ID_LEN] = '\0';
		return;
	}
	hex_encode(md, n, out);
}

/* ---- keys ------------------------------------------------------------ */

/* The selectors of a's keys in dir: those with a .pub file.  0 if none. */
static size_t user_selectors(const char *dir, const struct addr *a,
    char sels[KEYS_NTYPES][KEYS_SELECTOR_MAX + 1])
{
	char path[4096];
	struct mm_err e;
	size_t n = 0;

	if (!dir)
		return 0;
	for (int t = 0; t < KEYS_NTYPES; t++) {
		if (keys_path(dir, a, (enum keys_type)t, KEYS_PUBLIC, path, sizeof path, NULL) < 0 ||
		    access(path, R_OK) < 0)
			continue;
		if (keys_selector(dir, a, (enum keys_type)t, sels[n], &e) == 0)
			n++;
	}
	return n;
}

struct keyctx {
	const char *dir;
	const struct addr *from;
};

/* A .pub of a with this selector, into rec: 0, or 1 if a has none. */
static int pub_of(const char *dir, const struct addr *a, const char *sel, char *rec, size_t cap)
{
	char path[4096], s[KEYS_SELECTOR_MAX + 1];
	struct mm_err e;
	struct buf b;

	for (int t = 0; t < KEYS_NTYPES; t++) {
		if (keys_selector(dir, a, (enum keys_type)t, s, &e) < 0 || ascii_strcasecmp(s, sel) ||
		    keys_path(dir, a, (enum keys_type)t, KEYS_PUBLIC, path, sizeof path, NULL) < 0)
			continue;
		buf_init(&b);
		if (read_file_all(path, SUBMIT_KEY_REC_MAX, &b, NULL) < 0) {
			buf_free(&b);
			continue;
		}
		while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
			b.data[--b.len] = '\0';
		if (b.len + 1 > cap || memchr(b.data, '\0', b.len)) {
			buf_free(&b);
			continue;
		}
		memcpy(rec, b.data, b.len + 1);
		buf_free(&b);
		return 0;
	}
	return 1;
}

/* Keys on disk: the From: user's own, and the key of "selector@domain"
 * (another user signing under the default selector) so that such a
 * signature verifies and is then refused as the wrong user's key, which
 * tells the sender what really happened. */
static int key_from_dir(void *ctx, const char *sel, const char *dom, char *rec, size_t cap)
{
	const struct keyctx *k = ctx;
	struct addr other;

	if (ascii_strcasecmp(dom, k->from->domain))
		return 1;
	if (pub_of(k->dir, k->from, sel, rec, cap) == 0)
		return 0;
	if (addr_component_ok(sel, 0, NULL) < 0 || strlen(sel) > ADDR_LOCAL_MAX)
		return 1;
	/* both fit (checked just above; the same type): 1 = no key if not */
	if (snprintf_ok(other.local, sizeof other.local, "%s", sel) < 0 ||
	    snprintf_ok(other.domain, sizeof other.domain, "%s", k->from->domain) < 0)
		return 1;
	ascii_lower(other.local);
	return pub_of(k->dir, &other, sel, rec, cap);
}

/* ---- the checks ------------------------------------------------------ */

static int header_from(const char *msg, size_t len, struct addr *out, char *why, size_t cap)
{
	struct msg m;
	struct mm_err e;
	struct addr_list l;
	const struct msg_field *f;
	int rc = -1;

	if (msg_parse(&m, msg, len, 0, &e) < 0) {
		str_trunc(why, cap, "header: %s", e.msg);
		return -1;
	}
	if (msg_count(&m, "From") != 1) {
		str_trunc(why, cap, "%zu From: fields", msg_count(&m, "From"));
		goto out;
	}
	f = msg_find(&m, "From");
	if (addr_list_parse(f->value, f->value_len, &l, &e) < 0) {
		str_trunc(why, cap, "%s", e.msg);
		goto out;
	}
	if (l.n == 1) {
		*out = l.v[0];
		rc = 0;
	} else
		str_trunc(why, cap, "%zu addresses", l.n);
	addr_list_free(&l);
out:
	msg_free(&m);
	return rc;
}

int submit_check(const struct submit_conf *c, struct dns_resolver **dns,
    const struct addr *env_from, int env_null, const char *msg, size_t len, time_t now,
    struct submit_result *res, struct mm_err *err)
{
	char sels[KEYS_NTYPES][KEYS_SELECTOR_MAX + 1];
	char fs[ADDR_STR_MAX], es[ADDR_STR_MAX];
	size_t nsels;
	struct dkimv v;
	struct keyctx kc;
	int best_rank = -1;

	memset(res, 0, sizeof *res);
	if (header_from(msg, len, &res->from, res->why, sizeof res->why) < 0) {
		res->v = SUBMIT_BAD_HEADER;
		return 0;
	}
	addr_format(&res->from, fs);
	if (!c->is_ours(c->ours_ctx, res->from.domain)) {
		res->v = SUBMIT_NOT_OURS;
		str_trunc(res->why, sizeof res->why, "From: %s", fs);
		return 0;
	}
	nsels = user_selectors(c->keys_dir, &res->from, sels);
	if (nsels == 0) {
		/* no key on disk: DNS holds it, under the default selector */
		/* a local part longer than a DNS label names no selector: then
		 * no signature is the user's (SUBMIT_WRONG_KEY), never a cut one */
		if (snprintf_ok(sels[0], sizeof sels[0], "%s", res->from.local) == 0)
			nsels = 1;
		if (!*dns && !(*dns = dns_open(c->resolver, err))) {
			res->v = SUBMIT_TEMP;
			str_trunc(res->why, sizeof res->why, "DNS: %s", err->msg);
			return -1;
		}
	}
	kc.dir = c->keys_dir;
	kc.from = &res->from;
	if (dkimv_verify_keys(c->keys_dir ? key_from_dir : NULL, &kc, *dns, msg, len, &v, err) < 0) {
		res->v = SUBMIT_TEMP;
		str_trunc(res->why, sizeof res->why, "%s", err->msg);
		return -1;
	}
	if (v.n == 0) {
		/* (a header the library dislikes, such as one without Date:, matters
		 * only for a signature: without one, "unsigned" is the news) */
		res->v = SUBMIT_NO_SIG;
		str_trunc(res->why, sizeof res->why, "none");
		return 0;
	}
	for (size_t i = 0; i < v.n; i++) {
		char why[sizeof res->why];
		enum submit_verdict sv = submit_judge_sig(&v.sig[i], &res->from, sels, nsels, now,
		    c->window, why, sizeof why);

		if (sv == SUBMIT_OK) {
			submit_replay_id(v.sig[i].b, res->ids[res->nids++]);
			continue;
		}
		if (v.sig[i].result == DKIMV_TEMPERROR && sv == SUBMIT_BAD_SIG)
			sv = SUBMIT_TEMP;
		/* the verdicts are numbered in the order of the checks */
		if ((int)sv > best_rank) {
			best_rank = (int)sv;
			res->v = sv;
			str_trunc(res->why, sizeof res->why, "%s", why);
		}
	}
	if (res->nids == 0) {
		if (res->v == SUBMIT_TEMP)
			return err_set(err, "%s", res->why);
		return 0;
	}
	res->v = SUBMIT_OK;
	res->why[0] = '\0';
	if (env_null || strcmp(res->from.local, env_from->local) ||
	    strcmp(res->from.domain, env_from->domain)) {
		if (env_null)
			es[0] = '\0';
		else
			addr_format(env_from, es);
		res->v = SUBMIT_MISMATCH;
		str_trunc(res->why, sizeof res->why, "MAIL FROM:<%s> is not From: %s", es, fs);
	}
	return 0;
}

/* ---- the replay cache ------------------------------------------------ */

int submit_replay_open(struct submit_replay *rp, const char *queue_dir, struct mm_err *err)
{
	int qfd;

	rp->dirfd = rp->lockfd = rp->pendfd = -1;
	qfd = open(queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (qfd < 0)
		return err_sys(err, "%s", queue_dir);
	if (mkdirat(qfd, SUBMIT_REPLAY_DIR, 0700) == 0) {
		if (fsync(qfd) < 0) {
			close(qfd);
			return err_sys(err, "%s: fsync", queue_dir);
		}
	} else if (errno != EEXIST) {
		close(qfd);
		return err_sys(err, "%s/%s", queue_dir, SUBMIT_REPLAY_DIR);
	}
	rp->dirfd = openat(qfd, SUBMIT_REPLAY_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(qfd);
	if (rp->dirfd < 0)
		return err_sys(err, "%s/%s", queue_dir, SUBMIT_REPLAY_DIR);
	if (mkdirat(rp->dirfd, SUBMIT_PENDING_DIR, 0700) == 0) {
		if (fsync(rp->dirfd) < 0) {
			err_sys(err, "%s/%s: fsync", queue_dir, SUBMIT_REPLAY_DIR);
			submit_replay_close(rp);
			return -1;
		}
	} else if (errno != EEXIST) {
		err_sys(err, "%s/%s/%s", queue_dir, SUBMIT_REPLAY_DIR, SUBMIT_PENDING_DIR);
		submit_replay_close(rp);
		return -1;
	}
	rp->pendfd = openat(rp->dirfd, SUBMIT_PENDING_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (rp->pendfd < 0) {
		err_sys(err, "%s/%s/%s", queue_dir, SUBMIT_REPLAY_DIR, SUBMIT_PENDING_DIR);
		submit_replay_close(rp);
		return -1;
	}
	return 0;
}

void submit_replay_close(struct submit_replay *rp)
{
	if (rp->lockfd >= 0)
		close(rp->lockfd);
	if (rp->pendfd >= 0)
		close(rp->pendfd);
	if (rp->dirfd >= 0)
		close(rp->dirfd);
	rp->dirfd = rp->lockfd = rp->pendfd = -1;
}

/* The lock file is opened for each lock: a flock belongs to the open file
 * description, which children forked by an accept loop would share. */
int submit_replay_lock(struct submit_replay *rp, struct mm_err *err)
{
	if (rp->lockfd >= 0)
		return err_set(err, "replay cache lock taken twice");
	rp->lockfd = openat(rp->dirfd, SUBMIT_LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (rp->lockfd < 0)
		return err_sys(err, "replay cache lock %s", SUBMIT_LOCK_NAME);
	while (flock(rp->lockfd, LOCK_EX) < 0)
		if (errno != EINTR) {
			err_sys(err, "replay cache lock");
			submit_replay_unlock(rp);
			return -1;
		}
	return 0;
}

void submit_replay_unlock(struct submit_replay *rp)
{
	if (rp->lockfd >= 0)
		close(rp->lockfd);
	rp->lockfd = -1;
}

int submit_replay_seen(struct submit_replay *rp, const struct submit_result *res,
    struct mm_err *err)
{
	struct stat st;

	for (size_t i = 0; i < res->nids; i++) {
		if (fstatat(rp->dirfd, res->ids[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			return 1;
		if (errno != ENOENT)
			return err_sys(err, "replay cache: %s", res->ids[i]);
	}
	return 0;
}

int submit_replay_record(struct submit_replay *rp, const struct submit_result *res,
    struct mm_err *err)
{
	char fs[ADDR_STR_MAX], line[ADDR_STR_MAX + 8];
	int n;

	addr_format(&res->from, fs);
	n = snprintf(line, sizeof line, "%s\n", fs);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	for (size_t i = 0; i < res->nids; i++) {
		int fd = openat(rp->dirfd, res->ids[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);

		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return err_sys(err, "replay cache: %s", res->ids[i]);
		}
		/* the content is only for a human looking: whose signature it was */
		if (write_all(fd, line, (size_t)n) < 0 || fsync(fd) < 0) {
			err_sys(err, "replay cache: %s", res->ids[i]);
			close(fd);
			return -1;
		}
		if (close(fd) < 0)
			return err_sys(err, "replay cache: %s", res->ids[i]);
	}
	if (fsync(rp->dirfd) < 0)
		return err_sys(err, "replay cache: fsync");
	return 0;
}

/* A DIR stream of an open directory, leaving dirfd itself open. */
static DIR *opendir_at(int dirfd, struct mm_err *err)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0) {
		err_sys(err, "replay cache: opendir");
		return NULL;
	}
	if (!(d = fdopendir(fd))) {
		err_sys(err, "replay cache: opendir");
		close(fd);
	}
	return d;
}

static int is_id(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == SUBMIT_REPLAY_ID_LEN;
}

int submit_pending_begin(struct submit_replay *rp, const struct submit_result *res, int local,
    struct mm_err *err)
{
	struct buf b;
	int fd, rc = 0;

	if (res->nids == 0)
		return err_set(err, "pending: no signature");
	buf_init(&b);
	for (size_t i = 0; i < res->nids; i++)
		buf_printf(&b, "%s%s", i ? " " : "", res->ids[i]);
	buf_putc(&b, '\n');
	if (local)
		buf_puts(&b, SUBMIT_PENDING_LOCAL "\n");
	fd = openat(rp->pendfd, res->ids[0], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0 || write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0)
		rc = err_sys(err, "replay cache: pending %s", res->ids[0]);
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = err_sys(err, "replay cache: pending %s", res->ids[0]);
	if (rc == 0 && fsync(rp->pendfd) < 0)
		rc = err_sys(err, "replay cache: fsync pending/");
	buf_free(&b);
	return rc;
}

int submit_pending_add(struct submit_replay *rp, const struct submit_result *res,
    const char *lines, size_t len, struct mm_err *err)
{
	int fd = openat(rp->pendfd, res->ids[0], O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	int rc = 0;

	if (fd < 0 || write_all(fd, lines, len) < 0 || fsync(fd) < 0)
		rc = err_sys(err, "replay cache: pending %s", res->ids[0]);
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = err_sys(err, "replay cache: pending %s", res->ids[0]);
	return rc;
}

void submit_pending_end(struct submit_replay *rp, const struct submit_result *res)
{
	/* not fsynced: a pending file that comes back after a crash is
	 * decided again, the same way */
	(void)unlinkat(rp->pendfd, res->ids[0], 0);
}

size_t submit_msg_ids(const char *msg, size_t len, char ids[][SUBMIT_REPLAY_ID_LEN + 1],
    size_t max)
{
	struct msg m;
	size_t n = 0;

	if (msg_parse(&m, msg, len, MSG_LENIENT, NULL) < 0)
		return 0;
	for (size_t i = 0; i < m.n && n < max; i++) {
		const char *v;
		if (!msg_field_is(&m.f[i], "DKIM-Signature"))
			continue;
		for (v = m.f[i].value; v && *v;) {
			const char *end = strchr(v, ';'), *t = v;
			size_t vl = end ? (size_t)(end - v) : strlen(v);

			while (t < v + vl && (*t == ' ' || *t == '\t'))
				t++;
			if (t + 1 < v + vl && t[0] == 'b' && (t[1] == '=' || t[1] == ' ' || t[1] == '\t')) {
				const char *eq = memchr(t, '=', (size_t)(v + vl - t));
				struct buf b;
				buf_init(&b);
				for (const char *c = eq ? eq + 1 : v + vl; c < v + vl; c++)
					if (*c != ' ' && *c != '\t' && *c != '\r' && *c != '\n')
						buf_putc(&b, *c);
				if (b.len && b.len < DKIMV_TAG_MAX)
					submit_replay_id(b.data, ids[n++]);
				buf_free(&b);
				break;
			}
			v = end ? end + 1 : NULL;
		}
	}
	msg_free(&m);
	return n;
}

/* Lock a job a runner may be looking at (it holds the lock only for
 * that): 1 locked (*fd), 0 gone, -1 error or still locked. */
static int lock_job(struct queue *q, const char *id, int *fd, struct mm_err *err)
{
	struct queue_env e;
	struct mm_err le;
	int r = 0;

	for (int i = 0; i < SUBMIT_RELEASE_TRIES; i++) {
		r = queue_lock(q, id, fd, err);
		if (r != 0)
			break;
		queue_env_init(&e);
		if (queue_load(q, id, &e, NULL, &le) == 1)
			return 0;                       /* gone */
		queue_env_free(&e);
		usleep(10000);                          /* a runner is looking at it */
	}
	if (r == 0)
		return err_set(err, "job %s: locked by a runner for too long", id);
	return r;
}

int submit_release(struct queue *q, const char *id, time_t now, struct mm_err *err)
{
	struct queue_env e;
	int fd = -1, r;

	r = lock_job(q, id, &fd, err);
	if (r <= 0)
		return r;
	queue_env_init(&e);
	r = queue_load(q, id, &e, NULL, err);
	if (r == 0 && e.next_try == SUBMIT_HELD) {
		e.next_try = (long long)now;
		r = queue_update(q, &e, err);
	} else if (r == 1)
		r = 0;
	queue_env_free(&e);
	close(fd);
	return r;
}

/* The held job whose message carries one of res's signatures: its id
 * into id, 1; none, 0. */
static int find_held(struct queue *q, const struct submit_result *res,
    char id[QUEUE_ID_MAX + 1], struct mm_err *err)
{
	char **jobs = NULL;
	size_t nj = 0;
	int found = 0;

	if (queue_list(q, &jobs, &nj, err) < 0)
		return -1;
	for (size_t j = 0; j < nj && !found; j++) {
		struct queue_env e;
		struct buf m;
		struct mm_err le;
		char ids[DKIMV_SIGS_MAX][SUBMIT_REPLAY_ID_LEN + 1];
		size_t n;

		queue_env_init(&e);
		if (queue_load(q, jobs[j], &e, NULL, &le) != 0) {
			queue_env_free(&e);
			continue;
		}
		if (e.next_try != SUBMIT_HELD) {
			queue_env_free(&e);
			continue;
		}
		queue_env_free(&e);
		buf_init(&m);
		queue_env_init(&e);
		if (queue_load(q, jobs[j], &e, &m, &le) == 0) {
			n = submit_msg_ids(m.data, m.len, ids, DKIMV_SIGS_MAX);
			for (size_t a = 0; a < n && !found; a++)
				for (size_t b = 0; b < res->nids && !found; b++)
					found = !strcmp(ids[a], res->ids[b]);
			if (found && snprintf_ok(id, QUEUE_ID_MAX + 1, "%s", jobs[j]) < 0)
				found = 0;
		}
		queue_env_free(&e);
		buf_free(&m);
	}
	queue_ids_free(jobs, nj);
	return found;
}

/* Remove a held job that was never committed; a runner looking at it is
 * waited for as submit_release does. */
static int withdraw(struct queue *q, const char *id, struct mm_err *err)
{
	int fd = -1, r;

	r = lock_job(q, id, &fd, err);
	if (r <= 0)
		return r;
	r = queue_remove(q, id, err);
	close(fd);
	return r;
}

/* 1 if ROOT/folder/new/name, or a cur/ name:2,... of it, exists. */
static int maildir_has(int rootfd, const char *folder, const char *name)
{
	char path[ADDR_DOMAIN_MAX + 2 * ADDR_LOCAL_MAX + 8], *c, *save = NULL;
	struct dirent *de;
	struct stat st;
	size_t nl = strlen(name);
	int fd, sub, found = 0;
	DIR *d;

	if (snprintf_ok(path, sizeof path, "%s", folder) < 0 || strchr(name, '/'))
		return 0;
	fd = dup(rootfd);
	for (c = strtok_r(path, "/", &save); c && fd >= 0; c = strtok_r(NULL, "/", &save)) {
		sub = maildir_openat(fd, c, NULL);
		close(fd);
		fd = sub;
	}
	if (fd < 0)
		return 0;
	sub = maildir_openat(fd, "new", NULL);
	if (sub >= 0) {
		found = fstatat(sub, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		close(sub);
	}
	sub = found ? -1 : maildir_openat(fd, "cur", NULL);
	close(fd);
	if (sub >= 0 && (d = opendir_at(sub, NULL))) {
		while (!found && (de = readdir(d)))
			found = !strncmp(de->d_name, name, nl) && de->d_name[nl] == ':';
		closedir(d);
	}
	if (sub >= 0)
		close(sub);
	return found;
}

long submit_recover(struct submit_replay *rp, struct queue *q, int rootfd, time_t now,
    struct mm_err *err)
{
	struct dirent *de;
	DIR *d;
	long done = 0;

	if (!(d = opendir_at(rp->pendfd, err)))
		return -1;
	while ((de = readdir(d))) {
		struct submit_result res;
		struct buf b;
		char *p, *line, *save = NULL, *lsave = NULL;
		char held_id[QUEUE_ID_MAX + 1];
		int pfd, seen, held, local, want_local, taken;

		if (!is_id(de->d_name))
			continue;
		memset(&res, 0, sizeof res);
		buf_init(&b);
		pfd = openat(rp->pendfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (pfd < 0 || read_fd_all(pfd, SUBMIT_KEY_REC_MAX, &b, NULL) < 0) {
			if (pfd >= 0)
				close(pfd);
			buf_free(&b);
			continue;
		}
		close(pfd);
		local = want_local = 0;
		for (line = strtok_r(b.data ? b.data : (char *)"", "\n", &lsave); line;
		    line = strtok_r(NULL, "\n", &lsave)) {
			char *w1, *w2, *w3;
			save = NULL;
			w1 = strtok_r(line, " ", &save);
			if (w1 && !strcmp(w1, SUBMIT_PENDING_LOCAL)) {
				want_local = 1;
				continue;
			}
			if (w1 && !strcmp(w1, "maildir")) {
				w2 = strtok_r(NULL, " ", &save);
				w3 = strtok_r(NULL, " ", &save);
				if (w2 && w3 && rootfd >= 0 && maildir_has(rootfd, w2, w3))
					local = 1;
				continue;
			}
			for (p = w1; p && res.nids < DKIMV_SIGS_MAX; p = strtok_r(NULL, " ", &save))
				if (is_id(p))
					memcpy(res.ids[res.nids++], p, SUBMIT_REPLAY_ID_LEN + 1);
		}
		buf_free(&b);
		if (res.nids == 0) {
			(void)unlinkat(rp->pendfd, de->d_name, 0);
			continue;
		}
		seen = submit_replay_seen(rp, &res, err);
		held = seen < 0 ? -1 : find_held(q, &res, held_id, err);
		if (seen < 0 || held < 0) {
			closedir(d);
			return -1;
		}
		/* an entry proves the commit (the copies came before it); a copy
		 * found here does; so does the held job, unless copies were due
		 * here and none was made (the session died before them: the job
		 * goes, and the resend brings both) */
		taken = seen || local || (held && !want_local);
		if (held && (taken ? submit_release(q, held_id, now, err) :
		    withdraw(q, held_id, err)) < 0) {
			closedir(d);
			return -1;
		}
		if (taken && submit_replay_record(rp, &res, err) < 0) {
			closedir(d);
			return -1;
		}
		log_warn("replay cache: finished the commit of %.16s... left by a dead session: %s",
		    res.ids[0], !taken ? (held ? "its copies here were never made: job removed" :
		    "nothing had been committed") : held ? "job released, signature recorded" :
		    local ? "delivered here, signature recorded" : "signature was recorded");
		(void)unlinkat(rp->pendfd, de->d_name, 0);
		done++;
	}
	closedir(d);
	return done;
}

/* A held job that no pending file speaks for, looked at with the cache
 * lock: 1 released (a replay entry proves the commit), 2 removed (none:
 * the 250 was never given), 0 left (not held, gone, or a runner has it). */
static int decide_orphan(struct submit_replay *rp, struct queue *q, const char *id, time_t now,
    struct mm_err *err)
{
	struct submit_result res;
	struct queue_env e;
	struct buf m;
	struct mm_err le;
	int fd, r, seen, held;

	/* the envelope alone first: most jobs are not held, and their
	 * messages are not read under the sessions' lock */
	queue_env_init(&e);
	r = queue_load(q, id, &e, NULL, &le);
	held = r == 0 && e.next_try == SUBMIT_HELD;
	queue_env_free(&e);
	if (!held)
		return 0;
	r = queue_lock(q, id, &fd, err);
	if (r <= 0)
		return r;
	buf_init(&m);
	queue_env_init(&e);
	r = queue_load(q, id, &e, &m, &le);
	if (r != 0 || e.next_try != SUBMIT_HELD) {
		r = 0;                  /* unreadable jobs are the runner's to report */
		goto out;
	}
	memset(&res, 0, sizeof res);
	res.nids = submit_msg_ids(m.data, m.len, res.ids, DKIMV_SIGS_MAX);
	seen = res.nids ? submit_replay_seen(rp, &res, err) : 0;
	if (seen < 0) {
		r = -1;
	} else if (seen) {
		e.next_try = (long long)now;
		r = queue_update(q, &e, err) < 0 ? -1 : 1;
	} else {
		r = queue_remove(q, id, err) < 0 ? -1 : 2;
	}
	if (r > 0)
		log_warn("replay cache: held job %s left by a dead session: %s", id,
		    r == 1 ? "its signature was recorded, released" :
		    "its signature was never recorded (no 250 was given), removed");
out:
	queue_env_free(&e);
	buf_free(&m);
	close(fd);
	return r;
}

long submit_runner_recover(struct queue *q, const char *queue_dir, const char *root, time_t now,
    struct mm_err *err)
{
	struct submit_replay rp;
	struct stat st;
	char *path, **jobs = NULL;
	size_t nj = 0;
	long done;
	int rootfd;

	path = xasprintf("%s/%s", queue_dir, SUBMIT_REPLAY_DIR);
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(path);
		return 0;               /* no mm-recv --submit feeds this queue */
	}
	free(path);
	if (submit_replay_open(&rp, queue_dir, err) < 0)
		return -1;
	if (submit_replay_lock(&rp, err) < 0) {
		submit_replay_close(&rp);
		return -1;
	}
	rootfd = root ? open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	done = submit_recover(&rp, q, rootfd, now, err);
	if (done >= 0 && queue_list(q, &jobs, &nj, err) < 0)
		done = -1;
	for (size_t j = 0; j < nj && done >= 0; j++) {
		int r = decide_orphan(&rp, q, jobs[j], now, err);
		if (r < 0)
			done = -1;
		else if (r > 0)
			done++;
	}
	queue_ids_free(jobs, nj);
	if (rootfd >= 0)
		close(rootfd);
	submit_replay_close(&rp);      /* closing the lock file unlocks */
	return done;
}

long submit_replay_sweep(struct submit_replay *rp, time_t now, long long window, int force,
    struct mm_err *err)
{
	struct stat st;
	struct timespec ts[2];
	struct dirent *de;
	DIR *d;
	int fd;
	long removed = 0;
	long long keep = 2 * window + SUBMIT_SLACK;

	if (!force && fstatat(rp->dirfd, SUBMIT_SWEPT_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_mtime <= now && st.st_mtime > now - SUBMIT_SWEEP_EVERY)
		return 0;
	if (!(d = opendir_at(rp->dirfd, err)))
		return -1;
	while ((de = readdir(d))) {
		if (!is_id(de->d_name))
			continue;
		if (fstatat(rp->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if ((long long)st.st_mtime >= (long long)now - keep)
			continue;
		if (unlinkat(rp->dirfd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	fd = openat(rp->dirfd, SUBMIT_SWEPT_NAME, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ts[0].tv_sec = ts[1].tv_sec = now;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		(void)futimens(fd, ts);
		close(fd);
	}
	/* removal need not be durable: an entry that comes back is only kept longer */
	return removed;
}

/* ---- the session ----------------------------------------------------- */

int submit_init(struct submit *sb, struct mx *mx, const char *queue_dir, struct mm_err *err)
{
	sb->mx = mx;
	sb->dns = NULL;
	sb->queue_dir = queue_dir;
	sb->rp.dirfd = sb->rp.lockfd = sb->rp.pendfd = -1;
	if (queue_open(&sb->q, queue_dir, err) < 0)
		return -1;
	if (submit_replay_open(&sb->rp, queue_dir, err) < 0) {
		queue_close(&sb->q);
		return -1;
	}
	return 0;
}

void submit_free(struct submit *sb)
{
	submit_replay_close(&sb->rp);
	queue_close(&sb->q);
	if (sb->dns)
		dns_close(sb->dns);
	sb->dns = NULL;
}

int submit_spawn(char *const *runner, const char *queue_dir, const char *id,
    struct mm_err *err)
{
	char *argv[SUBMIT_RUNNER_ARGS_MAX + 6];
	char qid[QUEUE_ID_MAX + 4];
	size_t n = 0;
	pid_t pid;
	int st;

	if (snprintf_ok(qid, sizeof qid, "-qI%s", id) < 0)
		return err_set(err, "queue id too long");
	while (runner[n] && n < SUBMIT_RUNNER_ARGS_MAX) {
		argv[n] = runner[n];
		n++;
	}
	argv[n++] = (char *)"--mx";
	argv[n++] = (char *)"--queue";
	argv[n++] = (char *)queue_dir;
	argv[n++] = qid;
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return err_sys(err, "fork");
	if (pid == 0) {
		int fd;
		pid_t p2;

		(void)setsid();
		p2 = fork();
		if (p2 != 0)
			_exit(p2 < 0 ? 1 : 0);
		fd = open("/dev/null", O_RDWR);
		if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		(void)close_range(3, ~0U, 0);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		if (strchr(argv[0], '/'))
			execv(argv[0], argv);
		else
			execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return errno == ECHILD ? 0 : err_sys(err, "waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return err_set(err, "fork of the runner failed");
	return 0;
}

static int hook_mail(void *ctx, struct smtpd *s, struct smtpd_reply *r)
{
	struct submit *sb = ctx;
	char as[ADDR_STR_MAX];

	if (sb->tls_required && !s->tls_done) {
		smtpd_reply_set(r, 530, "5.7.0 submit: must issue a STARTTLS command first");
		return -1;
	}
	if (s->mail_null) {
		smtpd_reply_set(r, 550, "5.7.1 submit: sender mismatch: the null sender cannot submit");
		return -1;
	}
	addr_format(&s->mail, as);
	if (!sb->conf.is_ours(sb->conf.ours_ctx, s->mail.domain)) {
		smtpd_trace(s, "submit: %s is not one of our domains", s->mail.domain);
		smtpd_reply_set(r, 550, "5.7.1 submit: not our domain: <%s> is not served here", as);
		return -1;
	}
	return 0;
}

static int hook_rcpt(void *ctx, struct smtpd *s, struct smtpd_rcpt *rc, struct smtpd_reply *r)
{
	struct submit *sb = ctx;
	char as[ADDR_STR_MAX];

	if (mx_is_our_domain(sb->mx, rc->addr.domain))
		return mx_rcpt(sb->mx, s, rc, r);
	addr_format(&rc->addr, as);
	smtpd_trace(s, "recipient <%s>: to be relayed once the signature is checked", as);
	log_info("%s: %s: <%s>: accepted for relay", s->id, s->peer_ip, as);
	return 0;
}

static void hook_reset(void *ctx, struct smtpd *s)
{
	struct submit *sb = ctx;

	mx_reset(sb->mx, s);
}

/* The queue copy: our Received: (without the client) then the message as
 * signed, CRLF throughout.  Recipients: the remote ones, each once. */
static int enqueue(struct submit *sb, struct smtpd *s, const struct buf *msg, struct queue_env *e,
    struct mm_err *err)
{
	struct buf rec, out;
	char as[ADDR_STR_MAX];
	int rc;

	_Static_assert(sizeof e->from == ADDR_STR_MAX, "addr_format's size");
	addr_format(&s->mail, e->from);
	for (size_t i = 0; i < s->nrcpt; i++) {
		int dup = 0;
		if (s->rcpt[i].data)
			continue;           /* ours: Maildir */
		addr_format(&s->rcpt[i].addr, as);
		for (size_t j = 0; j < e->nr; j++)
			dup |= !strcmp(e->r[j].addr, as);
		if (!dup)
			queue_env_add_rcpt(e, as);
	}
	if (e->nr == 0)
		return 0;
	e->next_try = SUBMIT_HELD;        /* released once the replay entry is written */
	buf_init(&rec);
	buf_init(&out);
	mx_received(sb->mx, s, NULL, 1, &rec);
	for (size_t i = 0; i < rec.len; i++) {
		if (rec.data[i] == '\n')
			buf_putc(&out, '\r');
		buf_putc(&out, rec.data[i]);
	}
	buf_append(&out, msg->data, msg->len);
	rc = queue_add(&sb->q, e, out.data, out.len, err);
	buf_free(&rec);
	buf_free(&out);
	return rc;
}

struct noter {
	struct submit *sb;
	const struct submit_result *res;
	struct buf lines;
};

/* Each Maildir copy's final name into the pending file, before the link. */
static int note_copy(void *ctx, const char *folder, const char *name)
{
	struct noter *n = ctx;
	struct mm_err err;

	if (folder) {
		buf_printf(&n->lines, "maildir %s %s\n", folder, name);
		return 0;
	}
	if (submit_pending_add(&n->sb->rp, n->res, n->lines.data, n->lines.len, &err) < 0) {
		log_err("%s", err.msg);
		return -1;
	}
	return 0;
}

/* Tests only (SUBMIT_TEST_KILL_ENV): die here as a SIGKILL would. */
static void test_kill_at(const char *point)
{
	const char *v = getenv(SUBMIT_TEST_KILL_ENV);

	if (v && !strcmp(v, point))
		(void)raise(SIGKILL);
}

static int hook_data(void *ctx, struct smtpd *s, const struct buf *msg, struct smtpd_reply *r)
{
	struct submit *sb = ctx;
	struct submit_result res;
	struct queue_env e;
	struct mm_err err = { 0 };
	struct noter noter;
	struct mx_note note;
	char fs[ADDR_STR_MAX];
	long copies = 0;
	int seen, local = 0;

	if (submit_check(&sb->conf, &sb->dns, &s->mail, s->mail_null, msg->data, msg->len,
	    time(NULL), &res, &err) < 0 || res.v != SUBMIT_OK) {
		submit_reply(&res, r);
		smtpd_trace(s, "submit: refused: %s", res.why);
		log_info("%s: %s: submission refused: %d %s", s->id, s->peer_ip, r->code, r->text);
		return -1;
	}
	addr_format(&res.from, fs);
	smtpd_trace(s, "submit: signature of %s accepted", fs);
	if (submit_replay_lock(&sb->rp, &err) < 0)
		goto temp;
	if (submit_recover(&sb->rp, &sb->q, sb->mx->rootfd, time(NULL), &err) < 0)
		goto temp_locked;
	if (submit_replay_sweep(&sb->rp, time(NULL), sb->conf.window, 0, &err) < 0)
		log_warn("%s: replay cache sweep: %s", s->id, err.msg);
	seen = submit_replay_seen(&sb->rp, &res, &err);
	if (seen < 0)
		goto temp_locked;
	if (seen) {
		submit_replay_unlock(&sb->rp);
		res.v = SUBMIT_REPLAYED;
		submit_reply(&res, r);
		log_info("%s: %s: submission refused: %d %s", s->id, s->peer_ip, r->code, r->text);
		return -1;
	}
	/* The crash ordering of submit.h: pending, held job + Maildir,
	 * replay entries, release. */
	for (size_t i = 0; i < s->nrcpt && !local; i++)
		local = s->rcpt[i].data != NULL;      /* ours: a Maildir copy */
	if (submit_pending_begin(&sb->rp, &res, local, &err) < 0)
		goto temp_locked;
	queue_env_init(&e);
	if (enqueue(sb, s, msg, &e, &err) < 0) {
		submit_pending_end(&sb->rp, &res);
		submit_replay_unlock(&sb->rp);
		queue_env_free(&e);
		log_err("%s: %s: cannot queue: %s", s->id, s->peer_ip, err.msg);
		if (err.code == ENOSPC || err.code == EDQUOT)
			smtpd_reply_set(r, 452, "4.3.1 insufficient storage: try again later");
		else
			smtpd_reply_set(r, 451, "4.3.0 cannot queue the message now: try again later");
		return -1;
	}
	test_kill_at("queued");
	noter.sb = sb;
	noter.res = &res;
	buf_init(&noter.lines);
	note.fn = note_copy;
	note.ctx = &noter;
	copies = mx_deliver(sb->mx, s, "", 0, msg->data, msg->len, 1, &note, r);
	buf_free(&noter.lines);
	if (copies < 0) {
		if (e.nr && queue_remove(&sb->q, e.id, &err) < 0)
			log_err("%s: %s: queued copy %s could not be withdrawn: %s", s->id, s->peer_ip,
			    e.id, err.msg);
		submit_pending_end(&sb->rp, &res);
		submit_replay_unlock(&sb->rp);
		queue_env_free(&e);
		return -1;
	}
	test_kill_at("delivered");
	if (submit_replay_record(&sb->rp, &res, &err) < 0)
		log_err("%s: %s: replay cache: %s (the message is accepted; the next session "
		    "finishes the record)", s->id, s->peer_ip, err.msg);
	else if (e.nr && submit_release(&sb->q, e.id, time(NULL), &err) < 0)
		log_err("%s: %s: job %s: %s (the next session releases it)", s->id, s->peer_ip,
		    e.id, err.msg);
	else
		submit_pending_end(&sb->rp, &res);
	submit_replay_unlock(&sb->rp);
	if (e.nr) {
		log_info("%s: %s: queued as %s for %zu recipient%s (%zu octets) from %s", s->id,
		    s->peer_ip, e.id, e.nr, e.nr == 1 ? "" : "s", msg->len, fs);
		smtpd_trace(s, "queued as %s", e.id);
		if (sb->runner && submit_spawn(sb->runner, sb->queue_dir, e.id, &err) < 0)
			log_warn("%s: cannot start delivery of %s now: %s (the timer will)", s->id,
			    e.id, err.msg);
		smtpd_reply_set(r, 250, "2.0.0 accepted: queued as %s for %zu recipient%s, "
		    "delivered here to %ld", e.id, e.nr, e.nr == 1 ? "" : "s", copies);
	} else
		smtpd_reply_set(r, 250, "2.0.0 accepted: delivered here to %ld mailbox%s (id %s.%lu)",
		    copies, copies == 1 ? "" : "es", s->id, s->messages + 1);
	queue_env_free(&e);
	return 0;
temp_locked:
	submit_replay_unlock(&sb->rp);
temp:
	log_err("%s: %s: replay cache: %s", s->id, s->peer_ip, err.msg);
	smtpd_reply_set(r, 451, "4.3.0 cannot check for replays now: try again later");
	return -1;
}

const struct smtpd_hooks submit_hooks = {
	.mail = hook_mail,
	.rcpt = hook_rcpt,
	.data = hook_data,
	.reset = hook_reset,
};
