/* libFuzzer: lib/smtpc's reply parser on any bytes, cut into lines the
 * way the session reads them.  Properties checked: a reply never holds
 * more than SMTPC_REPLY_LINES_MAX lines or SMTPC_REPLY_BYTES_MAX octets,
 * a line over SMTPC_LINE_MAX is refused, every accepted reply has one
 * code from 200 to 599 and text no longer than what came in; the summary
 * is NUL-terminated inside its buffer and printable; a 250 reply's
 * extension list parses with SIZE bounded.  And the DATA the client
 * sends: the input made canonical (lib/msg) and dot-stuffed by
 * smtpc_dot_stuff comes back byte for byte through the server's
 * unstuffing machine (lib/smtpd), which sees its end exactly at the end. */
#include <stdint.h>
#include <string.h>
#include "msg.h"
#include "smtpc.h"
#include "smtpd.h"

static void check_data(const char *data, size_t size)
{
	struct buf canon, wire, back;
	struct smtpd_dot d;

	buf_init(&canon);
	buf_init(&wire);
	buf_init(&back);
	msg_to_crlf(data, size, &canon);
	if (canon.len && canon.data[canon.len - 1] != '\n')
		buf_puts(&canon, "\r\n");   /* what mm-send sends ends in CRLF */
	smtpc_dot_stuff(canon.data, canon.len, &wire);
	smtpd_dot_init(&d, canon.len + 16, 0);
	if (smtpd_dot_feed(&d, wire.data, wire.len, &back) != wire.len || !d.done ||
	    back.len != canon.len || (canon.len && memcmp(back.data, canon.data, canon.len)))
		__builtin_trap();
	buf_free(&canon);
	buf_free(&wire);
	buf_free(&back);
}

static void check_summary(const struct smtpc_reply *r)
{
	char s[64];   /* small, so truncation is exercised */

	memset(s, 'x', sizeof(s));
	smtpc_reply_summary(r, s, sizeof(s));
	if (!memchr(s, 0, sizeof(s)))
		__builtin_trap();
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 32 || *p == 127)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *udata, size_t size)
{
	const char *data = (const char *)udata;
	struct smtpc_reply r;
	struct mm_err err;
	size_t pos = 0, in = 0;

	smtpc_reply_init(&r);
	while (pos < size) {
		const char *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - data) - pos + 1 : size - pos;
		int st = smtpc_reply_add(&r, data + pos, len, &err);

		pos += len;
		in += len;
		if (st < 0) {
			if (!err.msg[0])
				__builtin_trap();
			smtpc_reply_free(&r);
			smtpc_reply_init(&r);
			in = 0;
			continue;
		}
		if (len > SMTPC_LINE_MAX || r.nlines > SMTPC_REPLY_LINES_MAX ||
		    r.bytes > SMTPC_REPLY_BYTES_MAX || r.bytes != in || r.text.len > in ||
		    r.code < 200 || r.code > 599 || !r.text.data)
			__builtin_trap();
		if (st == 1) {
			check_summary(&r);
			if (r.code == 250) {
				struct smtpc c;
				memset(&c, 0, sizeof(c));
				smtpc_parse_ehlo(&c, &r);
				if (c.size_max > ((size_t)1 << 50) ||
				    (c.size_max && !(c.ext & SMTPC_EXT_SIZE)))
					__builtin_trap();
			}
			smtpc_reply_free(&r);
			smtpc_reply_init(&r);
			in = 0;
		}
	}
	smtpc_reply_free(&r);
	check_data(data, size);
	return 0;
}
