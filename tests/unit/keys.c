#include "tap.h"
#include "keys.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
	struct addr a;
	struct mm_err err = { 0 };
	char path[4096], sel[KEYS_SELECTOR_MAX + 1], dir[] = "/tmp/mm-keys-XXXXXX";
	enum keys_type t;
	struct buf pem, rec, z;
	struct stat st;

	ok(addr_parse_mailbox("Me@Example.com", 14, &a, &err) == 0, "address");
	ok(mkdtemp(dir) != NULL, "scratch dir");
	ok(keys_path(dir, &a, KEYS_RSA, KEYS_PRIVATE, path, sizeof(path), &err) == 0, "path");
	ok(strstr(path, "/me@example.com.rsa.key") != NULL, "private rsa name");
	keys_path(dir, &a, KEYS_ED25519, KEYS_PUBLIC, path, sizeof(path), &err);
	ok(strstr(path, "/me@example.com.ed25519.pub") != NULL, "public ed25519 name");
	ok(keys_parse_type("ed25519", &t) == 0 && t == KEYS_ED25519, "type parse");
	ok(keys_parse_type("dsa", &t) == -1, "unknown type");
	ok(keys_selector(dir, &a, KEYS_RSA, sel, &err) == 0, "selector default");
	is_str(sel, "me", "selector defaults to the local part");
	keys_path(dir, &a, KEYS_RSA, KEYS_SELECTOR, path, sizeof(path), &err);
	ok(keys_write_new(path, "s2024\n", 6, 0644, &err) == 0, "write selector file");
	ok(keys_selector(dir, &a, KEYS_RSA, sel, &err) == 0, "selector from file");
	is_str(sel, "s2024", "selector file read");
	ok(keys_write_new(path, "x\n", 2, 0644, &err) == -1 && err.code == EEXIST, "never overwritten");
	ok(keys_selector_ok("a.b-c", &err) == 0, "dotted selector ok");
	ok(keys_selector_ok("-x", &err) == -1, "leading hyphen refused");
	ok(keys_selector_ok("a/b", &err) == -1, "slash refused");
	ok(keys_selector_ok("", &err) == -1, "empty refused");

	buf_init(&pem);
	buf_init(&rec);
	ok(keys_generate(KEYS_ED25519, 0, &pem, &rec, &err) == 0, "ed25519 generated");
	ok(!strncmp(pem.data, "-----BEGIN PRIVATE KEY-----", 27), "PKCS#8 PEM");
	ok(!strncmp(rec.data, "v=DKIM1; k=ed25519; p=", 22) && rec.len == 22 + 44, "ed25519 record");
	keys_path(dir, &a, KEYS_ED25519, KEYS_PRIVATE, path, sizeof(path), &err);
	ok(keys_write_new(path, pem.data, pem.len, 0600, &err) == 0, "private key written");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600");
	buf_reset(&pem);
	buf_reset(&rec);
	ok(keys_generate(KEYS_RSA, 512, &pem, &rec, &err) == -1, "512-bit RSA refused");
	ok(keys_generate(KEYS_RSA, 1024, &pem, &rec, &err) == 0, "rsa 1024 generated");
	ok(!strncmp(rec.data, "v=DKIM1; k=rsa; p=MIGfMA0G", 26), "rsa record is SPKI");
	buf_init(&z);
	keys_zone_text(&a, "me", KEYS_RSA, rec.data, &z);
	ok(strstr(z.data, "\nme._domainkey IN TXT \"v=DKIM1; k=rsa; p=") != NULL, "zone line");
	buf_reset(&rec);
	for (int i = 0; i < 600; i++)
		buf_putc(&rec, 'a');
	buf_reset(&z);
	keys_zone_text(&a, "me", KEYS_RSA, rec.data, &z);
	{
		const char *p = strchr(z.data, '"');
		size_t l1 = strcspn(p + 1, "\"");
		ok(l1 == 255, "first string 255 octets");
	}
	buf_free(&z);
	buf_free(&pem);
	buf_free(&rec);
	keys_path(dir, &a, KEYS_ED25519, KEYS_PRIVATE, path, sizeof(path), &err);
	unlink(path);
	keys_path(dir, &a, KEYS_RSA, KEYS_SELECTOR, path, sizeof(path), &err);
	unlink(path);
	ok(rmdir(dir) == 0, "no stray temporary files left");
	return done_testing();
}
