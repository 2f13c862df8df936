/*
 * addr — see addr.h.  Pure parsing: no allocation except the list, no I/O.
 */
#include "addr.h"

#include <stdlib.h>
#include <string.h>

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* RFC 5322 atext */
static int is_atext(int c)
{
	return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

void addr_format(const struct addr *a, char out[ADDR_STR_MAX])
{
	size_t l = strlen(a->local), d = strlen(a->domain);

	memcpy(out, a->local, l);
	out[l] = '@';
	memcpy(out + l + 1, a->domain, d + 1);
}

int addr_domain_ok(const char *d, struct mm_err *err)
{
	size_t len = strlen(d), label = 0;
	int dots = 0;

	if (len == 0)
		return err_set(err, "empty domain");
	if (len > ADDR_DOMAIN_MAX)
		return err_set(err, "domain longer than %d octets", ADDR_DOMAIN_MAX);
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.' || c == '\0') {
			if (label == 0)
				return err_set(err, c ? "empty label in domain" : "domain ends with a dot");
			if (d[i - 1] == '-')
				return err_set(err, "domain label ends with a hyphen");
			if (c == '.')
				dots++;
			label = 0;
			continue;
		}
		if (c >= 0x80)
			return err_set(err, "8-bit byte in domain (use the A-label form)");
		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return err_set(err, "invalid character 0x%02x in domain", c);
		if (label == 0 && c == '-')
			return err_set(err, "domain label starts with a hyphen");
		if (++label > ADDR_LABEL_MAX)
			return err_set(err, "domain label longer than %d octets", ADDR_LABEL_MAX);
	}
	if (!dots)
		return err_set(err, "domain has no dot");
	return 0;
}

int addr_component_ok(const char *comp, int maildir_names, struct mm_err *err)
{
	size_t len = strlen(comp);

	if (len == 0)
		return err_set(err, "empty name");
	if (len > ADDR_LOCAL_MAX)
		return err_set(err, "name longer than %d octets", ADDR_LOCAL_MAX);
	if (comp[0] == '.')
		return err_set(err, "name starts with a dot");
	if (strstr(comp, ".."))
		return err_set(err, "name contains \"..\"");
	for (const char *p = comp; *p; p++) {
		int c = ascii_tolower((unsigned char)*p);
		if (!(c >= 'a' && c <= 'z') && !is_digit(c) && c != '.' && c != '_' && c != '-')
			return err_set(err, "character 0x%02x not allowed in a mailbox name", (unsigned char)*p);
	}
	if (maildir_names && (!ascii_strcasecmp(comp, "tmp") || !ascii_strcasecmp(comp, "new") ||
	    !ascii_strcasecmp(comp, "cur")))
		return err_set(err, "\"%s\" is a Maildir folder, not a mailbox name", comp);
	return 0;
}

int addr_split_suffix(const char *local, const char *seps,
    char base[ADDR_LOCAL_MAX + 1], char suffix[ADDR_LOCAL_MAX + 1])
{
	size_t n = strcspn(local, seps ? seps : "");
	size_t len = strlen(local);

	if (len > ADDR_LOCAL_MAX)
		len = n = ADDR_LOCAL_MAX; /* callers validated; keep it bounded anyway */
	memcpy(base, local, n);
	base[n] = '\0';
	if (n >= len) {
		suffix[0] = '\0';
		return 0;
	}
	memcpy(suffix, local + n + 1, len - n - 1);
	suffix[len - n - 1] = '\0';
	return 1;
}

static int fail(struct mm_err *err, int code, const char *msg)
{
	err_set(err, "%s", msg);
	if (err)
		err->code = code;
	return -1;
}

