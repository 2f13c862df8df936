/* Unit tests for lib/sync.c: the frame decoder and the path checks. */
#include "tap.h"
#include "sync.h"

#include <stdlib.h>
#include <string.h>

static int path_ok(const char *p)
{
	return sync_path_check(p, strlen(p), NULL) == 0;
}

int main(void)
{
	struct sync_frame f;
	struct buf b;
	size_t used = 0;
	struct mm_err err = { 0 };
	uint8_t u[8];
	char out[16];

	buf_init(&b);
	sync_frame_encode(&b, SYNC_F_DATA, "hello", 5);
	is_int(b.len, SYNC_HDR_LEN + 5, "encoded frame length");
	for (size_t n = 0; n < b.len; n++)
		if (sync_frame_decode((uint8_t *)b.data, n, &f, &used, &err) != SYNC_DEC_NEED)
			ok(0, "a prefix of %zu bytes must need more", n);
	ok(1, "every strict prefix needs more");
	is_int(sync_frame_decode((uint8_t *)b.data, b.len, &f, &used, &err), SYNC_DEC_OK, "decodes");
	is_int(f.type, 'D', "type");
	is_int(f.len, 5, "length");
	is_int(used, b.len, "used");
	ok(!memcmp(f.payload, "hello", 5), "payload");

	/* trailing bytes are left for the next frame */
	buf_append(&b, "Z", 1);
	is_int(sync_frame_decode((uint8_t *)b.data, b.len, &f, &used, &err), SYNC_DEC_OK,
	    "decodes with trailing bytes");
	is_int(used, SYNC_HDR_LEN + 5, "used stops at the frame's end");

	/* unknown type, oversized lengths */
	{
		uint8_t h[SYNC_HDR_LEN] = { 'Y', 0, 0, 0, 0 };
		is_int(sync_frame_decode(h, sizeof h, &f, &used, &err), SYNC_DEC_BAD, "unknown type");
		h[0] = 'D';
		sync_put_u32(h + 1, SYNC_MAX_DATA + 1);
		is_int(sync_frame_decode(h, sizeof h, &f, &used, &err), SYNC_DEC_BAD,
		    "data frame over its limit refused from the header alone");
		ok(strstr(err.msg, "limit") != NULL, "error names the limit");
		h[0] = 'F';
		sync_put_u32(h + 1, SYNC_MAX_CTRL + 1);
		is_int(sync_frame_decode(h, sizeof h, &f, &used, &err), SYNC_DEC_BAD,
		    "control frame over its limit");
		sync_put_u32(h + 1, 0xffffffffu);
		is_int(sync_frame_decode(h, sizeof h, &f, &used, &err), SYNC_DEC_BAD, "4 GiB length");
		h[0] = 'D';
		sync_put_u32(h + 1, SYNC_MAX_DATA);
		is_int(sync_frame_decode(h, sizeof h, &f, &used, &err), SYNC_DEC_NEED,
		    "data frame at its limit is fine (needs the bytes)");
		h[0] = 0;
		is_int(sync_frame_decode(h, sizeof h, &f, &used, &err), SYNC_DEC_BAD, "type 0");
		h[0] = SYNC_F_ACK;
		sync_put_u32(h + 1, SYNC_MAX_CTRL + 1);
		is_int(sync_frame_decode(h, sizeof h, &f, &used, &err), SYNC_DEC_BAD,
		    "an ack frame is held to the control limit");
		is_int(sync_frame_limit(SYNC_F_ACK), SYNC_MAX_CTRL, "ack: a control frame");
	}

	sync_put_u64(u, 0x0102030405060708ull);
	is_int(u[0], 1, "u64 big-endian");
	is_int(sync_get_u64(u), 0x0102030405060708ll, "u64 round trip");

	ok(path_ok("new/1.a"), "new/NAME");
	ok(path_ok("cur/1.a:2,S"), "cur/NAME with flags");
	ok(path_ok(".Lists/cur/17 with spaces:2,RS"), "folder and spaces");
	ok(path_ok("Archive/2024/new/x"), "nested plain folders");
	ok(path_ok("new/caf\xc3\xa9"), "UTF-8 bytes");
	ok(!path_ok("tmp/x"), "tmp/ refused");
	ok(!path_ok("x"), "no sub-directory");
	ok(!path_ok("new"), "no name");
	ok(!path_ok("new/"), "empty name");
	ok(!path_ok("/new/x"), "absolute path");
	ok(!path_ok("a//new/x"), "empty component");
	ok(!path_ok("../new/x"), "'..' folder");
	ok(!path_ok("new/.."), "'..' name");
	ok(!path_ok("./new/x"), "'.' folder");
	ok(!path_ok("new/."), "'.' name");
	ok(!path_ok("a/cur/new/x"), "folder named cur");
	ok(!path_ok("new/a\nb"), "newline in a name");
	ok(!path_ok("new/a\x7f"), "DEL in a name");
	ok(!path_ok("new/a\x1b[2J"), "escape in a name");
	ok(sync_path_check("new/a\0b", 7, NULL) < 0, "NUL inside a name");
	{
		char longname[300];
		memset(longname, 'a', sizeof longname);
		memcpy(longname, "new/", 4);
		longname[4 + 256] = '\0';
		ok(!path_ok(longname), "a 256-byte component");
		longname[4 + 255] = '\0';
		ok(path_ok(longname), "a 255-byte component");
	}
	{
		struct buf deep;
		buf_init(&deep);
		for (int i = 0; i < SYNC_MAX_DEPTH + 1; i++)
			buf_puts(&deep, "d/");
		buf_puts(&deep, "new/x");
		ok(sync_path_check(deep.data, deep.len, NULL) < 0, "too deep");
		buf_free(&deep);
	}
	ok(sync_path_check("new/x", 0, NULL) < 0, "empty path");

	sync_sanitize((const uint8_t *)"a\x1b" "b\n", 4, out, sizeof out);
	is_str(out, "a?b?", "control bytes from a peer are not printed");
	{
		char *q = sync_shell_quote("a b'c");
		is_str(q, "'a b'\\''c'", "shell quoting");
		free(q);
	}
	{
		char *h, *p;
		ok(sync_parse_source("me@vps:/var/mail/me", &h, &p, NULL) == 0 &&
		    !strcmp(h, "me@vps") && !strcmp(p, "/var/mail/me"), "parse source");
		free(h);
		free(p);
		ok(sync_parse_source("-oProxyCommand=x:/y", &h, &p, NULL) < 0, "'-' host refused");
		ok(sync_parse_source(":/y", &h, &p, NULL) < 0, "empty host refused");
		ok(sync_parse_source("h:", &h, &p, NULL) < 0, "empty path refused");
	}
	buf_free(&b);
	return done_testing();
}
