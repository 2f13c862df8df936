/*
 * queue — see queue.h.
 *
 * Why the lock is on the message file: the envelope is replaced by rename
 * on every update, so a lock on it would be on a file that stops existing;
 * the message file is written once and keeps its inode for life.
 */
#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const state_names[] = { "pending", "sent", "failed" };

void queue_env_init(struct queue_env *e)
{
	memset(e, 0, sizeof(*e));
}

void queue_env_free(struct queue_env *e)
{
	free(e->r);
	e->r = NULL;
	e->nr = 0;
}

void queue_env_add_rcpt(struct queue_env *e, const char *addr)
{
	e->r = xreallocarray(e->r, e->nr + 1, sizeof(*e->r));
	memset(&e->r[e->nr], 0, sizeof(e->r[0]));
	if (snprintf_ok(e->r[e->nr].addr, sizeof(e->r[0].addr), "%s", addr) < 0) e->r[e->nr].addr[0] = '\0';   /* "": queue_env_check refuses it */
	e->nr++;
}

/* Printable ASCII only: a text goes into a line of the envelope and,
 * later, into a DSN's Diagnostic-Code, which is 7-bit. */
static int text_byte_ok(unsigned char c)
{
	return c >= 32 && c < 127;
}

void queue_text_set(char dst[QUEUE_TEXT_MAX], const char *text)
{
	size_t i;

	for (i = 0; text[i] && i < QUEUE_TEXT_MAX - 1; i++) {
		unsigned char c = (unsigned char)text[i];
		dst[i] = text_byte_ok(c) ? (char)c : '?';
	}
	dst[i] = 0;
}

const char *queue_rstate_name(enum queue_rstate st)
{
	return (unsigned)st < MM_NELEM(state_names) ? state_names[st] : "?";
}

int queue_expired(const struct queue_env *e, long long now)
{
	return now - e->created >= QUEUE_EXPIRE;
}

static int id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > QUEUE_ID_MAX || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || s[i] == '.'))
			return 0;
	return 1;
}

static int addr_field_ok(const char *s, int empty_ok)
{
	struct addr a;
	struct mm_err e;

	if (!*s)
		return empty_ok;
	/* a space would end the field early (rcpt lines go on with TEXT) */
	for (const char *p = s; *p; p++)
		if (!text_byte_ok((unsigned char)*p) || *p == ' ')
			return 0;
	return s[0] != '-' && addr_parse_mailbox(s, strlen(s), &a, &e) == 0;
}

static int text_ok(const char *s)
{
	for (; *s; s++)
		if (!text_byte_ok((unsigned char)*s))
			return 0;
	return 1;
}

/* A DNS name (letters, digits, '-', '.', '_') or an address literal in
 * brackets: what an MX name or a connected address can look like. */
static int host_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > QUEUE_HOST_MAX)
		return 0;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return 0;
		for (size_t i = 1; i < n - 1; i++)
			if (!(ascii_tolower(s[i]) >= 'a' && ascii_tolower(s[i]) <= 'f') &&
			    !(s[i] >= '0' && s[i] <= '9') && s[i] != '.' && s[i] != ':')
				return 0;
		return 1;
	}
	if (s[0] == '-' || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = ascii_tolower(s[i]);
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_'))
			return 0;
	}
	return 1;
}

int queue_host_set(char dst[QUEUE_HOST_MAX + 1], const char *host)
{
	if (!host_ok(host)) {
		dst[0] = 0;
		return -1;
	}
	memcpy(dst, host, strlen(host) + 1);
	return 0;
}

int queue_env_check(const struct queue_env *e, struct mm_err *err)
{
	if (!id_ok(e->id))
		return err_set(err, "envelope: bad job id");
	if (!addr_field_ok(e->from, 1))
		return err_set(err, "envelope: sender is not a plain address");
	if (!text_ok(e->last_error))
		return err_set(err, "envelope: control byte in the last error");
	if (e->nr == 0 || e->nr > QUEUE_RCPT_MAX)
		return err_set(err, "envelope: %zu recipients", e->nr);
	for (size_t i = 0; i < e->nr; i++) {
		const struct queue_rcpt *r = &e->r[i];
		if (!addr_field_ok(r->addr, 0))
			return err_set(err, "envelope: recipient %zu is not a plain address", i + 1);
		if ((unsigned)r->state >= MM_NELEM(state_names) || !text_ok(r->text) ||
		    (r->mta[0] && !host_ok(r->mta)) || r->last_try < 0)
			return err_set(err, "envelope: recipient %zu: bad state, text or host", i + 1);
	}
	if (e->created < 0 || e->next_try < 0 || e->last_try < 0 || e->signed_at < 0)
		return err_set(err, "envelope: negative time");
	if (e->own_sigs > QUEUE_OWN_SIGS_MAX)
		return err_set(err, "envelope: %u own signatures", e->own_sigs);
	return 0;
}

