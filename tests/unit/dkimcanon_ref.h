/*
 * dkimcanon_ref.h — RFC 6376 3.4.4 relaxed body canonicalization written
 * the obvious way (split into lines, edit each, drop empty ones at the
 * end), as the reference lib/dkimcanon's fast scanner is compared with
 * by tests/unit/dkimcanon.c and tests/fuzz/fuzz_dkimcanon.c.
 */
#ifndef MM_DKIMCANON_REF_H
#define MM_DKIMCANON_REF_H

#include <stddef.h>
#include <string.h>

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

#endif
