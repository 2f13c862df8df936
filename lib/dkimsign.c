/*
 * dkimsign — DKIM signatures of our own making (see dkimsign.h).
 *
 * Canonicalization is lib/dkimcanon's (libopendkim's per-byte body pass
 * was a sixth of SHA-256's speed); the cryptography is OpenSSL's EVP
 * interface; the policy (tags, header list, folding) is here.  The body
 * is hashed once however many keys sign it: rsa-sha256 and
 * ed25519-sha256 share the SHA-256 of the relaxed body.  libopendkim
 * verifies what this makes, in the unit test and in mm-recv.
 */
#include "dkimsign.h"
#include "dkimcanon.h"
#include "msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

/* named once more in h= than they occur: a copy added in transit breaks
 * the signature */
static const char *const oversign[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to", NULL,
};
/* RFC 6376 5.4.1: fields that are changed or added in transit, so
 * signing them would only break the signature */
static const char *const unsigned_fields[] = {
	"return-path", "received", "comments", "keywords", NULL,
};

#define SIG_FOLD_AT 76     /* fold the signature field before this column */

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

/* The private key in k as an EVP_PKEY of the type its name promises. */
static EVP_PKEY *load_pkey(const struct dkimsign_key *k, struct mm_err *err)
{
	BIO *bio = BIO_new_mem_buf(k->pem.data, (int)k->pem.len);
	EVP_PKEY *pk = NULL;
	int want = k->type == KEYS_RSA ? EVP_PKEY_RSA : EVP_PKEY_ED25519;

	if (k->pem.len > KEYS_FILE_MAX || !bio) {
		err_set(err, "%s: cannot read the key", k->path);
		goto out;
	}
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!pk) {
		err_set(err, "%s: not a PEM private key", k->path);
		goto out;
	}
	if (EVP_PKEY_get_base_id(pk) != want) {
		err_set(err, "%s: not an %s key", k->path, keys_type_name(k->type));
		EVP_PKEY_free(pk);
		pk = NULL;
	} else if (k->type == KEYS_RSA && EVP_PKEY_get_bits(pk) < KEYS_RSA_BITS_MIN) {
		err_set(err, "%s: RSA key of %d bits, under the %d that verifiers accept", k->path,
		    EVP_PKEY_get_bits(pk), KEYS_RSA_BITS_MIN);
		EVP_PKEY_free(pk);
		pk = NULL;
	}
out:
	BIO_free(bio);
	return pk;
}

static int in_list(const struct msg_field *f, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (msg_field_is(f, list[i]))
			return 1;
	return 0;
}

/* A field we put in h=: not one changed in transit, and a name that
 * cannot end the h= tag early (';' is legal in a field name). */
static int signable(const struct msg_field *f)
{
	return !in_list(f, unsigned_fields) && !memchr(f->name, ';', f->name_len);
}

/* a signed field for header_data's sort: its name and where it is */
struct hfield {
	const char *name;
	size_t len, pos;
};

static int same_name(const struct hfield *a, const struct hfield *b)
{
	return a->len == b->len && !ascii_strncasecmp(a->name, b->name, a->len);
}

