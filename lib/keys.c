/*
 * keys — key file names and key generation (see keys.h).
 *
 * Why the record value in .pub rather than a PEM public key: it is exactly
 * what DNS serves, so mm-recv --submit can hand it to libopendkim as if it
 * came from DNS, and a user can compare it with `dig TXT` by eye.
 * Ed25519's p= is the raw 32-byte key (RFC 8463), RSA's the DER
 * SubjectPublicKeyInfo (RFC 6376 3.6.1).
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

static const char *const type_names[KEYS_NTYPES] = { "rsa", "ed25519" };

const char *keys_type_name(enum keys_type t)
{
	return (unsigned)t < KEYS_NTYPES ? type_names[t] : "?";
}

int keys_parse_type(const char *s, enum keys_type *t)
{
	for (int i = 0; i < KEYS_NTYPES; i++)
		if (!strcmp(s, type_names[i])) {
			*t = (enum keys_type)i;
			return 0;
		}
	return -1;
}

char *keys_default_dir(struct mm_err *err)
{
	const char *home = getenv("HOME");

	if (!home || !*home) {
		err_set(err, "HOME is not set: give --keys DIR");
		return NULL;
	}
	return xasprintf("%s/%s", home, KEYS_DEFAULT_SUBDIR);
}

int keys_path(const char *dir, const struct addr *a, enum keys_type t, enum keys_file f,
    char *out, size_t outsz, struct mm_err *err)
{
	static const char *const ext[] = { "key", "pub", "selector" };

	if (snprintf_ok(out, outsz, "%s/%s@%s.%s.%s", dir, a->local, a->domain,
	    keys_type_name(t), ext[f]) < 0)
		return err_set(err, "key file name too long under %s", dir);
	return 0;
}

int keys_selector_ok(const char *sel, struct mm_err *err)
{
	size_t n = strlen(sel), lab = 0;

	if (n == 0 || n > KEYS_SELECTOR_MAX)
		return err_set(err, "selector must be 1 to %d octets", KEYS_SELECTOR_MAX);
	for (size_t i = 0; i <= n; i++) {
		char c = sel[i];
		if (c == '.' || c == 0) {
			if (lab == 0 || sel[i - 1] == '-')
				return err_set(err, "bad selector \"%s\": empty label or label ending in '-'", sel);
			lab = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return err_set(err, "bad selector \"%s\": only letters, digits, '-', '_' and '.'", sel);
		if (lab == 0 && c == '-')
			return err_set(err, "bad selector \"%s\": label starting with '-'", sel);
		lab++;
	}
	return 0;
}

int keys_selector(const char *dir, const struct addr *a, enum keys_type t,
    char sel[KEYS_SELECTOR_MAX + 1], struct mm_err *err)
{
	char path[4096];
	struct buf b;

	if (keys_path(dir, a, t, KEYS_SELECTOR, path, sizeof(path), err) < 0)
		return -1;
	buf_init(&b);
	if (read_file_all(path, KEYS_SELECTOR_MAX + 2, &b, err) < 0) {
		buf_free(&b);
		if (err && err->code == ENOENT) {
			err_clear(err);
			if (snprintf_ok(sel, KEYS_SELECTOR_MAX + 1, "%s", a->local) < 0)
				return err_set(err, "local part too long for a selector");
			return keys_selector_ok(sel, err);
		}
		return -1;
	}
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = 0;
	if (strlen(b.data) != b.len || keys_selector_ok(b.data, err) < 0) {
		buf_free(&b);
		return err_wrap(err, "%s", path);
	}
	memcpy(sel, b.data, b.len + 1);
	buf_free(&b);
	return 0;
}

static int ossl_err(struct mm_err *err, const char *what)
{
	return err_set(err, "%s: OpenSSL failed", what);
}

int keys_generate(enum keys_type t, int bits, struct buf *pem, struct buf *record,
    struct mm_err *err)
{
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	unsigned char *der = NULL;
	int r = -1;

	if (t == KEYS_RSA) {
		if (bits < KEYS_RSA_BITS_MIN || bits > KEYS_RSA_BITS_MAX)
			return err_set(err, "RSA key size %d outside %d..%d", bits,
			    KEYS_RSA_BITS_MIN, KEYS_RSA_BITS_MAX);
		pk = EVP_RSA_gen((unsigned)bits);
	} else {
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	}
	if (!pk)
		return ossl_err(err, "key generation");
	bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)) {
		ossl_err(err, "writing the private key");
		goto out;
	}
	{
		char *p;
		long n = BIO_get_mem_data(bio, &p);
		if (n <= 0) {
			ossl_err(err, "writing the private key");
			goto out;
		}
		buf_append(pem, p, (size_t)n);
	}
	if (t == KEYS_RSA) {
		int n = i2d_PUBKEY(pk, &der);
		if (n <= 0) {
			ossl_err(err, "encoding the public key");
			goto out;
		}
		char *b64 = base64_encode(der, (size_t)n);
		buf_printf(record, "v=DKIM1; k=rsa; p=%s", b64);
		free(b64);
	} else {
		unsigned char raw[32];
		size_t rl = sizeof(raw);
		if (!EVP_PKEY_get_raw_public_key(pk, raw, &rl) || rl != sizeof(raw)) {
			ossl_err(err, "encoding the public key");
			goto out;
		}
		char *b64 = base64_encode(raw, rl);
		buf_printf(record, "v=DKIM1; k=ed25519; p=%s", b64);
		free(b64);
	}
	r = 0;
out:
	OPENSSL_free(der);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	return r;
}

int keys_write_new(const char *path, const void *data, size_t n, mode_t mode,
    struct mm_err *err)
{
	char tmp[4096], dir[4096];
	unsigned char rnd[8];
	char hex[17];
	int fd;

	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), hex);
	if (snprintf_ok(tmp, sizeof(tmp), "%s.tmp.%s", path, hex) < 0 ||
	    snprintf_ok(dir, sizeof(dir), "%s", path) < 0)
		return err_set(err, "%s: path too long", path);
	if (access(path, F_OK) == 0) {
		err_set(err, "%s exists; refusing to overwrite a key", path);
		if (err)
			err->code = EEXIST;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return err_sys(err, "create %s", tmp);
	if (fchmod(fd, mode) < 0 || write_all(fd, data, n) < 0 || fsync(fd) < 0) {
		err_sys(err, "write %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		err_sys(err, "close %s", tmp);
		unlink(tmp);
		return -1;
	}
	if (link(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		if (e == EEXIST) {
			err_set(err, "%s exists; refusing to overwrite a key", path);
			if (err)
				err->code = EEXIST;
			return -1;
		}
		return err_sys(err, "link %s", path);
	}
	unlink(tmp);
	return fsync_dir_path(dirname(dir), err);
}

void keys_zone_text(const struct addr *a, const char *selector, enum keys_type t,
    const char *record, struct buf *out)
{
	size_t n = strlen(record);

	buf_printf(out, "; DKIM %s key of %s@%s: publish in the zone of %s\n",
	    keys_type_name(t), a->local, a->domain, a->domain);
	buf_printf(out, "%s._domainkey IN TXT", selector);
	for (size_t i = 0; i < n; i += KEYS_TXT_CHUNK) {
		size_t k = n - i < KEYS_TXT_CHUNK ? n - i : KEYS_TXT_CHUNK;
		/* the record holds no '"' or '\\' (base64 and tags only) */
		buf_printf(out, " \"%.*s\"", (int)k, record + i);
	}
	buf_puts(out, "\n");
}
