/*
 * dkimcanon_ref.h — RFC 6376 3.4.4 relaxed body canonicalization written
 * the obvious way (split into lines, edit each, drop empty ones at the
 * end), as the reference lib/dkimcanon's fast scanner is compared with
 * by tests/unit/dkimcanon.c, tests/unit/dkimcanon_swar.c and
 * tests/fuzz/fuzz_dkimcanon.c, and the random bodies they are fed.
 */
#ifndef MM_DKIMCANON_REF_H
#define MM_DKIMCANON_REF_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include <openssl/evp.h>

#include "dkimcanon.h"
#include "util.h"

/* The offset of the first bare CR or LF, or len if every line end is CRLF. */
static inline size_t ref_first_bare(const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (b[i] == '\r' && (i + 1 == len || b[i + 1] != '\n'))
			return i;
		if (b[i] == '\n' && (i == 0 || b[i - 1] != '\r'))
			return i;
	}
	return len;
}

/* The canonical body of a body whose line ends are all CRLF. */
static inline void ref_body(const char *b, size_t len, struct buf *out)
{
	size_t keep = 0;   /* out->len after the last non-empty line */

	for (size_t i = 0; i < len;) {
		const char *eol = memmem(b + i, len - i, "\r\n", 2);
		size_t end = eol ? (size_t)(eol - b) : len;
		int space = 0;
		size_t start = out->len;

		for (size_t j = i; j < end; j++) {
			if (b[j] == ' ' || b[j] == '\t') {
				space = 1;
				continue;
			}
			if (space)
				buf_putc(out, ' ');
			space = 0;
			buf_putc(out, b[j]);
		}
		buf_append(out, "\r\n", 2);
		if (out->len - start > 2)
			keep = out->len;
		i = eol ? end + 2 : len;
	}
	out->len = keep;
}

/* A random body: long clean stretches (the fast path's blocks) broken by
 * what relaxed canonicalization changes, at random places. */
static inline size_t ref_random_body(char *b, size_t cap, int bare)
{
	static const char *const bits[] = {
		"word", " ", " ", "  ", "\t", " \t ", "\r\n", "\r\n", "\r\n\r\n", " \r\n",
		"\t\r\n", "\xc3\xbc", ".", "x", "0123456789abcdef0123456789abcdef",
	};
	size_t n = 0, want = (size_t)rand() % (cap / 2);

	while (n < want) {
		const char *s = bits[rand() % (int)(sizeof bits / sizeof bits[0])];
		size_t l = strlen(s);
		if (n + l + 2 >= cap)
			break;
		memcpy(b + n, s, l);
		n += l;
	}
	if (bare && n) {
		b[rand() % (int)n] = rand() % 2 ? '\r' : '\n';
	}
	/* sometimes a tail of blank lines, which relaxed drops */
	if (rand() % 4 == 0)
		while (n + 3 < cap && rand() % 3) {
			const char *t = rand() % 2 ? (rand() % 2 ? " " : "\t") : "\r\n";
			memcpy(b + n, t, strlen(t));
			n += strlen(t);
		}
	return n;
}

/*
 * n random bodies (one in ten with a bare CR or LF) through
 * dkimcanon_body_sha256 and the reference.  Returns how many valid
 * bodies hashed the same; *errors counts the invalid ones, *agree those
 * of them that were refused.  A difference is printed as a TAP comment.
 */
static inline int ref_compare_random(int n, int *errors, int *agree)
{
	char b[600];
	unsigned char got[DKIMCANON_HASH_LEN], want[EVP_MAX_MD_SIZE];
	unsigned int wl = 0;
	int same = 0;
	struct buf ref;

	*errors = *agree = 0;
	buf_init(&ref);
	for (int i = 0; i < n; i++) {
		size_t len = ref_random_body(b, sizeof b, i % 10 == 0);
		struct mm_err err = { 0 };
		int r = dkimcanon_body_sha256(b, len, got, &err);
		if (ref_first_bare(b, len) < len) {
			++*errors;
			*agree += r == -1;
			continue;
		}
		buf_reset(&ref);
		ref_body(b, len, &ref);
		EVP_Digest(ref.data ? ref.data : "", ref.len, want, &wl, EVP_sha256(), NULL);
		if (r == 0 && wl == DKIMCANON_HASH_LEN && !memcmp(got, want, wl))
			same++;
		else
			printf("# differs on random body %d (%zu bytes)\n", i, len);
	}
	buf_free(&ref);
	return same;
}

#endif
