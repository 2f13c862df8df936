#include "tap.h"
#include "msg.h"

#include <stdlib.h>

static const char M1[] =
	"From: Me <me@example.com>\r\n"
	"To: a@example.org,\r\n"
	"\tb@example.org\r\n"
	"subject:   hello  \r\n"
	"Bcc: secret@example.net\r\n"
	"BCC: second@example.net\r\n"
	"\r\n"
	"body line\r\n";

int main(void)
{
	struct msg m;
	struct mm_err err = { 0 };
	struct buf b;
	const struct msg_field *f;

	ok(msg_parse(&m, M1, sizeof(M1) - 1, 0, &err) == 0, "parse CRLF message");
	is_int(m.n, 5, "five fields");
	ok(m.crlf, "CRLF detected");
	ok(m.has_sep, "separator found");
	is_str(M1 + m.body_off, "body line\r\n", "body offset");
	f = msg_find(&m, "TO");
	ok(f != NULL, "find is case-insensitive");
	is_str(f->value, "a@example.org,\tb@example.org", "unfolded value keeps WSP, drops CRLF");
	ok(f->raw_len == strlen("To: a@example.org,\r\n\tb@example.org\r\n") &&
	    !memcmp(f->raw, "To: a@example.org,\r\n\tb@example.org\r\n", f->raw_len),
	    "raw bytes include folding and terminator");
	is_str(msg_find(&m, "Subject")->value, "hello", "value trimmed");
	is_int(msg_count(&m, "bcc"), 2, "duplicates counted");
	is_str(msg_find_nth(&m, "bcc", 1)->value, "second@example.net", "nth field");
	ok(msg_find_nth(&m, "bcc", 2) == NULL, "no third bcc");
	ok(msg_find(&m, "Date") == NULL, "missing field is NULL");

	buf_init(&b);
	{
		const char *rm[] = { "bcc", NULL };
		msg_build(&m, "X-First: 1\r\n", rm, "X-Last: 2\r\n", &b);
	}
	is_str(b.data,
	    "X-First: 1\r\nFrom: Me <me@example.com>\r\nTo: a@example.org,\r\n\tb@example.org\r\n"
	    "subject:   hello  \r\nX-Last: 2\r\n\r\nbody line\r\n", "build: prepend, remove, append");
	buf_free(&b);
	msg_free(&m);

	/* LF-only, no body */
	{
		const char s[] = "From: x@y.z\nSubject: s\n";
		ok(msg_parse(&m, s, sizeof(s) - 1, 0, &err) == 0, "LF header without body");
		ok(!m.crlf && !m.has_sep && m.body_off == m.len, "no separator, body at end");
		buf_init(&b);
		msg_build(&m, NULL, NULL, NULL, &b);
		is_str(b.data, s, "rebuild unchanged");
		buf_free(&b);
		msg_free(&m);
	}
	/* strict vs lenient */
	{
		const char s[] = "From: x@y.z\nthis is not a header\nmore\n";
		ok(msg_parse(&m, s, sizeof(s) - 1, 0, &err) == -1 && err.code == MSG_E_SYNTAX,
		    "non-field line is an error when strict");
		ok(strstr(err.msg, "line 2") != NULL, "error names the line");
		ok(msg_parse(&m, s, sizeof(s) - 1, MSG_LENIENT, &err) == 0, "lenient parse");
		is_int(m.n, 1, "one field");
		is_str(s + m.body_off, "this is not a header\nmore\n", "body starts at the non-field line");
		buf_init(&b);
		msg_build(&m, NULL, NULL, NULL, &b);
		is_str(b.data, "From: x@y.z\n\nthis is not a header\nmore\n", "build inserts a separator");
		buf_free(&b);
		msg_free(&m);
	}
	{
		const char s[] = " continuation first\n\nbody";
		ok(msg_parse(&m, s, sizeof(s) - 1, 0, &err) == -1, "leading continuation refused");
	}
	{
		const char s[] = "Subject : obsolete\n\n";
		ok(msg_parse(&m, s, sizeof(s) - 1, 0, &err) == 0, "WSP before colon accepted");
		ok(m.f[0].name_len == 7, "name excludes WSP");
		is_str(m.f[0].value, "obsolete", "value after colon");
		msg_free(&m);
	}
	{
		const char s[] = "\nbody only\n";
		ok(msg_parse(&m, s, sizeof(s) - 1, 0, &err) == 0 && m.n == 0 && m.body_off == 1,
		    "empty header section");
		msg_free(&m);
	}
	{
		const char s[] = "Empty:\r\n\r\n";
		ok(msg_parse(&m, s, sizeof(s) - 1, 0, &err) == 0 && m.f[0].value_len == 0,
		    "empty value");
		msg_free(&m);
	}
	/* limits */
	{
		size_t n = MSG_MAX_FIELDS + 1;
		char *big = malloc(n * 5 + 1);
		for (size_t i = 0; i < n; i++)
			memcpy(big + i * 5, "A: b\n", 5);
		ok(msg_parse(&m, big, n * 5, 0, &err) == -1 && err.code == MSG_E_LIMIT,
		    "too many fields refused");
		free(big);
	}
	{
		size_t n = MSG_FIELD_MAX / 4 + 10;
		char *big = malloc(n * 4 + 8);
		memcpy(big, "A: b\n", 5);
		for (size_t i = 0; i < n; i++)
			memcpy(big + 5 + i * 4, " xx\n", 4);
		ok(msg_parse(&m, big, 5 + n * 4, 0, &err) == -1 && err.code == MSG_E_LIMIT,
		    "over-long folded field refused");
		free(big);
	}
	/* CRLF */
	{
		buf_init(&b);
		is_int(msg_to_crlf("a\nb\r\nc\rd", 8, &b), 2, "two line ends changed");
		is_str(b.data, "a\r\nb\r\nc\r\nd", "LF and bare CR made CRLF");
		buf_free(&b);
		buf_init(&b);
		is_int(msg_to_crlf("a\r\n\r\n", 5, &b), 0, "canonical input unchanged");
		buf_free(&b);
		buf_init(&b);
		is_int(msg_to_crlf("x\r", 2, &b), 1, "trailing bare CR");
		is_str(b.data, "x\r\n", "trailing CR became CRLF");
		buf_free(&b);
	}
	/* line lengths */
	{
		char *s = malloc(2000);
		memset(s, 'x', 2000);
		memcpy(s, "ok\n", 3);
		s[3 + 998] = '\n';
		is_int(msg_check_lines(s, 3 + 999, 998), 0, "998 octets fit");
		s[3 + 998] = 'x';
		s[3 + 999] = '\r';
		s[3 + 1000] = '\n';
		is_int(msg_check_lines(s, 3 + 1001, 998), 2, "999 octets: line 2 named");
		is_int(msg_check_lines(s, 3 + 999 + 1, 998), 2, "unterminated long last line");
		free(s);
	}
	/* folding */
	{
		buf_init(&b);
		msg_fold_field(&b, "To", "aaaaaaaaaaaaaaaaaaaa@example.com, bbbbbbbbbbbbbbbbbbbbbbbbbb@example.com, "
		    "cccccccccccccccccc@example.com", "\r\n");
		is_str(b.data, "To: aaaaaaaaaaaaaaaaaaaa@example.com, bbbbbbbbbbbbbbbbbbbbbbbbbb@example.com,\r\n"
		    " cccccccccccccccccc@example.com\r\n", "folded under 78 columns");
		ok(msg_parse(&m, b.data, b.len, 0, &err) == 0 && m.n == 1, "folded output parses");
		msg_free(&m);
		buf_free(&b);
	}
	/* an empty message given as (NULL, 0): no field, no body, no UB
	 * (memchr and friends must not see the NULL) */
	{
		ok(msg_parse(&m, NULL, 0, 0, &err) == 0, "msg_parse(NULL, 0) succeeds");
		ok(m.n == 0 && m.hdr_len == 0 && m.body_off == 0 && !m.has_sep,
		    "msg_parse(NULL, 0): no fields, no body");
		ok(msg_parse(&m, NULL, 0, MSG_LENIENT, &err) == 0, "lenient msg_parse(NULL, 0)");
		buf_init(&b);
		msg_build(&m, NULL, NULL, NULL, &b);
		ok(b.len == 0, "msg_build of the empty message is empty");
		ok(msg_to_crlf(NULL, 0, &b) == 0 && b.len == 0, "msg_to_crlf(NULL, 0)");
		ok(msg_check_lines(NULL, 0, 10) == 0, "msg_check_lines(NULL, 0)");
		buf_free(&b);
		msg_free(&m);
	}
	return done_testing();
}
