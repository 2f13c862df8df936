/* libFuzzer: lib/msg on any bytes.  Properties checked:
 *  - msg_parse (strict and lenient) never reads outside the buffer: every
 *    field lies inside it, fields follow each other without gaps, the
 *    header ends where the first field began plus their lengths, and
 *    hdr_len <= body_off <= len; each unfolded value has no CR LF pair and
 *    is NUL-terminated at value_len (a NUL byte from the input may sit
 *    inside it: value_len, not strlen, is its length);
 *  - msg_to_crlf leaves no bare CR or LF, is idempotent, and counts 0
 *    changes on its own output;
 *  - on canonical (CRLF) input a strict parse rebuilt with no edits gives
 *    the same bytes back, and removing a field name removes exactly the
 *    raw bytes of the fields so named;
 *  - msg_check_lines agrees with a plain reference scan;
 *  - msg_fold_field keeps every word of the value, in order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "msg.h"

#define FUZZ_LINE_MAX 40   /* a small limit, so long lines are common */

static void check_fields(const struct msg *m, const char *data, size_t len)
{
	size_t pos = m->n ? m->f[0].off : 0;

	if (m->hdr_len > m->body_off || m->body_off > len)
		__builtin_trap();
	for (size_t i = 0; i < m->n; i++) {
		const struct msg_field *f = &m->f[i];
		if (f->off != pos || f->raw != data + f->off || f->raw_len == 0 ||
		    f->off + f->raw_len > len || f->name != f->raw || f->name_len == 0 ||
		    f->name_len > f->raw_len)
			__builtin_trap();
		/* a NUL in the raw bytes stays in the value: value_len counts */
		if (f->value[f->value_len] != 0 || memmem(f->value, f->value_len, "\r\n", 2))
			__builtin_trap();
		pos += f->raw_len;
	}
	if (m->n && pos != m->hdr_len)
		__builtin_trap();
}

/* the 1-based number of the first line over max octets, or 0 */
static size_t ref_lines(const char *d, size_t len, size_t max)
{
	size_t line = 1, n = 0;

	for (size_t i = 0; i < len; i++) {
		if (d[i] == '\n') {
			size_t c = n && d[i - 1] == '\r' ? n - 1 : n;
			if (c > max)
				return line;
			line++;
			n = 0;
		} else {
			n++;
		}
	}
	return n > max ? line : 0;
}

static void check_crlf(const char *d, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (d[i] == '\r' && (i + 1 == len || d[i + 1] != '\n'))
			__builtin_trap();
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			__builtin_trap();
	}
}

static void check_fold(const char *data, size_t size)
{
	char *v = malloc(size + 1);
	size_t n = 0;
	struct buf out;

	for (size_t i = 0; i < size; i++)   /* a value: no NUL, CR or LF */
		if (data[i] && data[i] != '\r' && data[i] != '\n')
			v[n++] = data[i];
	v[n] = 0;
	buf_init(&out);
	msg_fold_field(&out, "Subject", v, "\r\n");
	if (out.len < 10 || memcmp(out.data, "Subject:", 8) ||
	    memcmp(out.data + out.len - 2, "\r\n", 2))
		__builtin_trap();
	/* words (runs of non-space) of the output after "Subject:" are the
	 * value's words, in order: folding only adds CRLF and a space */
	{
		const char *a = v, *b = out.data + 8, *be = out.data + out.len;
		for (;;) {
			while (*a == ' ')
				a++;
			while (b < be && (*b == ' ' || *b == '\r' || *b == '\n'))
				b++;
			if (!*a || b == be) {
				if (*a || b != be)
					__builtin_trap();
				break;
			}
			while (*a && *a != ' ') {
				if (b == be || *a != *b)
					__builtin_trap();
				a++;
				b++;
			}
			if (b < be && *b != ' ' && *b != '\r')
				__builtin_trap();
		}
	}
	buf_free(&out);
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *udata, size_t size)
{
	const char *data = (const char *)udata;
	struct msg m;
	struct mm_err err;
	struct buf c1, c2, rebuilt;

	for (int flags = 0; flags <= MSG_LENIENT; flags += MSG_LENIENT) {
		if (msg_parse(&m, data, size, flags, &err) == 0) {
			check_fields(&m, data, size);
			msg_free(&m);
		} else if (err.code != MSG_E_SYNTAX && err.code != MSG_E_LIMIT) {
			__builtin_trap();
		}
	}

	if (msg_check_lines(data, size, FUZZ_LINE_MAX) != ref_lines(data, size, FUZZ_LINE_MAX))
		__builtin_trap();

	buf_init(&c1);
	buf_init(&c2);
	msg_to_crlf(data, size, &c1);
	check_crlf(c1.data, c1.len);
	if (msg_to_crlf(c1.data, c1.len, &c2) != 0 || c1.len != c2.len ||
	    memcmp(c1.data, c2.data, c1.len))
		__builtin_trap();

	if (msg_parse(&m, c1.data, c1.len, 0, &err) == 0) {
		check_fields(&m, c1.data, c1.len);
		buf_init(&rebuilt);
		msg_build(&m, NULL, NULL, NULL, &rebuilt);
		if (rebuilt.len != c1.len || (c1.len && memcmp(rebuilt.data, c1.data, c1.len)))
			__builtin_trap();
		if (m.n) {
			/* drop every field named like the first */
			char name[MSG_NAME_MAX + 1];
			const char *rm[] = { name, NULL };
			size_t gone = 0;
			memcpy(name, m.f[0].name, m.f[0].name_len);
			name[m.f[0].name_len] = 0;
			for (size_t i = 0; i < m.n; i++)
				if (msg_field_is(&m.f[i], name))
					gone += m.f[i].raw_len;
			if (gone == 0 || msg_find(&m, name) != &m.f[0] ||
			    msg_count(&m, name) == 0)
				__builtin_trap();
			buf_reset(&rebuilt);
			msg_build(&m, NULL, rm, NULL, &rebuilt);
			if (rebuilt.len + gone != c1.len)
				__builtin_trap();
		}
		buf_free(&rebuilt);
		msg_free(&m);
	}
	buf_free(&c1);
	buf_free(&c2);

	check_fold(data, size);
	return 0;
}
