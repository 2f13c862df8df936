/*
 * mm-send — a sendmail that signs every message on the user's own machine.
 *
 * Flow: read the message, complete its header (From, Date, Message-ID),
 * take recipients (arguments or -t), drop Bcc, make every line end CRLF,
 * sign (lib/dkimsign, keys named by lib/keys), then hand it to one
 * transport (--via CMD, --relay HOST, --mx).  A temporary failure queues
 * the signed message (lib/queue) and exits 0; -q retries the queue.
 * Nothing from the message or an address ever reaches a command line:
 * --via's command comes only from options or config files and is run with
 * execvp, and an address starting with '-' is refused outright.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "dkimsign.h"
#include "dsn.h"
#include "exitcode.h"
#include "keys.h"
#include "log.h"
#include "msg.h"
#include "queue.h"
#include "smtpc.h"
#include "submit.h"
#include "send.h"

#include <openssl/crypto.h>

#define SEND_MSG_MAX ((size_t)100 * 1024 * 1024)   /* stdin larger than this is refused */
#define SEND_RCPT_MAX QUEUE_RCPT_MAX
#define SEND_SYS_CONF "/etc/mm/send.conf"
#define SEND_SYS_CONF_ENV "MM_SEND_SYSTEM_CONF"   /* overrides SEND_SYS_CONF (tests, chroots) */
#define SEND_USER_CONF ".config/mm/send.conf"
#define SEND_QUEUE_SUBDIR ".local/share/mm/queue"
#define SEND_ROOT_DEFAULT "/var/mail"   /* as mm-recv's --root: whose mailboxes are ours */
#define SEND_SUBJECT_SHOWN 80           /* of a bounced message's Subject, on stderr */
/* -q with --via/--relay re-signs a job whose own signatures are this old
 * (--resign-after): mm-recv --submit refuses any older than its window */
#define SEND_RESIGN_AGE 600
#define SEND_RESIGN_AFTER_MAX QUEUE_EXPIRE   /* longer would never come */
_Static_assert(SEND_RESIGN_AGE < SUBMIT_WINDOW_DEFAULT,
    "a queued job must be re-signed before the relay's default window refuses it");

struct opts {
	int t_flag, ignore_dots, verbose, list, run_queue, json, no_sign, now, smtps, mx;
	int queue_only, null_sender;
	const char *from, *fullname, *keys, *queue, *via, *relay, *domain, *tls_ca;
	const char *auth_user, *auth_pw_file, *auth_pw_cmd, *helo, *selector, *mx_port;
	const char *root, *queue_filter, *bounce_maildir;
	long long timeout;
	long long at;       /* --at: the queue runs as if the clock said this (0: the clock) */
	long long resign_after;   /* -q, --via/--relay: re-sign signatures this old */
};

static struct opts o;

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: mm-send [options] [--] address...      send a message read from stdin\n"
	    "       mm-send -t [options]                    recipients from To/Cc/Bcc\n"
	    "       mm-send -q [--now] [--at TIME] [--root DIR]  run the queue\n"
	    "       mm-send -bp [--json] | mailq            list the queue\n"
	    "sendmail flags: -t -f ADDR -r ADDR -F NAME -i -oi -oem -odi -odq -bm -bp -q -v\n"
	    "  -V ENVID -N DSN -B TYPE -R RET (accepted), other -oX ignored\n"
	    "transport:  --via CMD | --relay HOST[:PORT] [--smtps] [--tls-ca FILE]\n"
	    "            [--auth-user U --auth-password-file F | --auth-password-cmd CMD]\n"
	    "            | --mx [--mx-port PORT] [--resolver IP[:PORT]]\n"
	    "signing:    --keys DIR (~/%s), --selector S, --no-sign\n"
	    "queue:      --queue DIR (~/%s), --at TIME|+DURATION, --root DIR (%s)\n"
	    "            --resign-after DURATION (%ds; --via/--relay)\n"
	    "            --bounce-maildir DIR (bounces with --via/--relay; else stderr)\n"
	    "other:      --domain D, --helo NAME, --timeout SECONDS,\n"
	    "            --json, --now, -h/--help, --version\n"
	    "config:     %s then ~/%s (lines \"long-option value\")\n",
	    KEYS_DEFAULT_SUBDIR, SEND_QUEUE_SUBDIR, SEND_ROOT_DEFAULT, SEND_RESIGN_AGE,
	    SEND_SYS_CONF, SEND_USER_CONF);
}

/* ---- addresses ---- */

static const char *default_domain(void)
{
	static char host[256];

	if (o.domain)
		return o.domain;
	if (gethostname(host, sizeof(host) - 1) == 0 && strchr(host, '.'))
		return host;
	return NULL;
}

/* A recipient given on the command line: "a@b", "Name <a@b>", "a@b, c@d",
 * or a bare local name qualified with the domain (as cron's "root"). */
