/*
 * submit — mm-recv --submit's login: a DKIM signature of the sender's own
 * key is the only credential (DESIGN.md, "Submit mode").  There is no
 * AUTH, no password file, no user database: whoever can sign for
 * alice@example.com with alice's key may send as alice@example.com, and
 * nobody may send as anyone else.
 *
 * A message is accepted when
 *   - it has exactly one From: with one address, in a domain of ours;
 *   - some DKIM-Signature on it verifies (libopendkim through
 *     lib/dkimverify) and that same signature
 *       has d= equal to the From: domain,
 *       was made with the From: user's key: its selector is one of the
 *         user's selectors (the .selector files of the .pub keys in
 *         --keys DIR, else the local part) and the public key comes from
 *         DIR/ADDRESS.TYPE.pub (so no DNS is needed) or else from DNS,
 *       is not rsa-sha1 (RFC 8301), has no l= at all, names From, To,
 *         Subject and Date in h=,
 *       has t= within the window of now (at most SUBMIT_FUTURE_MAX ahead)
 *         and no x= in the past;
 *   - the envelope MAIL FROM is the From: address;
 *   - no passing signature of it was accepted before (the replay cache).
 * Every refusal has its own reply text, so the user reading the bounce
 * knows which of these failed.  With several signatures the one that got
 * furthest through the checks above names the failure.
 *
 * The replay cache is a directory (QUEUE/replay/) of small files named by
 * the SHA-256 of each accepted signature's b= value.  Sessions serialise on
 * flock() of QUEUE/replay/.lock for check + commit + record, so two
 * concurrent sessions cannot both accept one signature.
 *
 * Crash ordering.  Written first, a replay entry would, after a crash
 * before the commit, refuse the resend of a message that was never taken
 * (lost for good); written last, it would, after a crash just after the
 * commit, let the resend of a message that was taken through a second
 * time.  So the commit is made decidable instead:
 *   1. replay/pending/ID gets the signature's ids (fsynced);
 *   2. the queue job is added held (next-try SUBMIT_HELD: no ordinary
 *      runner touches it) and the Maildir copies are delivered;
 *   3. the replay entries are written (O_EXCL, fsync, fsync of the dir);
 *   4. the job is released (next-try now), the pending file removed, 250.
 * A session (or a queue run: submit_runner_recover) that takes the lock
 * first finishes what a dead one left in pending/ (only a dead session
 * leaves one there: the lock is held from 1 to 4): a replay entry proves
 * the commit; so does a Maildir copy that the pending file names (each
 * copy's final name is noted there before it is linked into new/) found
 * in new/ or cur/; so does a held job whose message carries those
 * signatures, unless the pending file says copies were due here ("local")
 * and none was found (the session died between the job and the copies).
 * Committed: the job is released and the entries written (the resend is
 * then refused as a replay, which mm-send counts as sent, and the job
 * delivers the message once).  Not committed: the held job is removed
 * and the pending file dropped (the resend is accepted and brings every
 * copy).  Left undecidable: a local copy that mm-sync already took home
 * before the next session or queue run came (its resend is taken again).
 * No queue run sends a held job, not even with --now.
 *
 * An entry is needed only while its signature could still pass
 * the t= check: it is removed when older than 2 * window + SUBMIT_SLACK
 * (a signature is accepted at most window after t= and at most
 * SUBMIT_FUTURE_MAX before it), by a sweep at most every SUBMIT_SWEEP_EVERY
 * seconds.
 */
#ifndef MM_SUBMIT_H
#define MM_SUBMIT_H

#include <time.h>
#include "addr.h"
#include "dkimverify.h"
#include "dns.h"
#include "keys.h"
#include "mx.h"
#include "queue.h"
#include "smtpd.h"

#define SUBMIT_WINDOW_DEFAULT 900     /* --sig-window: 15 minutes */
#define SUBMIT_WINDOW_MAX     86400
#define SUBMIT_FUTURE_MAX     300     /* t= at most this far ahead (clock skew) */
#define SUBMIT_SLACK          300     /* replay entries kept this much longer */
#define SUBMIT_SWEEP_EVERY    60      /* seconds between sweeps of the cache */
#define SUBMIT_KEY_REC_MAX    4096    /* a .pub file larger is refused */
#define SUBMIT_REPLAY_DIR     "replay"
#define SUBMIT_REPLAY_ID_LEN  64      /* hex SHA-256 */
#define SUBMIT_PENDING_DIR    "pending" /* under replay/: sessions in their commit */
#define SUBMIT_PENDING_LOCAL  "local"   /* pending line: Maildir copies are due */
#define SUBMIT_HELD           253402300799LL /* next-try of a job not yet released (9999-12-31) */
/* the refusal of a signature taken before: mm-send counts its resend as sent */
#define SUBMIT_REPLAYED_REPLY "5.7.1 submit: replayed:"
#define SUBMIT_RELEASE_TRIES  200     /* 10 ms apart: a runner locks a job only to look at it */
/* Tests only: "queued" (the held job is on disk, no Maildir copy yet) or
 * "delivered" (the copies too, no replay entry yet) makes the session die
 * there by SIGKILL, leaving exactly what a crash at that point leaves. */
