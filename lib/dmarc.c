/*
 * dmarc — see dmarc.h.  The record grammar is small enough to parse by
 * hand (tag=value; pairs), which lets every invalid tag be named in the
 * error; the Public Suffix List is read into a sorted array and searched
 * suffix by suffix with the PSL algorithm (exact, wildcard, exception
 * rules; the implicit "*" rule when nothing matches).
 */
#include "dmarc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct dmarc_psl {
	char **rules;     /* sorted, lowercase, as in the file ("*.ck", "!www.ck") */
	size_t n;
};

const char *dmarc_policy_str(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_NONE: return "none";
	case DMARC_POLICY_QUARANTINE: return "quarantine";
	case DMARC_POLICY_REJECT: return "reject";
	default: return "unset";
	}
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return p;
}

int dmarc_is_record(const char *txt)
{
	const char *p = skip_ws(txt);

	if (strncmp(p, "v", 1))
		return 0;
	p = skip_ws(p + 1);
	if (*p != '=')
		return 0;
	p = skip_ws(p + 1);
	return !strncmp(p, "DMARC1", 6) && (p[6] == '\0' || p[6] == ';' || p[6] == ' ' || p[6] == '\t');
}

static int parse_policy(const char *v, enum dmarc_policy *out)
{
	if (!ascii_strcasecmp(v, "none"))
		*out = DMARC_POLICY_NONE;
	else if (!ascii_strcasecmp(v, "quarantine"))
		*out = DMARC_POLICY_QUARANTINE;
	else if (!ascii_strcasecmp(v, "reject"))
		*out = DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

static void add_warning(struct dmarc_record *r, const char *what, const char *a)
{
	struct buf b;

	buf_init(&b);
	if (r->warnings) {
		buf_puts(&b, r->warnings);
		buf_puts(&b, "; ");
		free(r->warnings);
	}
	buf_printf(&b, "%s: %s", a, what);
	r->warnings = buf_steal(&b);
}

int dmarc_uri_domain(const char *uri, char *out, size_t outsz)
{
	const char *at, *end;
	size_t n;

	if (ascii_strncasecmp(uri, "mailto:", 7))
		return -1;
	at = strrchr(uri, '@');
	if (!at)
		return -1;
	at++;
	for (end = at; *end && *end != '!' && *end != '?' && *end != ' '; end++)
		;
	n = (size_t)(end - at);
	if (n == 0 || n >= outsz || n > DMARC_DOMAIN_MAX)
		return -1;
	memcpy(out, at, n);
	out[n] = '\0';
	ascii_lower(out);
	return 0;
}

/* Split a comma-separated URI list into list; -1 on a non-mailto URI. */
static int parse_uris(const char *v, char ***list, size_t *n, const char *tag, struct mm_err *err)
{
	char *copy = xstrdup(v), *tok, *save = NULL;
	char dom[DMARC_DOMAIN_MAX + 1];

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *t = (char *)skip_ws(tok), *e = t + strlen(t);

		while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (dmarc_uri_domain(t, dom, sizeof dom) < 0) {
			err_set(err, "%s: '%s' is not a mailto:address@domain URI", tag, t);
			free(copy);
			return -1;
		}
		if (*n >= DMARC_URIS_MAX)
			continue;
		*list = xreallocarray(*list, *n + 1, sizeof(char *));
		(*list)[(*n)++] = xstrdup(t);
	}
	free(copy);
	return 0;
}