int addr_parse_mailbox(const char *s, size_t len, struct addr *out, struct mm_err *err)
{
	const char *at;
	size_t llen, dlen;
	struct mm_err derr;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0)
			return fail(err, ADDR_E_POLICY, "NUL byte in address");
		if (c >= 0x80)
			return fail(err, ADDR_E_POLICY, "8-bit byte in address");
		if (c < 0x20 || c == 0x7f)
			return fail(err, ADDR_E_SYNTAX, "control character in address");
	}
	if (len && s[0] == '"')
		return fail(err, ADDR_E_POLICY, "quoted local parts are not accepted");
	at = memrchr(s, '@', len);
	if (!at)
		return fail(err, ADDR_E_SYNTAX, "address has no @domain");
	llen = (size_t)(at - s);
	dlen = len - llen - 1;
	if (llen == 0)
		return fail(err, ADDR_E_SYNTAX, "empty local part");
	if (llen > ADDR_LOCAL_MAX)
		return fail(err, ADDR_E_POLICY, "local part longer than 64 octets");
	if (dlen == 0)
		return fail(err, ADDR_E_SYNTAX, "empty domain");
	if (dlen > ADDR_DOMAIN_MAX)
		return fail(err, ADDR_E_POLICY, "domain longer than 255 octets");
	if (at[1] == '[')
		return fail(err, ADDR_E_POLICY, "address literals are not accepted");
	/* dot-atom: atoms of atext separated by single dots */
	if (s[0] == '.' || s[llen - 1] == '.')
		return fail(err, ADDR_E_SYNTAX, "local part starts or ends with a dot");
	for (size_t i = 0; i < llen; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return fail(err, ADDR_E_SYNTAX, "\"..\" in local part");
			continue;
		}
		if (s[i] == '"' || s[i] == '\\')
			return fail(err, ADDR_E_POLICY, "quoted local parts are not accepted");
		if (s[i] == '@')
			return fail(err, ADDR_E_SYNTAX, "more than one @ in address");
		if (!is_atext((unsigned char)s[i]))
			return fail(err, ADDR_E_SYNTAX, "invalid character in local part");
	}
	memcpy(out->local, s, llen);
	out->local[llen] = '\0';
	memcpy(out->domain, at + 1, dlen);
	out->domain[dlen] = '\0';
	ascii_lower(out->local);
	ascii_lower(out->domain);
	if (addr_domain_ok(out->domain, &derr) < 0) {
		err_set(err, "%s", derr.msg);
		if (err)
			err->code = ADDR_E_SYNTAX;
		return -1;
	}
	return 0;
}

int addr_parse_path(const char *s, int null_ok, struct addr *out, int *null,
    const char **rest, struct mm_err *err)
{
	const char *end;

	*null = 0;
	if (*s != '<')
		return fail(err, ADDR_E_SYNTAX, "address must be written as <local@domain>");
	s++;
	if (*s == '@')
		return fail(err, ADDR_E_POLICY, "source routes are not accepted");
	end = strchr(s, '>');
	if (!end)
		return fail(err, ADDR_E_SYNTAX, "missing > after address");
	if ((size_t)(end - s) + 2 > ADDR_PATH_MAX)
		return fail(err, ADDR_E_POLICY, "address longer than 256 octets");
	if (end == s) {
		if (!null_ok)
			return fail(err, ADDR_E_SYNTAX, "empty address not allowed here");
		*null = 1;
		memset(out, 0, sizeof *out);
		*rest = end + 1;
		return 0;
	}
	if (memchr(s, '<', (size_t)(end - s)))
		return fail(err, ADDR_E_SYNTAX, "unexpected < inside address");
	if (addr_parse_mailbox(s, (size_t)(end - s), out, err) < 0)
		return -1;
	*rest = end + 1;
	return 0;
}

/*
 * RFC 5322 address lists.  A small scanner: tokens are quoted strings,
 * comments (nested), angle-addr, and runs of other characters.  For each
 * list element we take the angle-addr if there is one, else the bare text
 * with comments and folding whitespace removed.
 */
struct scan {
	const char *p, *end;
	struct buf cur;      /* bare text of the element so far */
	struct buf angle;    /* contents of <...> if seen */
	int has_angle;
};

static int skip_comment(struct scan *sc)
{
	int depth = 0;

	for (; sc->p < sc->end; sc->p++) {
		if (*sc->p == '\\' && sc->p + 1 < sc->end) {
			sc->p++;
			continue;
		}
		if (*sc->p == '(')
			depth++;
		else if (*sc->p == ')' && --depth == 0) {
			sc->p++;
			return 0;
		}
	}
	return -1;
}

