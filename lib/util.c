/*
 * util — see util.h.  Everything here is small on purpose; anything with
 * policy in it belongs in its own module.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

MM_PRINTF(3, 0)
static void err_vset(struct mm_err *err, int code, const char *fmt, va_list ap)
{
	if (!err)
		return;
	err->code = code;
	str_vtrunc(err->msg, sizeof err->msg, fmt, ap);
}

int err_set(struct mm_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int err_sys(struct mm_err *err, const char *fmt, ...)
{
	int e = errno;
	char what[MM_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	str_vtrunc(what, sizeof what, fmt, ap);
	va_end(ap);
	err_set(err, "%s: %s", what, strerror(e));
	if (err)
		err->code = e;
	errno = e;
	return -1;
}

int err_wrap(struct mm_err *err, const char *fmt, ...)
{
	char what[MM_ERR_MAX], old[MM_ERR_MAX];
	int code;
	va_list ap;

	if (!err)
		return -1;
	code = err->code;
	memcpy(old, err->msg, sizeof old);
	va_start(ap, fmt);
	str_vtrunc(what, sizeof what, fmt, ap);
	va_end(ap);
	err_set(err, "%s: %s", what, old);
	err->code = code;
	return -1;
}

void err_clear(struct mm_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

static MM_NORETURN void oom(void)
{
	static const char m[] = "mm: out of memory\n";
	(void)!write(2, m, sizeof m - 1);
	_exit(71);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (size_mul(n, size, &total) < 0)
		oom();
	return xrealloc(p, total);
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	struct buf b;

	buf_init(&b);
	buf_vprintf(&b, fmt, ap);
	return buf_steal(&b);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

int size_add(size_t a, size_t b, size_t *out)
{
	if (a > SIZE_MAX - b)
		return -1;
	*out = a + b;
	return 0;
}

int size_mul(size_t a, size_t b, size_t *out)
{
	if (a && b > SIZE_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;

	if (size_add(b->len, extra, &need) < 0 || size_add(need, 1, &need) < 0)
		oom();
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *buf_steal(struct buf *b)
{
	char *p;

	buf_reserve(b, 0);
	p = b->data;
	buf_init(b);
	return p;
}

int snprintf_ok(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

#define STR_TRUNC_MARK "..."

void str_vtrunc(char *dst, size_t size, const char *fmt, va_list ap)
{
	static const char bad[] = "(unformattable text)";
	int n;

	if (size == 0)
		return;
	n = vsnprintf(dst, size, fmt, ap);
	if (n < 0) {
		if (size > sizeof bad - 1) {
			memcpy(dst, bad, sizeof bad);
		} else {
			memcpy(dst, bad, size - 1);
			dst[size - 1] = '\0';
		}
	} else if ((size_t)n >= size && size >= sizeof STR_TRUNC_MARK) {
		memcpy(dst + size - sizeof STR_TRUNC_MARK, STR_TRUNC_MARK, sizeof STR_TRUNC_MARK);
	}
}

void str_trunc(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	str_vtrunc(dst, size, fmt, ap);
	va_end(ap);
}

int ascii_tolower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

int ascii_strcasecmp(const char *a, const char *b)
{
	int ca, cb;

	do {
		ca = ascii_tolower((unsigned char)*a++);
		cb = ascii_tolower((unsigned char)*b++);
	} while (ca && ca == cb);
	return ca - cb;
}

int ascii_strncasecmp(const char *a, const char *b, size_t n)
{
	int ca = 0, cb = 0;

	while (n--) {
		ca = ascii_tolower((unsigned char)*a++);
		cb = ascii_tolower((unsigned char)*b++);
		if (!ca || ca != cb)
			return ca - cb;
	}
	return 0;
}

void ascii_lower(char *s)
{
	for (; *s; s++)
		*s = (char)ascii_tolower((unsigned char)*s);
}

int ascii_has_prefix_ci(const char *s, const char *prefix)
{
	return ascii_strncasecmp(s, prefix, strlen(prefix)) == 0;
}

int parse_long(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s || *s == ' ' || *s == '+')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_suffixed(const char *s, const char *units, const long long *mult,
    long long max, long long *out)
{
	char num[32];
	size_t n = strlen(s);
	const char *u;
	long long v, m = 1;

	if (n == 0 || n >= sizeof num)
		return -1;
	memcpy(num, s, n + 1);
	if ((u = strchr(units, num[n - 1])) && num[n - 1]) {
		m = mult[u - units];
		num[n - 1] = '\0';
	}
	if (parse_long(num, 0, max, &v) < 0 || (m > 1 && v > max / m))
		return -1;
	*out = v * m;
	return 0;
}

int parse_duration(const char *s, long long *seconds)
{
	static const long long mult[] = { 1, 60, 3600, 86400 };
	return parse_suffixed(s, "smhd", mult, INT_MAX, seconds);
}

int parse_size(const char *s, size_t *bytes)
{
	static const long long mult[] = { 1024, 1024, 1048576, 1048576,
		1073741824LL, 1073741824LL };
	long long v;

	if (parse_suffixed(s, "kKmMgG", mult, (long long)(SIZE_MAX / 2 > LLONG_MAX ?
	    LLONG_MAX : SIZE_MAX / 2), &v) < 0)
		return -1;
	*bytes = (size_t)v;
	return 0;
}

int read_fd_all(int fd, size_t max, struct buf *out, struct mm_err *err)
{
	for (;;) {
		ssize_t n;

		buf_reserve(out, 65536);
		n = read(fd, out->data + out->len, 65536);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, "read");
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if (out->len > max)
			return err_set(err, "input larger than %zu bytes", max);
	}
	return 0;
}

int read_file_all(const char *path, size_t max, struct buf *out, struct mm_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return err_sys(err, "%s", path);
	r = read_fd_all(fd, max, out, err);
	close(fd);
	if (r < 0)
		return err_wrap(err, "%s", path);
	return 0;
}

int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int fsync_dir_path(const char *path, struct mm_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return err_sys(err, "open %s", path);
	if (fsync(fd) < 0) {
		err_sys(err, "fsync %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void random_bytes(void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = getrandom(c, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			abort(); /* no entropy means no unique names: do not guess */
		}
		c += r;
		n -= (size_t)r;
	}
}

