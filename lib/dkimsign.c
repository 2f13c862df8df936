/*
 * dkimsign — libopendkim glue (see dkimsign.h).
 *
 * Why a library handle per call: signing happens once per message in a
 * short-lived process, and a fresh handle means no state (options, key
 * caches) leaks from one message to the next.  The header fields are fed
 * from lib/msg so libopendkim sees exactly the raw bytes that are sent.
 */
#include "dkimsign.h"
#include "msg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <opendkim/dkim.h>

static const char *const oversign[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to", NULL,
};

int dkimsign_load(const char *dir, const struct addr *a, struct dkimsign_keys *ks,
    struct mm_err *err)
{
	memset(ks, 0, sizeof(*ks));
	/* Ed25519 first: the stronger, newer signature sits below RSA. */
	static const enum keys_type order[KEYS_NTYPES] = { KEYS_ED25519, KEYS_RSA };
	for (int i = 0; i < KEYS_NTYPES; i++) {
		enum keys_type t = order[i];
		struct dkimsign_key *k = &ks->k[ks->n];
		char path[4096];

		if (keys_path(dir, a, t, KEYS_PRIVATE, path, sizeof(path), err) < 0)
			return -1;
		memcpy(ks->looked[i], path, sizeof(path));
		buf_init(&k->pem);
		if (read_file_all(path, KEYS_FILE_MAX, &k->pem, err) < 0) {
			buf_free(&k->pem);
			if (err && err->code == ENOENT) {
				err_clear(err);
				continue;
			}
			dkimsign_keys_free(ks);
			return -1;
		}
		k->type = t;
		memcpy(k->path, path, sizeof(path));
		ks->n++;
		if (keys_selector(dir, a, t, k->selector, err) < 0) {
			dkimsign_keys_free(ks);
			return -1;
		}
	}
	return 0;
}

void dkimsign_keys_free(struct dkimsign_keys *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		if (ks->k[i].pem.data)
			OPENSSL_cleanse(ks->k[i].pem.data, ks->k[i].pem.len);
		buf_free(&ks->k[i].pem);
	}
	ks->n = 0;
}

static int sign_one(DKIM_LIB *lib, const struct msg *m, const char *domain,
    const struct dkimsign_key *k, const char *selector, struct buf *sigs, struct mm_err *err)
{
	DKIM_STAT st = DKIM_STAT_OK;
	DKIM *d;
	unsigned char *hdr = NULL;
	size_t hlen = 0;
	int r = -1;
	/* libopendkim wants a NUL-terminated key */
	char *key = xstrndup(k->pem.data, k->pem.len);

	d = dkim_sign(lib, (const unsigned char *)"mm-send", NULL, (dkim_sigkey_t)key,
	    (const unsigned char *)selector, (const unsigned char *)domain,
	    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
	    k->type == KEYS_RSA ? DKIM_SIGN_RSASHA256 : DKIM_SIGN_ED25519SHA256, -1, &st);
	if (!d) {
		err_set(err, "%s: cannot start signing: %s", k->path, dkim_getresultstr(st));
		goto out;
	}
	for (size_t i = 0; i < m->n; i++) {
		size_t l = m->f[i].raw_len;
		/* without the final line terminator, folding kept */
		if (l && m->f[i].raw[l - 1] == '\n')
			l--;
		if (l && m->f[i].raw[l - 1] == '\r')
			l--;
		st = dkim_header(d, (u_char *)m->f[i].raw, l);
		if (st != DKIM_STAT_OK) {
			err_set(err, "signing header %.*s: %s", (int)m->f[i].name_len, m->f[i].name,
			    dkim_geterror(d) ? dkim_geterror(d) : dkim_getresultstr(st));
			goto out;
		}
	}
	st = dkim_eoh(d);
	if (st == DKIM_STAT_OK && m->body_off < m->len)
		st = dkim_body(d, (u_char *)m->data + m->body_off, m->len - m->body_off);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(d, NULL);
	if (st == DKIM_STAT_OK)
		st = dkim_getsighdr_d(d, strlen(DKIM_SIGNHEADER) + 2, &hdr, &hlen);
	if (st != DKIM_STAT_OK) {
		err_set(err, "signing with %s: %s", k->path,
		    dkim_geterror(d) ? dkim_geterror(d) : dkim_getresultstr(st));
		goto out;
	}
	{
		struct buf raw;
		buf_init(&raw);
		buf_printf(&raw, "%s: ", DKIM_SIGNHEADER);
		buf_append(&raw, hdr, hlen);
		buf_puts(&raw, "\r\n");
		msg_to_crlf(raw.data, raw.len, sigs);
		buf_free(&raw);
	}
	r = 0;
out:
	if (d)
		dkim_free(d);
	OPENSSL_cleanse(key, strlen(key));
	free(key);
	return r;
}