static int finish_element(struct scan *sc, struct addr_list *out, struct mm_err *err)
{
	const char *spec;
	size_t len;
	struct addr a;

	/* trailing blanks of a bare addr-spec are not part of it */
	while (sc->cur.len && sc->cur.data[sc->cur.len - 1] == ' ')
		sc->cur.data[--sc->cur.len] = '\0';
	if (sc->has_angle) {
		spec = sc->angle.data ? sc->angle.data : "";
		len = sc->angle.len;
	} else {
		spec = sc->cur.data ? sc->cur.data : "";
		len = sc->cur.len;
	}
	if (len == 0 && !sc->has_angle)
		goto done;  /* empty element (", ,") or a group's end */
	if (out->n >= ADDR_LIST_MAX)
		return err_set(err, "more than %d addresses in one header", ADDR_LIST_MAX);
	if (addr_parse_mailbox(spec, len, &a, err) < 0)
		return err_wrap(err, "\"%.*s\"", (int)(len > 80 ? 80 : len), spec);
	out->v = xreallocarray(out->v, out->n + 1, sizeof *out->v);
	out->v[out->n++] = a;
done:
	buf_reset(&sc->cur);
	buf_reset(&sc->angle);
	sc->has_angle = 0;
	return 0;
}

int addr_list_parse(const char *value, size_t len, struct addr_list *out, struct mm_err *err)
{
	struct scan sc = { .p = value, .end = value + len };
	int r = -1;

	out->v = NULL;
	out->n = 0;
	buf_init(&sc.cur);
	buf_init(&sc.angle);
	while (sc.p < sc.end) {
		char c = *sc.p;

		if (c == '(') {
			if (skip_comment(&sc) < 0) {
				err_set(err, "unterminated comment in address list");
				goto out;
			}
		} else if (c == '"') {
			/* a quoted display name or quoted local part */
			buf_putc(&sc.cur, '"');
			for (sc.p++; sc.p < sc.end && *sc.p != '"'; sc.p++) {
				if (*sc.p == '\\' && sc.p + 1 < sc.end)
					buf_putc(&sc.cur, *sc.p++);
				buf_putc(&sc.cur, *sc.p);
			}
			if (sc.p >= sc.end) {
				err_set(err, "unterminated quoted string in address list");
				goto out;
			}
			buf_putc(&sc.cur, '"');
			sc.p++;
		} else if (c == '<') {
			const char *gt = memchr(sc.p, '>', (size_t)(sc.end - sc.p));
			if (!gt) {
				err_set(err, "missing > in address list");
				goto out;
			}
			if (sc.has_angle) {
				err_set(err, "two <addresses> in one list element");
				goto out;
			}
			sc.has_angle = 1;
			for (const char *q = sc.p + 1; q < gt; q++)
				if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
					buf_putc(&sc.angle, *q);
			/* obsolete route "<@a,@b:x@y>": keep only what is after ':' */
			if (sc.angle.len && sc.angle.data[0] == '@') {
				err_set(err, "source routes are not accepted");
				if (err)
					err->code = ADDR_E_POLICY;
				goto out;
			}
			sc.p = gt + 1;
		} else if (c == ':') {
			/* group name ends: what we have is the display name */
			buf_reset(&sc.cur);
			sc.p++;
		} else if (c == ',' || c == ';') {
			if (finish_element(&sc, out, err) < 0)
				goto out;
			sc.p++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			/* whitespace between words of a display name: a bare
			 * addr-spec has none, so a space marks a display name */
			if (sc.cur.len && !sc.has_angle)
				buf_putc(&sc.cur, ' ');
			sc.p++;
		} else {
			buf_putc(&sc.cur, c);
			sc.p++;
		}
	}
	if (finish_element(&sc, out, err) < 0)
		goto out;
	r = 0;
out:
	buf_free(&sc.cur);
	buf_free(&sc.angle);
	if (r < 0)
		addr_list_free(out);
	return r;
}

void addr_list_free(struct addr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
