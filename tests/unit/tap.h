/*
 * tap.h — a minimal TAP producer for unit tests run by prove.
 * ok(cond, fmt, ...) prints "ok N - name" or "not ok N - name";
 * done_testing() prints the plan and returns the exit status.
 */
#ifndef MM_TAP_H
#define MM_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3)))
static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

static inline int tap_is_str(const char *got, const char *want, const char *name)
{
	int c = got && !strcmp(got, want);

	ok(c, "%s", name);
	if (!c)
		printf("#   got: '%s'\n#  want: '%s'\n", got ? got : "(null)", want);
	return c;
}

static inline int tap_is_int(long long got, long long want, const char *name)
{
	ok(got == want, "%s", name);
	if (got != want)
		printf("#   got: %lld\n#  want: %lld\n", got, want);
	return got == want;
}

#define is_str(got, want, name) tap_is_str((got), (want), (name))
#define is_int(got, want, name) tap_is_int((long long)(got), (long long)(want), (name))

static inline int done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