#define SUBMIT_TEST_KILL_ENV  "MM_SUBMIT_TEST_KILL"

enum submit_verdict {
	SUBMIT_OK = 0,
	SUBMIT_BAD_HEADER,     /* no From:, several, or not one address */
	SUBMIT_NOT_OURS,       /* From: domain is not one of ours */
	SUBMIT_NO_SIG,         /* no DKIM-Signature at all */
	SUBMIT_OTHER_DOMAIN,   /* signed, but d= is not the From: domain */
	SUBMIT_WEAK_ALG,       /* rsa-sha1 */
	SUBMIT_WEAK_H,         /* h= lacks From, To, Subject or Date */
	SUBMIT_WEAK_L,         /* l= present */
	SUBMIT_BAD_SIG,        /* does not verify (altered, wrong key, no key) */
	SUBMIT_WRONG_KEY,      /* verifies, but with another user's key */
	SUBMIT_STALE,          /* t= outside the window, x= passed, or no t= */
	SUBMIT_MISMATCH,       /* MAIL FROM is not the From: address */
	SUBMIT_REPLAYED,       /* this signature was accepted before */
	SUBMIT_TEMP,           /* key lookup or cache failed: try again */
};

struct submit_conf {
	const char *keys_dir;          /* --keys DIR; NULL: DNS only */
	const char *resolver;          /* for keys not in DIR; NULL: resolv.conf */
	long long window;              /* --sig-window, seconds */
	int (*is_ours)(void *ctx, const char *domain);
	void *ours_ctx;
};

struct submit_result {
	enum submit_verdict v;
	char why[768];                 /* detail for the reply and the log */
	struct addr from;              /* header From: (valid once past BAD_HEADER) */
	/* the replay identities (hex SHA-256 of b=) of every acceptable signature */
	char ids[DKIMV_SIGS_MAX][SUBMIT_REPLAY_ID_LEN + 1];
	size_t nids;
};

/* ---- pure parts (unit-tested) ---------------------------------------- */

/* 1 if h= (a colon-separated list) names every one of From, To, Subject,
 * Date (case-insensitively); else 0 with the first missing one in missing. */
int submit_h_covers(const char *h, const char **missing);

/*
 * Judge one verified signature against the From: address: sels are the
 * user's selectors.  Returns SUBMIT_OK or the verdict with why filled.
 */
enum submit_verdict submit_judge_sig(const struct dkimv_sig *sig, const struct addr *from,
    char sels[][KEYS_SELECTOR_MAX + 1], size_t nsels, time_t now, long long window,
    char *why, size_t whycap);

/* The reply for a verdict: 250 is never made here. */
void submit_reply(const struct submit_result *res, struct smtpd_reply *r);

/* The replay identity of a b= value (white space already removed). */
void submit_replay_id(const char *b, char out[SUBMIT_REPLAY_ID_LEN + 1]);

/* ---- the checks ------------------------------------------------------- */

/*
 * Everything but the replay cache: parse From:, check it is ours, verify
 * the signatures (keys from --keys DIR, else DNS through *dns, opened on
 * first use), compare the envelope.  res->v says the outcome; -1 only
 * when res->v is SUBMIT_TEMP (with err).
 */
int submit_check(const struct submit_conf *c, struct dns_resolver **dns,
    const struct addr *env_from, int env_null, const char *msg, size_t len, time_t now,
    struct submit_result *res, struct mm_err *err);

/* ---- the replay cache ------------------------------------------------- */

struct submit_replay {
	int dirfd;          /* QUEUE/replay */
	int pendfd;         /* QUEUE/replay/pending */
	int lockfd;         /* QUEUE/replay/.lock while locked, else -1 */
};