/* by name (ASCII case-insensitive), then top to bottom */
static int by_name_then_pos(const void *pa, const void *pb)
{
	const struct hfield *a = pa, *b = pb;
	int c = ascii_strncasecmp(a->name, b->name, a->len < b->len ? a->len : b->len);

	if (c)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/*
 * The header hash input: the canonical form of each field named in h=,
 * in h= order, where the k-th mention of a name takes the k-th field of
 * that name counted from the bottom (RFC 6376 5.4.2); the over-signed
 * names, with no field left, add nothing.  Our h= lists the signed
 * fields top to bottom, so within each name the order simply reverses.
 * Sorting keeps this O(n log n): a header of 10,000 fields is allowed.
 */
static void header_data(const struct msg *m, struct buf *out)
{
	struct hfield *h = xcalloc(m->n ? m->n : 1, sizeof(*h));
	size_t *pick = xcalloc(m->n ? m->n : 1, sizeof(*pick));
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		if (signable(&m->f[i]))
			h[n++] = (struct hfield){ m->f[i].name, m->f[i].name_len, i };
	qsort(h, n, sizeof(*h), by_name_then_pos);
	for (size_t g = 0; g < n;) {
		size_t e = g + 1;
		while (e < n && same_name(&h[g], &h[e]))
			e++;
		for (size_t j = g; j < e; j++)
			pick[h[j].pos] = h[e - 1 - (j - g)].pos;
		g = e;
	}
	for (size_t i = 0; i < m->n; i++)
		if (signable(&m->f[i]))
			dkimcanon_header(m->f[pick[i]].raw, m->f[pick[i]].raw_len, 1, out);
	free(pick);
	free(h);
}

/* Appends text to a header field being folded: on the current line when
 * it fits before SIG_FOLD_AT, else after a line break and a tab. */
struct fold {
	struct buf *b;
	size_t col;
};

static void fold_put(struct fold *f, const char *s, size_t n, const char *sep)
{
	size_t sl = strlen(sep);
	if (f->col + sl + n > SIG_FOLD_AT && f->col > 1) {
		buf_append(f->b, "\r\n\t", 3);
		f->col = 8;
	} else {
		buf_append(f->b, sep, sl);
		f->col += sl;
	}
	buf_append(f->b, s, n);
	f->col += n;
}

/* fold_put of a printf-made tag */
static void fold_tag(struct fold *f, const char *sep, const char *fmt, ...) MM_PRINTF(3, 4);
static void fold_tag(struct fold *f, const char *sep, const char *fmt, ...)
{
	struct buf t;
	va_list ap;

	buf_init(&t);
	va_start(ap, fmt);
	buf_vprintf(&t, fmt, ap);
	va_end(ap);
	fold_put(f, t.data, t.len, sep);
	buf_free(&t);
}

/* The signature field with every tag but b='s value, folded, ending in
 * "b=" (what is hashed); the column it ends at goes to f. */
static void sig_field(struct fold *f, const struct msg *m, const char *alg, const char *domain,
    const char *selector, long long t, const char *bh)
{
	int first = 1;

	buf_puts(f->b, "DKIM-Signature:");
	f->col = strlen("DKIM-Signature:");
	fold_tag(f, " ", "v=1;");
	fold_tag(f, " ", "a=%s;", alg);
	fold_tag(f, " ", "c=relaxed/relaxed;");
	fold_tag(f, " ", "d=%s;", domain);
	fold_tag(f, " ", "s=%s;", selector);
	fold_tag(f, " ", "t=%lld;", t);
	fold_tag(f, " ", "bh=%s;", bh);
	/* h=: the signed fields as written, top to bottom, then the
	 * over-signed names; folded only next to a colon, where RFC 6376
	 * allows FWS */
	for (size_t i = 0; i < m->n; i++) {
		if (!signable(&m->f[i]))
			continue;
		fold_tag(f, first ? " " : "", "%s%.*s:", first ? "h=" : "", (int)m->f[i].name_len,
		    m->f[i].name);
		first = 0;
	}
	for (size_t i = 0; oversign[i]; i++) {
		fold_tag(f, first ? " " : "", "%s%s%s", first ? "h=" : "", oversign[i],
		    oversign[i + 1] ? ":" : ";");
		first = 0;
	}
	fold_tag(f, " ", "b=");
}

/* Sign the SHA-256 input (header data + canonical signature field):
 * RSA signs it with SHA-256 (PKCS#1 v1.5); Ed25519 signs its SHA-256
 * (RFC 8463 3: PureEdDSA over the hash).  The signature, base64, into *b64. */
static int sign_data(EVP_PKEY *pk, enum keys_type type, const struct buf *data, char **b64,
    struct mm_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL, hash[EVP_MAX_MD_SIZE];
	unsigned int hlen = 0;
	size_t slen = 0;
	int ok = ctx != NULL;

	if (ok && type == KEYS_RSA) {
		ok = EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
		    EVP_DigestSignUpdate(ctx, data->data, data->len) == 1 &&
		    EVP_DigestSignFinal(ctx, NULL, &slen) == 1;
		if (ok) {
			sig = xmalloc(slen);
			ok = EVP_DigestSignFinal(ctx, sig, &slen) == 1;
		}
	} else if (ok) {
		ok = EVP_Digest(data->data, data->len, hash, &hlen, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) == 1 &&
		    EVP_DigestSign(ctx, NULL, &slen, hash, hlen) == 1;
		if (ok) {
			sig = xmalloc(slen);
			ok = EVP_DigestSign(ctx, sig, &slen, hash, hlen) == 1;
		}
	}
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		free(sig);
		return err_set(err, "OpenSSL could not make the %s signature", keys_type_name(type));
	}
	*b64 = base64_encode(sig, slen);
	free(sig);
	return 0;
}

