/*
 * util — the error convention, growable buffers and small helpers every
 * module shares.
 *
 * Error convention (the whole project): a function that can fail returns
 * 0 on success and -1 on failure (or a module's own result enum where more
 * than two outcomes matter), and describes the failure in a caller-supplied
 * struct mm_err.  Only cmd/ turns a failure into an exit code.  An error
 * message that does not fit is cut visibly ("...") rather than silently.
 */
#ifndef MM_UTIL_H
#define MM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MM_NORETURN __attribute__((noreturn))
#define MM_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Longest error message kept; longer ones end in "...". */
#define MM_ERR_MAX 1024

struct mm_err {
	int code;               /* errno or module code; 0 if none */
	char msg[MM_ERR_MAX];
};

/* Fill err (may be NULL) and return -1, so callers can `return err_set(...)`. */
int err_set(struct mm_err *err, const char *fmt, ...) MM_PRINTF(2, 3);
/* Same, with ": strerror(errno)" appended and code = errno. */
int err_sys(struct mm_err *err, const char *fmt, ...) MM_PRINTF(2, 3);
/* Prefix an existing message: "what: old message". */
int err_wrap(struct mm_err *err, const char *fmt, ...) MM_PRINTF(2, 3);
void err_clear(struct mm_err *err);

/* Allocation that cannot fail: on out-of-memory the process exits 71
 * (EX_OSERR) with a message; a mail tool cannot do anything better. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) MM_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) MM_PRINTF(1, 0);

/* size_t arithmetic that reports overflow (returns -1) instead of wrapping. */
int size_add(size_t a, size_t b, size_t *out);
int size_mul(size_t a, size_t b, size_t *out);

/* A growable byte buffer, always NUL-terminated after len bytes. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) MM_PRINTF(2, 3);
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) MM_PRINTF(2, 0);
/* Take ownership of the data; the buffer is reset. */
char *buf_steal(struct buf *b);

/* snprintf that fails (-1) on truncation or error instead of cutting. */
int snprintf_ok(char *dst, size_t size, const char *fmt, ...) MM_PRINTF(3, 4);
/* For human-readable text only (reasons, explanations, error messages),
 * never for data that is compared, used as a key or written to a peer:
 * format into dst and, if it does not fit, end it in "..." so the cut is
 * visible.  A format error leaves "(unformattable text)". */
void str_trunc(char *dst, size_t size, const char *fmt, ...) MM_PRINTF(3, 4);
void str_vtrunc(char *dst, size_t size, const char *fmt, va_list ap) MM_PRINTF(3, 0);

/* ASCII-only case helpers: mail syntax is ASCII, the locale is irrelevant. */
int ascii_tolower(int c);
int ascii_strcasecmp(const char *a, const char *b);
int ascii_strncasecmp(const char *a, const char *b, size_t n);
void ascii_lower(char *s);
int ascii_has_prefix_ci(const char *s, const char *prefix);

/* Parse a whole decimal number in [min, max]; -1 on junk or range. */
int parse_long(const char *s, long long min, long long max, long long *out);
/* Parse a duration: "30", "30s", "5m", "2h", "1d" -> seconds. */
int parse_duration(const char *s, long long *seconds);
/* Parse a size: "1024", "50k", "50M", "1G" -> bytes. */
int parse_size(const char *s, size_t *bytes);

/* mkdir -p PATH; directories it makes get MODE. */
int mkdir_p(const char *path, mode_t mode, struct mm_err *err);

/* Read all of an fd (at most max bytes; -1 with err if larger). */
int read_fd_all(int fd, size_t max, struct buf *out, struct mm_err *err);
int read_file_all(const char *path, size_t max, struct buf *out, struct mm_err *err);
/* write(2) until done, retrying on EINTR/short writes. */
int write_all(int fd, const void *p, size_t n);

/* fsync a directory by path or by fd. */
int fsync_dir_path(const char *path, struct mm_err *err);

/* Monotonic milliseconds, for deadlines. */
int64_t now_ms(void);

/* Fill p with n cryptographically random bytes (getrandom). */
void random_bytes(void *p, size_t n);

/* Set FD_CLOEXEC / O_NONBLOCK. */
int fd_set_cloexec(int fd);
int fd_set_nonblock(int fd, int on);

/* Base64 (RFC 4648), no line breaks on encode; decode skips whitespace. */
char *base64_encode(const void *p, size_t n);
int base64_decode(const char *s, size_t slen, struct buf *out);

/* Hex of a byte string, lowercase. */
void hex_encode(const void *p, size_t n, char *out /* 2n+1 */);

#endif
