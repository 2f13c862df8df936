/*
 * qrun — mm-send's queue runner (-q) and listing (-bp/mailq): one attempt
 * at every due job of a lib/queue directory through lib/send, the results
 * recorded in each envelope, and the failed recipients reported once: a
 * DSN into a local sender's Maildir (--mx), a queued DSN job to a remote
 * sender, or, with a client transport (--via, --relay), --bounce-maildir
 * or stderr.  Jobs whose own signatures are too old for the relay's
 * window go out re-signed (in memory only).
 *
 * The module never exits: the outcome is an enum qrun_status the caller
 * maps to an exit code.
 */
#ifndef MM_QRUN_H
#define MM_QRUN_H

#include "queue.h"
#include "send.h"
#include "smtpc.h"
#include "util.h"

#include <stdio.h>

#define QRUN_ROOT_DEFAULT "/var/mail"   /* as mm-recv's --root: whose mailboxes are ours */
#define QRUN_SUBJECT_SHOWN 80           /* of a bounced message's Subject, on stderr */

struct qrun_opts {
	const struct send_opts *send;   /* the transport */
	const char *dir;                /* the queue directory */
	const char *keys;               /* re-signing: key directory, NULL: the default */
	const char *selector;           /* re-signing: NULL: the key's own */
	const char *root;               /* --mx: mailbox root, NULL: QRUN_ROOT_DEFAULT */
	const char *filter;             /* -qIID: only ids containing this */
	const char *bounce_maildir;     /* client transports: where DSNs go, or NULL */
	long long now;                  /* the clock the run goes by */
	long long resign_after;         /* re-sign own signatures this old (--via/--relay) */
	int mx;                         /* --mx: DSNs to local senders' Maildirs */
	int force;                      /* --now: due or not (a held job still waits) */
	int verbose;
};

enum qrun_status {
	QRUN_OK,
	QRUN_TOLD,      /* failures were reported on stderr only */
	QRUN_CORRUPT,   /* a damaged job was left in place */
	QRUN_ERRORS,    /* a job could not be run, updated or reported; or output failed */
	QRUN_EOPEN,     /* the queue could not be opened (err) */
	QRUN_ELIST,     /* the queue could not be listed (err) */
};

/* Record the results of an attempt at time now in e (r[i] is e->r[map[i]];
 * mta may be NULL); returns how many are pending.  perm counts the
 * recipients refused for good. */
size_t qrun_record(struct queue_env *e, struct smtpc_rcpt *r, char **mta, size_t *map,
    size_t n, long long now, int *perm);

/* The first attempt at a fresh job e (every recipient pending, not yet
 * queued) at time now: delivered, the results recorded in e as
 * qrun_record does, failures marked reported (the caller tells the user
 * at once), the next try scheduled.  Returns how many are pending;
 * perm and user_unknown (of them, refused with 550) are added to. */
size_t qrun_first(const struct send_opts *so, struct queue_env *e, const char *msg, size_t len,
    long long now, int *perm, int *user_unknown);

/* Run the queue once. */
enum qrun_status qrun_run(const struct qrun_opts *qo, struct mm_err *err);

/* List the queue on out, as text (mailq's layout) or as JSON. */
enum qrun_status qrun_list(const struct qrun_opts *qo, FILE *out, int json, struct mm_err *err);

#endif
