/*
 * sync — see sync.h for the protocol and why it is shaped so.
 *
 * Safety rules kept here:
 *  - the client writes only below its root fd, walking folders with
 *    openat(O_NOFOLLOW|O_DIRECTORY) on checked components, and never
 *    overwrites: an unnamed O_TMPFILE file gets its name with linkat(2),
 *    which fails on an existing name; where O_TMPFILE is missing, a file
 *    in tmp/ moves with renameat2 RENAME_NOREPLACE (link() as fallback);
 *  - a confirmation leaves the client only after the syncfs that made the
 *    file (and its directory entry) durable;
 *  - the server deletes only entries of its own table, matched on id,
 *    path, size and its own SHA-256, and still the same inode.
 */
#include "sync.h"
#include "io.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

/* Set (to anything) to make the client write through tmp/ as where the
 * file system has no O_TMPFILE: the tests run that path with it. */
#define SYNC_NO_TMPFILE_ENV "MM_SYNC_NO_TMPFILE"
/* linkat(2) names an unnamed file by this path: AT_EMPTY_PATH would need
 * CAP_DAC_READ_SEARCH. */
#define SYNC_PROC_FD_DIR "/proc/self/fd"

/* ---------- frames ---------- */

size_t sync_frame_limit(uint8_t type)
{
	switch (type) {
	case SYNC_F_DATA:
		return SYNC_MAX_DATA;
	case SYNC_F_HELLO: case SYNC_F_FILE: case SYNC_F_END: case SYNC_F_SKIP:
	case SYNC_F_WARN: case SYNC_F_DONE: case SYNC_F_QUIT: case SYNC_F_CONFIRM:
	case SYNC_F_BYE: case SYNC_F_REFUSE: case SYNC_F_ACK:
		return SYNC_MAX_CTRL;
	default:
		return 0;
	}
}

void sync_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t sync_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void sync_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint32_t sync_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

enum sync_dec sync_frame_decode(const uint8_t *buf, size_t len, struct sync_frame *f,
    size_t *used, struct mm_err *err)
{
	size_t lim;
	uint32_t n;

	if (len < SYNC_HDR_LEN)
		return SYNC_DEC_NEED;
	lim = sync_frame_limit(buf[0]);
	if (!lim) {
		err_set(err, "unknown frame type 0x%02x", buf[0]);
		return SYNC_DEC_BAD;
	}
	n = sync_get_u32(buf + 1);
	if (n > lim) {
		err_set(err, "frame '%c' of %u bytes exceeds its limit of %zu", buf[0], n, lim);
		return SYNC_DEC_BAD;
	}
	if (len - SYNC_HDR_LEN < n)
		return SYNC_DEC_NEED;
	f->type = buf[0];
	f->len = n;
	f->payload = buf + SYNC_HDR_LEN;
	*used = SYNC_HDR_LEN + (size_t)n;
	return SYNC_DEC_OK;
}

void sync_frame_encode(struct buf *b, uint8_t type, const void *payload, size_t len)
{
	uint8_t h[SYNC_HDR_LEN];

	h[0] = type;
	sync_put_u32(h + 1, (uint32_t)len);
	buf_append(b, h, sizeof h);
	if (len)
		buf_append(b, payload, len);
}

/* Read one whole frame from io into payload (bounded by the type's limit). */
static enum io_result read_frame(struct io *io, struct sync_frame *f, struct buf *payload,
    struct mm_err *err)
{
	uint8_t h[SYNC_HDR_LEN];
	enum io_result r;
	size_t used;
	struct sync_frame tmp;

	r = io_read_full(io, h, sizeof h, err);
	if (r == IO_EOF)
		return r;
	if (r != IO_OK)
		return r;
	if (sync_frame_decode(h, sizeof h, &tmp, &used, err) == SYNC_DEC_BAD)
		return IO_ERROR;
	f->type = h[0];
	f->len = sync_get_u32(h + 1);
	buf_reset(payload);
	buf_reserve(payload, f->len + 1);
	if (f->len) {
		r = io_read_full(io, payload->data, f->len, err);
		if (r == IO_EOF) {
			err_set(err, "truncated frame");
			return IO_ERROR;
		}
		if (r != IO_OK)
			return r;
	}
	payload->len = f->len;
	payload->data[f->len] = '\0';
	f->payload = (const uint8_t *)payload->data;
	return IO_OK;
}

static void send_frame(struct io *io, uint8_t type, const void *p, size_t n)
{
	sync_frame_encode(&io->wbuf, type, p, n);
}

static int is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

void sync_sanitize(const uint8_t *p, size_t n, char *out, size_t outsz)
{
	size_t i;

	if (!outsz)
		return;
	for (i = 0; i < n && i + 1 < outsz; i++)
		out[i] = is_ctl(p[i]) ? '?' : (char)p[i];
	out[i] = '\0';
}