void queue_env_encode(const struct queue_env *e, struct buf *out)
{
	buf_printf(out, "mm-queue 1\nid %s\ncreated %lld\nsize %zu\nfrom %s\nattempts %u\n"
	    "next-try %lld\nlast-try %lld\nlast-error %s\n", e->id, e->created, e->size, e->from,
	    e->attempts, e->next_try, e->last_try, e->last_error);
	if (e->own_sigs)
		buf_printf(out, "signed %u %lld\n", e->own_sigs, e->signed_at);
	for (size_t i = 0; i < e->nr; i++) {
		const struct queue_rcpt *r = &e->r[i];
		buf_printf(out, "rcpt %s %s%s%s\n", queue_rstate_name(r->state), r->addr,
		    r->text[0] ? " " : "", r->text);
		if (r->mta[0])
			buf_printf(out, "rcpt-mta %s\n", r->mta);
		if (r->last_try)
			buf_printf(out, "rcpt-try %lld\n", r->last_try);
		if (r->notified)
			buf_puts(out, "rcpt-notified 1\n");
	}
}

static int num(const char *v, long long *out)
{
	return parse_long(v, 0, (long long)1 << 62, out);
}

int queue_env_decode(const char *s, size_t len, struct queue_env *e, struct mm_err *err)
{
	size_t pos = 0, line = 0;
	int seen_id = 0;

	queue_env_init(e);
	if (memchr(s, 0, len))
		return err_set(err, "envelope: NUL byte");
	while (pos < len) {
		const char *nl = memchr(s + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - s) : len;
		char l[QUEUE_TEXT_MAX + ADDR_STR_MAX + 64];
		char *key, *v;
		long long x;

		line++;
		if (end - pos >= sizeof(l))
			goto bad;
		memcpy(l, s + pos, end - pos);
		l[end - pos] = 0;
		pos = nl ? end + 1 : len;
		key = l;
		v = strchr(l, ' ');
		if (v)
			*v++ = 0;
		else
			v = l + strlen(l);
		if (line == 1) {
			if (strcmp(key, "mm-queue") || strcmp(v, "1"))
				goto bad;
		} else if (!strcmp(key, "id")) {
			if (!id_ok(v))
				goto bad;
			if (snprintf_ok(e->id, sizeof(e->id), "%s", v) < 0) goto bad;   /* id_ok: <= QUEUE_ID_MAX */
			seen_id = 1;
		} else if (!strcmp(key, "created")) {
			if (num(v, &e->created) < 0)
				goto bad;
		} else if (!strcmp(key, "size")) {
			if (num(v, &x) < 0)
				goto bad;
			e->size = (size_t)x;
		} else if (!strcmp(key, "from")) {
			if (!addr_field_ok(v, 1))
				goto bad;
			if (snprintf_ok(e->from, sizeof(e->from), "%s", v) < 0) goto bad;   /* addr_field_ok: <= ADDR_STR_MAX - 1 */
		} else if (!strcmp(key, "attempts")) {
			if (parse_long(v, 0, 1000000, &x) < 0)
				goto bad;
			e->attempts = (unsigned)x;
		} else if (!strcmp(key, "next-try")) {
			if (num(v, &e->next_try) < 0)
				goto bad;
		} else if (!strcmp(key, "last-try")) {
			if (num(v, &e->last_try) < 0)
				goto bad;
		} else if (!strcmp(key, "last-error")) {
			queue_text_set(e->last_error, v);
		} else if (!strcmp(key, "signed")) {
			char *t = strchr(v, ' ');
			if (!t)
				goto bad;
			*t++ = 0;
			if (parse_long(v, 1, QUEUE_OWN_SIGS_MAX, &x) < 0 || num(t, &e->signed_at) < 0)
				goto bad;
			e->own_sigs = (unsigned)x;
		} else if (!strcmp(key, "rcpt")) {
			char *a = strchr(v, ' '), *t;
			int st = -1;
			if (!a)
				goto bad;
			*a++ = 0;
			for (int i = 0; i < 3; i++)
				if (!strcmp(v, state_names[i]))
					st = i;
			t = strchr(a, ' ');
			if (t)
				*t++ = 0;
			if (st < 0 || !addr_field_ok(a, 0) || e->nr >= QUEUE_RCPT_MAX)
				goto bad;
			queue_env_add_rcpt(e, a);
			e->r[e->nr - 1].state = (enum queue_rstate)st;
			if (t)
				queue_text_set(e->r[e->nr - 1].text, t);
		} else if (!strcmp(key, "rcpt-mta")) {
			if (e->nr == 0 || queue_host_set(e->r[e->nr - 1].mta, v) < 0)
				goto bad;
		} else if (!strcmp(key, "rcpt-try")) {
			if (e->nr == 0 || num(v, &e->r[e->nr - 1].last_try) < 0)
				goto bad;
		} else if (!strcmp(key, "rcpt-notified")) {
			if (e->nr == 0 || strcmp(v, "1"))
				goto bad;
			e->r[e->nr - 1].notified = 1;
		} else {
			goto bad;
		}
		continue;
bad:
		queue_env_free(e);
		return err_set(err, "envelope line %zu: not understood", line);
	}
	if (line == 0 || !seen_id || e->nr == 0) {
		queue_env_free(e);
		return err_set(err, "envelope: incomplete (no id or no recipient)");
	}
	return 0;
}