int fd_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

int fd_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t outlen, i, o = 0;
	char *out;

	if (size_mul((n + 2) / 3, 4, &outlen) < 0)
		abort();
	out = xmalloc(outlen + 1);
	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = b64[s[i] >> 2];
		out[o++] = b64[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		out[o++] = b64[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		out[o++] = b64[s[i + 2] & 63];
	}
	if (i < n) {
		out[o++] = b64[s[i] >> 2];
		if (i + 1 < n) {
			out[o++] = b64[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
			out[o++] = b64[(s[i + 1] & 15) << 2];
		} else {
			out[o++] = b64[(s[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

int base64_decode(const char *s, size_t slen, struct buf *out)
{
	unsigned acc = 0;
	int bits = 0, pad = 0;
	size_t i;

	for (i = 0; i < slen; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *q;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad || !c || !(q = strchr(b64, c)))
			return -1;
		acc = (acc << 6) | (unsigned)(q - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(out, (char)((acc >> bits) & 0xff));
		}
	}
	if (pad > 2 || bits >= 6)
		return -1;
	return 0;
}

void hex_encode(const void *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[s[i] >> 4];
		out[2 * i + 1] = hx[s[i] & 15];
	}
	out[2 * n] = '\0';
}

/* mkdir -p: the directories it creates get mode; existing ones are kept. */
int mkdir_p(const char *path, mode_t mode, struct mm_err *err)
{
	char *p = xstrdup(path);

	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == 0) {
			char c = *s;
			*s = 0;
			if (mkdir(p, mode) < 0 && errno != EEXIST) {
				err_sys(err, "mkdir %s", p);
				free(p);
				return -1;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return 0;
}