int sync_path_check(const char *p, size_t len, struct mm_err *err)
{
	size_t i = 0, ncomp = 0, start;
	const char *comps[SYNC_MAX_DEPTH + 2];
	size_t clen[SYNC_MAX_DEPTH + 2];

	if (len == 0 || len > SYNC_MAX_PATH)
		return err_set(err, "path length %zu out of range", len);
	while (i <= len) {
		start = i;
		while (i < len && p[i] != '/') {
			if (p[i] == '\0' || is_ctl((unsigned char)p[i]))
				return err_set(err, "path has a NUL or control byte");
			i++;
		}
		if (i == start)
			return err_set(err, "path has an empty component");
		if (i - start > SYNC_MAX_NAME)
			return err_set(err, "path component too long");
		if ((i - start == 1 && p[start] == '.') ||
		    (i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
			return err_set(err, "path has a '.' or '..' component");
		if (ncomp >= MM_NELEM(comps))
			return err_set(err, "path too deep");
		comps[ncomp] = p + start;
		clen[ncomp++] = i - start;
		i++;
	}
	if (ncomp < 2)
		return err_set(err, "path lacks new/ or cur/");
	if (!(clen[ncomp - 2] == 3 && (!memcmp(comps[ncomp - 2], "new", 3) ||
	    !memcmp(comps[ncomp - 2], "cur", 3))))
		return err_set(err, "path is not in new/ or cur/");
	for (size_t k = 0; k + 2 < ncomp; k++)
		if (clen[k] == 3 && (!memcmp(comps[k], "tmp", 3) || !memcmp(comps[k], "new", 3) ||
		    !memcmp(comps[k], "cur", 3)))
			return err_set(err, "folder named tmp, new or cur");
	return 0;
}

/* ---------- hashing ---------- */

struct sha {
	EVP_MD_CTX *c;
};

static void sha_init(struct sha *s)
{
	s->c = EVP_MD_CTX_new();
	if (!s->c || EVP_DigestInit_ex(s->c, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "mm-sync: SHA-256 unavailable\n");
		abort();
	}
}

static void sha_update(struct sha *s, const void *p, size_t n)
{
	EVP_DigestUpdate(s->c, p, n);
}

static void sha_final(struct sha *s, uint8_t out[SYNC_SHA_LEN])
{
	unsigned n = 0;

	EVP_DigestFinal_ex(s->c, out, &n);
	EVP_MD_CTX_free(s->c);
	s->c = NULL;
}

static void sha_drop(struct sha *s)
{
	if (s->c)
		EVP_MD_CTX_free(s->c);
	s->c = NULL;
}

/* ---------- server ---------- */

enum ent_state { ENT_SENDING, ENT_SENT, ENT_SKIPPED, ENT_DELETING, ENT_DELETED };

struct entry {
	char *path;             /* relative to DIR */
	size_t dirlen;          /* path[0..dirlen) is its new/ or cur/ dir */
	uint64_t size;
	dev_t dev;
	ino_t ino;
	uint8_t sha[SYNC_SHA_LEN];
	int state;
};

struct server {
	const char *dir;
	int rootfd;
	unsigned flags;
	uint32_t version;       /* the client's; 1 has no acknowledgements */
	struct io in, out;
	pthread_mutex_t mu;
	struct entry *ents;     /* ents[id - 1] */
	size_t nents, cap;
	char **dirty;           /* dirs to fsync after deletions */
	size_t ndirty;
	uint64_t deleted, failed;
	pthread_cond_t acked_cv; /* signalled on each ack and when the reader ends */
	uint64_t sent;          /* stream bytes written to the client */
	uint64_t acked;         /* ...of which it said it has read */
	int reader_done;        /* bye seen or reader gave up */
	int reader_fatal;
	int abandoned;          /* the sender has returned: delete nothing more */
	struct mm_err rerr;
	struct buf scratch;
};

/* Open a relative directory path below rootfd without following links. */
static int open_rel_dir(int rootfd, const char *path, size_t len, struct mm_err *err)
{
	int fd = dup(rootfd);
	size_t i = 0;

	if (fd < 0)
		return err_sys(err, "dup");
	while (i < len) {
		size_t s = i;
		char comp[SYNC_MAX_NAME + 1];
		int nfd;

		while (i < len && path[i] != '/')
			i++;
		if (i - s > SYNC_MAX_NAME) {
			close(fd);
			return err_set(err, "component too long");
		}
		memcpy(comp, path + s, i - s);
		comp[i - s] = '\0';
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (nfd < 0)
			return err_sys(err, "open %.*s", (int)len, path);
		fd = nfd;
		i++;
	}
	return fd;
}

static void mark_dirty(struct server *s, const char *dir, size_t len)
{
	if (s->ndirty && strlen(s->dirty[s->ndirty - 1]) == len &&
	    !memcmp(s->dirty[s->ndirty - 1], dir, len))
		return;
	for (size_t i = 0; i < s->ndirty; i++)
		if (strlen(s->dirty[i]) == len && !memcmp(s->dirty[i], dir, len))
			return;
	s->dirty = xreallocarray(s->dirty, s->ndirty + 1, sizeof *s->dirty);
	s->dirty[s->ndirty++] = xstrndup(dir, len);
}

static void server_free(struct server *s)
{
	for (size_t i = 0; i < s->nents; i++)
		free(s->ents[i].path);
	free(s->ents);
	for (size_t i = 0; i < s->ndirty; i++)
		free(s->dirty[i]);
	free(s->dirty);
	if (s->rootfd >= 0)
		close(s->rootfd);
	io_close(&s->in);
	io_close(&s->out);
	buf_free(&s->scratch);
	pthread_cond_destroy(&s->acked_cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* The sender reads reader_fatal under the lock (reader_stopped), so the
 * reader sets it under the lock too. */
static void reader_fail(struct server *s)
{
	pthread_mutex_lock(&s->mu);
	s->reader_fatal = 1;
	pthread_mutex_unlock(&s->mu);
}

static void handle_confirm(struct server *s, const uint8_t *p, size_t n, int *cachefd,
    char **cachedir)
{
	uint64_t id, size;
	const char *path;
	size_t plen;
	struct entry *e;
	struct stat st;
	size_t dirlen;
	dev_t dev;
	ino_t ino;
	int ok = 0;

	id = sync_get_u64(p);
	size = sync_get_u64(p + 8);
	path = (const char *)p + 16 + SYNC_SHA_LEN;
	plen = n - 16 - SYNC_SHA_LEN;
	if (sync_path_check(path, plen, &s->rerr) < 0) {
		err_wrap(&s->rerr, "confirmation");
		reader_fail(s);
		return;
	}
	pthread_mutex_lock(&s->mu);
	if (s->abandoned) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	if (id == 0 || id > s->nents) {
		s->failed++;
		pthread_mutex_unlock(&s->mu);
		fprintf(stderr, "mm-sync: --server: confirmation for unknown id %llu ignored\n",
		    (unsigned long long)id);
		return;
	}
	e = &s->ents[id - 1];
	if (e->state != ENT_SENT || e->size != size || strlen(e->path) != plen ||
	    memcmp(e->path, path, plen) || memcmp(e->sha, p + 16, SYNC_SHA_LEN)) {
		s->failed++;
		pthread_mutex_unlock(&s->mu);
		fprintf(stderr, "mm-sync: --server: confirmation for %llu does not match what was "
		    "sent; not deleted\n", (unsigned long long)id);
		return;
	}
	/* The table may grow (and move) under the sending thread: keep what
	 * is needed, mark the entry taken, and unlink without the lock. */
	e->state = ENT_DELETING;
	path = e->path;
	dirlen = e->dirlen;
	dev = e->dev;
	ino = e->ino;
	pthread_mutex_unlock(&s->mu);
	if (!*cachedir || strlen(*cachedir) != dirlen || memcmp(*cachedir, path, dirlen)) {
		struct mm_err derr;
		if (*cachefd >= 0)
			close(*cachefd);
		free(*cachedir);
		*cachedir = xstrndup(path, dirlen);
		*cachefd = open_rel_dir(s->rootfd, path, dirlen, &derr);
	}
	if (*cachefd >= 0) {
		const char *name = path + dirlen + 1;
		if (fstatat(*cachefd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    st.st_dev == dev && st.st_ino == ino && (uint64_t)st.st_size == size &&
		    unlinkat(*cachefd, name, 0) == 0)
			ok = 1;
	}
	pthread_mutex_lock(&s->mu);
	s->ents[id - 1].state = ok ? ENT_DELETED : ENT_SKIPPED;
	if (ok) {
		/* Abandoned while unlinking: the sender's fsyncs are over. */
		if (s->abandoned && fsync(*cachefd) < 0)
			s->failed++;
		mark_dirty(s, path, dirlen);
		s->deleted++;
	} else {
		s->failed++;
	}
	pthread_mutex_unlock(&s->mu);
	if (!ok)
		fprintf(stderr, "mm-sync: --server: %s: not deleted (changed or gone)\n", path);
}

static void *server_reader(void *arg)
{
	struct server *s = arg;
	struct sync_frame f;
	struct buf pl;
	int cachefd = -1;
	char *cachedir = NULL;
	int abandoned;

	buf_init(&pl);
	for (;;) {
		enum io_result r = read_frame(&s->in, &f, &pl, &s->rerr);
		if (r == IO_EOF) {
			err_set(&s->rerr, "client went away");
			reader_fail(s);
			break;
		}
		if (r != IO_OK) {
			reader_fail(s);
			break;
		}
		if (f.type == SYNC_F_BYE)
			break;
		if (f.type == SYNC_F_ACK && f.len == 8 && s->version >= 2) {
			uint64_t v = sync_get_u64(f.payload);
			pthread_mutex_lock(&s->mu);
			if (v > s->sent) {
				/* the sender reads rerr once it sees reader_fatal */
				err_set(&s->rerr, "the client acknowledged more than was sent");
				s->reader_fatal = 1;
				pthread_mutex_unlock(&s->mu);
				break;
			}
			if (v > s->acked)
				s->acked = v;
			pthread_cond_signal(&s->acked_cv);
			pthread_mutex_unlock(&s->mu);
			continue;
		}
		if (f.type == SYNC_F_CONFIRM && f.len > 16 + SYNC_SHA_LEN &&
		    !(s->flags & (SYNC_FLAG_DRY | SYNC_FLAG_KEEP))) {
			handle_confirm(s, f.payload, f.len, &cachefd, &cachedir);
			if (s->reader_fatal)
				break;
			continue;
		}
		err_set(&s->rerr, "unexpected frame '%c' from the client", isprint(f.type) ? f.type : '?');
		reader_fail(s);
		break;
	}
	if (cachefd >= 0)
		close(cachefd);
	free(cachedir);
	buf_free(&pl);
	pthread_mutex_lock(&s->mu);
	s->reader_done = 1;
	pthread_cond_broadcast(&s->acked_cv);
	abandoned = s->abandoned;
	pthread_mutex_unlock(&s->mu);
	if (abandoned)
		server_free(s);
	return NULL;
}

/* Wait until what the client has not yet read, plus len more, fits in
 * SYNC_WINDOW (or nothing is outstanding: one buffer may be larger), so
 * that no more than the window ever waits inside ssh; a version 1 client
 * sends no acknowledgements and gets no window. */
static int window_wait(struct server *s, size_t len, struct mm_err *err)
{
	struct timespec ts;
	int rc = 0;

	if (s->version < 2)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += SYNC_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&s->mu);
	while (s->sent > s->acked && s->sent - s->acked + len > SYNC_WINDOW &&
	    !s->reader_fatal && !s->reader_done) {
		if (pthread_cond_timedwait(&s->acked_cv, &s->mu, &ts) == ETIMEDOUT) {
			rc = err_set(err, "the client has read nothing for %d s",
			    SYNC_TIMEOUT_MS / 1000);
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Flush the stream.  What is flushed counts as sent before the write: the
 * client may acknowledge it before io_flush returns. */
static enum io_result out_flush(struct server *s, struct mm_err *err)
{
	pthread_mutex_lock(&s->mu);
	s->sent = s->out.bytes_out + s->out.wbuf.len;
	pthread_mutex_unlock(&s->mu);
	return io_flush(&s->out, err);
}

static int out_flush_if(struct server *s, size_t above, struct mm_err *err)
{
	if (s->out.wbuf.len <= above)
		return 0;
	if (window_wait(s, s->out.wbuf.len, err) < 0)
		return -1;
	if (out_flush(s, err) != IO_OK)
		return err_wrap(err, "sending");
	return 0;
}

static void server_warn(struct server *s, const char *fmt, ...) MM_PRINTF(2, 3);
static void server_warn(struct server *s, const char *fmt, ...)
{
	va_list ap;

	buf_reset(&s->scratch);
	va_start(ap, fmt);
	buf_vprintf(&s->scratch, fmt, ap);
	va_end(ap);
	if (s->scratch.len > SYNC_MAX_CTRL)
		s->scratch.len = SYNC_MAX_CTRL;
	send_frame(&s->out, SYNC_F_WARN, s->scratch.data, s->scratch.len);
}

static int reader_stopped(struct server *s)
{
	int r;

	pthread_mutex_lock(&s->mu);
	r = s->reader_fatal;
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* Send one file of dirfd (the folder's new/ or cur/ at relative rel). */
static int send_file(struct server *s, int dirfd, const char *rel, const char *name,
    uint8_t *chunk, struct mm_err *err)
{
	char path[SYNC_MAX_PATH + 1];
	struct stat st, st2;
	uint8_t hdr[16 + SYNC_MAX_PATH];
	uint64_t id, left;
	struct entry *e;
	struct sha sh;
	size_t plen;
	int fd, bad = 0;
	struct mm_err perr;

	if (snprintf_ok(path, sizeof path, "%s/%s", rel, name) < 0 ||
	    sync_path_check(path, strlen(path), &perr) < 0) {
		server_warn(s, "%s/%s: unsafe or too long a name, skipped", rel, name);
		return 0;
	}
	plen = strlen(path);
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		server_warn(s, "%s: %s, skipped", path,
		    errno == ENOENT ? "vanished before it was read" : strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		server_warn(s, "%s: not a regular file, skipped", path);
		return 0;
	}
	if ((uint64_t)st.st_size > SYNC_MAX_MSG_SIZE) {
		close(fd);
		server_warn(s, "%s: larger than %llu bytes, skipped", path,
		    (unsigned long long)SYNC_MAX_MSG_SIZE);
		return 0;
	}
	pthread_mutex_lock(&s->mu);
	if (s->nents == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->ents = xreallocarray(s->ents, s->cap, sizeof *s->ents);
	}
	e = &s->ents[s->nents++];
	memset(e, 0, sizeof *e);
	e->path = xstrdup(path);
	e->dirlen = strlen(rel);
	e->size = (uint64_t)st.st_size;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->state = ENT_SENDING;
	id = s->nents;
	pthread_mutex_unlock(&s->mu);

	sync_put_u64(hdr, id);
	sync_put_u64(hdr + 8, (uint64_t)st.st_size);
	memcpy(hdr + 16, path, plen);
	send_frame(&s->out, SYNC_F_FILE, hdr, 16 + plen);
	if (s->flags & SYNC_FLAG_DRY) {
		close(fd);
		pthread_mutex_lock(&s->mu);
		s->ents[id - 1].state = ENT_SKIPPED;
		pthread_mutex_unlock(&s->mu);
		return out_flush_if(s, SYNC_MAX_DATA, err);
	}
	sha_init(&sh);
	left = (uint64_t)st.st_size;
	while (left) {
		size_t want = left > SYNC_MAX_DATA ? SYNC_MAX_DATA : (size_t)left;
		ssize_t n;

		n = read(fd, chunk, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			bad = 1;
			break;
		}
		if (n == 0) {
			bad = 1;        /* shrank */
			break;
		}
		sha_update(&sh, chunk, (size_t)n);
		send_frame(&s->out, SYNC_F_DATA, chunk, (size_t)n);
		left -= (uint64_t)n;
		if (out_flush_if(s, SYNC_MAX_DATA, err) < 0) {
			sha_drop(&sh);
			close(fd);
			return -1;
		}
	}
	/* Grown, shrunk or rewritten while read: size, mtime and ctime tell
	 * (any write moves both), so no read past the end is needed. */
	if (!bad && (fstat(fd, &st2) < 0 || st2.st_size != st.st_size ||
	    st2.st_mtim.tv_sec != st.st_mtim.tv_sec || st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
	    st2.st_ctim.tv_sec != st.st_ctim.tv_sec || st2.st_ctim.tv_nsec != st.st_ctim.tv_nsec))
		bad = 1;
	close(fd);
	if (bad) {
		char why[] = "changed while read";
		uint8_t x[8 + sizeof why];
		sha_drop(&sh);
		sync_put_u64(x, id);
		memcpy(x + 8, why, sizeof why - 1);
		send_frame(&s->out, SYNC_F_SKIP, x, 8 + sizeof why - 1);
		pthread_mutex_lock(&s->mu);
		s->ents[id - 1].state = ENT_SKIPPED;
		pthread_mutex_unlock(&s->mu);
	} else {
		uint8_t x[8 + SYNC_SHA_LEN];
		uint8_t d[SYNC_SHA_LEN];
		sha_final(&sh, d);
		sync_put_u64(x, id);
		memcpy(x + 8, d, SYNC_SHA_LEN);
		pthread_mutex_lock(&s->mu);
		memcpy(s->ents[id - 1].sha, d, SYNC_SHA_LEN);
		s->ents[id - 1].state = ENT_SENT;
		pthread_mutex_unlock(&s->mu);
		send_frame(&s->out, SYNC_F_END, x, sizeof x);
	}
	return out_flush_if(s, SYNC_MAX_DATA, err);
}

static int is_maildir_word(const char *n)
{
	return !strcmp(n, "tmp") || !strcmp(n, "new") || !strcmp(n, "cur");
}

struct dent {
	char *name;
	unsigned char type;
};

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

/* Every entry of d but . and .., sorted by cmp; *n of them. */
static struct dent *list_dir(DIR *d, int (*cmp)(const void *, const void *), size_t *n)
{
	struct dirent *de;
	struct dent *v = NULL;
	size_t cap = 0;

	*n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] ||
		    (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[*n].name = xstrdup(de->d_name);
		v[(*n)++].type = de->d_type;
	}
	if (*n)
		qsort(v, *n, sizeof *v, cmp);
	return v;
}

static void dents_free(struct dent *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* Send every file of one new/ or cur/ directory, in name order: Maildir
 * names start with the delivery time, so an interrupted run has moved the
 * oldest mail, and the order is the same on every run. */
static int serve_dir(struct server *s, DIR *sd, int sfd, const char *srel, uint8_t *chunk,
    struct mm_err *err)
{
	size_t n;
	struct dent *v = list_dir(sd, dent_cmp, &n);
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (v[i].type != DT_REG && v[i].type != DT_UNKNOWN)
			server_warn(s, "%s/%s: not a regular file, skipped", srel, v[i].name);
		else
			rc = send_file(s, sfd, srel, v[i].name, chunk, err);
		if (rc == 0 && reader_stopped(s))
			rc = err_set(err, "%s", s->rerr.msg);
	}
	dents_free(v, n);
	return rc;
}

/* Serve the folder at rel (fd open), then its sub-folders. */
static int serve_folder(struct server *s, int fd, const char *rel, int depth, uint8_t *chunk,
    struct mm_err *err)
{
	static const char *const subs[] = { "new", "cur" };
	DIR *d;
	struct dirent *de;
	char **kids = NULL;
	size_t nkids = 0;
	int rc = 0;

	for (size_t k = 0; k < MM_NELEM(subs) && rc == 0; k++) {
		int sfd = openat(fd, subs[k], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		char srel[SYNC_MAX_PATH];
		int lfd;
		DIR *sd;

		if (sfd < 0) {
			if (errno != ENOENT)
				server_warn(s, "%s%s%s: %s", rel, *rel ? "/" : "", subs[k], strerror(errno));
			continue;
		}
		lfd = dup(sfd);
		sd = lfd >= 0 ? fdopendir(lfd) : NULL;
		if (!sd) {
			if (lfd >= 0)
				close(lfd);
			close(sfd);
			server_warn(s, "%s: cannot list", rel);
			continue;
		}
		if (snprintf_ok(srel, sizeof srel, "%s%s%s", rel, *rel ? "/" : "", subs[k]) < 0) {
			closedir(sd);
			close(sfd);
			continue;
		}
		rc = serve_dir(s, sd, sfd, srel, chunk, err);
		closedir(sd);
		close(sfd);
	}
	if (rc)
		return rc;
	if (depth >= SYNC_MAX_DEPTH)
		return 0;
	/* Sub-folders: any directory but tmp/new/cur (a plain directory may hold
	 * Maildirs further down). */
	{
		int lfd = dup(fd);
		d = lfd >= 0 ? fdopendir(lfd) : NULL;
		if (!d) {
			if (lfd >= 0)
				close(lfd);
			return 0;
		}
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
			    is_maildir_word(de->d_name))
				continue;
			if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
				continue;
			kids = xreallocarray(kids, nkids + 1, sizeof *kids);
			kids[nkids++] = xstrdup(de->d_name);
		}
		closedir(d);
	}
	for (size_t i = 0; i < nkids; i++) {
		char krel[SYNC_MAX_PATH];
		int kfd;

		if (rc == 0 && snprintf_ok(krel, sizeof krel, "%s%s%s", rel, *rel ? "/" : "",
		    kids[i]) == 0) {
			kfd = openat(fd, kids[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (kfd >= 0) {
				rc = serve_folder(s, kfd, krel, depth + 1, chunk, err);
				close(kfd);
			}
		}
		free(kids[i]);
	}
	free(kids);
	return rc;
}

/* The server takes SYNC_PROTO_MIN..SYNC_PROTO_VERSION and answers in the
 * client's version; the client wants its own back. */
static int check_hello(const struct sync_frame *f, uint32_t min, uint32_t *version,
    unsigned *flags, struct mm_err *err)
{
	uint32_t v;

	if (f->type == SYNC_F_REFUSE) {
		char t[256];
		sync_sanitize(f->payload, f->len, t, sizeof t);
		return err_set(err, "peer refused: %s", t);
	}
	if (f->type != SYNC_F_HELLO || f->len != SYNC_MAGIC_LEN + 8 ||
	    memcmp(f->payload, SYNC_MAGIC, SYNC_MAGIC_LEN))
		return err_set(err, "not an mm-sync peer (bad hello)");
	v = sync_get_u32(f->payload + SYNC_MAGIC_LEN);
	if (v < min || v > SYNC_PROTO_VERSION) {
		if (min == SYNC_PROTO_VERSION)
			return err_set(err, "protocol version %u, expected %u", v,
			    SYNC_PROTO_VERSION);
		return err_set(err, "protocol version %u, expected %u to %u", v, min,
		    SYNC_PROTO_VERSION);
	}
	if (version)
		*version = v;
	if (flags)
		*flags = sync_get_u32(f->payload + SYNC_MAGIC_LEN + 4);
	return 0;
}

static void send_hello(struct io *io, uint32_t version, unsigned flags)
{
	uint8_t h[SYNC_MAGIC_LEN + 8];

	memcpy(h, SYNC_MAGIC, SYNC_MAGIC_LEN);
	sync_put_u32(h + SYNC_MAGIC_LEN, version);
	sync_put_u32(h + SYNC_MAGIC_LEN + 4, flags);
	send_frame(io, SYNC_F_HELLO, h, sizeof h);
}

int sync_server(int rfd, int wfd, const char *dir, struct mm_err *err)
{
	struct server *s;
	struct sync_frame f;
	struct buf pl;
	pthread_condattr_t ca;
	pthread_t th;
	uint8_t *chunk;
	int rc = 0, started = 0, abandoned;

	/* On the heap: a reader left waiting on a silent client outlives
	 * this frame (see below). */
	s = xcalloc(1, sizeof *s);
	s->dir = dir;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->acked_cv, &ca);
	pthread_condattr_destroy(&ca);
	buf_init(&pl);
	buf_init(&s->scratch);
	io_init(&s->in, rfd, rfd, SYNC_TIMEOUT_MS);
	io_init(&s->out, wfd, wfd, SYNC_TIMEOUT_MS);
	s->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (read_frame(&s->in, &f, &pl, err) != IO_OK ||
	    check_hello(&f, SYNC_PROTO_MIN, &s->version, &s->flags, err) < 0) {
		err_wrap(err, "handshake");
		rc = -1;
		goto out;
	}
	if (s->rootfd < 0) {
		err_sys(err, "%s", dir);
		buf_reset(&s->scratch);
		buf_printf(&s->scratch, "server: %s", err->msg);
		send_frame(&s->out, SYNC_F_REFUSE, s->scratch.data,
		    s->scratch.len > SYNC_MAX_CTRL ? SYNC_MAX_CTRL : s->scratch.len);
		io_flush(&s->out, NULL);
		rc = -1;
		goto out;
	}
	send_hello(&s->out, s->version, 0);
	if (pthread_create(&th, NULL, server_reader, s) != 0) {
		rc = err_set(err, "cannot start the reader thread");
		goto out;
	}
	started = 1;
	chunk = xmalloc(SYNC_MAX_DATA);
	rc = serve_folder(s, s->rootfd, "", 0, chunk, err);
	free(chunk);
	if (rc == 0) {
		uint8_t z[8];
		sync_put_u64(z, s->nents);
		send_frame(&s->out, SYNC_F_DONE, z, sizeof z);
		if (out_flush(s, err) != IO_OK)
			rc = err_wrap(err, "sending");
	}
	if (rc == 0) {
		pthread_join(th, NULL);
		started = 0;
		if (s->reader_fatal) {
			*err = s->rerr;
			rc = -1;
		}
	}
	/* Whatever happened, make the deletions done so far durable.  A
	 * reader still waiting on a silent client is abandoned in the same
	 * locked section: from then on it deletes nothing unsynced. */
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->ndirty; i++) {
		int dfd = open_rel_dir(s->rootfd, s->dirty[i], strlen(s->dirty[i]), NULL);
		if (dfd >= 0) {
			if (fsync(dfd) < 0)
				s->failed++;
			close(dfd);
		}
	}
	abandoned = started && !s->reader_done;
	s->abandoned = abandoned;
	pthread_mutex_unlock(&s->mu);
	if (abandoned) {
		/* s (on the heap for this reason) is the reader's now: it
		 * frees it if it ends before the process does. */
		pthread_detach(th);
		buf_free(&pl);
		return rc ? rc : -1;
	}
	if (started)
		pthread_join(th, NULL);
	if (rc == 0) {
		uint8_t q[16];
		sync_put_u64(q, s->deleted);
		sync_put_u64(q + 8, s->failed);
		send_frame(&s->out, SYNC_F_QUIT, q, sizeof q);
		if (io_flush(&s->out, err) != IO_OK)
			rc = err_wrap(err, "sending");
	}
out:
	buf_free(&pl);
	server_free(s);
	return rc;
}

/* ---------- client ---------- */

struct folder {
	char *rel;              /* folder path below the root, "" for the root */
	int fd, sub[3];         /* folder, tmp, new, cur */
	int samedev;            /* on the root's file system: syncfs covers it */
	int tmpfile;            /* its file system takes O_TMPFILE (until it says no) */
	struct dent *cur;       /* local cur/ by Maildir base name, once needed */
	size_t ncur;
	int cur_listed;
};

struct pending {
	uint64_t id, size;
	uint8_t sha[SYNC_SHA_LEN];
	char *path;
};

/* The background flush: one syncfs at a time, run by a thread so that
 * the client goes on receiving and writing the next batch meanwhile.  A
 * batch's confirmations leave only after the syncfs that began after its
 * last file was named has returned. */
enum { SYNCER_IDLE, SYNCER_RUNNING, SYNCER_DONE };

struct syncer {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, quit, state, errnum;
	int fd;
};

struct client {
	int rootfd;
	dev_t rootdev;
	const struct sync_opts *o;
	struct sync_stats *st;
	struct io io;
	struct folder f;
	struct pending *pend;
	size_t npend, cap;
	struct pending *spend;  /* the batch being flushed by the syncer */
	size_t nspend, scap;
	struct syncer sy;
	uint64_t pend_bytes;
	int64_t pend_since;
	uint64_t confirmed;     /* confirmations sent */
	uint64_t acked;         /* stream bytes acknowledged to the server */
	int tmpfile;            /* try O_TMPFILE (env and /proc allow it) */
	/* the file being received */
	int active, tmpfd, sub, discard;
	int unnamed;            /* tmpfd is an O_TMPFILE file, tmpname unused */
	uint64_t id, size, left, last_id;
	char run[32];           /* pid and random: this run's tmp/ names */
	char tmpname[64];
	char path[SYNC_MAX_PATH + 1];
	const char *name;
	struct sha sh;
};

/* Tell the server how much of its stream has been read: every
 * SYNC_ACK_BYTES, and before the client would wait for more. */
static int send_ack(struct client *c, struct mm_err *err)
{
	size_t pending = io_pending(&c->io);
	uint64_t consumed = c->io.bytes_in - pending;
	uint8_t a[8];

	if (consumed == c->acked)
		return 0;
	if (consumed - c->acked < SYNC_ACK_BYTES &&
	    (pending || io_input_ready(&c->io, 0) != 0))
		return 0;
	sync_put_u64(a, consumed);
	send_frame(&c->io, SYNC_F_ACK, a, sizeof a);
	if (io_flush(&c->io, err) != IO_OK)
		return err_wrap(err, "sending");
	c->acked = consumed;
	return 0;
}

enum { SUB_TMP, SUB_NEW, SUB_CUR };

static void folder_close(struct folder *f)
{
	if (f->fd >= 0)
		close(f->fd);
	for (int i = 0; i < 3; i++)
		if (f->sub[i] >= 0)
			close(f->sub[i]);
	free(f->rel);
	f->rel = NULL;
	f->fd = f->sub[0] = f->sub[1] = f->sub[2] = -1;
	dents_free(f->cur, f->ncur);
	f->cur = NULL;
	f->ncur = 0;
	f->cur_listed = 0;
}

/* A Maildir name's unique part: up to the ':' that starts its flags. */
static size_t base_len(const char *n)
{
	const char *c = strchr(n, ':');

	return c ? (size_t)(c - n) : strlen(n);
}

static int name_base_cmp(const char *x, const char *y)
{
	size_t lx = base_len(x), ly = base_len(y);
	int r = memcmp(x, y, lx < ly ? lx : ly);

	return r ? r : (lx > ly) - (lx < ly);
}

static int base_cmp(const void *a, const void *b)
{
	return name_base_cmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static int open_or_make(int dirfd, const char *name, struct mm_err *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
			return err_sys(err, "mkdir %s", name);
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return err_sys(err, "open %s", name);
	return fd;
}

/* Remove what an interrupted earlier run left in tmp/ (ours only: we hold
 * the lock, so no other mm-sync writes there). */
static void clean_tmp(int tmpfd)
{
	int lfd = dup(tmpfd);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	struct dirent *de;

	if (!d) {
		if (lfd >= 0)
			close(lfd);
		return;
	}
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "mm-sync.", 8))
			unlinkat(tmpfd, de->d_name, 0);
	closedir(d);
}

static int folder_open(struct client *c, const char *rel, size_t len, struct mm_err *err)
{
	static const char *const subs[3] = { "tmp", "new", "cur" };
	struct folder *f = &c->f;
	int fd;
	size_t i = 0;

	if (f->rel && strlen(f->rel) == len && !memcmp(f->rel, rel, len))
		return 0;
	folder_close(f);
	fd = dup(c->rootfd);
	if (fd < 0)
		return err_sys(err, "dup");
	while (i < len) {
		size_t s = i;
		char comp[SYNC_MAX_NAME + 1];
		int nfd;

		while (i < len && rel[i] != '/')
			i++;
		memcpy(comp, rel + s, i - s);      /* checked: <= SYNC_MAX_NAME */
		comp[i - s] = '\0';
		nfd = open_or_make(fd, comp, err);
		close(fd);
		if (nfd < 0)
			return err_wrap(err, "folder %.*s", (int)len, rel);
		fd = nfd;
		i++;
	}
	f->fd = fd;
	f->rel = xstrndup(rel, len);
	for (int k = 0; k < 3; k++) {
		f->sub[k] = open_or_make(fd, subs[k], err);
		if (f->sub[k] < 0) {
			folder_close(f);
			return err_wrap(err, "folder %.*s", (int)len, rel);
		}
	}
	{
		struct stat ss[3];
		for (int k = 0; k < 3; k++)
			if (fstat(f->sub[k], &ss[k]) < 0) {
				err_sys(err, "folder %.*s", (int)len, rel);
				folder_close(f);
				return -1;
			}
		if (ss[SUB_TMP].st_dev != ss[SUB_NEW].st_dev || ss[SUB_TMP].st_dev != ss[SUB_CUR].st_dev) {
			folder_close(f);
			return err_set(err, "folder %.*s: tmp, new and cur are not on one file system",
			    (int)len, rel);
		}
		/* syncfs(root) covers this folder only on the root's file system */
		f->samedev = ss[SUB_TMP].st_dev == c->rootdev;
	}
	f->tmpfile = c->tmpfile;
	if (!(c->o->flags & SYNC_FLAG_DRY))
		clean_tmp(f->sub[SUB_TMP]);
	return 0;
}

static void progress(struct client *c, int final)
{
	int64_t now = now_ms();
	double secs;

	if (!c->o->progress || (!final && now - c->st->last_progress_ms < 200))
		return;
	c->st->last_progress_ms = now;
	secs = (double)(now - c->st->start_ms) / 1000.0;
	fprintf(stderr, "\rmm-sync: %llu messages, %.1f MiB, %.1f MiB/s   %s",
	    (unsigned long long)c->st->moved, (double)c->st->bytes / 1048576.0,
	    secs > 0 ? (double)c->st->bytes / 1048576.0 / secs : 0.0, final ? "\n" : "");
	fflush(stderr);
}

static void drop_current(struct client *c)
{
	if (!c->active)
		return;
	if (c->tmpfd >= 0) {
		close(c->tmpfd);
		c->tmpfd = -1;
		if (!c->unnamed && c->f.sub[SUB_TMP] >= 0)
			unlinkat(c->f.sub[SUB_TMP], c->tmpname, 0);
	}
	sha_drop(&c->sh);
	c->active = 0;
}

static void *syncer_main(void *arg)
{
	struct syncer *y = arg;
	int e;

	pthread_mutex_lock(&y->mu);
	for (;;) {
		while (!y->quit && y->state != SYNCER_RUNNING)
			pthread_cond_wait(&y->cv, &y->mu);
		if (y->quit)
			break;
		pthread_mutex_unlock(&y->mu);
		e = syncfs(y->fd) < 0 ? errno : 0;
		pthread_mutex_lock(&y->mu);
		y->errnum = e;
		y->state = SYNCER_DONE;
		pthread_cond_broadcast(&y->cv);
	}
	pthread_mutex_unlock(&y->mu);
	return NULL;
}

static void syncer_stop(struct syncer *y)
{
	if (!y->started)
		return;
	pthread_mutex_lock(&y->mu);
	while (y->state == SYNCER_RUNNING)
		pthread_cond_wait(&y->cv, &y->mu);
	y->quit = 1;
	pthread_cond_broadcast(&y->cv);
	pthread_mutex_unlock(&y->mu);
	pthread_join(y->th, NULL);
	pthread_cond_destroy(&y->cv);
	pthread_mutex_destroy(&y->mu);
	y->started = 0;
}

static void free_pending(struct pending *v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free(v[i].path);
	*n = 0;
}

/* If the batch in flight is durable (or, with wait, once it is), send its
 * confirmations.  0, or -1 if its syncfs failed or sending did. */
static int commit_reap(struct client *c, int wait, struct mm_err *err)
{
	struct syncer *y = &c->sy;
	int e;

	if (!c->nspend)
		return 0;
	pthread_mutex_lock(&y->mu);
	if (!wait && y->state != SYNCER_DONE) {
		pthread_mutex_unlock(&y->mu);
		return 0;
	}
	while (y->state != SYNCER_DONE)
		pthread_cond_wait(&y->cv, &y->mu);
	y->state = SYNCER_IDLE;
	e = y->errnum;
	pthread_mutex_unlock(&y->mu);
	if (e) {
		errno = e;
		err_sys(err, "syncfs");
		c->st->failed += c->nspend;
		free_pending(c->spend, &c->nspend);
		return -1;
	}
	for (size_t i = 0; i < c->nspend; i++) {
		struct pending *p = &c->spend[i];
		size_t pl = strlen(p->path);
		uint8_t h[16 + SYNC_SHA_LEN + SYNC_MAX_PATH];

		sync_put_u64(h, p->id);
		sync_put_u64(h + 8, p->size);
		memcpy(h + 16, p->sha, SYNC_SHA_LEN);
		memcpy(h + 16 + SYNC_SHA_LEN, p->path, pl);
		send_frame(&c->io, SYNC_F_CONFIRM, h, 16 + SYNC_SHA_LEN + pl);
	}
	c->confirmed += c->nspend;
	free_pending(c->spend, &c->nspend);
	if (io_flush(&c->io, err) != IO_OK)
		return err_wrap(err, "sending confirmations");
	return 0;
}

/* Hand the pending batch to the syncer (after the previous one is
 * confirmed).  -k and -n: the server deletes nothing and takes no
 * confirmation (one would end the session), so nothing is flushed. */
static int commit_start(struct client *c, struct mm_err *err)
{
	struct syncer *y = &c->sy;
	struct pending *t;
	size_t tcap;

	if (!c->npend)
		return 0;
	if (c->o->flags & (SYNC_FLAG_DRY | SYNC_FLAG_KEEP)) {
		free_pending(c->pend, &c->npend);
		c->pend_bytes = 0;
		return 0;
	}
	if (commit_reap(c, 1, err) < 0)
		return -1;
	if (!y->started) {
		pthread_mutex_init(&y->mu, NULL);
		pthread_cond_init(&y->cv, NULL);
		y->fd = c->rootfd;
		y->state = SYNCER_IDLE;
		y->quit = 0;
		if (pthread_create(&y->th, NULL, syncer_main, y) != 0) {
			pthread_cond_destroy(&y->cv);
			pthread_mutex_destroy(&y->mu);
			return err_set(err, "cannot start the flushing thread");
		}
		y->started = 1;
	}
	/* swap the lists: the pending one keeps its allocation for reuse */
	t = c->spend, c->spend = c->pend, c->pend = t;
	tcap = c->scap, c->scap = c->cap, c->cap = tcap;
	c->nspend = c->npend;
	c->npend = 0;
	c->pend_bytes = 0;
	pthread_mutex_lock(&y->mu);
	y->state = SYNCER_RUNNING;
	pthread_cond_broadcast(&y->cv);
	pthread_mutex_unlock(&y->mu);
	return 0;
}

/* Make everything pending durable and confirm it, now. */
static int commit(struct client *c, struct mm_err *err)
{
	if (commit_start(c, err) < 0)
		return -1;
	return commit_reap(c, 1, err);
}

/* Is the file at dirfd/name a regular file with this size and hash? */
static int same_content(int dirfd, const char *name, uint64_t size, const uint8_t *sha)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	struct sha sh;
	uint8_t d[SYNC_SHA_LEN], b[65536];
	ssize_t n;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		close(fd);
		return 0;
	}
	sha_init(&sh);
	while ((n = read(fd, b, sizeof b)) > 0)
		sha_update(&sh, b, (size_t)n);
	close(fd);
	sha_final(&sh, d);
	return n == 0 && !memcmp(d, sha, SYNC_SHA_LEN);
}

/* Was this message stored by an earlier run that died before the server
 * deleted it, and has a reader since moved it to cur/ or changed its
 * flags?  Then local cur/ holds its base name with the same bytes, and a
 * second copy would be a duplicate.  cur/ is listed once per folder and
 * run, at its first message; a file is opened only on a base-name match. */
static int in_local_cur(struct client *c, const uint8_t *sha)
{
	struct folder *f = &c->f;
	size_t lo, hi, b = base_len(c->name);

	if (!f->cur_listed) {
		int lfd = dup(f->sub[SUB_CUR]);
		DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;

		f->cur_listed = 1;
		if (!d) {
			if (lfd >= 0)
				close(lfd);
			return 0;
		}
		f->cur = list_dir(d, base_cmp, &f->ncur);
		closedir(d);
	}
	/* lower bound of the base name, then every entry sharing it */
	for (lo = 0, hi = f->ncur; lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		if (name_base_cmp(f->cur[mid].name, c->name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == f->ncur || base_len(f->cur[lo].name) != b || memcmp(f->cur[lo].name, c->name, b))
		return 0;
	if (faccessat(f->sub[c->sub], c->name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;       /* the same name: place() sorts that out */
	for (; lo < f->ncur && base_len(f->cur[lo].name) == b &&
	    !memcmp(f->cur[lo].name, c->name, b); lo++)
		if (strcmp(f->cur[lo].name, c->name) &&
		    same_content(f->sub[SUB_CUR], f->cur[lo].name, c->size, sha))
			return 1;
	return 0;
}

/* Give the received file (fd, unnamed; else c->tmpname in tmpdir) the
 * name dst/name, never replacing one: -1 with errno EEXIST if taken. */
static int place(struct client *c, int fd, int tmpdir, int dst, const char *name)
{
	if (c->unnamed) {
		char proc[sizeof SYNC_PROC_FD_DIR + 3 * sizeof(int) + 2];

		if (snprintf_ok(proc, sizeof proc, SYNC_PROC_FD_DIR "/%d", fd) < 0) {
			errno = ENAMETOOLONG;
			return -1;
		}
		return linkat(AT_FDCWD, proc, dst, name, AT_SYMLINK_FOLLOW);
	}
	if (renameat2(tmpdir, c->tmpname, dst, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(tmpdir, c->tmpname, dst, name, 0) < 0)
		return -1;
	unlinkat(tmpdir, c->tmpname, 0);
	return 0;
}

static void add_pending(struct client *c, const uint8_t *sha)
{
	struct pending *p;

	if (c->npend == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->pend = xreallocarray(c->pend, c->cap, sizeof *c->pend);
	}
	if (!c->npend)
		c->pend_since = now_ms();
	p = &c->pend[c->npend++];
	p->id = c->id;
	p->size = c->size;
	memcpy(p->sha, sha, SYNC_SHA_LEN);
	p->path = xstrdup(c->path);
	c->pend_bytes += c->size;
}

/* Let go of the received file without keeping it: an unnamed one
 * vanishes with its descriptor, a named one is removed from tmp/. */
static void drop_tmp(struct client *c, int fd)
{
	if (fd >= 0)
		close(fd);
	if (!c->unnamed)
		unlinkat(c->f.sub[SUB_TMP], c->tmpname, 0);
}

/* The whole file arrived and its hash matched: move it into place. */
static int finish_file(struct client *c, const uint8_t *sha, struct mm_err *err)
{
	int tmpdir = c->f.sub[SUB_TMP], dst = c->f.sub[c->sub];
	char alt[SYNC_MAX_NAME + 1];
	int fd = c->tmpfd;

	c->tmpfd = -1;
	/* Off the root's file system syncfs does not reach it: the data is
	 * made durable before it gets its name, the name after. */
	if (!c->f.samedev && fsync(fd) < 0) {
		err_sys(err, "fsync %s", c->path);
		drop_tmp(c, fd);
		return -1;
	}
	/* A named file is closed now (its name is what moves); an unnamed
	 * one needs its descriptor until linkat has named it. */
	if (!c->unnamed) {
		if (close(fd) < 0) {
			err_sys(err, "close %s", c->path);
			drop_tmp(c, -1);
			return -1;
		}
		fd = -1;
	}
	if (in_local_cur(c, sha)) {
		drop_tmp(c, fd);
		fd = -1;
		c->st->already++;
		if (c->o->verbose)
			printf("%s (already here, read since)\n", c->path);
	} else if (place(c, fd, tmpdir, dst, c->name) == 0) {
		c->st->moved++;
		c->st->bytes += c->size;
		if (c->o->verbose)
			printf("%s\n", c->path);
	} else if (errno != EEXIST) {
		err_sys(err, "%s", c->path);
		drop_tmp(c, fd);
		return -1;
	} else if (same_content(dst, c->name, c->size, sha)) {
		drop_tmp(c, fd);
		fd = -1;
		c->st->already++;
		if (c->o->verbose)
			printf("%s (already here)\n", c->path);
	} else {
		/* Same name, other content: keep both, the new one renamed
		 * before the ":2," info so its flags still read. */
		const char *colon = strchr(c->name, ':');
		size_t base = colon ? (size_t)(colon - c->name) : strlen(c->name);
		int done = 0;

		for (int tries = 0; tries < 8 && !done; tries++) {
			uint8_t r[6];
			char hex[13];

			random_bytes(r, sizeof r);
			hex_encode(r, sizeof r, hex);
			if (snprintf_ok(alt, sizeof alt, "%.*s.mmsync-%s%s", (int)base, c->name, hex,
			    c->name + base) < 0)
				break;
			if (place(c, fd, tmpdir, dst, alt) == 0)
				done = 1;
			else if (errno != EEXIST)
				break;
		}
		if (!done) {
			err_sys(err, "%s: exists with other content, cannot keep a copy", c->path);
			drop_tmp(c, fd);
			return -1;
		}
		c->st->conflicts++;
		c->st->moved++;
		c->st->bytes += c->size;
		fprintf(stderr, "%s: %s: exists with other content; kept the new one as %s\n",
		    "mm-sync", c->path, alt);
	}
	/* Named (or dropped) now: the descriptor has done its work.  Its data
	 * was written before; a late write-back error shows at syncfs/fsync,
	 * which fails the batch, so nothing unwritten is confirmed. */
	if (fd >= 0)
		close(fd);
	if (!c->f.samedev && fsync(dst) < 0)
		return err_sys(err, "fsync %s", c->path);
	add_pending(c, sha);
	return 0;
}

/* This message cannot be stored here (its folder cannot be made, tmp/ is
 * full...): report it, read its bytes to keep the stream in step, keep
 * nothing, confirm nothing.  The other folders still go through. */
static int discard(struct client *c, struct mm_err *err)
{
	mm_warnx("%s: %s; not moved", c->path, err->msg);
	err_clear(err);
	c->st->failed++;
	c->discard = 1;
	return 0;
}

static int begin_file(struct client *c, const struct sync_frame *fr, struct mm_err *err)
{
	size_t plen, folderlen, cut[2] = { 0, 0 };
	const char *p;

	if (fr->len <= 16)
		return err_set(err, "short file frame");
	c->id = sync_get_u64(fr->payload);
	c->size = sync_get_u64(fr->payload + 8);
	p = (const char *)fr->payload + 16;
	plen = fr->len - 16;
	if (c->id <= c->last_id)
		return err_set(err, "file ids out of order");
	c->last_id = c->id;
	if (c->size > SYNC_MAX_MSG_SIZE)
		return err_set(err, "announced size %llu too large", (unsigned long long)c->size);
	if (sync_path_check(p, plen, err) < 0)
		return -1;
	memcpy(c->path, p, plen);
	c->path[plen] = '\0';
	/* path = [folder/]sub/name */
	for (size_t i = plen, k = 0; i-- > 0 && k < 2;)
		if (c->path[i] == '/')
			cut[k++] = i;
	c->name = c->path + cut[0] + 1;
	c->sub = c->path[cut[0] - 3] == 'n' ? SUB_NEW : SUB_CUR;
	folderlen = cut[0] > 3 ? cut[1] : 0;
	c->st->offered++;
	if (c->o->flags & SYNC_FLAG_DRY) {
		printf("%s\n", c->path);
		return 0;
	}
	sha_init(&c->sh);
	c->left = c->size;
	c->active = 1;
	c->discard = 0;
	if (folder_open(c, c->path, folderlen, err) < 0)
		return discard(c, err);
	/* An unnamed file in the destination directory: no tmp/ entry to add
	 * and remove, nothing left behind by a kill, and its inode is
	 * allocated near the directory that will name it. */
	c->unnamed = 0;
	if (c->f.tmpfile) {
		c->tmpfd = openat(c->f.sub[c->sub], ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		if (c->tmpfd >= 0) {
			c->unnamed = 1;
			return 0;
		}
		/* No O_TMPFILE here (old kernel: EISDIR; file system: EOPNOTSUPP
		 * or EINVAL): tmp/ for the rest of this folder. */
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
			err_sys(err, "create an unnamed file");
			return discard(c, err);
		}
		c->f.tmpfile = 0;
	}
	c->st->via_tmp++;
	if (snprintf_ok(c->tmpname, sizeof c->tmpname, "mm-sync.%s.%llu", c->run,
	    (unsigned long long)c->id) < 0)
		return err_set(err, "tmp name");
	c->tmpfd = openat(c->f.sub[SUB_TMP], c->tmpname,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->tmpfd < 0) {
		err_sys(err, "create tmp file");
		return discard(c, err);
	}
	return 0;
}

enum sync_result sync_client(int rfd, int wfd, int rootfd, const struct sync_opts *o,
    struct sync_stats *st, struct mm_err *err)
{
	struct client c;
	struct sync_frame fr;
	struct buf pl;
	struct stat rst;
	enum sync_result res = SYNC_OK;
	int done = 0;
	char text[512];

	memset(&c, 0, sizeof c);
	c.rootfd = rootfd;
	c.o = o;
	c.st = st;
	c.tmpfd = -1;
	c.f.fd = c.f.sub[0] = c.f.sub[1] = c.f.sub[2] = -1;
	if (fstat(rootfd, &rst) < 0)
		return err_sys(err, "local Maildir"), SYNC_LOCAL;
	c.rootdev = rst.st_dev;
	c.tmpfile = !getenv(SYNC_NO_TMPFILE_ENV) && access(SYNC_PROC_FD_DIR, X_OK) == 0;
	{
		uint8_t r[4];
		char hex[9];
		random_bytes(r, sizeof r);
		hex_encode(r, sizeof r, hex);
		if (snprintf_ok(c.run, sizeof c.run, "%ld.%s", (long)getpid(), hex) < 0)
			return err_set(err, "tmp name"), SYNC_LOCAL;
	}
	buf_init(&pl);
	io_init(&c.io, rfd, wfd, SYNC_TIMEOUT_MS);
	io_set_read_chunk(&c.io, SYNC_READ_CHUNK);
	if (!st->start_ms)
		st->start_ms = now_ms();

	send_hello(&c.io, SYNC_PROTO_VERSION, o->flags);
	if (io_flush(&c.io, err) != IO_OK || read_frame(&c.io, &fr, &pl, err) != IO_OK ||
	    check_hello(&fr, SYNC_PROTO_VERSION, NULL, NULL, err) < 0) {
		if (!err->msg[0])
			err_set(err, "connection closed");
		err_wrap(err, "handshake");
		res = SYNC_CONNECT;
		goto out;
	}
	while (!done) {
		enum io_result r;

		if (commit_reap(&c, 0, err) < 0)
			goto fail;
		if (c.npend && !io_pending(&c.io) && io_input_ready(&c.io, 0) == 0 &&
		    now_ms() - c.pend_since >= SYNC_BATCH_MS && commit(&c, err) < 0)
			goto fail;
		if (send_ack(&c, err) < 0)
			goto fail;
		r = read_frame(&c.io, &fr, &pl, err);
		if (r == IO_EOF) {
			err_set(err, "server closed the connection");
			goto fail;
		}
		if (r != IO_OK)
			goto fail;
		switch (fr.type) {
		case SYNC_F_FILE:
			if (c.active) {
				err_set(err, "new file before the end of %s", c.path);
				goto fail;
			}
			if (begin_file(&c, &fr, err) < 0)
				goto fail;
			break;
		case SYNC_F_DATA:
			if (!c.active || fr.len > c.left) {
				err_set(err, "more data than announced");
				goto fail;
			}
			sha_update(&c.sh, fr.payload, fr.len);
			if (c.tmpfd >= 0 && write_all(c.tmpfd, fr.payload, fr.len) < 0) {
				err_sys(err, "write %s", c.path);
				goto fail;
			}
			c.left -= fr.len;
			break;
		case SYNC_F_END: {
			uint8_t d[SYNC_SHA_LEN];
			if (!c.active || fr.len != 8 + SYNC_SHA_LEN ||
			    sync_get_u64(fr.payload) != c.id) {
				err_set(err, "unexpected end frame");
				goto fail;
			}
			if (c.left) {
				err_set(err, "%s: %llu bytes missing", c.path, (unsigned long long)c.left);
				goto fail;
			}
			if (c.discard) {
				drop_current(&c);
				break;
			}
			sha_final(&c.sh, d);
			if (memcmp(d, fr.payload + 8, SYNC_SHA_LEN)) {
				drop_current(&c);
				mm_warnx("%s: SHA-256 mismatch, not kept", c.path);
				st->failed++;
				break;
			}
			c.active = 0;
			if (finish_file(&c, d, err) < 0) {
				mm_warnx("%s", err->msg);
				err_clear(err);
				st->failed++;
			}
			progress(&c, 0);
			if ((c.npend >= SYNC_BATCH_FILES || c.pend_bytes >= SYNC_BATCH_BYTES) &&
			    commit_start(&c, err) < 0)
				goto fail;
			break;
		}
		case SYNC_F_SKIP:
			if (!c.active || fr.len < 8 || sync_get_u64(fr.payload) != c.id) {
				err_set(err, "unexpected skip frame");
				goto fail;
			}
			drop_current(&c);
			sync_sanitize(fr.payload + 8, fr.len - 8, text, sizeof text);
			mm_warnx("%s: skipped by the server: %s", c.path, text);
			st->skipped++;
			break;
		case SYNC_F_WARN:
			sync_sanitize(fr.payload, fr.len, text, sizeof text);
			mm_warnx("server: %s", text);
			st->skipped++;
			break;
		case SYNC_F_DONE:
			if (c.active) {
				err_set(err, "end of stream inside %s", c.path);
				goto fail;
			}
			done = 1;
			break;
		case SYNC_F_REFUSE:
			sync_sanitize(fr.payload, fr.len, text, sizeof text);
			err_set(err, "server: %s", text);
			goto fail;
		default:
			err_set(err, "unexpected frame '%c'", isprint(fr.type) ? fr.type : '?');
			goto fail;
		}
	}
	if (commit(&c, err) < 0)
		goto fail;
	send_frame(&c.io, SYNC_F_BYE, NULL, 0);
	if (io_flush(&c.io, err) != IO_OK || read_frame(&c.io, &fr, &pl, err) != IO_OK) {
		if (!err->msg[0])
			err_set(err, "server closed the connection");
		goto fail;
	}
	if (fr.type != SYNC_F_QUIT || fr.len != 16) {
		err_set(err, "bad final frame from the server");
		goto fail;
	}
	st->deleted += sync_get_u64(fr.payload);
	if (sync_get_u64(fr.payload) != c.confirmed || sync_get_u64(fr.payload + 8)) {
		mm_warnx("server deleted %llu of %llu confirmed messages",
		    (unsigned long long)sync_get_u64(fr.payload), (unsigned long long)c.confirmed);
		st->failed++;
	}
	if (st->skipped || st->failed)
		res = SYNC_PARTIAL;
	goto out;
fail:
	res = SYNC_PARTIAL;
	drop_current(&c);
out:
	drop_current(&c);
	syncer_stop(&c.sy);
	free_pending(c.pend, &c.npend);
	free(c.pend);
	free_pending(c.spend, &c.nspend);
	free(c.spend);
	folder_close(&c.f);
	st->wire_in += c.io.bytes_in;
	st->wire_out += c.io.bytes_out;
	io_close(&c.io);
	buf_free(&pl);
	progress(&c, 1);
	return res;
}

/* The local Maildir must take mail before any server is asked to delete:
 * tmp/, new/ and cur/ are real directories (made unless dry), all on one
 * file system since rename(2) cannot cross one, and tmp/ takes a new file
 * — a probe created and removed, since access(2) says yes to root on a
 * read-only mount. */
int sync_local_check(int rootfd, int dry, struct mm_err *err)
{
	static const char *const subs[3] = { "tmp", "new", "cur" };
	struct stat st[3];
	int have[3] = { 0, 0, 0 };
	char probe[64];
	uint8_t r[4];
	char hex[9];
	int fd;

	for (int i = 0; i < 3; i++) {
		if (!dry && mkdirat(rootfd, subs[i], 0700) < 0 && errno != EEXIST)
			return err_sys(err, "%s", subs[i]);
		fd = openat(rootfd, subs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && dry && errno == ENOENT)
			continue;
		if (fd < 0 || fstat(fd, &st[i]) < 0) {
			err_sys(err, "%s", subs[i]);
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
		have[i] = 1;
	}
	for (int i = 1; i < 3; i++)
		if (have[0] && have[i] && st[0].st_dev != st[i].st_dev)
			return err_set(err, "tmp, new and cur are not on one file system");
	if (dry)
		return 0;
	random_bytes(r, sizeof r);
	hex_encode(r, sizeof r, hex);
	if (snprintf_ok(probe, sizeof probe, "tmp/mm-sync.probe.%ld.%s", (long)getpid(), hex) < 0)
		return err_set(err, "probe name");
	fd = openat(rootfd, probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, "tmp: not writable");
	close(fd);
	if (unlinkat(rootfd, probe, 0) < 0)
		return err_sys(err, "tmp: cannot remove a file");
	return 0;
}

/* ---------- command-line helpers ---------- */

int sync_parse_source(const char *s, char **host, char **path, struct mm_err *err)
{
	const char *colon = strchr(s, ':');

	if (!colon || colon == s || !colon[1])
		return err_set(err, "%s: expected [user@]host:DIR", s);
	if (s[0] == '-')
		return err_set(err, "%s: a host may not start with '-'", s);
	*host = xstrndup(s, (size_t)(colon - s));
	*path = xstrdup(colon + 1);
	return 0;
}

char *sync_shell_quote(const char *s)
{
	struct buf b;

	buf_init(&b);
	buf_putc(&b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			buf_puts(&b, "'\\''");
		else
			buf_putc(&b, *s);
	}
	buf_putc(&b, '\'');
	return buf_steal(&b);
}