long long queue_backoff(unsigned attempts)
{
	long long s = QUEUE_BACKOFF_MIN;

	for (unsigned i = 1; i < attempts && s < QUEUE_BACKOFF_MAX; i++)
		s *= 2;
	return s > QUEUE_BACKOFF_MAX ? QUEUE_BACKOFF_MAX : s;
}

int queue_open(struct queue *q, const char *dir, struct mm_err *err)
{
	static const char *const sub[] = { "tmp", "msg", "env" };

	q->dir = xstrdup(dir);
	for (size_t i = 0; i < MM_NELEM(sub); i++) {
		char *p = xasprintf("%s/%s", dir, sub[i]);
		int r = mkdir_p(p, 0700, err);
		free(p);
		if (r < 0) {
			queue_close(q);
			return err_wrap(err, "queue");
		}
	}
	return 0;
}

void queue_close(struct queue *q)
{
	free(q->dir);
	q->dir = NULL;
}

/* Write data to DIR/tmp/NAME durably and move it to DIR/SUB/ID (link:
 * never overwrite when excl, rename otherwise). */
static int put_file(struct queue *q, const char *sub, const char *id, const char *data,
    size_t len, int excl, struct mm_err *err)
{
	unsigned char rnd[6];
	char hex[13];
	char *tmp, *dst, *dir;
	int fd, r = -1;

	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), hex);
	tmp = xasprintf("%s/tmp/%s.%s.%s", q->dir, id, sub, hex);
	dst = xasprintf("%s/%s/%s", q->dir, sub, id);
	dir = xasprintf("%s/%s", q->dir, sub);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err_sys(err, "create %s", tmp);
		goto out;
	}
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		err_sys(err, "write %s", tmp);
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0) {
		err_sys(err, "close %s", tmp);
		unlink(tmp);
		goto out;
	}
	if (excl) {
		if (link(tmp, dst) < 0) {
			err_sys(err, "link %s", dst);
			unlink(tmp);
			goto out;
		}
		unlink(tmp);
	} else if (rename(tmp, dst) < 0) {
		err_sys(err, "rename %s", dst);
		unlink(tmp);
		goto out;
	}
	r = fsync_dir_path(dir, err);
out:
	free(tmp);
	free(dst);
	free(dir);
	return r;
}

