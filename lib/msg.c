/*
 * msg — header parsing and editing (see msg.h).
 *
 * Why pointers into the caller's buffer: signing and verifying must look
 * at the exact bytes, so the parser never normalises what it keeps; only
 * the unfolded value is a copy.  Why a single pass over lines: the header
 * section is a sequence of lines, each either a new field, a continuation
 * (starts with WSP) or the empty separator; nothing else is needed.
 */
#include "msg.h"

#include <stdlib.h>
#include <string.h>

static int is_wsp(char c) { return c == ' ' || c == '\t'; }

static int is_ftext(unsigned char c) { return c >= 33 && c <= 126 && c != ':'; }

static void set_value(struct msg_field *f)
{
	const char *p = f->name + f->name_len, *end = f->raw + f->raw_len;
	struct buf b;

	while (p < end && *p != ':')   /* WSP between name and colon */
		p++;
	if (p < end)
		p++;
	buf_init(&b);
	for (; p < end; p++) {
		if (*p == '\n')
			continue;
		if (*p == '\r' && p + 1 < end && p[1] == '\n')
			continue;
		buf_putc(&b, *p);
	}
	/* trim */
	size_t s = 0, e = b.len;
	while (s < e && (is_wsp(b.data[s]) || b.data[s] == '\r'))
		s++;
	while (e > s && (is_wsp(b.data[e - 1]) || b.data[e - 1] == '\r'))
		e--;
	f->value = xstrndup(b.data ? b.data + s : "", e - s);
	f->value_len = e - s;
	buf_free(&b);
}

int msg_parse(struct msg *m, const char *data, size_t len, int flags, struct mm_err *err)
{
	size_t pos = 0, line = 0, cap = 0;

	memset(m, 0, sizeof(*m));
	m->data = data;
	m->len = len;
	m->hdr_len = len;
	m->body_off = len;
	{
		/* (NULL, 0) is an empty message: memchr may not see the NULL */
		const char *nl = len ? memchr(data, '\n', len) : NULL;
		m->crlf = nl && nl > data && nl[-1] == '\r';
	}
	while (pos < len) {
		const char *p = data + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) + 1 : len;   /* after terminator */
		size_t cend = nl ? (size_t)(nl - data) : len;      /* content end */

		line++;
		if (cend > pos && data[cend - 1] == '\r')
			cend--;
		if (cend == pos) {                     /* empty line: separator */
			m->hdr_len = pos;
			m->body_off = end;
			m->has_sep = 1;
			break;
		}
		if (is_wsp(*p)) {
			struct msg_field *f;

			if (m->n == 0)
				goto notfield;
			f = &m->f[m->n - 1];
			if (end - f->off > MSG_FIELD_MAX) {
				err_set(err, "line %zu: header field %.*s longer than %d octets", line,
				    (int)(f->name_len > 64 ? 64 : f->name_len), f->name, MSG_FIELD_MAX);
				msg_free(m);
				if (err)
					err->code = MSG_E_LIMIT;
				return -1;
			}
			f->raw_len = end - f->off;
			pos = end;
			continue;
		}
		{
			size_t i = pos;
			while (i < cend && is_ftext((unsigned char)data[i]))
				i++;
			size_t nlen = i - pos;
			while (i < cend && is_wsp(data[i]))
				i++;
			if (nlen == 0 || nlen > MSG_NAME_MAX || i >= cend || data[i] != ':')
				goto notfield;
			if (m->n >= MSG_MAX_FIELDS) {
				msg_free(m);
				err_set(err, "line %zu: more than %d header fields", line, MSG_MAX_FIELDS);
				if (err)
					err->code = MSG_E_LIMIT;
				return -1;
			}
			if (m->n == cap) {
				cap = cap ? cap * 2 : 16;
				m->f = xreallocarray(m->f, cap, sizeof(*m->f));
			}
			struct msg_field *f = &m->f[m->n++];
			memset(f, 0, sizeof(*f));
			f->name = p;
			f->name_len = nlen;
			f->raw = p;
			f->off = pos;
			f->raw_len = end - pos;
			pos = end;
			continue;
		}
notfield:
		if (flags & MSG_LENIENT) {
			m->hdr_len = pos;
			m->body_off = pos;
			m->has_sep = 0;
			break;
		}
		msg_free(m);
		err_set(err, "line %zu: not a header field: \"%.*s\"", line,
		    (int)(cend - pos > 60 ? 60 : cend - pos), p);
		if (err)
			err->code = MSG_E_SYNTAX;
		return -1;
	}
	for (size_t i = 0; i < m->n; i++)
		set_value(&m->f[i]);
	return 0;
}

