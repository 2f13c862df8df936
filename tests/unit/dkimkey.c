/* dkimkey: key records parsed, sizes, revocation, matching the private key.
 * Keys are generated here, at test time, with OpenSSL. */
#include "dkimkey.h"
#include "tap.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void write_key(EVP_PKEY *pk, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f || !PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL))
		abort();
	fclose(f);
}

static int parses(const char *rec)
{
	struct dkimkey k;
	struct mm_err err;
	int rc = dkimkey_parse(rec, &k, &err);

	if (rc == 0)
		dkimkey_free(&k);
	return rc == 0;
}

int main(void)
{
	char dir[] = "/tmp/mm-dkimkey.XXXXXX", rsa1[64], rsa2[64], ed[64];
	EVP_PKEY *a, *b, *e;
	struct dkimkey k;
	struct mm_err err;
	char *rec, *rec2, *spaced;
	size_t i, j;

	if (!mkdtemp(dir))
		return 1;
	snprintf(rsa1, sizeof rsa1, "%s/a.pem", dir);
	snprintf(rsa2, sizeof rsa2, "%s/b.pem", dir);
	snprintf(ed, sizeof ed, "%s/e.pem", dir);
	a = EVP_RSA_gen(1024);
	b = EVP_RSA_gen(1024);
	e = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	write_key(a, rsa1);
	write_key(b, rsa2);
	write_key(e, ed);

	rec = dkimkey_record_for_private(rsa1, &err);
	ok(rec && !strncmp(rec, "v=DKIM1; k=rsa; p=", 18), "record for an RSA key");
	ok(dkimkey_parse(rec, &k, &err) == 0, "it parses");
	is_int(k.bits, 1024, "1024 bits");
	is_str(k.ktype, "rsa", "k=rsa");
	is_int(dkimkey_match_private(&k, rsa1, &err), 1, "matches its private key");
	is_int(dkimkey_match_private(&k, rsa2, &err), 0, "does not match another key");
	is_int(dkimkey_match_private(&k, "/nonexistent/key.pem", &err), -1, "missing key file is an error");
	dkimkey_free(&k);

	/* base64 with whitespace, as from a zone split into strings */
	spaced = xmalloc(strlen(rec) * 2 + 1);
	for (i = j = 0; rec[i]; i++) {
		spaced[j++] = rec[i];
		if (i > 20 && i % 40 == 0)
			spaced[j++] = ' ';
	}
	spaced[j] = '\0';
	ok(dkimkey_parse(spaced, &k, &err) == 0 && k.bits == 1024, "whitespace inside p= is allowed");
	dkimkey_free(&k);
	free(spaced);

	rec2 = xasprintf("v=DKIM1; t=y; %s", rec + 9);
	ok(dkimkey_parse(rec2, &k, &err) == 0 && k.testing, "t=y is seen");
	dkimkey_free(&k);
	free(rec2);
	free(rec);

	rec = dkimkey_record_for_private(ed, &err);
	ok(rec && strstr(rec, "k=ed25519"), "record for an ed25519 key");
	ok(dkimkey_parse(rec, &k, &err) == 0, "ed25519 record parses");
	is_int(k.bits, 256, "ed25519 is 256 bits");
	is_int(dkimkey_match_private(&k, ed, &err), 1, "ed25519 matches its private key");
	is_int(dkimkey_match_private(&k, rsa1, &err), 0, "ed25519 does not match an RSA key");
	dkimkey_free(&k);
	free(rec);

	ok(dkimkey_parse("v=DKIM1; k=rsa; p=", &k, &err) == 0 && k.revoked && !k.pkey, "empty p= is revoked");
	dkimkey_free(&k);
	ok(!parses("v=DKIM1; k=rsa"), "no p= is an error");
	ok(!parses("v=DKIM1; k=dsa; p=AAAA"), "unknown k= is an error");
	ok(!parses("k=rsa; v=DKIM1; p=AAAA"), "v= not first is an error");
	ok(!parses("v=DKIM1; p=!!!notbase64"), "bad base64 is an error");
	ok(!parses("v=DKIM1; p=AAAAAAAA"), "base64 that is no key is an error");
	ok(!parses("v=DKIM1; k=ed25519; p=AAAA"), "short ed25519 key is an error");
	ok(!parses("v=DKIM1; garbage"), "tag without = is an error");

	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(e);
	unlink(rsa1);
	unlink(rsa2);
	unlink(ed);
	rmdir(dir);
	return done_testing();
}
