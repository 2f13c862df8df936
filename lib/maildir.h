/*
 * maildir — durable, lock-free delivery into Maildir folders, and the
 * symlink-proof walk from ROOT to a mailbox.
 *
 * A mailbox is reached one path component at a time with
 * openat(O_DIRECTORY|O_NOFOLLOW), so no symlink anywhere below ROOT can
 * lead a delivery out of it.  A delivery is a transaction over all the
 * copies of one message: every copy is written to tmp/ and fsynced first,
 * then each is linked into new/ (never overwriting), the new/ directories
 * are fsynced, and only then does the caller say 250.  Any failure undoes
 * every copy (tmp and new), so a 4xx never leaves a half-delivered message.
 *
 * Messages arrive with CRLF line ends (SMTP) and are stored with LF (the
 * Maildir convention every reader expects); nothing else is changed.
 */
#ifndef MM_MAILDIR_H
#define MM_MAILDIR_H

#include "util.h"

#define MAILDIR_NAME_MAX 255
/* Modes before the umask: mm-recv's --umask (default 077) decides, so
 * files are 0600 and folders 0700 unless a shared group is wanted. */
#define MAILDIR_FILE_MODE 0666
#define MAILDIR_DIR_MODE  0777

/* Open one directory component below dirfd, refusing symlinks; -1 with
 * errno kept in err->code (ENOENT: does not exist; ELOOP/ENOTDIR: a
 * symlink or not a directory). */
int maildir_openat(int dirfd, const char *name, struct mm_err *err);

/* Make sure tmp/, new/, cur/ exist in the mailbox. */
int maildir_prepare(int mdfd, struct mm_err *err);

/* A unique file name: time.MusecPpidQcounterRrandom.host,S=size */
int maildir_name(const char *host, size_t size, char out[MAILDIR_NAME_MAX + 1]);

struct maildir_copy {
	int tmpfd_dir, newfd_dir;
	char name[MAILDIR_NAME_MAX + 1];
	int linked;                   /* 1 once in new/ */
};

struct maildir_tx {
	struct maildir_copy *v;
	size_t n;
	const char *host;
};

void maildir_tx_init(struct maildir_tx *tx, const char *host);
/* Write one copy: head (LF line ends, as is) then body (CRLF -> LF) into
 * mdfd/tmp/NAME, fsync, close.  err->code = errno (ENOSPC, EDQUOT...). */
int maildir_tx_add(struct maildir_tx *tx, int mdfd, const char *head, size_t headlen,
    const char *body, size_t bodylen, struct mm_err *err);
/* Link every copy into new/, fsync the new/ directories, remove the tmp
 * names.  On failure everything is undone. */
int maildir_tx_commit(struct maildir_tx *tx, struct mm_err *err);
/* Remove every copy (tmp and, if linked, new).  Also frees. */
void maildir_tx_abort(struct maildir_tx *tx);
void maildir_tx_free(struct maildir_tx *tx);

#endif