void msg_free(struct msg *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->f[i].value);
	free(m->f);
	m->f = NULL;
	m->n = 0;
}

int msg_field_is(const struct msg_field *f, const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n && ascii_strncasecmp(f->name, name, n) == 0;
}

const struct msg_field *msg_find_nth(const struct msg *m, const char *name, size_t idx)
{
	for (size_t i = 0; i < m->n; i++)
		if (msg_field_is(&m->f[i], name) && idx-- == 0)
			return &m->f[i];
	return NULL;
}

const struct msg_field *msg_find(const struct msg *m, const char *name)
{
	return msg_find_nth(m, name, 0);
}

size_t msg_count(const struct msg *m, const char *name)
{
	size_t c = 0;

	for (size_t i = 0; i < m->n; i++)
		c += msg_field_is(&m->f[i], name);
	return c;
}

void msg_build(const struct msg *m, const char *prepend, const char *const *remove,
    const char *append, struct buf *out)
{
	if (prepend)
		buf_puts(out, prepend);
	for (size_t i = 0; i < m->n; i++) {
		int drop = 0;

		for (size_t j = 0; remove && remove[j]; j++)
			if (msg_field_is(&m->f[i], remove[j]))
				drop = 1;
		if (!drop)
			buf_append(out, m->f[i].raw, m->f[i].raw_len);
	}
	if (append)
		buf_puts(out, append);
	if (m->has_sep || m->body_off < m->len)
		buf_puts(out, m->crlf ? "\r\n" : "\n");
	if (m->body_off < m->len)
		buf_append(out, m->data + m->body_off, m->len - m->body_off);
}

size_t msg_to_crlf(const char *data, size_t len, struct buf *out)
{
	size_t changed = 0, start = 0, pos = 0;

	/* line by line with memchr, copying only at a line end that has to
	 * change (and at the end): a canonical message is one big append */
	buf_reserve(out, len + len / 32 + 2);
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) : len;   /* the LF, or len */
		size_t cr_end = nl && end > pos && data[end - 1] == '\r' ? end - 1 : end;
		const char *cr;

		/* bare CRs inside the line: each one ends a line */
		while ((cr = memchr(data + pos, '\r', cr_end - pos)) != NULL) {
			size_t i = (size_t)(cr - data);
			buf_append(out, data + start, i - start);
			buf_append(out, "\r\n", 2);
			start = pos = i + 1;
			changed++;
		}
		if (!nl)
			break;
		if (cr_end == end) {   /* a bare LF */
			buf_append(out, data + start, end - start);
			buf_append(out, "\r\n", 2);
			start = end + 1;
			changed++;
		}
		pos = end + 1;
	}
	if (len > start)
		buf_append(out, data + start, len - start);
	else
		buf_reserve(out, 0);
	return changed;
}

size_t msg_check_lines(const char *data, size_t len, size_t max)
{
	size_t line = 1, pos = 0;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t cend = nl ? (size_t)(nl - data) : len;
		size_t n = cend - pos;

		if (n > 0 && nl && data[cend - 1] == '\r')
			n--;
		if (n > max)
			return line;
		if (!nl)
			break;
		pos = cend + 1;
		line++;
	}
	return 0;
}

#define FOLD_WIDTH 78

void msg_fold_field(struct buf *out, const char *name, const char *value, const char *eol)
{
	size_t col = strlen(name) + 1;
	const char *p = value;

	buf_puts(out, name);
	buf_putc(out, ':');
	while (*p) {
		const char *w = p;

		while (*w == ' ')
			w++;
		const char *e = w;
		while (*e && *e != ' ')
			e++;
		size_t wl = (size_t)(e - w);
		if (wl == 0) {
			p = e;
			continue;
		}
		if (col > 1 && col + 1 + wl > FOLD_WIDTH && p != value) {
			buf_puts(out, eol);
			buf_putc(out, ' ');
			col = 1;
		} else {
			buf_putc(out, ' ');
			col++;
		}
		buf_append(out, w, wl);
		col += wl;
		p = e;
	}
	buf_puts(out, eol);
}
