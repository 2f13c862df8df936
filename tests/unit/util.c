#include "tap.h"
#include "util.h"
#include "conf.h"

#include <stdint.h>
#include <stdlib.h>

int main(void)
{
	struct mm_err err;
	struct buf b;
	long long v;
	size_t sz;

	/* err */
	ok(err_set(&err, "x %d", 1) == -1, "err_set returns -1");
	is_str(err.msg, "x 1", "err_set formats");
	err_wrap(&err, "outer");
	is_str(err.msg, "outer: x 1", "err_wrap prefixes");
	{
		char big[3000];
		memset(big, 'a', sizeof big - 1);
		big[sizeof big - 1] = 0;
		err_set(&err, "%s", big);
		ok(strlen(err.msg) == MM_ERR_MAX - 1 && !strcmp(err.msg + MM_ERR_MAX - 4, "..."),
		    "long error is cut visibly");
	}

	/* overflow-checked sizes */
	ok(size_add(SIZE_MAX, 1, &sz) == -1, "size_add detects overflow");
	ok(size_mul(SIZE_MAX / 2 + 1, 2, &sz) == -1, "size_mul detects overflow");
	ok(size_mul(3, 4, &sz) == 0 && sz == 12, "size_mul multiplies");

	/* buf */
	buf_init(&b);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	ok(b.len == strlen(b.data), "buf stays NUL-terminated");
	ok(!strncmp(b.data, "0,1,2,", 6) && !strcmp(b.data + b.len - 4, "999,"), "buf_printf appends");
	buf_free(&b);

	/* snprintf_ok */
	{
		char s[4];
		ok(snprintf_ok(s, sizeof s, "abc") == 0, "snprintf_ok fits");
		ok(snprintf_ok(s, sizeof s, "abcd") == -1, "snprintf_ok refuses truncation");
	}

	/* str_trunc: text that does not fit ends in a visible "..." */
	{
		char s[8], big[MM_ERR_MAX + 100];
		struct mm_err e2;

		str_trunc(s, sizeof s, "%s", "abcdefg");
		is_str(s, "abcdefg", "str_trunc: exactly fitting text is whole");
		str_trunc(s, sizeof s, "%s-%d", "abcdefg", 42);
		is_str(s, "abcd...", "str_trunc: a cut ends in ...");
		ok(strlen(s) == sizeof s - 1, "str_trunc: the cut text fills the buffer");
		str_trunc(s, 3, "%s", "abcdef");
		is_str(s, "ab", "str_trunc: a buffer too small for ... is still terminated");
		s[0] = 'x';
		str_trunc(s, 0, "%s", "abc");
		ok(s[0] == 'x', "str_trunc: size 0 writes nothing");
		str_trunc(s, sizeof s, "%s", "");
		is_str(s, "", "str_trunc: empty text");
		memset(big, 'a', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		err_set(&e2, "%s", big);
		ok(strlen(e2.msg) == MM_ERR_MAX - 1 && !strcmp(e2.msg + MM_ERR_MAX - 4, "..."),
		    "err_set cuts a long message with ... (str_trunc)");
	}

	/* numbers */
	ok(parse_long("42", 0, 100, &v) == 0 && v == 42, "parse_long");
	ok(parse_long("-1", 0, 100, &v) == -1, "parse_long range");
	ok(parse_long("99999999999999999999", 0, INT64_MAX, &v) == -1, "parse_long overflow");
	ok(parse_long("12x", 0, 100, &v) == -1, "parse_long junk");
	ok(parse_long("", 0, 100, &v) == -1, "parse_long empty");
	ok(parse_duration("5m", &v) == 0 && v == 300, "parse_duration 5m");
	ok(parse_duration("2h", &v) == 0 && v == 7200, "parse_duration 2h");
	ok(parse_duration("m", &v) == -1, "parse_duration needs a number");
	ok(parse_size("50M", &sz) == 0 && sz == 50u * 1024 * 1024, "parse_size 50M");
	ok(parse_size("-5", &sz) == -1, "parse_size negative");

	/* case */
	ok(ascii_strcasecmp("PostMaster", "postmaster") == 0, "ascii_strcasecmp");
	ok(ascii_strncasecmp("MAIL FROM:", "mail from:<x>", 10) == 0, "ascii_strncasecmp");

	/* base64 */
	{
		char *e = base64_encode("hello", 5);
		is_str(e, "aGVsbG8=", "base64_encode");
		buf_init(&b);
		ok(base64_decode("aGVs\n bG8=", 10, &b) == 0 && b.len == 5 && !memcmp(b.data, "hello", 5),
		    "base64_decode skips whitespace");
		buf_free(&b);
		buf_init(&b);
		ok(base64_decode("a*==", 4, &b) == -1, "base64_decode rejects junk");
		buf_free(&b);
		free(e);
	}

	/* word splitting without a shell */
	{
		struct argvec a;
		argvec_init(&a);
		ok(conf_split_words("ssh -p 22 'my host' \"a \\\"b\\\"\" x\\ y $HOME `id`", &a, &err) == 0,
		    "conf_split_words parses");
		ok(a.n == 8, "conf_split_words: 8 words (got %zu)", a.n);
		if (a.n == 8) {
			is_str(a.v[3], "my host", "single quotes");
			is_str(a.v[4], "a \"b\"", "double quotes with escapes");
			is_str(a.v[5], "x y", "backslash escape");
			is_str(a.v[6], "$HOME", "no variable expansion");
			is_str(a.v[7], "`id`", "no command substitution");
		}
		argvec_free(&a);
		ok(conf_split_words("a 'b", &a, &err) == -1, "unterminated quote is an error");
		argvec_free(&a);
	}
	return done_testing();
}