static int is_atext_word(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-/=?^_`{|}~.", *s)))
			return 0;
	return 1;
}

static void rcpt_add(char ***v, size_t *n, const char *a)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], a))
			return;
	if (*n >= SEND_RCPT_MAX)
		mm_die(EX_USAGE, "more than %d recipients", SEND_RCPT_MAX);
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(a);
}

/* Parse an address list (header value or argument) into rcpts. */
static int parse_rcpts(const char *value, const char *dom, char ***v, size_t *n,
    struct mm_err *err)
{
	struct addr_list l;
	char s[ADDR_STR_MAX];

	if (addr_list_parse(value, strlen(value), &l, err) == 0) {
		for (size_t i = 0; i < l.n; i++) {
			addr_format(&l.v[i], s);
			if (s[0] == '-') {
				addr_list_free(&l);
				return err_set(err, "%s: an address may not start with '-'", s);
			}
			rcpt_add(v, n, s);
		}
		addr_list_free(&l);
		return 0;
	}
	/* bare local names ("root"), comma separated */
	{
		char *copy = xstrdup(value), *save = NULL;
		int r = 0;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			while (*t == ' ' || *t == '\t')
				t++;
			char *e = t + strlen(t);
			while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
				*--e = 0;
			if (!*t)
				continue;
			struct addr a;
			char *full;
			if (t[0] == '-') {
				r = err_set(err, "%s: an address may not start with '-'", t);
				break;
			}
			if (strchr(t, '@') || !is_atext_word(t)) {
				r = addr_list_parse(t, strlen(t), &l, err);
				if (r == 0) {
					for (size_t i = 0; i < l.n; i++) {
						addr_format(&l.v[i], s);
						rcpt_add(v, n, s);
					}
					addr_list_free(&l);
				}
				if (r < 0)
					break;
				continue;
			}
			if (!dom) {
				r = err_set(err, "%s: no domain to qualify it with (set --domain)", t);
				break;
			}
			full = xasprintf("%s@%s", t, dom);
			r = addr_parse_mailbox(full, strlen(full), &a, err);
			free(full);
			if (r < 0)
				break;
			addr_format(&a, s);
			rcpt_add(v, n, s);
		}
		free(copy);
		return r;
	}
}

/* ---- header completion ---- */

static void rfc5322_date(char *out, size_t n, time_t t)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(out, n, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld", wd[tm.tm_wday], tm.tm_mday,
	    mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

/* A display name as a phrase: atoms as they are, otherwise a quoted
 * string, non-ASCII as an RFC 2047 encoded word.  CR/LF never pass. */
static void display_name(struct buf *out, const char *name)
{
	int plain = 1, ascii = 1;

	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c & 0x80)
			ascii = 0;
		else if (!(isalnum(c) || c == ' ' || strchr("!#$%&'*+-/=?^_`{|}~", c)))
			plain = 0;
	}
	if (!ascii) {
		char *b = base64_encode(name, strlen(name));
		buf_printf(out, "=?UTF-8?B?%s?=", b);
		free(b);
		return;
	}
	if (plain && name[0] != ' ' && name[strlen(name) - 1] != ' ') {
		buf_puts(out, name);
		return;
	}
	buf_putc(out, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *p);
	}
	buf_putc(out, '"');
}

/* The transport's options, from ours (lib/send); o is final by the time
 * anything is sent. */
static const struct send_opts *send_opts(void)
{
	static struct send_opts so;

	so = (struct send_opts){
		.via = o.via, .relay = o.relay, .mx_port = o.mx_port, .tls_ca = o.tls_ca,
		.helo = o.helo, .auth_user = o.auth_user, .auth_pw_file = o.auth_pw_file,
		.auth_pw_cmd = o.auth_pw_cmd, .smtps = o.smtps, .verbose = o.verbose,
		.timeout_ms = (int)(o.timeout * 1000),
	};
	return &so;
}

/* ---- queue ---- */

static char *queue_dir(void)
{
	const char *home = getenv("HOME");

	if (o.queue)
		return xstrdup(o.queue);
	if (!home || !*home)
		mm_die(EX_CONFIG, "HOME is not set: give --queue DIR");
	return xasprintf("%s/%s", home, SEND_QUEUE_SUBDIR);
}

static long long clock_now(void)
{
	return o.at ? o.at : (long long)time(NULL);
}

/* Record the results of an attempt at time now in e; returns how many
 * are pending.  perm counts the recipients refused for good. */
static size_t record(struct queue_env *e, struct smtpc_rcpt *r, char **mta, size_t *map,
    size_t n, long long now, int *perm)
{
	size_t pending = 0;

	for (size_t i = 0; i < n; i++) {
		struct queue_rcpt *q = &e->r[map[i]];
		queue_text_set(q->text, r[i].text);
		q->last_try = now;
		if (mta && mta[i])
			queue_host_set(q->mta, mta[i]);   /* anything odd is left out */
		if (r[i].st == SMTPC_OK) {
			q->state = QUEUE_SENT;
		} else if (r[i].st == SMTPC_PERM) {
			q->state = QUEUE_FAILED;
			mm_warnx("%s%s%s: failed: %s", e->id, e->id[0] ? ": " : "", q->addr, r[i].text);
			(*perm)++;
		} else {
			q->state = QUEUE_PENDING;
			queue_text_set(e->last_error, r[i].text);
			pending++;
		}
	}
	return pending;
}

struct run {
	struct queue q;
	long long now;
	size_t sent, left, bounced;
	size_t told;           /* failures reported on stderr only (exit status) */
	int errors, corrupt;
	char **fresh;          /* DSN jobs queued by this run */
	size_t nfresh;
};

/* A header value of the queued message, printable ASCII only, cut short. */
static void header_value(const struct buf *m, const char *name, char *out, size_t cap)
{
	struct msg h;
	struct mm_err err;
	const struct msg_field *f;
	size_t k = 0;

	out[0] = '\0';
	if (msg_parse(&h, m->data, m->len, MSG_LENIENT, &err) < 0)
		return;
	if ((f = msg_find(&h, name)))
		for (size_t i = 0; i < f->value_len && k + 1 < cap; i++)
			out[k++] = f->value[i] >= 0x20 && f->value[i] < 0x7f ? f->value[i] : '?';
	out[k] = '\0';
	msg_free(&h);
}

/*
 * With a client transport (--via, --relay) a DSN cannot go back out: the
 * null sender is refused by mm-recv --submit (it would be dropped
 * unseen), and a relay has no reason to take it either.  So the user
 * learns here: into --bounce-maildir when set (1), else (or when that
 * fails) on stderr, which cron mails, with a non-zero exit status (2).
 * -1: neither worked; the recipients stay unreported, the job stays
 * listed by -bp, and the next run tries again.
 */
static int bounce_here(struct run *run, const struct queue_env *e, const struct dsn_rcpt *dr,
    size_t n, const char *host, const struct buf *m, const struct buf *dsn, struct mm_err *err)
{
	char subj[SEND_SUBJECT_SHOWN], when[64];
	int bad = 0;

	if (o.bounce_maildir) {
		if (dsn_deliver_maildir(o.bounce_maildir, host, dsn->data, dsn->len, err) == 0)
			return 1;
		mm_warnx("%s: DSN not delivered to %s: %s", e->id, o.bounce_maildir, err->msg);
	}
	header_value(m, "Subject", subj, sizeof subj);
	rfc5322_date(when, sizeof when, (time_t)e->created);
	for (size_t i = 0; i < n; i++)
		if (fprintf(stderr, "mm-send: %s: BOUNCED: your message to <%s> (Subject: %s; "
		    "queued %s) was not delivered: %s\n", e->id, dr[i].addr, subj, when,
		    dr[i].diag ? dr[i].diag : "") < 0)
			bad = 1;
	if (bad || fflush(stderr) != 0) {
		err_set(err, "could not report the failure on stderr either");
		return -1;
	}
	run->told += n;
	return 2;
}