/* Create QUEUE/replay (0700) if needed and open it. */
int submit_replay_open(struct submit_replay *rp, const char *queue_dir, struct mm_err *err);
void submit_replay_close(struct submit_replay *rp);
/* Take / release the cache lock (blocking: the holder only does fsyncs). */
int submit_replay_lock(struct submit_replay *rp, struct mm_err *err);
void submit_replay_unlock(struct submit_replay *rp);
/* With the lock held: 1 if any of res's ids is recorded, 0 if none, -1 error. */
int submit_replay_seen(struct submit_replay *rp, const struct submit_result *res,
    struct mm_err *err);
/* With the lock held: record every id of res durably. */
int submit_replay_record(struct submit_replay *rp, const struct submit_result *res,
    struct mm_err *err);
/* With the lock held: note that res is being committed (step 1; local:
 * copies are due in Maildir too), and that it is done (step 4).  submit_pending_add appends lines ("maildir FOLDER
 * NAME": a copy about to be linked into ROOT/FOLDER/new/NAME) durably. */
int submit_pending_begin(struct submit_replay *rp, const struct submit_result *res, int local,
    struct mm_err *err);
int submit_pending_add(struct submit_replay *rp, const struct submit_result *res,
    const char *lines, size_t len, struct mm_err *err);
void submit_pending_end(struct submit_replay *rp, const struct submit_result *res);
/* The replay ids of the DKIM-Signature fields of a message (pure). */
size_t submit_msg_ids(const char *msg, size_t len, char ids[][SUBMIT_REPLAY_ID_LEN + 1],
    size_t max);
/* Release a held job: next-try = now.  0 also when it is gone. */
int submit_release(struct queue *q, const char *id, time_t now, struct mm_err *err);
/* With the lock held: finish what dead sessions left in pending/ (see the
 * crash ordering above); rootfd is the mail root (-1: no Maildir check).
 * Returns how many were handled, -1 on error. */
long submit_recover(struct submit_replay *rp, struct queue *q, int rootfd, time_t now,
    struct mm_err *err);
/*
 * The queue runner's part (mm-send -q): when queue_dir has a replay cache
 * (mm-recv --submit feeds the queue), take the sessions' lock, finish what
 * dead sessions left in pending/ (submit_recover, rootfd from root; NULL or
 * unopenable: no Maildir check), then decide every held job no pending
 * file speaks for: no session is inside its commit while the lock is held,
 * so such a job is a dead or failed session's; it is released when one of
 * its signatures is recorded (the commit reached step 3) and removed when
 * none is (the session never gave its 250: the client resends).  So an
 * orphaned commit is decided by the next timer run, not only by the next
 * submission.  Returns how many were decided, 0 without a cache, -1 on error.
 */
long submit_runner_recover(struct queue *q, const char *queue_dir, const char *root, time_t now,
    struct mm_err *err);
/* With the lock held: remove entries older than 2 * window + SUBMIT_SLACK,
 * unless a sweep ran in the last SUBMIT_SWEEP_EVERY seconds (force: always).
 * Returns how many were removed, -1 on error. */
long submit_replay_sweep(struct submit_replay *rp, time_t now, long long window, int force,
    struct mm_err *err);

/* ---- the session (mm-recv --submit's lib/smtpd hooks) ----------------- */


#define SUBMIT_RUNNER_ARGS_MAX 32    /* words in --mm-send */

struct submit {
	struct mx *mx;                 /* our domains; Maildir delivery */
	struct submit_conf conf;
	struct dns_resolver *dns;      /* opened on first use */
	const char *queue_dir;
	struct queue q;
	struct submit_replay rp;
	/* the runner started for each queued job: these words, then
	 * "--mx --queue DIR -qIID"; NULL: none (the timer delivers) */
	char *const *runner;
	int tls_required;              /* over TCP: STARTTLS before MAIL */
};

/* Open the queue and its replay cache; conf, runner are the caller's. */
int submit_init(struct submit *sb, struct mx *mx, const char *queue_dir, struct mm_err *err);
void submit_free(struct submit *sb);

extern const struct smtpd_hooks submit_hooks;

/*
 * Start "RUNNER... --mx --queue DIR -qIID" detached: double fork, setsid,
 * stdin/stdout/stderr on /dev/null, every other descriptor closed (the
 * SMTP connection must end when the session does), execv (execvp when
 * the first word has no '/').  The caller waits only for the short-lived
 * middle child, so no zombie is left and the session does not wait for
 * delivery.  -1 if the fork failed; an exec failure is not seen here (the
 * job stays queued for the timer).
 */
int submit_spawn(char *const *runner, const char *queue_dir, const char *id,
    struct mm_err *err);

#endif
