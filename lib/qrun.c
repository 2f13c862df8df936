/*
 * qrun — mm-send's queue runner and listing (see qrun.h).
 */
#include "qrun.h"
#include "compose.h"
#include "dkimsign.h"
#include "dsn.h"
#include "keys.h"
#include "log.h"
#include "msg.h"
#include "submit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t qrun_record(struct queue_env *e, struct smtpc_rcpt *r, char **mta, size_t *map,
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

size_t qrun_first(const struct send_opts *so, struct queue_env *e, const char *msg, size_t len,
    long long now, int *perm, int *user_unknown)
{
	struct smtpc_rcpt *r = xcalloc(e->nr, sizeof(*r));
	size_t *map = xcalloc(e->nr, sizeof(*map));
	size_t pending;

	for (size_t i = 0; i < e->nr; i++) {
		r[i].addr = e->r[i].addr;
		map[i] = i;
	}
	e->last_try = now;
	send_deliver(so, e->from, r, NULL, e->nr, msg, len);
	pending = qrun_record(e, r, NULL, map, e->nr, e->last_try, perm);
	for (size_t i = 0; i < e->nr; i++) {
		if (r[i].st == SMTPC_PERM && !strncmp(r[i].text, "550", 3))
			(*user_unknown)++;
		/* the user is told right here (stderr, exit status): no DSN later */
		if (e->r[i].state == QUEUE_FAILED)
			e->r[i].notified = 1;
	}
	e->attempts = 1;
	e->next_try = e->last_try + queue_backoff(1);
	free(r);
	free(map);
	return pending;
}

struct run {
	const struct qrun_opts *o;
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
	char subj[QRUN_SUBJECT_SHOWN], when[COMPOSE_DATE_MAX];
	int bad = 0;
	const struct qrun_opts *o = run->o;