int dkimsign_sign(const char *msgdata, size_t len, const char *domain,
    const struct dkimsign_keys *ks, const char *selector_override, long long now,
    struct buf *sigs, struct mm_err *err)
{
	DKIM_LIB *lib;
	struct msg m;
	int r = 0;

	if (msg_parse(&m, msgdata, len, 0, err) < 0)
		return err_wrap(err, "cannot sign");
	lib = dkim_init(NULL, NULL);
	if (!lib) {
		msg_free(&m);
		return err_set(err, "libopendkim failed to initialise");
	}
	{
		unsigned int flags = DKIM_LIBFLAGS_NONE;  /* never SIGNLEN: no l= */
		uint64_t fixed = now > 0 ? (uint64_t)now : 0;   /* 0: libopendkim asks the clock */
		if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) !=
		    DKIM_STAT_OK ||
		    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &fixed, sizeof(fixed)) !=
		    DKIM_STAT_OK ||
		    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, (void *)oversign,
		    sizeof(const char **)) != DKIM_STAT_OK) {
			r = err_set(err, "libopendkim refused the signing options");
			goto out;
		}
	}
	for (size_t i = 0; i < ks->n && r == 0; i++)
		r = sign_one(lib, &m, domain, &ks->k[i],
		    selector_override ? selector_override : ks->k[i].selector, sigs, err);
out:
	dkim_close(lib);
	msg_free(&m);
	return r;
}

int dkimsign_strip(const char *msgdata, size_t len, size_t nsig, size_t *off,
    struct mm_err *err)
{
	static const char name[] = "DKIM-Signature";
	struct msg m;

	*off = 0;
	if (nsig == 0)
		return 0;
	if (msg_parse(&m, msgdata, len, MSG_LENIENT, err) < 0)
		return err_wrap(err, "own signatures");
	if (m.n < nsig) {
		size_t n = m.n;
		msg_free(&m);
		return err_set(err, "own signatures: %zu expected, the header has %zu fields", nsig, n);
	}
	for (size_t i = 0; i < nsig; i++) {
		const struct msg_field *f = &m.f[i];
		if (f->name_len != sizeof(name) - 1 ||
		    ascii_strncasecmp(f->name, name, sizeof(name) - 1)) {
			msg_free(&m);
			return err_set(err, "own signatures: header field %zu is not a %s field",
			    i + 1, name);
		}
	}
	*off = m.f[nsig - 1].off + m.f[nsig - 1].raw_len;
	msg_free(&m);
	return 0;
}

/* The one address of the header From: field, as the first signing chose
 * the key by it. */
static int header_from(const char *msgdata, size_t len, struct addr *a, struct mm_err *err)
{
	struct msg m;
	struct addr_list l;
	const struct msg_field *f;
	int r = -1;

	if (msg_parse(&m, msgdata, len, MSG_LENIENT, err) < 0)
		return err_wrap(err, "header From:");
	if (msg_count(&m, "from") != 1) {
		err_set(err, "header From:: %zu fields", msg_count(&m, "from"));
		goto out;
	}
	f = msg_find(&m, "from");
	if (addr_list_parse(f->value, f->value_len, &l, err) < 0) {
		err_wrap(err, "header From:");
		goto out;
	}
	if (l.n == 1) {
		*a = l.v[0];
		r = 0;
	} else {
		err_set(err, "header From:: %zu addresses", l.n);
	}
	addr_list_free(&l);
out:
	msg_free(&m);
	return r;
}

int dkimsign_resign(const char *msgdata, size_t len, size_t nown, const char *keydir,
    const char *selector_override, long long now, struct buf *out, size_t *nsig,
    struct mm_err *err)
{
	struct dkimsign_keys ks;
	struct addr a;
	char fs[ADDR_STR_MAX];
	struct buf sigs;
	size_t off;

	*nsig = 0;
	if (dkimsign_strip(msgdata, len, nown, &off, err) < 0)
		return -1;
	if (header_from(msgdata + off, len - off, &a, err) < 0)
		return -1;
	addr_format(&a, fs);
	if (dkimsign_load(keydir, &a, &ks, err) < 0)
		return err_wrap(err, "key for %s", fs);
	if (ks.n == 0)
		return err_set(err, "no DKIM key for %s any more: looked for %s and %s", fs,
		    ks.looked[1], ks.looked[0]);
	buf_init(&sigs);
	if (dkimsign_sign(msgdata + off, len - off, a.domain, &ks, selector_override, now,
	    &sigs, err) < 0) {
		dkimsign_keys_free(&ks);
		buf_free(&sigs);
		return -1;
	}
	*nsig = ks.n;
	dkimsign_keys_free(&ks);
	buf_append(out, sigs.data, sigs.len);
	buf_append(out, msgdata + off, len - off);
	buf_free(&sigs);
	return 0;
}