/*
 * Report the failed recipients of e that have not been reported yet:
 * nothing for a null sender (no bounce of a bounce); the DSN goes into the
 * sender's Maildir when the sender is ours, otherwise it becomes a job of
 * its own with the null sender.  The recipients are marked notified only
 * once the DSN is durable (a crash in between sends it twice, never not
 * at all).  Returns -1 when the DSN could not be issued (tried again on
 * the next run).
 */
static int notify(struct run *run, struct queue_env *e, const struct buf *m, int expired)
{
	struct dsn_rcpt *dr = xcalloc(e->nr, sizeof(*dr));
	char (*st)[DSN_STATUS_MAX] = xcalloc(e->nr, sizeof(*st));
	char host[QUEUE_HOST_MAX + 1];
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < e->nr; i++) {
		struct queue_rcpt *q = &e->r[i];
		if (q->state != QUEUE_FAILED || q->notified)
			continue;
		/* failed after a temporary answer: only expiry does that */
		dsn_status(q->text, 1, st[n]);
		dr[n] = (struct dsn_rcpt){
			.addr = q->addr, .action = DSN_FAILED, .mta = q->mta, .diag = q->text,
			.last_attempt = q->last_try,
			.status = st[n][0] == '4' ? DSN_STATUS_EXPIRED : st[n],
		};
		n++;
	}
	if (n == 0)
		goto out;
	if (queue_host_set(host, send_helo_name(send_opts())) < 0)   /* an odd host name must not stall the job */
		snprintf(host, sizeof(host), "localhost");
	if (!e->from[0]) {
		mm_warnx("%s: null sender: no DSN for %zu failed recipient%s", e->id, n,
		    n == 1 ? "" : "s");
		goto mark;
	}
	{
		struct dsn d = {
			.reporting_mta = host, .sender = e->from, .queue_id = e->id,
			.arrival = e->created, .now = run->now, .expired = expired, .r = dr, .nr = n,
		};
		struct buf out;
		struct mm_err err = { 0 };
		int lr;

		buf_init(&out);
		if (dsn_build(&d, m->data, m->len, &out, &err) < 0) {
			mm_warnx("%s: no DSN: %s", e->id, err.msg);
			buf_free(&out);
			r = -1;
			goto out;
		}
		lr = o.mx ? dsn_deliver_local(o.root ? o.root : SEND_ROOT_DEFAULT, e->from, host,
		    out.data, out.len, &err) : bounce_here(run, e, dr, n, host, m, &out, &err);
		if (lr == 2) {
			/* said on stderr */
		} else if (lr == 1 && !o.mx) {
			mm_warnx("%s: DSN delivered to %s", e->id, o.bounce_maildir);
		} else if (lr == 1) {
			mm_warnx("%s: DSN delivered to the Maildir of <%s>", e->id, e->from);
		} else if (lr == 0) {
			struct queue_env b;
			queue_env_init(&b);
			queue_env_add_rcpt(&b, e->from);
			if (queue_add(&run->q, &b, out.data, out.len, &err) == 0) {
				mm_warnx("%s: DSN to <%s> queued as %s", e->id, e->from, b.id);
				run->fresh = xreallocarray(run->fresh, run->nfresh + 1, sizeof(*run->fresh));
				run->fresh[run->nfresh++] = xstrdup(b.id);
			} else {
				lr = -1;
			}
			queue_env_free(&b);
		}
		buf_free(&out);
		if (lr < 0) {
			mm_warnx("%s: DSN to <%s> not issued (tried again next run): %s", e->id,
			    e->from, err.msg);
			r = -1;
			goto out;
		}
		run->bounced += n;
	}
mark:
	for (size_t i = 0; i < e->nr; i++)
		if (e->r[i].state == QUEUE_FAILED)
			e->r[i].notified = 1;
out:
	free(dr);
	free(st);
	return r;
}

/* The key directory the first signing used. */
static char *keys_dir(struct mm_err *err)
{
	return o.keys ? xstrdup(o.keys) : keys_default_dir(err);
}

/*
 * The message an attempt sends.  Through --via/--relay the user's relay
 * (mm-recv --submit) refuses signatures older than its window, so a job
 * whose own signatures (the envelope's "signed" line) are o.resign_after
 * old goes out re-signed: in memory, the file on disk stays as queued.
 * Younger ones go out byte for byte as queued, so the resend of a message
 * whose 250 was lost is still recognised as a replay.  --mx never
 * re-signs: that queue carries other people's signed mail.  Returns m or
 * fresh; NULL with err when re-signing failed (the key is gone, say).
 */
static const struct buf *attempt_msg(const struct queue_env *e, const struct buf *m,
    long long now, struct buf *fresh, struct mm_err *err)
{
	size_t nsig;
	char *kd;
	int r;

	if (!(o.via || o.relay) || e->own_sigs == 0 || now - e->signed_at < o.resign_after)
		return m;
	if (!(kd = keys_dir(err)))
		return NULL;
	r = dkimsign_resign(m->data, m->len, e->own_sigs, kd, o.selector, now, fresh, &nsig, err);
	free(kd);
	if (r < 0) {
		err_wrap(err, "re-signing (signatures %llds old)", now - e->signed_at);
		return NULL;
	}
	if (o.verbose)
		mm_warnx("%s: signatures %llds old: re-signed (%zu)", e->id, now - e->signed_at, nsig);
	return fresh;
}

