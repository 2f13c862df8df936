/* lib/dkimcanon and the signatures lib/dkimsign makes with it: RFC 6376's
 * own example, the fast body scanner against the obvious reference
 * (dkimcanon_ref.h) on random bodies, its body hash against libopendkim's,
 * and every signature verified by libopendkim (lib/dkimverify). */
#include "tap.h"
#include "dkimcanon.h"
#include "dkimcanon_ref.h"
#include "dkimsign.h"
#include "dkimverify.h"
#include "keys.h"

#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <opendkim/dkim.h>

static void sha256_b64(const char *p, size_t n, char out[64])
{
	unsigned char h[32];
	unsigned int hl = 0;
	EVP_Digest(p, n, h, &hl, EVP_sha256(), NULL);
	char *s = base64_encode(h, hl);
	snprintf(out, 64, "%s", s);
	free(s);
}

static int ours_b64(const char *p, size_t n, char out[64], struct mm_err *err)
{
	unsigned char h[DKIMCANON_HASH_LEN];
	if (dkimcanon_body_sha256(p, n, h, err) < 0)
		return -1;
	char *s = base64_encode(h, sizeof h);
	snprintf(out, 64, "%s", s);
	free(s);
	return 0;
}

static void rfc_example(void)
{
	/* RFC 6376 3.4.5 */
	const char *hdrs[] = { "A: X\r\n", "B : Y\t\r\n\tZ  \r\n" };
	struct buf h;
	buf_init(&h);
	dkimcanon_header(hdrs[0], strlen(hdrs[0]), 1, &h);
	dkimcanon_header(hdrs[1], strlen(hdrs[1]), 1, &h);
	buf_putc(&h, '\0');
	tap_is_str(h.data, "a:X\r\nb:Y Z\r\n", "RFC 6376 3.4.5: relaxed header fields");
	buf_reset(&h);
	{
		const char *f = "DKIM-Signature: a=1;\r\n\tb=";
		dkimcanon_header(f, strlen(f), 0, &h);
	}
	buf_putc(&h, '\0');
	tap_is_str(h.data, "dkim-signature:a=1; b=", "the signature field: no CRLF, fold made a space");
	buf_free(&h);

	char got[64], want[64];
	struct mm_err err = { 0 };
	const char *body = " C \r\nD \t E\r\n\r\n\r\n";
	ours_b64(body, strlen(body), got, &err);
	sha256_b64(" C\r\nD E\r\n", 9, want);
	tap_is_str(got, want, "RFC 6376 3.4.5: relaxed body");
	ours_b64("", 0, got, &err);
	sha256_b64("", 0, want);
	tap_is_str(got, want, "empty body: the empty string");
	ours_b64(" \r\n\t\r\n\r\n", 7, got, &err);
	tap_is_str(got, want, "only blank lines: the empty string");
	ours_b64("abc  ", 5, got, &err);
	sha256_b64("abc\r\n", 5, want);
	tap_is_str(got, want, "no CRLF at the end: one added, white space before it gone");
	ok(ours_b64("a\r\nb\nc\r\n", 8, got, &err) == -1 && strstr(err.msg, "bare LF in body line 2"),
	    "a bare LF is refused, naming its line: %s", err.msg);
	ok(ours_b64("a\r\nb\r\n\r\r\n", 9, got, &err) == -1 && strstr(err.msg, "bare CR in body line 3"),
	    "a bare CR among the dropped empty lines too: %s", err.msg);
}

static void against_reference(void)
{
	int errors, agree, same = ref_compare_random(20000, &errors, &agree);
	ok(same == 20000 - errors, "%d random bodies: the fast scanner's hash is the reference's (%d)",
	    20000 - errors, same);
	ok(errors > 100 && agree == errors, "%d bodies with a bare CR or LF: all refused (%d)",
	    errors, agree);
}

