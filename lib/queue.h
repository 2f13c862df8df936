/*
 * queue — the outgoing mail queue: one job = a message file plus an
 * envelope file, in a directory (--queue DIR).
 *
 *   DIR/msg/ID    the message, exactly as it will be sent (signed, CRLF)
 *   DIR/env/ID    the envelope (text, below); its appearance commits the job
 *   DIR/tmp/      files being written
 *
 * Adding a job writes the message (tmp, fsync, link into msg/, fsync the
 * directory), then the envelope the same way: a crash at any point leaves
 * either no job or a whole one.  Updates replace the envelope by rename.
 * A runner takes flock(LOCK_EX|LOCK_NB) on msg/ID (its inode never
 * changes) for the whole attempt, so overlapping runs never send a job
 * twice; removal unlinks env/ID first, then msg/ID, under the lock.
 *
 * Envelope format, one item per line, version first:
 *
 *   mm-queue 1
 *   id ID
 *   created UNIXTIME
 *   size OCTETS
 *   from ADDRESS            (empty for the null sender)
 *   attempts N
 *   next-try UNIXTIME
 *   last-try UNIXTIME       (0 = never tried)
 *   last-error TEXT         (printable, one line)
 *   signed N UNIXTIME       (optional: the message starts with N DKIM-Signature
 *                            fields mm-send made at UNIXTIME, its t=)
 *   rcpt STATE ADDRESS [TEXT]   STATE: pending | sent | failed
 *   rcpt-mta HOST           (the host that gave the last answer)
 *   rcpt-try UNIXTIME       (that recipient's last attempt)
 *   rcpt-notified 1         (a failed recipient's DSN has been issued)
 *
 * The signed line is written only by mm-send when it signed the message
 * itself; an envelope without it (older ones, --no-sign, the relay's
 * queue) says nothing is provably ours, and mm-send -q then never strips
 * or re-signs (see dkimsign_resign).  The format version stays 1: the
 * line is optional, and every older envelope reads as before.
 *
 * The rcpt-* lines are optional and describe the rcpt line above them.
 * TEXT is the last answer: the last error while pending, the refusal when
 * failed.  Per-recipient state, attempts and next-try are what retries
 * with backoff, expiry after days and delivery status notifications need.
 *
 * Nothing is written that does not pass queue_env_check: the id, the
 * addresses and the host are re-validated and every text must be
 * printable ASCII, so no CR, LF or other control byte from a peer (or a
 * bug) can make a line of its own.  A file that does not decode is
 * reported and left where it is, never removed.
 */
#ifndef MM_QUEUE_H
#define MM_QUEUE_H

#include <time.h>
#include "addr.h"
#include "util.h"

#define QUEUE_ID_MAX      64
#define QUEUE_TEXT_MAX    512           /* error text kept per item */
#define QUEUE_RCPT_MAX    1000          /* recipients in one job */
#define QUEUE_ENV_MAX     (1024 * 1024) /* an envelope file larger is corrupt */
#define QUEUE_MSG_MAX     ((size_t)1 << 30)
#define QUEUE_HOST_MAX    255           /* rcpt-mta: a DNS name or [address] */
#define QUEUE_BACKOFF_MIN (5 * 60)      /* seconds before the first retry */
#define QUEUE_BACKOFF_MAX (4 * 3600)    /* cap of the doubling backoff */
#define QUEUE_EXPIRE      (5 * 86400)   /* give up (and bounce) this long after queueing */
#define QUEUE_OWN_SIGS_MAX 16           /* "signed N": more is not a count mm-send makes */

enum queue_rstate {
	QUEUE_PENDING = 0,
	QUEUE_SENT = 1,
	QUEUE_FAILED = 2,
};

struct queue_rcpt {
	char addr[ADDR_STR_MAX];
	enum queue_rstate state;
	char text[QUEUE_TEXT_MAX];
	char mta[QUEUE_HOST_MAX + 1];   /* "" if none answered */
	long long last_try;             /* 0 = never tried */
	int notified;                   /* failed and its DSN issued (or none due) */
};

struct queue_env {
	char id[QUEUE_ID_MAX + 1];
	long long created;
	size_t size;
	char from[ADDR_STR_MAX];
	unsigned attempts;
	long long next_try;
	long long last_try;
	char last_error[QUEUE_TEXT_MAX];
	unsigned own_sigs;              /* DKIM-Signature fields on top that are ours (0: none known) */
	long long signed_at;            /* their t= */
	struct queue_rcpt *r;
	size_t nr;
};

struct queue {
	char *dir;
};

void queue_env_init(struct queue_env *e);
void queue_env_free(struct queue_env *e);
void queue_env_add_rcpt(struct queue_env *e, const char *addr);
/* Copy text into dst as one printable line (controls become '?'). */
void queue_text_set(char dst[QUEUE_TEXT_MAX], const char *text);

/* 0 if every field may be written (see above), else -1 naming the field. */
int queue_env_check(const struct queue_env *e, struct mm_err *err);
/* Copy a host name into dst if it is a plain DNS name or [literal]. */
int queue_host_set(char dst[QUEUE_HOST_MAX + 1], const char *host);
/* "pending", "sent", "failed" ("?" for anything else). */
const char *queue_rstate_name(enum queue_rstate st);
/* 1 once the job is older than QUEUE_EXPIRE at time now. */
int queue_expired(const struct queue_env *e, long long now);

/* Pure encoding (unit-tested).  encode writes what it is given: callers
 * that write files go through queue_add/queue_update, which check. */
void queue_env_encode(const struct queue_env *e, struct buf *out);
int queue_env_decode(const char *s, size_t len, struct queue_env *e, struct mm_err *err);
/* Seconds to wait after the given number of failed attempts. */
long long queue_backoff(unsigned attempts);

/* Create DIR, DIR/tmp, DIR/msg, DIR/env (mode 0700) as needed. */
int queue_open(struct queue *q, const char *dir, struct mm_err *err);
void queue_close(struct queue *q);

/* Add a job; e->id, created, size are filled in here. */
int queue_add(struct queue *q, struct queue_env *e, const char *msg, size_t len,
    struct mm_err *err);
/* The ids of committed jobs, sorted (oldest first); free with queue_ids_free. */
int queue_list(struct queue *q, char ***ids, size_t *n, struct mm_err *err);
void queue_ids_free(char **ids, size_t n);
/* Lock a job: 1 with *fd set (close it to unlock), 0 if another runner has
 * it or it is gone, -1 on error. */
int queue_lock(struct queue *q, const char *id, int *fd, struct mm_err *err);
/* Load the envelope (and the message, if msg is not NULL).  Returns 0, or
 * 1 when the job no longer exists, -1 on error. */
int queue_load(struct queue *q, const char *id, struct queue_env *e, struct buf *msg,
    struct mm_err *err);
int queue_update(struct queue *q, const struct queue_env *e, struct mm_err *err);
int queue_remove(struct queue *q, const char *id, struct mm_err *err);

#endif