/* One attempt at one locked, loaded job. */
static void run_job(struct run *run, struct queue_env *e, struct buf *m)
{
	struct mm_err err = { 0 };
	size_t n = 0, pending = 0;
	int perm = 0, expired = 0, changed = 0, unreported = 0;
	/* a held job belongs to a live submit session (a full run decided
	 * the dead ones' first): not even --now sends it before its release */
	int due = (e->next_try <= run->now || o.now) && e->next_try != SUBMIT_HELD;

	for (size_t i = 0; i < e->nr; i++) {
		if (e->r[i].state == QUEUE_PENDING)
			n++;
		if (e->r[i].state == QUEUE_FAILED && !e->r[i].notified)
			unreported = 1;
	}
	if (n && due) {
		struct smtpc_rcpt *r = xcalloc(n, sizeof(*r));
		char **mta = xcalloc(n, sizeof(*mta));
		size_t *map = xcalloc(n, sizeof(*map));
		for (size_t i = 0, k = 0; i < e->nr; i++)
			if (e->r[i].state == QUEUE_PENDING) {
				r[k].addr = e->r[i].addr;
				map[k++] = i;
			}
		struct buf fresh;
		buf_init(&fresh);
		const struct buf *send = attempt_msg(e, m, run->now, &fresh, &err);
		if (send) {
			send_deliver(send_opts(), e->from, r, mta, n, send->data, send->len);
		} else {
			/* nothing was sent: the job waits for its key, told why */
			mm_warnx("%s: %s", e->id, err.msg);
			send_set_all(r, n, SMTPC_TEMP, err.msg);
		}
		buf_free(&fresh);
		pending = record(e, r, mta, map, n, run->now, &perm);
		for (size_t i = 0; i < n; i++) {
			if (r[i].st == SMTPC_OK)
				run->sent++;
			free(mta[i]);
		}
		e->attempts++;
		e->last_try = run->now;
		changed = 1;
		free(r);
		free(mta);
		free(map);
		if (pending && queue_expired(e, run->now)) {
			/* given up: the last (temporary) answer says why */
			for (size_t i = 0; i < e->nr; i++)
				if (e->r[i].state == QUEUE_PENDING) {
					e->r[i].state = QUEUE_FAILED;
					mm_warnx("%s: <%s>: expired after %d days: %s", e->id, e->r[i].addr,
					    QUEUE_EXPIRE / 86400, e->r[i].text);
				}
			pending = 0;
			expired = 1;
		} else if (pending) {
			e->next_try = run->now + queue_backoff(e->attempts);
			mm_warnx("%s: %zu recipient%s deferred, next try in %llds: %s", e->id, pending,
			    pending == 1 ? "" : "s", e->next_try - run->now, e->last_error);
		}
	} else {
		pending = n;
	}
	if (perm || expired || unreported) {
		if (notify(run, e, m, expired) < 0)
			run->errors++;
		changed = 1;
	}
	int reported = 1;
	for (size_t i = 0; i < e->nr; i++)
		if (e->r[i].state == QUEUE_FAILED && !e->r[i].notified)
			reported = 0;
	if (pending == 0 && reported) {
		if (queue_remove(&run->q, e->id, &err) < 0) {
			mm_warnx("%s", err.msg);
			run->errors++;
		} else if (o.verbose) {
			mm_warnx("%s: done", e->id);
		}
		return;
	}
	if (pending)
		run->left++;
	if (changed && queue_update(&run->q, e, &err) < 0) {
		mm_warnx("%s", err.msg);
		run->errors++;
	}
}

static void run_id(struct run *run, const char *id)
{
	struct mm_err err = { 0 };
	struct queue_env e;
	struct buf m;
	int fd, lr;

	lr = queue_lock(&run->q, id, &fd, &err);
	if (lr < 0) {
		mm_warnx("%s", err.msg);
		run->errors++;
		return;
	}
	if (lr == 0) {
		/* another runner has it, or it is gone; but an envelope whose
		 * message is missing (never made by queue_add or queue_remove,
		 * which order the two) is damage, and is said so */
		char *env = xasprintf("%s/env/%s", run->q.dir, id);
		char *msg = xasprintf("%s/msg/%s", run->q.dir, id);
		if (access(env, F_OK) == 0 && access(msg, F_OK) < 0 && errno == ENOENT) {
			mm_warnx("%s: envelope without a message, left in place (%s)", id, env);
			run->corrupt++;
		}
		free(env);
		free(msg);
		return;
	}
	buf_init(&m);
	lr = queue_load(&run->q, id, &e, &m, &err);
	if (lr < 0) {
		/* never removed, never guessed at: someone has to look */
		if (err.code == 0) {
			mm_warnx("%s: corrupt envelope, job left in place (%s/env/%s): %s", id,
			    run->q.dir, id, err.msg);
			run->corrupt++;
		} else {
			mm_warnx("%s", err.msg);
			run->errors++;
		}
	} else if (lr == 0) {
		run_job(run, &e, &m);
		queue_env_free(&e);
	}
	buf_free(&m);
	close(fd);
}