int dmarc_parse(const char *txt, struct dmarc_record *out, struct mm_err *err)
{
	char *copy, *tok, *save = NULL;
	int first = 1, have_p = 0, rc = -1;
	long long ll;

	memset(out, 0, sizeof *out);
	out->pct = 100;
	out->adkim = out->aspf = 'r';
	strcpy(out->fo, "0");
	out->ri = 86400;
	if (strlen(txt) > DMARC_RECORD_MAX)
		return err_set(err, "record longer than %d octets", DMARC_RECORD_MAX);
	copy = xstrdup(txt);
	for (tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *k = (char *)skip_ws(tok), *eq, *v, *e;

		if (!*k)
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			err_set(err, "'%s' is not a tag=value pair", k);
			goto out;
		}
		for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		v = (char *)skip_ws(eq + 1);
		for (e = v + strlen(v); e > v && strchr(" \t\r\n", e[-1]); e--)
			;
		*e = '\0';
		if (first) {
			if (strcmp(k, "v") || strcmp(v, "DMARC1")) {
				err_set(err, "the record must start with v=DMARC1");
				goto out;
			}
			first = 0;
			continue;
		}
		if (!ascii_strcasecmp(k, "p")) {
			if (parse_policy(v, &out->p) < 0) {
				err_set(err, "p=%s: want none, quarantine or reject", v);
				goto out;
			}
			have_p = 1;
		} else if (!ascii_strcasecmp(k, "sp")) {
			if (parse_policy(v, &out->sp) < 0) {
				err_set(err, "sp=%s: want none, quarantine or reject", v);
				goto out;
			}
		} else if (!ascii_strcasecmp(k, "pct")) {
			if (parse_long(v, 0, 100, &ll) < 0) {
				err_set(err, "pct=%s: want a number from 0 to 100", v);
				goto out;
			}
			out->pct = (int)ll;
		} else if (!ascii_strcasecmp(k, "adkim") || !ascii_strcasecmp(k, "aspf")) {
			if ((v[0] != 'r' && v[0] != 's') || v[1]) {
				err_set(err, "%s=%s: want r or s", k, v);
				goto out;
			}
			if (!ascii_strcasecmp(k, "adkim"))
				out->adkim = v[0];
			else
				out->aspf = v[0];
		} else if (!ascii_strcasecmp(k, "fo")) {
			const char *p;
			int ok = *v != '\0' && strlen(v) < sizeof out->fo;

			for (p = v; ok && *p; p++)
				if (!strchr("01ds:", *p))
					ok = 0;
			if (!ok) {
				err_set(err, "fo=%s: want 0, 1, d or s, separated by ':'", v);
				goto out;
			}
			strcpy(out->fo, v);
		} else if (!ascii_strcasecmp(k, "ri")) {
			if (parse_long(v, 0, 4294967295LL, &ll) < 0) {
				err_set(err, "ri=%s: want a number of seconds", v);
				goto out;
			}
			out->ri = (long)ll;
		} else if (!ascii_strcasecmp(k, "rua")) {
			if (parse_uris(v, &out->rua, &out->nrua, "rua", err) < 0)
				goto out;
		} else if (!ascii_strcasecmp(k, "ruf")) {
			if (parse_uris(v, &out->ruf, &out->nruf, "ruf", err) < 0)
				goto out;
		} else if (!ascii_strcasecmp(k, "rf")) {
			if (ascii_strcasecmp(v, "afrf"))
				add_warning(out, "rf: only afrf is defined", v);
		} else if (!ascii_strcasecmp(k, "v")) {
			err_set(err, "v= must be the first tag, and only once");
			goto out;
		} else {
			add_warning(out, "unknown tag ignored", k);
		}
	}
	if (first) {
		err_set(err, "empty record");
		goto out;
	}
	if (!have_p) {
		err_set(err, "no p= tag (required)");
		goto out;
	}
	rc = 0;
out:
	free(copy);
	if (rc < 0)
		dmarc_record_free(out);
	return rc;
}

void dmarc_record_free(struct dmarc_record *r)
{
	size_t i;

	for (i = 0; i < r->nrua; i++)
		free(r->rua[i]);
	for (i = 0; i < r->nruf; i++)
		free(r->ruf[i]);
	free(r->rua);
	free(r->ruf);
	free(r->warnings);
	r->rua = r->ruf = NULL;
	r->nrua = r->nruf = 0;
	r->warnings = NULL;
}

