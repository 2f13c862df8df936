/*
 * conf — see conf.h.
 */
#include "conf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void argvec_init(struct argvec *a)
{
	a->v = NULL;
	a->n = 0;
	a->cap = 0;
}

void argvec_push(struct argvec *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 8;
		a->v = xreallocarray(a->v, a->cap, sizeof *a->v);
	}
	a->v[a->n++] = s ? xstrdup(s) : NULL;
	a->v[a->n] = NULL;
}

void argvec_free(struct argvec *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	argvec_init(a);
}

char **argvec_argv(struct argvec *a)
{
	if (!a->v) {
		a->cap = 2;
		a->v = xcalloc(a->cap, sizeof *a->v);
	}
	return a->v;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int conf_load(const char *path, int optional, struct argvec *a, struct mm_err *err)
{
	struct buf b;
	char *line, *next;
	size_t lineno = 0;

	buf_init(&b);
	if (read_file_all(path, CONF_MAX_BYTES, &b, err) < 0) {
		buf_free(&b);
		if (optional && err && err->code == ENOENT) {
			err_clear(err);
			return 0;
		}
		return -1;
	}
	if (memchr(b.data, '\0', b.len)) {
		buf_free(&b);
		return err_set(err, "%s: NUL byte in config file", path);
	}
	for (line = b.data; line && *line; line = next) {
		char *end, *key, *val, *opt;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strlen(line) > CONF_MAX_LINE) {
			buf_free(&b);
			return err_set(err, "%s:%zu: line longer than %d bytes", path, lineno, CONF_MAX_LINE);
		}
		end = line + strlen(line);
		while (end > line && (is_blank(end[-1]) || end[-1] == '\r'))
			*--end = '\0';
		while (is_blank(*line))
			line++;
		if (!*line || *line == '#')
			continue;
		key = line;
		while (*line && !is_blank(*line))
			line++;
		if (*line)
			*line++ = '\0';
		while (is_blank(*line))
			line++;
		val = line;
		if (key[0] == '-') {
			/* key points into b: the message is made before b goes */
			err_set(err, "%s:%zu: write the option without dashes: %s", path, lineno, key);
			buf_free(&b);
			return -1;
		}
		opt = xasprintf("--%s", key);
		argvec_push(a, opt);
		free(opt);
		if (*val)
			argvec_push(a, val);
	}
	buf_free(&b);
	return 0;
}

int conf_split_words(const char *s, struct argvec *out, struct mm_err *err)
{
	struct buf w;
	int inword = 0;

	buf_init(&w);
	while (*s) {
		char c = *s++;

		if (is_blank(c) || c == '\n') {
			if (inword) {
				argvec_push(out, w.data ? w.data : "");
				buf_reset(&w);
				inword = 0;
			}
			continue;
		}
		inword = 1;
		if (c == '\'') {
			while (*s && *s != '\'')
				buf_putc(&w, *s++);
			if (!*s++)
				goto unterminated;
		} else if (c == '"') {
			while (*s && *s != '"') {
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				buf_putc(&w, *s++);
			}
			if (!*s++)
				goto unterminated;
		} else if (c == '\\') {
			if (!*s)
				goto unterminated;
			buf_putc(&w, *s++);
		} else {
			buf_putc(&w, c);
		}
		if (!w.data)
			buf_reserve(&w, 0);
	}
	if (inword)
		argvec_push(out, w.data ? w.data : "");
	buf_free(&w);
	return 0;
unterminated:
	buf_free(&w);
	return err_set(err, "unterminated quote or escape in command");
}