static int sign_one(const struct msg *m, const struct buf *hdata, const char *bh,
    const char *domain, const struct dkimsign_key *k, const char *selector, long long t,
    struct buf *sigs, struct mm_err *err)
{
	EVP_PKEY *pk = load_pkey(k, err);
	struct buf field, data;
	struct fold f;
	char *b64 = NULL;
	int r = -1;

	if (!pk)
		return -1;
	buf_init(&field);
	buf_init(&data);
	f.b = &field;
	sig_field(&f, m, k->type == KEYS_RSA ? "rsa-sha256" : "ed25519-sha256", domain, selector,
	    t, bh);
	buf_append(&data, hdata->data, hdata->len);
	dkimcanon_header(field.data, field.len, 0, &data);
	if (sign_data(pk, k->type, &data, &b64, err) < 0) {
		err_wrap(err, "signing with %s", k->path);
		goto out;
	}
	/* b='s value, folded anywhere (base64 allows FWS) */
	for (const char *p = b64; *p;) {
		size_t room = f.col < SIG_FOLD_AT ? SIG_FOLD_AT - f.col : 0;
		size_t n = strlen(p);
		if (room == 0) {
			buf_append(&field, "\r\n\t ", 4);
			f.col = 9;
			continue;
		}
		if (n > room)
			n = room;
		buf_append(&field, p, n);
		f.col += n;
		p += n;
	}
	buf_append(&field, "\r\n", 2);
	buf_append(sigs, field.data, field.len);
	r = 0;
out:
	free(b64);
	buf_free(&data);
	buf_free(&field);
	EVP_PKEY_free(pk);
	return r;
}

int dkimsign_sign(const char *msgdata, size_t len, const char *domain,
    const struct dkimsign_keys *ks, const char *selector_override, long long now,
    struct buf *sigs, struct mm_err *err)
{
	unsigned char bh[DKIMCANON_HASH_LEN];
	struct msg m;
	struct buf hdata;
	char *bh64;
	int r = 0;

	/* a selector goes into the field as it is: "s; h=x" would add a tag */
	if (selector_override && keys_selector_ok(selector_override, err) < 0)
		return err_wrap(err, "selector %s", selector_override);
	if (msg_parse(&m, msgdata, len, 0, err) < 0)
		return err_wrap(err, "cannot sign");
	if (dkimcanon_body_sha256(msgdata + m.body_off, len - m.body_off, bh, err) < 0) {
		msg_free(&m);
		return err_wrap(err, "cannot sign");
	}
	if (now <= 0)
		now = (long long)time(NULL);
	bh64 = base64_encode(bh, sizeof bh);
	buf_init(&hdata);
	header_data(&m, &hdata);
	for (size_t i = 0; i < ks->n && r == 0; i++)
		r = sign_one(&m, &hdata, bh64, domain, &ks->k[i],
		    selector_override ? selector_override : ks->k[i].selector, now, sigs, err);
	buf_free(&hdata);
	free(bh64);
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