/* ---------- public suffix list ---------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct dmarc_psl *dmarc_psl_load(const char *path, struct mm_err *err)
{
	struct buf b;
	struct dmarc_psl *psl;
	char *line, *save = NULL;
	size_t cap = 0;

	if (!path)
		path = DMARC_PSL_PATH;
	buf_init(&b);
	if (read_file_all(path, DMARC_PSL_MAX, &b, err) < 0) {
		buf_free(&b);
		err_wrap(err, "public suffix list (Debian package publicsuffix)");
		return NULL;
	}
	psl = xcalloc(1, sizeof *psl);
	for (line = strtok_r(b.data ? b.data : (char *)"", "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		char *e;

		line = (char *)skip_ws(line);
		if (!*line || !strncmp(line, "//", 2))
			continue;
		for (e = line; *e && !isspace((unsigned char)*e); e++)
			;
		*e = '\0';
		if (psl->n == cap) {
			cap = cap ? cap * 2 : 1024;
			psl->rules = xreallocarray(psl->rules, cap, sizeof(char *));
		}
		psl->rules[psl->n] = xstrdup(line);
		ascii_lower(psl->rules[psl->n++]);
	}
	buf_free(&b);
	if (psl->n == 0) {
		dmarc_psl_free(psl);
		err_set(err, "%s: no rules", path);
		return NULL;
	}
	qsort(psl->rules, psl->n, sizeof(char *), cmp_str);
	return psl;
}

void dmarc_psl_free(struct dmarc_psl *psl)
{
	size_t i;

	if (!psl)
		return;
	for (i = 0; i < psl->n; i++)
		free(psl->rules[i]);
	free(psl->rules);
	free(psl);
}

static int has_rule(const struct dmarc_psl *psl, const char *prefix, const char *name)
{
	char key[DMARC_DOMAIN_MAX + 4];
	const char *k = key;

	if (snprintf_ok(key, sizeof key, "%s%s", prefix, name) < 0)
		return 0;
	return bsearch(&k, psl->rules, psl->n, sizeof(char *), cmp_str) != NULL;
}

int dmarc_org_domain(const struct dmarc_psl *psl, const char *domain,
    char *out, size_t outsz)
{
	char d[DMARC_DOMAIN_MAX + 2];
	const char *labels[128], *p, *suffix = NULL;
	size_t nl = 0, i, len;

	len = strlen(domain);
	if (len == 0 || len > DMARC_DOMAIN_MAX)
		return -1;
	memcpy(d, domain, len + 1);
	if (d[len - 1] == '.')
		d[--len] = '\0';
	ascii_lower(d);
	/* labels[i] = the suffix starting at label i */
	labels[nl++] = d;
	for (p = d; *p; p++)
		if (*p == '.') {
			if (nl >= MM_NELEM(labels))
				return -1;
			labels[nl++] = p + 1;
		}
	/* Longest matching rule; exceptions win. */
	for (i = 0; i < nl; i++) {
		const char *s = labels[i];

		if (has_rule(psl, "!", s)) {
			suffix = i + 1 < nl ? labels[i + 1] : s;
			break;
		}
		if (has_rule(psl, "", s)) {
			suffix = s;
			break;
		}
		if (i + 1 < nl && has_rule(psl, "*.", labels[i + 1])) {
			suffix = s;
			break;
		}
	}
	if (!suffix)
		suffix = labels[nl - 1];     /* the implicit "*" rule */
	/* org = suffix plus one label */
	for (i = 0; i < nl; i++)
		if (labels[i] == suffix)
			break;
	p = i > 0 ? labels[i - 1] : labels[0];
	if (strlen(p) + 1 > outsz)
		return -1;
	strcpy(out, p);
	return 0;
}

int dmarc_aligned(const struct dmarc_psl *psl, const char *a, const char *b, int strict)
{
	char oa[DMARC_DOMAIN_MAX + 1], ob[DMARC_DOMAIN_MAX + 1];

	if (!a || !b)
		return 0;
	if (!ascii_strcasecmp(a, b))
		return 1;
	if (strict)
		return 0;
	if (dmarc_org_domain(psl, a, oa, sizeof oa) < 0 || dmarc_org_domain(psl, b, ob, sizeof ob) < 0)
		return 0;
	return !strcmp(oa, ob);
}
