/*
 * dkimkey — see dkimkey.h.  RSA keys are published as a DER
 * SubjectPublicKeyInfo (d2i_PUBKEY), Ed25519 keys as the raw 32 bytes
 * (RFC 8463); both become an EVP_PKEY so comparing with the private key is
 * OpenSSL's EVP_PKEY_eq rather than our own byte juggling.
 */
#include "dkimkey.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DKIMKEY_ED25519_LEN 32

static void add_warning(struct dkimkey *k, const char *w)
{
	struct buf b;

	buf_init(&b);
	if (k->warnings) {
		buf_puts(&b, k->warnings);
		buf_puts(&b, "; ");
		free(k->warnings);
	}
	buf_puts(&b, w);
	k->warnings = buf_steal(&b);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	for (e = s + strlen(s); e > s && strchr(" \t\r\n", e[-1]); e--)
		;
	*e = '\0';
	return s;
}

int dkimkey_parse(const char *txt, struct dkimkey *out, struct mm_err *err)
{
	char *copy, *tok, *save = NULL, *p = NULL;
	int first = 1, rc = -1;
	struct buf der;
	const unsigned char *dp;
	EVP_PKEY *pk = NULL;

	memset(out, 0, sizeof *out);
	strcpy(out->ktype, "rsa");
	if (strlen(txt) > DKIMKEY_RECORD_MAX)
		return err_set(err, "key record longer than %d octets", DKIMKEY_RECORD_MAX);
	buf_init(&der);
	copy = xstrdup(txt);
	for (tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *t = trim(tok), *eq, *k, *v;

		if (!*t)
			continue;
		eq = strchr(t, '=');
		if (!eq) {
			err_set(err, "'%s' is not a tag=value pair", t);
			goto out;
		}
		*eq = '\0';
		k = trim(t);
		v = trim(eq + 1);
		if (!strcmp(k, "v")) {
			if (!first || strcmp(v, "DKIM1")) {
				err_set(err, "v= must be first and be DKIM1");
				goto out;
			}
		} else if (!strcmp(k, "k")) {
			if (strcmp(v, "rsa") && strcmp(v, "ed25519")) {
				err_set(err, "k=%s: unknown key type (rsa or ed25519)", v);
				goto out;
			}
			if (snprintf_ok(out->ktype, sizeof out->ktype, "%s", v) < 0) {
				/* cannot: v is one of the two names just checked */
				err_set(err, "k=%s: longer than %zu octets", v, sizeof out->ktype - 1);
				goto out;
			}
		} else if (!strcmp(k, "t")) {
			char *f, *s2 = NULL;

			for (f = strtok_r(v, ":", &s2); f; f = strtok_r(NULL, ":", &s2)) {
				f = trim(f);
				if (!strcmp(f, "y"))
					out->testing = 1;
				else if (!strcmp(f, "s"))
					out->strict = 1;
			}
		} else if (!strcmp(k, "p")) {
			p = v;
		} else if (!strcmp(k, "h")) {
			if (strstr(v, "sha1") && !strstr(v, "sha256"))
				add_warning(out, "h= allows only sha1 (RFC 8301: use sha256)");
		} else if (!strcmp(k, "s") || !strcmp(k, "n") || !strcmp(k, "g")) {
			/* service type, notes, granularity (RFC 4871): nothing to check */
		} else {
			/* unknown tags are ignored (RFC 6376 3.6.1) */
		}
		first = 0;
	}
	if (!p) {
		err_set(err, "no p= tag (the public key)");
		goto out;
	}
	if (!*p) {
		out->revoked = 1;
		rc = 0;
		goto out;
	}
	if (base64_decode(p, strlen(p), &der) < 0 || der.len == 0) {
		err_set(err, "p= is not valid base64");
		goto out;
	}
	dp = (const unsigned char *)der.data;
	if (!strcmp(out->ktype, "ed25519")) {
		if (der.len != DKIMKEY_ED25519_LEN) {
			err_set(err, "p= is %zu bytes, an ed25519 key is %d", der.len, DKIMKEY_ED25519_LEN);
			goto out;
		}
		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, dp, der.len);
	} else {
		pk = d2i_PUBKEY(NULL, &dp, (long)der.len);
		if (pk && EVP_PKEY_base_id(pk) != EVP_PKEY_RSA) {
			EVP_PKEY_free(pk);
			err_set(err, "p= holds a key that is not RSA but k=rsa");
			goto out;
		}
	}
	if (!pk) {
		err_set(err, "p= does not hold a %s public key OpenSSL can load", out->ktype);
		goto out;
	}
	out->pkey = pk;
	out->bits = EVP_PKEY_get_bits(pk);
	rc = 0;
out:
	free(copy);
	buf_free(&der);
	if (rc < 0)
		dkimkey_free(out);
	return rc;
}

void dkimkey_free(struct dkimkey *k)
{
	EVP_PKEY_free(k->pkey);
	k->pkey = NULL;
	free(k->warnings);
	k->warnings = NULL;
}

static EVP_PKEY *load_private(const char *path, struct mm_err *err)
{
	struct buf b;
	BIO *bio;
	EVP_PKEY *pk;

	buf_init(&b);
	if (read_file_all(path, DKIMKEY_PEM_MAX, &b, err) < 0) {
		buf_free(&b);
		return NULL;
	}
	bio = BIO_new_mem_buf(b.data ? b.data : "", (int)b.len);
	pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	buf_free(&b);
	if (!pk)
		err_set(err, "%s: not a PEM private key", path);
	return pk;
}

int dkimkey_match_private(const struct dkimkey *k, const char *pem_path, struct mm_err *err)
{
	EVP_PKEY *priv;
	int m;

	if (!(priv = load_private(pem_path, err)))
		return -1;
	m = k->pkey && EVP_PKEY_eq(k->pkey, priv) == 1;
	EVP_PKEY_free(priv);
	return m;
}

char *dkimkey_record_for_private(const char *pem_path, struct mm_err *err)
{
	EVP_PKEY *priv;
	unsigned char *der = NULL, raw[DKIMKEY_ED25519_LEN];
	size_t rawlen = sizeof raw;
	char *b64 = NULL, *rec = NULL;
	int n;

	if (!(priv = load_private(pem_path, err)))
		return NULL;
	if (EVP_PKEY_base_id(priv) == EVP_PKEY_ED25519) {
		if (EVP_PKEY_get_raw_public_key(priv, raw, &rawlen) == 1)
			b64 = base64_encode(raw, rawlen);
		if (b64)
			rec = xasprintf("v=DKIM1; k=ed25519; p=%s", b64);
	} else if (EVP_PKEY_base_id(priv) == EVP_PKEY_RSA) {
		n = i2d_PUBKEY(priv, &der);
		if (n > 0)
			b64 = base64_encode(der, (size_t)n);
		if (b64)
			rec = xasprintf("v=DKIM1; k=rsa; p=%s", b64);
	}
	if (!rec)
		err_set(err, "%s: not an RSA or ed25519 key", pem_path);
	OPENSSL_free(der);
	free(b64);
	EVP_PKEY_free(priv);
	return rec;
}
