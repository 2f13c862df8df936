/*
 * maildir — see maildir.h.  Names follow the modern Maildir convention
 * (time, microseconds, pid, a per-process counter, random bits, host) so
 * they are unique across processes and across hosts sharing one store;
 * linkat() into new/ fails with EEXIST rather than overwrite, and
 * renameat2(RENAME_NOREPLACE) is the fallback where hard links are not
 * supported.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define MAILDIR_WRITE_CHUNK 65536
#define MAILDIR_NAME_TRIES 8

int maildir_openat(int dirfd, const char *name, struct mm_err *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return err_sys(err, "%s", name);
	return fd;
}

int maildir_prepare(int mdfd, struct mm_err *err)
{
	static const char *const sub[] = { "tmp", "new", "cur" };

	for (size_t i = 0; i < MM_NELEM(sub); i++) {
		struct stat st;

		if (fstatat(mdfd, sub[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				errno = ENOTDIR;
				return err_sys(err, "%s", sub[i]);
			}
			continue;
		}
		if (errno != ENOENT)
			return err_sys(err, "%s", sub[i]);
		if (mkdirat(mdfd, sub[i], MAILDIR_DIR_MODE) < 0 && errno != EEXIST)
			return err_sys(err, "mkdir %s", sub[i]);
	}
	return 0;
}

/* The host part of a unique name, with the bytes a name may not hold as
 * \ooo; -1 if it does not fit (a shortened host would be a different one). */
static int host_clean(const char *host, char *out, size_t cap)
{
	size_t o = 0;

	for (const char *p = host; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (o + 5 > cap)          /* room for \ooo and the NUL */
			return -1;
		if (c == '/' || c == ':' || c == ',' || c < 0x21 || c > 0x7e) {
			out[o++] = '\\';
			out[o++] = (char)('0' + (c >> 6));
			out[o++] = (char)('0' + ((c >> 3) & 7));
			out[o++] = (char)('0' + (c & 7));
		} else
			out[o++] = *p;
	}
	out[o] = '\0';
	return 0;
}

int maildir_name(const char *host, size_t size, char out[MAILDIR_NAME_MAX + 1])
{
	static unsigned long counter;
	struct timeval tv;
	unsigned char r[8];
	char rh[sizeof r * 2 + 1], h[128];

	gettimeofday(&tv, NULL);
	random_bytes(r, sizeof r);
	hex_encode(r, sizeof r, rh);
	if (host_clean(host, h, sizeof h) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return snprintf_ok(out, MAILDIR_NAME_MAX + 1, "%lld.M%06ldP%ldQ%luR%s.%s,S=%zu",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(), ++counter, rh, h, size);
}

void maildir_tx_init(struct maildir_tx *tx, const char *host)
{
	memset(tx, 0, sizeof *tx);
	tx->host = host;
}

static int write_body(int fd, const char *body, size_t len)
{
	char out[MAILDIR_WRITE_CHUNK];
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (body[i] == '\r' && i + 1 < len && body[i + 1] == '\n')
			continue;
		out[o++] = body[i];
		if (o == sizeof out) {
			if (write_all(fd, out, o) < 0)
				return -1;
			o = 0;
		}
	}
	return o ? write_all(fd, out, o) : 0;
}

static size_t lf_size(const char *body, size_t len)
{
	size_t n = len;

	for (size_t i = 0; i + 1 < len; i++)
		if (body[i] == '\r' && body[i + 1] == '\n')
			n--;
	return n;
}

int maildir_tx_add(struct maildir_tx *tx, int mdfd, const char *head, size_t headlen,
    const char *body, size_t bodylen, struct mm_err *err)
{
	struct maildir_copy c;
	size_t size;
	int fd = -1;

	memset(&c, 0, sizeof c);
	c.tmpfd_dir = c.newfd_dir = -1;
	if (maildir_prepare(mdfd, err) < 0)
		return -1;
	if ((c.tmpfd_dir = maildir_openat(mdfd, "tmp", err)) < 0 ||
	    (c.newfd_dir = maildir_openat(mdfd, "new", err)) < 0)
		goto fail;
	if (size_add(headlen, lf_size(body, bodylen), &size) < 0) {
		err_set(err, "message too large");
		goto fail;
	}
	for (int i = 0; i < MAILDIR_NAME_TRIES; i++) {
		if (maildir_name(tx->host, size, c.name) < 0) {
			err_set(err, "file name too long");
			goto fail;
		}
		fd = openat(c.tmpfd_dir, c.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    MAILDIR_FILE_MODE);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		err_sys(err, "create tmp/%s", c.name);
		goto fail;
	}
	if (write_all(fd, head, headlen) < 0 || write_body(fd, body, bodylen) < 0) {
		err_sys(err, "write tmp/%s", c.name);
		goto fail_unlink;
	}
	if (fsync(fd) < 0) {
		err_sys(err, "fsync tmp/%s", c.name);
		goto fail_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		err_sys(err, "close tmp/%s", c.name);
		goto fail_unlink;
	}
	fd = -1;
	tx->v = xreallocarray(tx->v, tx->n + 1, sizeof *tx->v);
	tx->v[tx->n++] = c;
	return 0;
fail_unlink:
	if (fd >= 0)
		close(fd);
	fd = -1;
	(void)unlinkat(c.tmpfd_dir, c.name, 0);
fail:
	if (fd >= 0)
		close(fd);
	if (c.tmpfd_dir >= 0)
		close(c.tmpfd_dir);
	if (c.newfd_dir >= 0)
		close(c.newfd_dir);
	return -1;
}

int maildir_tx_commit(struct maildir_tx *tx, struct mm_err *err)
{
	for (size_t i = 0; i < tx->n; i++) {
		struct maildir_copy *c = &tx->v[i];

		if (linkat(c->tmpfd_dir, c->name, c->newfd_dir, c->name, 0) < 0) {
			if (errno != EPERM && errno != ENOSYS && errno != EOPNOTSUPP && errno != EXDEV) {
				err_sys(err, "link into new/%s", c->name);
				goto undo;
			}
			if (renameat2(c->tmpfd_dir, c->name, c->newfd_dir, c->name, RENAME_NOREPLACE) < 0) {
				err_sys(err, "rename into new/%s", c->name);
				goto undo;
			}
		}
		c->linked = 1;
	}
	for (size_t i = 0; i < tx->n; i++)
		if (fsync(tx->v[i].newfd_dir) < 0) {
			err_sys(err, "fsync new/");
			goto undo;
		}
	for (size_t i = 0; i < tx->n; i++)
		(void)unlinkat(tx->v[i].tmpfd_dir, tx->v[i].name, 0);
	return 0;
undo:
	maildir_tx_abort(tx);
	return -1;
}

void maildir_tx_abort(struct maildir_tx *tx)
{
	for (size_t i = 0; i < tx->n; i++) {
		struct maildir_copy *c = &tx->v[i];

		if (c->linked)
			(void)unlinkat(c->newfd_dir, c->name, 0);
		(void)unlinkat(c->tmpfd_dir, c->name, 0);
		c->linked = 0;
	}
	maildir_tx_free(tx);
}

void maildir_tx_free(struct maildir_tx *tx)
{
	for (size_t i = 0; i < tx->n; i++) {
		close(tx->v[i].tmpfd_dir);
		close(tx->v[i].newfd_dir);
	}
	free(tx->v);
	tx->v = NULL;
	tx->n = 0;
}