/* libopendkim's bh= for body, signing with an RSA key. */
static int opendkim_bh(const char *key, const char *body, size_t n, char out[64])
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	DKIM_STAT st;
	DKIM *d = dkim_sign(lib, (const unsigned char *)"t", NULL, (dkim_sigkey_t)key,
	    (const unsigned char *)"s", (const unsigned char *)"example.org", DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
	unsigned char *hdr = NULL;
	size_t hl = 0;
	int r = -1;

	if (d && dkim_header(d, (u_char *)"From: a@example.org", 19) == DKIM_STAT_OK &&
	    dkim_eoh(d) == DKIM_STAT_OK &&
	    (n == 0 || dkim_body(d, (u_char *)body, n) == DKIM_STAT_OK) &&
	    dkim_eom(d, NULL) == DKIM_STAT_OK && dkim_getsighdr_d(d, 0, &hdr, &hl) == DKIM_STAT_OK) {
		const char *p = strstr((const char *)hdr, "bh=");
		if (p) {
			size_t k = 0;
			for (p += 3; *p && *p != ';' && k < 63; p++)
				if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
					out[k++] = *p;
			out[k] = '\0';
			r = 0;
		}
	}
	if (d)
		dkim_free(d);
	dkim_close(lib);
	return r;
}

static void against_libopendkim(const char *key)
{
	enum { N = 300, CAP = 600 };
	char b[CAP];
	int same = 0, tried = 0;
	for (int i = 0; i < N; i++) {
		size_t n = ref_random_body(b, sizeof b - 2, 0);
		/* libopendkim refuses a last line without its CRLF */
		if (n && (n < 2 || b[n - 2] != '\r' || b[n - 1] != '\n')) {
			b[n++] = '\r';
			b[n++] = '\n';
		}
		if (ref_first_bare(b, n) < n)
			continue;
		char got[64], theirs[64];
		struct mm_err err = { 0 };
		tried++;
		if (ours_b64(b, n, got, &err) == 0 && opendkim_bh(key, b, n, theirs) == 0 &&
		    !strcmp(got, theirs))
			same++;
	}
	ok(tried > N / 2 && same == tried, "%d random bodies: bh= is libopendkim's (%d)", tried, same);
}

/* the key records of the test keys, for libopendkim's verification */
static struct buf rec[KEYS_NTYPES];

static int key_fn(void *ctx, const char *selector, const char *domain, char *out, size_t cap)
{
	(void)ctx;
	(void)domain;
	int t = !strcmp(selector, "ed") ? KEYS_ED25519 : KEYS_RSA;
	if (rec[t].len + 1 > cap)
		return -1;
	memcpy(out, rec[t].data, rec[t].len);
	out[rec[t].len] = '\0';
	return 0;
}

/* lib/dkimverify insists on RFC 5322's one Date: */
#define DATE "Date: Mon, 1 Dec 2025 10:00:00 +0000\r\n"

