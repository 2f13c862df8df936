/*
 * compose — header completion for mm-send (see compose.h).
 */
#include "compose.h"
#include "addr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void compose_date(char *out, size_t n, time_t t)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(out, n, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld", wd[tm.tm_wday], tm.tm_mday,
	    mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

int compose_is_word(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-/=?^_`{|}~.", *s)))
			return 0;
	return 1;
}

static int rcpt_add(char ***v, size_t *n, const char *a, struct mm_err *err)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], a))
			return 0;
	if (*n >= COMPOSE_RCPT_MAX) {
		err_set(err, "more than %d recipients", COMPOSE_RCPT_MAX);
		return COMPOSE_ETOOMANY;
	}
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrdup(a);
	return 0;
}

enum compose_status compose_rcpts(const char *value, const char *dom, char ***v, size_t *n,
    struct mm_err *err)
{
	struct addr_list l;
	char s[ADDR_STR_MAX];

	if (addr_list_parse(value, strlen(value), &l, err) == 0) {
		for (size_t i = 0; i < l.n; i++) {
			addr_format(&l.v[i], s);
			if (s[0] == '-') {
				addr_list_free(&l);
				err_set(err, "%s: an address may not start with '-'", s);
				return COMPOSE_EBAD;
			}
			if (rcpt_add(v, n, s, err) < 0) {
				addr_list_free(&l);
				return COMPOSE_ETOOMANY;
			}
		}
		addr_list_free(&l);
		return COMPOSE_OK;
	}
	/* bare local names ("root"), comma separated */
	{
		char *copy = xstrdup(value), *save = NULL;
		int r = 0;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			while (*t == ' ' || *t == '\t')
				t++;
			char *e = t + strlen(t);
			while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
				*--e = 0;
			if (!*t)
				continue;
			struct addr a;
			char *full;
			if (t[0] == '-') {
				r = err_set(err, "%s: an address may not start with '-'", t);
				break;
			}
			if (strchr(t, '@') || !compose_is_word(t)) {
				r = addr_list_parse(t, strlen(t), &l, err);
				if (r == 0) {
					for (size_t i = 0; i < l.n && r == 0; i++) {
						addr_format(&l.v[i], s);
						r = rcpt_add(v, n, s, err);
					}
					addr_list_free(&l);
				}
				if (r < 0)
					break;
				continue;
			}
			if (!dom) {
				r = err_set(err, "%s: no domain to qualify it with (set --domain)", t);
				break;
			}
			full = xasprintf("%s@%s", t, dom);
			r = addr_parse_mailbox(full, strlen(full), &a, err);
			free(full);
			if (r < 0)
				break;
			addr_format(&a, s);
			if ((r = rcpt_add(v, n, s, err)) < 0)
				break;
		}
		free(copy);
		return r == COMPOSE_ETOOMANY ? COMPOSE_ETOOMANY : r < 0 ? COMPOSE_EBAD : COMPOSE_OK;
	}
}

void compose_display_name(struct buf *out, const char *name)
{
	int plain = 1, ascii = 1;

	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c & 0x80)
			ascii = 0;
		else if (!(isalnum(c) || c == ' ' || strchr("!#$%&'*+-/=?^_`{|}~", c)))
			plain = 0;
	}
	if (!ascii) {
		char *b = base64_encode(name, strlen(name));
		buf_printf(out, "=?UTF-8?B?%s?=", b);
		free(b);
		return;
	}
	if (plain && name[0] != ' ' && name[strlen(name) - 1] != ' ') {
		buf_puts(out, name);
		return;
	}
	buf_putc(out, '"');
	for (const char *p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *p);
	}
	buf_putc(out, '"');
}

void compose_header(const struct msg *m, const char *from, const char *fullname,
    const char *domain, time_t now, struct buf *out)
{
	static const char *const rm[] = { "bcc", "resent-bcc", NULL };
	struct buf pre;
	char date[COMPOSE_DATE_MAX];

	buf_init(&pre);
	if (from) {
		struct buf v;
		buf_init(&v);
		if (fullname && *fullname) {
			char *clean = xstrdup(fullname);
			for (char *p = clean; *p; p++)
				if (*p == '\r' || *p == '\n' || *p == '\t')
					*p = ' ';
			compose_display_name(&v, clean);
			free(clean);
			buf_printf(&v, " <%s>", from);
		} else {
			buf_puts(&v, from);
		}
		msg_fold_field(&pre, "From", v.data, "\r\n");
		buf_free(&v);
	}
	if (!msg_find(m, "date")) {
		compose_date(date, sizeof(date), now);
		buf_printf(&pre, "Date: %s\r\n", date);
	}
	if (!msg_find(m, "message-id")) {
		unsigned char rnd[COMPOSE_MSGID_RANDOM];
		char hex[2 * COMPOSE_MSGID_RANDOM + 1];
		random_bytes(rnd, sizeof(rnd));
		hex_encode(rnd, sizeof(rnd), hex);
		buf_printf(&pre, "Message-ID: <%llx.%s@%s>\r\n", (long long)now, hex, domain);
	}
	msg_build(m, pre.data, rm, NULL, out);
	buf_free(&pre);
	/* msg_build keeps the message's own line ends: the caller made them CRLF */
}
