/* dkimsign_strip and dkimsign_resign: what mm-send -q takes off a queued
 * message before re-signing it, and that only that is taken. */
#include "tap.h"
#include "dkimsign.h"
#include "keys.h"

#include <stdlib.h>
#include <unistd.h>

#define OWN1 "DKIM-Signature: v=1; a=ed25519-sha256; d=example.org; s=me;\r\n\tb=AAAA\r\n"
#define OWN2 "dkim-signature: v=1; a=rsa-sha256; d=example.org; s=me; b=BBBB\r\n"
#define FOREIGN "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=elsewhere.test; s=x;\r\n" \
	" h=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=CCCC\r\n"
#define REST "From: me@example.org\r\nTo: pal@far.test\r\nSubject: hi\r\n" FOREIGN \
	"\r\nbody\r\n"

static size_t strip(const char *m, size_t nsig, int *rc)
{
	struct mm_err err = { 0 };
	size_t off = 12345;

	*rc = dkimsign_strip(m, strlen(m), nsig, &off, &err);
	if (*rc < 0)
		printf("# %s\n", err.msg);
	return off;
}

int main(void)
{
	const char *m = OWN1 OWN2 REST;
	int rc;
	size_t off;

	off = strip(m, 0, &rc);
	ok(rc == 0 && off == 0, "no own signatures: nothing taken");
	off = strip(m, 1, &rc);
	ok(rc == 0 && off == strlen(OWN1), "one: the folded first field, whole");
	off = strip(m, 2, &rc);
	ok(rc == 0 && off == strlen(OWN1 OWN2), "two: the name in any case");
	ok(!strcmp(m + off, REST), "the rest, carried DKIM-Signature included, is untouched");
	strip(m, 3, &rc);
	ok(rc == -1, "a third would be From:: refused, not skipped over");
	strip(REST, 1, &rc);
	ok(rc == -1, "a carried signature below From: is never taken as ours");
	strip(FOREIGN "\r\nbody\r\n", 2, &rc);
	ok(rc == -1, "more own signatures than header fields: refused");
	strip("DKIM-Signature-X: y\r\n" REST, 1, &rc);
	ok(rc == -1, "a field with a longer name is not a signature");

	/* re-signing: the own fields replaced by fresh ones, the rest kept */
	{
		char dir[] = "/tmp/mm-dkimsign-XXXXXX";
		struct addr a;
		struct buf pem, rec, out;
		char path[4096];
		struct mm_err err = { 0 };
		size_t nsig = 9;

		ok(mkdtemp(dir) != NULL, "scratch directory");
		buf_init(&out);
		rc = dkimsign_resign(m, strlen(m), 2, dir, NULL, 1700000000, &out, &nsig, &err);
		ok(rc == -1 && out.len == 0 && nsig == 0, "no key: refused, nothing produced");
		ok(strstr(err.msg, "no DKIM key for me@example.org") != NULL, "saying whose key: %s",
		    err.msg);

		addr_parse_mailbox("me@example.org", 14, &a, NULL);
		buf_init(&pem);
		buf_init(&rec);
		keys_generate(KEYS_RSA, 1024, &pem, &rec, NULL);
		keys_path(dir, &a, KEYS_RSA, KEYS_PRIVATE, path, sizeof path, NULL);
		ok(keys_write_new(path, pem.data, pem.len, 0600, NULL) == 0, "an RSA key");
		rc = dkimsign_resign(m, strlen(m), 2, dir, NULL, 1700000000, &out, &nsig, &err);
		ok(rc == 0 && nsig == 1, "re-signed with the one key");
		if (rc < 0)
			printf("# %s\n", err.msg);
		ok(out.data && !strncmp(out.data, "DKIM-Signature:", 15), "the fresh signature on top");
		ok(out.data && strstr(out.data, "t=1700000000;") != NULL, "t= as given");
		ok(out.data && strstr(out.data, "AAAA") == NULL && strstr(out.data, "BBBB") == NULL,
		    "the old own signatures are gone");
		ok(out.len > strlen(REST) && !strcmp(out.data + out.len - strlen(REST), REST),
		    "the rest follows byte for byte");
		buf_reset(&out);
		{
			const char *two = OWN1 "From: a@example.org, b@example.org\r\n\r\nx\r\n";
			rc = dkimsign_resign(two, strlen(two), 1, dir, NULL, 0, &out, &nsig, &err);
		}
		ok(rc == -1, "a From: of two addresses: refused");
		unlink(path);
		rmdir(dir);
		buf_free(&pem);
		buf_free(&rec);
		buf_free(&out);
	}
	return done_testing();
}