int queue_add(struct queue *q, struct queue_env *e, const char *msg, size_t len,
    struct mm_err *err)
{
	unsigned char rnd[8];
	char hex[17];
	struct buf b;
	struct timespec ts;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), hex);
	if (snprintf_ok(e->id, sizeof(e->id), "%llx.%05lx.%s", (long long)ts.tv_sec,
	    (long)(ts.tv_nsec / 10000), hex) < 0) e->id[0] = '\0';   /* "": queue_env_check refuses it */
	e->created = ts.tv_sec;
	e->size = len;
	if (queue_env_check(e, err) < 0)
		return err_wrap(err, "queue");
	if (put_file(q, "msg", e->id, msg, len, 1, err) < 0)
		return err_wrap(err, "queue");
	buf_init(&b);
	queue_env_encode(e, &b);
	r = put_file(q, "env", e->id, b.data, b.len, 1, err);
	buf_free(&b);
	if (r < 0) {
		char *m = xasprintf("%s/msg/%s", q->dir, e->id);
		unlink(m);
		free(m);
		return err_wrap(err, "queue");
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int queue_list(struct queue *q, char ***ids, size_t *n, struct mm_err *err)
{
	char *d = xasprintf("%s/env", q->dir);
	DIR *dir = opendir(d);
	struct dirent *de;

	*ids = NULL;
	*n = 0;
	if (!dir) {
		err_sys(err, "open %s", d);
		free(d);
		return -1;
	}
	while ((de = readdir(dir))) {
		if (!id_ok(de->d_name))
			continue;
		*ids = xreallocarray(*ids, *n + 1, sizeof(**ids));
		(*ids)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(dir);
	free(d);
	if (*n)
		qsort(*ids, *n, sizeof(**ids), cmp_str);
	return 0;
}

void queue_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int queue_lock(struct queue *q, const char *id, int *fd, struct mm_err *err)
{
	char *p;
	int f;

	if (!id_ok(id))
		return err_set(err, "bad queue id %s", id);
	p = xasprintf("%s/msg/%s", q->dir, id);
	f = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f < 0) {
		int e = errno;
		if (e == ENOENT) {
			free(p);
			return 0;
		}
		err_sys(err, "open %s", p);
		free(p);
		return -1;
	}
	free(p);
	if (flock(f, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(f);
		if (e == EWOULDBLOCK)
			return 0;
		errno = e;
		return err_sys(err, "lock job %s", id);
	}
	*fd = f;
	return 1;
}

int queue_load(struct queue *q, const char *id, struct queue_env *e, struct buf *msg,
    struct mm_err *err)
{
	struct buf b;
	char *p;
	int r;

	if (!id_ok(id))
		return err_set(err, "bad queue id %s", id);
	buf_init(&b);
	p = xasprintf("%s/env/%s", q->dir, id);
	r = read_file_all(p, QUEUE_ENV_MAX, &b, err);
	free(p);
	if (r < 0) {
		buf_free(&b);
		if (err && err->code == ENOENT)
			return 1;
		return -1;
	}
	r = queue_env_decode(b.data, b.len, e, err);
	buf_free(&b);
	if (r < 0)
		return err_wrap(err, "job %s", id);
	if (strcmp(e->id, id)) {
		queue_env_free(e);
		return err_set(err, "job %s: envelope names %s", id, e->id);
	}
	if (msg) {
		p = xasprintf("%s/msg/%s", q->dir, id);
		r = read_file_all(p, QUEUE_MSG_MAX, msg, err);
		free(p);
		if (r < 0) {
			queue_env_free(e);
			if (err && err->code == ENOENT)
				return 1;
			return -1;
		}
	}
	return 0;
}

int queue_update(struct queue *q, const struct queue_env *e, struct mm_err *err)
{
	struct buf b;
	int r;

	if (queue_env_check(e, err) < 0)
		return err_wrap(err, "queue update");
	buf_init(&b);
	queue_env_encode(e, &b);
	r = put_file(q, "env", e->id, b.data, b.len, 0, err);
	buf_free(&b);
	return r < 0 ? err_wrap(err, "queue update") : 0;
}

int queue_remove(struct queue *q, const char *id, struct mm_err *err)
{
	char *env = xasprintf("%s/env/%s", q->dir, id);
	char *msg = xasprintf("%s/msg/%s", q->dir, id);
	char *dir = xasprintf("%s/env", q->dir);
	int r = 0;

	if (unlink(env) < 0 && errno != ENOENT)
		r = err_sys(err, "unlink %s", env);
	else if (fsync_dir_path(dir, err) < 0)
		r = -1;
	else if (unlink(msg) < 0 && errno != ENOENT)
		r = err_sys(err, "unlink %s", msg);
	free(env);
	free(msg);
	free(dir);
	return r;
}