static int run_queue(void)
{
	struct run run = { .now = clock_now() };
	struct mm_err err = { 0 };
	char *dir = queue_dir();
	char **ids;
	size_t nid;

	if (queue_open(&run.q, dir, &err) < 0)
		mm_die(EX_CANTCREAT, "%s", err.msg);
	/* a server queue fed by mm-recv --submit: decide the commits of dead
	 * sessions first (a -qIID run was started by a live one) */
	if (!o.queue_filter && submit_runner_recover(&run.q, dir, o.root ? o.root :
	    SEND_ROOT_DEFAULT, (time_t)run.now, &err) < 0) {
		mm_warnx("%s: replay cache: %s", dir, err.msg);
		run.errors++;
	}
	free(dir);
	if (queue_list(&run.q, &ids, &nid, &err) < 0)
		mm_die(EX_IOERR, "%s", err.msg);
	for (size_t j = 0; j < nid; j++)
		if (!o.queue_filter || strstr(ids[j], o.queue_filter))
			run_id(&run, ids[j]);
	queue_ids_free(ids, nid);
	/* the DSNs this run queued go out now, not a timer period later */
	for (size_t j = 0; j < run.nfresh; j++)
		run_id(&run, run.fresh[j]);
	queue_ids_free(run.fresh, run.nfresh);
	queue_close(&run.q);
	if (o.verbose)
		mm_warnx("queue run: %zu delivered, %zu bounced, %zu left", run.sent, run.bounced,
		    run.left);
	return run.errors ? EX_IOERR : run.corrupt ? EX_DATAERR : run.told ? EX_UNAVAILABLE : 0;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 32)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static int list_queue(void)
{
	struct queue q;
	struct mm_err err = { 0 };
	char *dir = queue_dir();
	char **ids;
	size_t nid, shown = 0;
	long long now = clock_now();

	if (queue_open(&q, dir, &err) < 0)
		mm_die(EX_CANTCREAT, "%s", err.msg);
	free(dir);
	if (queue_list(&q, &ids, &nid, &err) < 0)
		mm_die(EX_IOERR, "%s", err.msg);
	if (o.json)
		printf("[");
	for (size_t j = 0; j < nid; j++) {
		struct queue_env e;
		int lr = queue_load(&q, ids[j], &e, NULL, &err);
		if (lr > 0)
			continue;
		if (lr < 0) {
			/* listed, not hidden: a job nobody can run must be seen */
			mm_warnx("%s: %s", ids[j], err.msg);
			if (o.json) {
				printf("%s{\"id\":", shown ? "," : "");
				json_str(ids[j]);
				printf(",\"error\":");
				json_str(err.msg);
				printf("}");
			} else {
				if (!shown)
					printf("%-36s %10s %8s  %s\n", "Queue ID", "Size", "Age", "Sender/Recipients");
				printf("%-36s (unreadable: %s)\n", ids[j], err.msg);
			}
			shown++;
			continue;
		}
		long long age = now - e.created;
		if (o.json) {
			printf("%s{\"id\":", shown ? "," : "");
			json_str(e.id);
			printf(",\"created\":%lld,\"age\":%lld,\"size\":%zu,\"from\":", e.created, age, e.size);
			json_str(e.from);
			printf(",\"attempts\":%u,\"next_try\":%lld,\"last_try\":%lld,\"last_error\":",
			    e.attempts, e.next_try, e.last_try);
			json_str(e.last_error);
			printf(",\"recipients\":[");
			for (size_t i = 0; i < e.nr; i++) {
				printf("%s{\"address\":", i ? "," : "");
				json_str(e.r[i].addr);
				printf(",\"state\":\"%s\",\"text\":", queue_rstate_name(e.r[i].state));
				json_str(e.r[i].text);
				printf(",\"mta\":");
				json_str(e.r[i].mta);
				printf(",\"last_try\":%lld,\"notified\":%s}", e.r[i].last_try,
				    e.r[i].notified ? "true" : "false");
			}
			printf("]}");
		} else {
			if (!shown)
				printf("%-36s %10s %8s  %s\n", "Queue ID", "Size", "Age", "Sender/Recipients");
			printf("%-36s %10zu %7llds  <%s>\n", e.id, e.size, age, e.from);
			if (e.last_error[0])
				printf("%47s(%s)\n", "", e.last_error);
			for (size_t i = 0; i < e.nr; i++)
				printf("%47s%s%s\n", "", e.r[i].addr,
				    e.r[i].state == QUEUE_PENDING ? "" : e.r[i].state == QUEUE_SENT ?
				    " (sent)" : e.r[i].notified ? " (failed)" : " (failed, not reported yet)");
		}
		shown++;
		queue_env_free(&e);
	}
	if (o.json)
		printf("]\n");
	else if (!shown)
		printf("Mail queue is empty\n");
	else
		printf("-- %zu request%s\n", shown, shown == 1 ? "" : "s");
	queue_ids_free(ids, nid);
	queue_close(&q);
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

/* ---- main ---- */

enum {
	O_KEYS = 256, O_QUEUE, O_VIA, O_RELAY, O_MX, O_MX_PORT, O_SMTPS, O_TLS_CA,
	O_AUTH_USER, O_AUTH_PWF, O_AUTH_PWC, O_DOMAIN, O_HELO, O_SELECTOR, O_NO_SIGN,
	O_JSON, O_NOW, O_TIMEOUT, O_RESOLVER, O_VERSION, O_AT, O_ROOT, O_BOUNCE_MAILDIR,
	O_RESIGN_AFTER,
};

static const struct option longopts[] = {
	{ "keys", required_argument, NULL, O_KEYS },
	{ "queue", required_argument, NULL, O_QUEUE },
	{ "via", required_argument, NULL, O_VIA },
	{ "relay", required_argument, NULL, O_RELAY },
	{ "mx", no_argument, NULL, O_MX },
	{ "mx-port", required_argument, NULL, O_MX_PORT },
	{ "smtps", no_argument, NULL, O_SMTPS },
	{ "tls-ca", required_argument, NULL, O_TLS_CA },
	{ "auth-user", required_argument, NULL, O_AUTH_USER },
	{ "auth-password-file", required_argument, NULL, O_AUTH_PWF },
	{ "auth-password-cmd", required_argument, NULL, O_AUTH_PWC },
	{ "domain", required_argument, NULL, O_DOMAIN },
	{ "helo", required_argument, NULL, O_HELO },
	{ "selector", required_argument, NULL, O_SELECTOR },
	{ "no-sign", no_argument, NULL, O_NO_SIGN },
	{ "json", no_argument, NULL, O_JSON },
	{ "now", no_argument, NULL, O_NOW },
	{ "at", required_argument, NULL, O_AT },
	{ "resign-after", required_argument, NULL, O_RESIGN_AFTER },
	{ "root", required_argument, NULL, O_ROOT },
	{ "bounce-maildir", required_argument, NULL, O_BOUNCE_MAILDIR },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "resolver", required_argument, NULL, O_RESOLVER },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

static int addr_arg(const char *what, const char *s, struct addr *a)
{
	struct mm_err err = { 0 };

	if (s[0] == '-' || addr_parse_mailbox(s, strlen(s), a, &err) < 0)
		mm_die(EX_USAGE, "%s %s: not a usable address%s%s", what, s,
		    s[0] == '-' ? ": it starts with '-'" : ": ", err.msg);
	return 0;
}

/* the config file being checked, or NULL for the command line */
static const char *conf_src;
#define ARG_DIE(...) mm_die(conf_src ? EX_CONFIG : EX_USAGE, __VA_ARGS__)

static void parse_args(int argc, char **argv)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+tf:r:F:io:B:b:q::vV:N:R:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': o.t_flag = 1; break;
		case 'f': case 'r':
			/* sendmail: -f '<>' (or -f '') is the null sender */
			o.null_sender = !strcmp(optarg, "<>") || !*optarg;
			o.from = o.null_sender ? NULL : optarg;
			break;
		case 'F': o.fullname = optarg; break;
		case 'i': o.ignore_dots = 1; break;
		case 'o':
			if (!strcmp(optarg, "i"))
				o.ignore_dots = 1;
			else if (!strcmp(optarg, "dq"))
				o.queue_only = 1;
			/* -oem, -odi, -odb and any other -oX: accepted, ignored */
			break;
		case 'B':
			if (ascii_strcasecmp(optarg, "8BITMIME") && ascii_strcasecmp(optarg, "7BIT"))
				ARG_DIE("-B %s: body type must be 7BIT or 8BITMIME", optarg);
			break;
		case 'b':
			if (!strcmp(optarg, "m"))
				o.list = 0;
			else if (!strcmp(optarg, "p"))
				o.list = 1;
			else
				ARG_DIE("-b%s: not supported (only -bm and -bp)", optarg);
			break;
		case 'q':   /* -q, -q30m: the interval is cron's job; -qIID: jobs whose id has ID */
			o.run_queue = 1;
			o.queue_filter = optarg && optarg[0] == 'I' ? optarg + 1 : NULL;
			break;
		case 'v': o.verbose = 1; break;
		case 'V': case 'N': case 'R': break;   /* DSN requests: accepted, not passed on */
		case O_VERSION: printf("mm-send %s\n", MM_VERSION); exit(0);
		case O_KEYS: o.keys = optarg; break;
		case O_QUEUE: o.queue = optarg; break;
		case O_VIA: o.via = optarg; o.relay = NULL; o.mx = 0; break;
		case O_RELAY: o.relay = optarg; o.via = NULL; o.mx = 0; break;
		case O_MX: o.mx = 1; o.via = NULL; o.relay = NULL; break;
		case O_MX_PORT: o.mx_port = optarg; break;
		case O_SMTPS: o.smtps = 1; break;
		case O_TLS_CA: o.tls_ca = optarg; break;
		case O_AUTH_USER: o.auth_user = optarg; break;
		case O_AUTH_PWF: o.auth_pw_file = optarg; o.auth_pw_cmd = NULL; break;
		case O_AUTH_PWC: o.auth_pw_cmd = optarg; o.auth_pw_file = NULL; break;
		case O_DOMAIN: o.domain = optarg; break;
		case O_HELO: o.helo = optarg; break;
		case O_SELECTOR: o.selector = optarg; break;
		case O_NO_SIGN: o.no_sign = 1; break;
		case O_JSON: o.json = 1; break;
		case O_NOW: o.now = 1; break;
		case O_AT: {
			/* UNIXTIME, or +DURATION from the real clock (tests: --at +5d) */
			long long t;
			if (optarg[0] == '+' ? parse_duration(optarg + 1, &t) < 0 :
			    parse_long(optarg, 1, (long long)1 << 40, &t) < 0)
				mm_die(EX_USAGE, "--at %s: not a time (UNIXTIME or +DURATION)", optarg);
			o.at = optarg[0] == '+' ? (long long)time(NULL) + t : t;
			break;
		}
		case O_RESIGN_AFTER:
			if (parse_duration(optarg, &o.resign_after) < 0 || o.resign_after < 1 ||
			    o.resign_after > SEND_RESIGN_AFTER_MAX)
				ARG_DIE("--resign-after %s: not a duration up to %d days", optarg,
				    SEND_RESIGN_AFTER_MAX / 86400);
			break;
		case O_ROOT: o.root = optarg; break;
		case O_BOUNCE_MAILDIR: o.bounce_maildir = optarg; break;
		case O_TIMEOUT:
			if (parse_duration(optarg, &o.timeout) < 0 || o.timeout <= 0 || o.timeout > 86400)
				ARG_DIE("--timeout %s: not a duration", optarg);
			break;
		case O_RESOLVER:
			if (setenv("MM_RESOLVER", optarg, 1) < 0)
				mm_die(EX_OSERR, "setenv failed");
			break;
		case 'h':
			if (conf_src)
				ARG_DIE("%s: help is no config option", conf_src);
			usage(stdout);
			exit(0);
		default:
			if (conf_src)
				ARG_DIE("%s: not a valid option line (see above)", conf_src);
			usage(stderr);
			exit(EX_USAGE);
		}
	}
}