static void verified_by_libopendkim(const char *dir)
{
	static const char *const msgs[] = {
		"From: Me <me@example.org>\r\n" DATE "To: a@example.net\r\nSubject: hi\r\n\r\nhello\r\n",
		/* folded, odd case and spacing, duplicates, empty value */
		"from:me@example.org\r\n" DATE "TO :  a@example.net,\r\n\tb@example.net  \r\n"
		"Subject: a\r\n  long\t\tone\r\nX-Empty:\r\nX-Dup: 1\r\nX-Dup: 2\r\nX-Other: o\r\n"
		"x-dup: 3\r\nX-DUP: 4\r\n\r\n"
		"  lead\t and\ttrail  \r\n\r\n \r\n",
		/* nothing in the body, and a carried, broken DKIM-Signature */
		"DKIM-Signature: this is not a tag list\r\nFrom: me@example.org\r\n" DATE "\r\n",
		"Return-Path: <x@y>\r\nReceived: from x\r\nFrom: me@example.org\r\n" DATE "\r\nbody\r\n",
	};
	struct addr a;
	struct dkimsign_keys ks;
	struct mm_err err = { 0 };

	addr_parse_mailbox("me@example.org", 14, &a, NULL);
	ok(dkimsign_load(dir, &a, &ks, &err) == 0 && ks.n == 2, "both keys load");
	for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
		struct buf m;
		struct dkimv v;
		buf_init(&m);
		int r = dkimsign_sign(msgs[i], strlen(msgs[i]), "example.org", &ks, NULL, 0, &m, &err);
		if (r < 0)
			printf("# %s\n", err.msg);
		buf_puts(&m, msgs[i]);
		r = r == 0 ? dkimv_verify_keys(key_fn, NULL, NULL, m.data, m.len, &v, &err) : -1;
		if (r < 0 || v.n < 2 || v.sig[0].result != DKIMV_PASS || v.sig[1].result != DKIMV_PASS)
			printf("# %s / %s / %s\n", r < 0 ? err.msg : v.why, v.n ? v.sig[0].why : "",
			    v.n > 1 ? v.sig[1].why : "");
		/* the carried signature of message 3 is the third, and fails */
		ok(r == 0 && v.n == (i == 2 ? 3 : 2) && v.sig[0].result == DKIMV_PASS &&
		    v.sig[1].result == DKIMV_PASS,
		    "message %zu: libopendkim verifies both signatures (%s, %s)", i + 1,
		    r == 0 && v.n > 0 ? dkimv_result_str(v.sig[0].result) : "-",
		    r == 0 && v.n > 1 ? dkimv_result_str(v.sig[1].result) : "-");
		if (i == 3) {
			/* the signatures are all that comes before the message */
			size_t sigs = m.len - strlen(msgs[i]);
			char *h = xstrndup(m.data, sigs);
			for (char *c = h; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
			ok(!strstr(h, "received") && !strstr(h, "return-path") && strstr(h, "h=from:date:"),
			    "Received and Return-Path are not in h=, From and Date are");
			free(h);
		}
		/* one byte of the body changed: both fail */
		if (i == 0) {
			m.data[m.len - 3] = 'O';
			dkimv_verify_keys(key_fn, NULL, NULL, m.data, m.len, &v, &err);
			ok(v.n == 2 && v.sig[0].result == DKIMV_FAIL && v.sig[1].result == DKIMV_FAIL,
			    "a changed body fails both");
		}
		buf_free(&m);
	}
	dkimsign_keys_free(&ks);
}

int main(void)
{
	char dir[] = "/tmp/mm-dkimcanon-XXXXXX";
	struct buf pem;
	char path[4096];
	struct addr a;

	srand(1);
	rfc_example();
	against_reference();

	ok(mkdtemp(dir) != NULL, "scratch directory");
	addr_parse_mailbox("me@example.org", 14, &a, NULL);
	buf_init(&pem);
	for (int t = 0; t < KEYS_NTYPES; t++) {
		buf_init(&rec[t]);
		buf_reset(&pem);
		keys_generate((enum keys_type)t, 1024, &pem, &rec[t], NULL);
		keys_path(dir, &a, (enum keys_type)t, KEYS_PRIVATE, path, sizeof path, NULL);
		keys_write_new(path, pem.data, pem.len, 0600, NULL);
		keys_path(dir, &a, (enum keys_type)t, KEYS_SELECTOR, path, sizeof path, NULL);
		keys_write_new(path, t == KEYS_ED25519 ? "ed\n" : "me\n", 3, 0600, NULL);
		if (t == KEYS_RSA) {
			char *key = xstrndup(pem.data, pem.len);
			against_libopendkim(key);
			free(key);
		}
	}
	verified_by_libopendkim(dir);
	for (int t = 0; t < KEYS_NTYPES; t++) {
		for (int f = KEYS_PRIVATE; f <= KEYS_SELECTOR; f++)
			if (keys_path(dir, &a, (enum keys_type)t, (enum keys_file)f, path, sizeof path,
			    NULL) == 0)
				unlink(path);
		buf_free(&rec[t]);
	}
	rmdir(dir);
	buf_free(&pem);
	return done_testing();
}