	if (o->bounce_maildir) {
		if (dsn_deliver_maildir(o->bounce_maildir, host, dsn->data, dsn->len, err) == 0)
			return 1;
		mm_warnx("%s: DSN not delivered to %s: %s", e->id, o->bounce_maildir, err->msg);
	}
	header_value(m, "Subject", subj, sizeof subj);
	compose_date(when, sizeof when, (time_t)e->created);
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
	const struct qrun_opts *o = run->o;

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
	if (queue_host_set(host, send_helo_name(o->send)) < 0)   /* an odd host name must not stall the job */
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
		lr = o->mx ? dsn_deliver_local(o->root ? o->root : QRUN_ROOT_DEFAULT, e->from, host,
		    out.data, out.len, &err) : bounce_here(run, e, dr, n, host, m, &out, &err);
		if (lr == 2) {
			/* said on stderr */
		} else if (lr == 1 && !o->mx) {
			mm_warnx("%s: DSN delivered to %s", e->id, o->bounce_maildir);
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
static char *keys_dir(const struct qrun_opts *o, struct mm_err *err)
{
	return o->keys ? xstrdup(o->keys) : keys_default_dir(err);
}

/*
 * The message an attempt sends.  Through --via/--relay the user's relay
 * (mm-recv --submit) refuses signatures older than its window, so a job
 * whose own signatures (the envelope's "signed" line) are o->resign_after
 * old goes out re-signed: in memory, the file on disk stays as queued.
 * Younger ones go out byte for byte as queued, so the resend of a message
 * whose 250 was lost is still recognised as a replay.  --mx never
 * re-signs: that queue carries other people's signed mail.  Returns m or
 * fresh; NULL with err when re-signing failed (the key is gone, say).
 */
static const struct buf *attempt_msg(const struct qrun_opts *o, const struct queue_env *e,
    const struct buf *m, long long now, struct buf *fresh, struct mm_err *err)
{
	size_t nsig;
	char *kd;
	int r;

	if (!(o->send->via || o->send->relay) || e->own_sigs == 0 ||
	    now - e->signed_at < o->resign_after)
		return m;
	if (!(kd = keys_dir(o, err)))
		return NULL;
	r = dkimsign_resign(m->data, m->len, e->own_sigs, kd, o->selector, now, fresh, &nsig, err);
	free(kd);
	if (r < 0) {
		err_wrap(err, "re-signing (signatures %llds old)", now - e->signed_at);
		return NULL;
	}
	if (o->verbose)
		mm_warnx("%s: signatures %llds old: re-signed (%zu)", e->id, now - e->signed_at, nsig);
	return fresh;
}

/* One attempt at one locked, loaded job. */
static void run_job(struct run *run, struct queue_env *e, struct buf *m)
{
	struct mm_err err = { 0 };
	size_t n = 0, pending = 0;
	int perm = 0, expired = 0, changed = 0, unreported = 0;
	const struct qrun_opts *o = run->o;
	/* a held job belongs to a live submit session (a full run decided
	 * the dead ones' first): not even --now sends it before its release */
	int due = (e->next_try <= run->now || o->force) && e->next_try != SUBMIT_HELD;

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
		const struct buf *send = attempt_msg(o, e, m, run->now, &fresh, &err);
		if (send) {
			send_deliver(o->send, e->from, r, mta, n, send->data, send->len);
		} else {
			/* nothing was sent: the job waits for its key, told why */
			mm_warnx("%s: %s", e->id, err.msg);
			send_set_all(r, n, SMTPC_TEMP, err.msg);
		}
		buf_free(&fresh);
		pending = qrun_record(e, r, mta, map, n, run->now, &perm);
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
		} else if (o->verbose) {
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

enum qrun_status qrun_run(const struct qrun_opts *o, struct mm_err *err)
{
	struct run run = { .o = o, .now = o->now };
	char **ids;
	size_t nid;

	if (queue_open(&run.q, o->dir, err) < 0)
		return QRUN_EOPEN;
	/* a server queue fed by mm-recv --submit: decide the commits of dead
	 * sessions first (a -qIID run was started by a live one) */
	if (!o->filter && submit_runner_recover(&run.q, o->dir, o->root ? o->root :
	    QRUN_ROOT_DEFAULT, (time_t)run.now, err) < 0) {
		mm_warnx("%s: replay cache: %s", o->dir, err->msg);
		run.errors++;
	}
	if (queue_list(&run.q, &ids, &nid, err) < 0) {
		queue_close(&run.q);
		return QRUN_ELIST;
	}
	for (size_t j = 0; j < nid; j++)
		if (!o->filter || strstr(ids[j], o->filter))
			run_id(&run, ids[j]);
	queue_ids_free(ids, nid);
	/* the DSNs this run queued go out now, not a timer period later */
	for (size_t j = 0; j < run.nfresh; j++)
		run_id(&run, run.fresh[j]);
	queue_ids_free(run.fresh, run.nfresh);
	queue_close(&run.q);
	if (o->verbose)
		mm_warnx("queue run: %zu delivered, %zu bounced, %zu left", run.sent, run.bounced,
		    run.left);
	return run.errors ? QRUN_ERRORS : run.corrupt ? QRUN_CORRUPT : run.told ? QRUN_TOLD :
	    QRUN_OK;
}

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 32)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

enum qrun_status qrun_list(const struct qrun_opts *o, FILE *out, int json, struct mm_err *err)
{
	struct queue q;
	char **ids;
	size_t nid, shown = 0;
	long long now = o->now;

	if (queue_open(&q, o->dir, err) < 0)
		return QRUN_EOPEN;
	if (queue_list(&q, &ids, &nid, err) < 0) {
		queue_close(&q);
		return QRUN_ELIST;
	}
	if (json)
		fprintf(out, "[");
	for (size_t j = 0; j < nid; j++) {
		struct queue_env e;
		int lr = queue_load(&q, ids[j], &e, NULL, err);
		if (lr > 0)
			continue;
		if (lr < 0) {
			/* listed, not hidden: a job nobody can run must be seen */
			mm_warnx("%s: %s", ids[j], err->msg);
			if (json) {
				fprintf(out, "%s{\"id\":", shown ? "," : "");
				json_str(out, ids[j]);
				fprintf(out, ",\"error\":");
				json_str(out, err->msg);
				fprintf(out, "}");
			} else {
				if (!shown)
					fprintf(out, "%-36s %10s %8s  %s\n", "Queue ID", "Size", "Age",
					    "Sender/Recipients");
				fprintf(out, "%-36s (unreadable: %s)\n", ids[j], err->msg);
			}
			shown++;
			continue;
		}
		long long age = now - e.created;
		if (json) {
			fprintf(out, "%s{\"id\":", shown ? "," : "");
			json_str(out, e.id);
			fprintf(out, ",\"created\":%lld,\"age\":%lld,\"size\":%zu,\"from\":", e.created,
			    age, e.size);
			json_str(out, e.from);
			fprintf(out, ",\"attempts\":%u,\"next_try\":%lld,\"last_try\":%lld,\"last_error\":",
			    e.attempts, e.next_try, e.last_try);
			json_str(out, e.last_error);
			fprintf(out, ",\"signatures\":%u,\"signed_at\":%lld", e.own_sigs,
			    e.own_sigs ? e.signed_at : 0);
			fprintf(out, ",\"recipients\":[");
			for (size_t i = 0; i < e.nr; i++) {
				fprintf(out, "%s{\"address\":", i ? "," : "");
				json_str(out, e.r[i].addr);
				fprintf(out, ",\"state\":\"%s\",\"text\":", queue_rstate_name(e.r[i].state));
				json_str(out, e.r[i].text);
				fprintf(out, ",\"mta\":");
				json_str(out, e.r[i].mta);
				fprintf(out, ",\"last_try\":%lld,\"notified\":%s}", e.r[i].last_try,
				    e.r[i].notified ? "true" : "false");
			}
			fprintf(out, "]}");
		} else {
			if (!shown)
				fprintf(out, "%-36s %10s %8s  %s\n", "Queue ID", "Size", "Age",
				    "Sender/Recipients");
			fprintf(out, "%-36s %10zu %7llds  <%s>\n", e.id, e.size, age, e.from);
			if (e.last_error[0])
				fprintf(out, "%47s(%s)\n", "", e.last_error);
			for (size_t i = 0; i < e.nr; i++)
				fprintf(out, "%47s%s%s\n", "", e.r[i].addr,
				    e.r[i].state == QUEUE_PENDING ? "" : e.r[i].state == QUEUE_SENT ?
				    " (sent)" : e.r[i].notified ? " (failed)" : " (failed, not reported yet)");
		}
		shown++;
		queue_env_free(&e);
	}
	if (json)
		fprintf(out, "]\n");
	else if (!shown)
		fprintf(out, "Mail queue is empty\n");
	else
		fprintf(out, "-- %zu request%s\n", shown, shown == 1 ? "" : "s");
	queue_ids_free(ids, nid);
	queue_close(&q);
	if (fflush(out) != 0) {
		err_set(err, "writing the listing: %s", strerror(errno));
		return QRUN_ERRORS;
	}
	return QRUN_OK;
}