/* file scope: still reachable (not a leak) when a mode returns early */
static struct argvec av;

/* Append one config file's options to all, checking them on their own
 * first so that a bad line is blamed on its file (EX_CONFIG), not on the
 * command line. */
static void load_conf(const char *path, struct argvec *all)
{
	struct argvec one;
	struct mm_err err = { 0 };

	argvec_init(&one);
	argvec_push(&one, all->v[0]);
	if (conf_load(path, 1, &one, &err) < 0)
		mm_die(EX_CONFIG, "%s", err.msg);
	conf_src = path;
	parse_args((int)one.n, argvec_argv(&one));
	if (optind != (int)one.n)
		mm_die(EX_CONFIG, "%s: %s: not an option", path, one.v[optind]);
	conf_src = NULL;
	for (size_t i = 1; i < one.n; i++)
		argvec_push(all, one.v[i]);
	argvec_free(&one);
}

int main(int argc, char **argv)
{
	struct mm_err err = { 0 };
	struct buf in, crlf, built, final, sigs;
	unsigned own_sigs = 0;      /* DKIM-Signature fields prepended here */
	long long signed_at = 0;    /* their t= */
	struct msg m;
	char **rcpt = NULL;
	size_t nrcpt = 0;
	char fromaddr[ADDR_STR_MAX] = "", hdrfrom[ADDR_STR_MAX] = "";
	struct addr hfa;
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

	log_init("mm-send", LOG_DEST_STDERR);
	signal(SIGPIPE, SIG_IGN);
	o.timeout = SMTPC_TIMEOUT_MS / 1000;

	/* config files first, then the command line: later options win */
	argvec_init(&av);
	argvec_push(&av, argv[0]);
	{
		/* the system file's place can be moved, so it can be tested (and
		 * used) without root; an empty value means no system file */
		const char *sys = getenv(SEND_SYS_CONF_ENV);
		if (!sys)
			sys = SEND_SYS_CONF;
		if (*sys)
			load_conf(sys, &av);
	}
	{
		const char *home = getenv("HOME");
		if (home && *home) {
			char *p = xasprintf("%s/%s", home, SEND_USER_CONF);
			load_conf(p, &av);
			free(p);
		}
	}
	for (int i = 1; i < argc; i++)
		argvec_push(&av, argv[i]);
	/* the whole vector decides: start from the defaults again */
	memset(&o, 0, sizeof(o));
	o.timeout = SMTPC_TIMEOUT_MS / 1000;
	o.resign_after = SEND_RESIGN_AGE;
	parse_args((int)av.n, argvec_argv(&av));
	int first = optind;
	char **args = argvec_argv(&av);
	int nargs = (int)av.n;

	if (!strcmp(prog, "mailq"))
		o.list = 1;
	if (o.list) {
		if (first < nargs)
			mm_die(EX_USAGE, "-bp takes no arguments");
		return list_queue();
	}
	if (!o.via && !o.relay && !o.mx && !o.queue_only)
		mm_die(EX_CONFIG, "no transport: give --via CMD, --relay HOST or --mx "
		    "(or put one in ~/%s)", SEND_USER_CONF);
	if (o.via) {
		/* a --via that cannot be split is a configuration error, found
		 * before a message is read, not a failed delivery afterwards */
		struct argvec vv;
		argvec_init(&vv);
		int bad = conf_split_words(o.via, &vv, &err) < 0 || vv.n == 0;
		argvec_free(&vv);
		if (bad)
			mm_die(EX_CONFIG, "--via %s: %s", o.via, err.msg[0] ? err.msg : "no command");
	}
	if (o.run_queue) {
		if (first < nargs)
			mm_die(EX_USAGE, "-q takes no arguments");
		return run_queue();
	}

	/* ---- the message ---- */
	buf_init(&in);
	if (read_fd_all(0, SEND_MSG_MAX, &in, &err) < 0)
		mm_die(err.code == 0 ? EX_DATAERR : EX_IOERR, "reading the message: %s", err.msg);
	if (memchr(in.data ? in.data : "", 0, in.len))
		mm_die(EX_DATAERR, "the message contains a NUL byte");
	if (!o.ignore_dots) {
		/* sendmail: a line of a single "." ends the message */
		size_t pos = 0;
		while (pos < in.len) {
			const char *nl = memchr(in.data + pos, '\n', in.len - pos);
			size_t end = nl ? (size_t)(nl - in.data) + 1 : in.len;
			size_t l = end - pos;
			if ((l == 2 && !memcmp(in.data + pos, ".\n", 2)) ||
			    (l == 3 && !memcmp(in.data + pos, ".\r\n", 3)) ||
			    (l == 1 && in.data[pos] == '.')) {
				in.len = pos;
				in.data[pos] = 0;
				break;
			}
			pos = end;
		}
	}
	{
		size_t bad = msg_check_lines(in.data ? in.data : "", in.len, MSG_LINE_MAX);
		if (bad)
			mm_die(EX_DATAERR, "line %zu of the message is longer than %d octets", bad,
			    MSG_LINE_MAX);
	}
	buf_init(&crlf);
	msg_to_crlf(in.data ? in.data : "", in.len, &crlf);
	buf_free(&in);
	if (!crlf.data)
		buf_puts(&crlf, "");
	/* SMTP ends the data with CRLF: add it now, so it is signed too */
	if (crlf.len && crlf.data[crlf.len - 1] != '\n')
		buf_puts(&crlf, "\r\n");
	if (msg_parse(&m, crlf.data, crlf.len, MSG_LENIENT, &err) < 0)
		mm_die(EX_DATAERR, "message header: %s", err.msg);
	if (msg_count(&m, "from") > 1)
		mm_die(EX_DATAERR, "the message has %zu From: fields", msg_count(&m, "from"));

	/* envelope sender and header From */
	const struct msg_field *ff = msg_find(&m, "from");
	if (o.from) {
		struct addr a;
		char *full = NULL;
		/* sendmail qualifies a bare login ("-f root", as cron passes it) */
		if (o.from[0] != '-' && !strchr(o.from, '@') && is_atext_word(o.from)) {
			const char *dom = default_domain();
			if (!dom)
				mm_die(EX_USAGE, "-f %s: no domain to qualify it with (set --domain)", o.from);
			full = xasprintf("%s@%s", o.from, dom);
		}
		addr_arg("-f", full ? full : o.from, &a);
		free(full);
		addr_format(&a, fromaddr);
	}
	if (ff) {
		struct addr_list l;
		if (addr_list_parse(ff->value, ff->value_len, &l, &err) < 0 || l.n != 1) {
			if (l.n > 1 || err.msg[0] == 0)
				err_set(&err, "more than one address");
			mm_die(EX_DATAERR, "From: %s: %s", ff->value, err.msg);
		}
		hfa = l.v[0];
		addr_list_free(&l);
		addr_format(&hfa, hdrfrom);
	} else if (fromaddr[0]) {
		addr_parse_mailbox(fromaddr, strlen(fromaddr), &hfa, &err);
		snprintf(hdrfrom, sizeof(hdrfrom), "%s", fromaddr);
	} else {
		struct passwd *pw = getpwuid(getuid());
		const char *dom = default_domain();
		if (!pw)
			mm_die(EX_OSERR, "who am I? no passwd entry for uid %u", (unsigned)getuid());
		if (!dom)
			mm_die(EX_CONFIG, "no From: and no --domain to make one (login %s)", pw->pw_name);
		char *s = xasprintf("%s@%s", pw->pw_name, dom);
		addr_arg("From", s, &hfa);
		free(s);
		addr_format(&hfa, hdrfrom);
	}
	if (!fromaddr[0])
		snprintf(fromaddr, sizeof(fromaddr), "%s", hdrfrom);

	/* recipients */
	const char *qualify = o.domain ? o.domain : hfa.domain;
	for (int i = first; i < nargs; i++) {
		if (args[i][0] == '-')
			mm_die(EX_USAGE, "recipient %s: an address may not start with '-'", args[i]);
	}
	if (o.t_flag) {
		static const char *const hdrs[] = { "to", "cc", "bcc" };
		char **skip = NULL;
		size_t nskip = 0;
		/* sendmail: with -t, addresses given as arguments are left out */
		for (int i = first; i < nargs; i++)
			if (parse_rcpts(args[i], qualify, &skip, &nskip, &err) < 0)
				mm_die(EX_USAGE, "recipient %s: %s", args[i], err.msg);
		for (size_t h = 0; h < MM_NELEM(hdrs); h++)
			for (size_t k = 0; k < msg_count(&m, hdrs[h]); k++) {
				const struct msg_field *f = msg_find_nth(&m, hdrs[h], k);
				if (f->value_len == 0)
					continue;
				if (parse_rcpts(f->value, qualify, &rcpt, &nrcpt, &err) < 0)
					mm_die(EX_DATAERR, "%.*s: %s", (int)f->name_len, f->name, err.msg);
			}
		for (size_t s = 0; s < nskip; s++) {
			for (size_t i = 0; i < nrcpt; i++)
				if (!strcmp(rcpt[i], skip[s])) {
					free(rcpt[i]);
					rcpt[i] = rcpt[--nrcpt];
					break;
				}
			free(skip[s]);
		}
		free(skip);
	} else {
		for (int i = first; i < nargs; i++)
			if (parse_rcpts(args[i], qualify, &rcpt, &nrcpt, &err) < 0)
				mm_die(EX_USAGE, "recipient %s: %s", args[i], err.msg);
	}
	if (nrcpt == 0)
		mm_die(EX_USAGE, "no recipients%s", o.t_flag ? " in To:, Cc: or Bcc:" : "");

	/* complete the header, drop Bcc */
	{
		struct buf pre;
		char date[64];
		buf_init(&pre);
		if (!ff) {
			struct buf v;
			buf_init(&v);
			if (o.fullname && *o.fullname) {
				char *clean = xstrdup(o.fullname);
				for (char *p = clean; *p; p++)
					if (*p == '\r' || *p == '\n' || *p == '\t')
						*p = ' ';
				display_name(&v, clean);
				free(clean);
				buf_printf(&v, " <%s>", hdrfrom);
			} else {
				buf_puts(&v, hdrfrom);
			}
			msg_fold_field(&pre, "From", v.data, "\r\n");
			buf_free(&v);
		}
		if (!msg_find(&m, "date")) {
			rfc5322_date(date, sizeof(date), time(NULL));
			buf_printf(&pre, "Date: %s\r\n", date);
		}
		if (!msg_find(&m, "message-id")) {
			unsigned char rnd[12];
			char hex[25];
			random_bytes(rnd, sizeof(rnd));
			hex_encode(rnd, sizeof(rnd), hex);
			buf_printf(&pre, "Message-ID: <%llx.%s@%s>\r\n", (long long)time(NULL), hex,
			    hfa.domain);
		}
		static const char *const rm[] = { "bcc", "resent-bcc", NULL };
		buf_init(&built);
		msg_build(&m, pre.data, rm, NULL, &built);
		buf_free(&pre);
		/* msg_build keeps the message's own line ends: they are CRLF now */
	}
	msg_free(&m);
	buf_free(&crlf);

	/* sign */
	buf_init(&sigs);
	if (!o.no_sign) {
		struct dkimsign_keys ks;
		char *kd = keys_dir(&err);
		if (!kd)
			mm_die(EX_CONFIG, "%s", err.msg);
		if (dkimsign_load(kd, &hfa, &ks, &err) < 0)
			mm_die(EX_NOPERM, "key for %s: %s", hdrfrom, err.msg);
		if (ks.n == 0)
			mm_die(EX_NOPERM, "no DKIM key for %s: looked for %s and %s "
			    "(make one with mm-keygen, or send with --no-sign)",
			    hdrfrom, ks.looked[1], ks.looked[0]);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		/* --at signs as of that time too: tests age a queued message so */
		signed_at = clock_now();
		if (dkimsign_sign(built.data, built.len, hfa.domain, &ks, o.selector, signed_at, &sigs,
		    &err) < 0)
			mm_die(EX_SOFTWARE, "signing: %s", err.msg);
		own_sigs = (unsigned)ks.n;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* for scripts/bench: the signing step alone, in-process */
		if (getenv("MM_SEND_STATS"))
			fprintf(stderr, "mm-send-stats: signed=%zu signatures=%zu sign_us=%lld\n",
			    built.len, ks.n,
			    (long long)(t1.tv_sec - t0.tv_sec) * 1000000 +
			    (t1.tv_nsec - t0.tv_nsec) / 1000);
		dkimsign_keys_free(&ks);
		free(kd);
	}
	buf_init(&final);
	buf_append(&final, sigs.data ? sigs.data : "", sigs.len);
	buf_append(&final, built.data, built.len);
	buf_free(&sigs);
	buf_free(&built);

	/* deliver, or queue */
	struct queue_env e;
	queue_env_init(&e);
	snprintf(e.from, sizeof(e.from), "%s", o.null_sender ? "" : fromaddr);
	/* what -q may strip and re-sign: only the fields prepended just now */
	e.own_sigs = own_sigs;
	e.signed_at = signed_at;
	for (size_t i = 0; i < nrcpt; i++)
		queue_env_add_rcpt(&e, rcpt[i]);
	size_t pending = nrcpt;
	int perm = 0, user_unknown = 0;
	if (!o.queue_only) {
		struct smtpc_rcpt *r = xcalloc(nrcpt, sizeof(*r));
		size_t *map = xcalloc(nrcpt, sizeof(*map));
		for (size_t i = 0; i < nrcpt; i++) {
			r[i].addr = e.r[i].addr;
			map[i] = i;
		}
		e.last_try = time(NULL);
		send_deliver(send_opts(), e.from, r, NULL, nrcpt, final.data, final.len);
		pending = record(&e, r, NULL, map, nrcpt, e.last_try, &perm);
		for (size_t i = 0; i < nrcpt; i++) {
			if (r[i].st == SMTPC_PERM && !strncmp(r[i].text, "550", 3))
				user_unknown++;
			/* the user is told right here (stderr, exit status): no DSN later */
			if (e.r[i].state == QUEUE_FAILED)
				e.r[i].notified = 1;
		}
		e.attempts = 1;
		e.next_try = e.last_try + queue_backoff(1);
		free(r);
		free(map);
	}
	if (pending) {
		struct queue q;
		char *dir = queue_dir();
		if (queue_open(&q, dir, &err) < 0 || queue_add(&q, &e, final.data, final.len, &err) < 0)
			mm_die(EX_TEMPFAIL, "could not deliver and could not queue: %s", err.msg);
		mm_warnx("queued as %s (%zu recipient%s)%s%s", e.id, pending, pending == 1 ? "" : "s",
		    e.last_error[0] ? ": " : "", e.last_error);
		queue_close(&q);
		free(dir);
	}
	queue_env_free(&e);
	buf_free(&final);
	for (size_t i = 0; i < nrcpt; i++)
		free(rcpt[i]);
	free(rcpt);
	argvec_free(&av);
	if (perm)
		return user_unknown == perm ? EX_NOUSER : EX_UNAVAILABLE;
	return 0;
}
