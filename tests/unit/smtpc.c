#include "tap.h"
#include "smtpc.h"

#include <stdlib.h>

static int feed(struct smtpc_reply *r, const char *const *lines, struct mm_err *err)
{
	int d = 0;

	smtpc_reply_free(r);
	smtpc_reply_init(r);
	for (size_t i = 0; lines[i]; i++) {
		d = smtpc_reply_add(r, lines[i], strlen(lines[i]), err);
		if (d != 0)
			return d;
	}
	return d;
}

int main(void)
{
	struct smtpc_reply r;
	struct mm_err err = { 0 };
	char s[SMTPC_TEXT_MAX];
	struct buf b;

	smtpc_reply_init(&r);
	{
		const char *l[] = { "250 ok\r\n", NULL };
		is_int(feed(&r, l, &err), 1, "single line reply complete");
		is_int(r.code, 250, "code");
		is_str(r.text.data, "ok", "text");
	}
	{
		const char *l[] = { "250-mx.example\r\n", "250-PIPELINING\r\n", "250 SIZE 100\r\n", NULL };
		is_int(feed(&r, l, &err), 1, "multi-line reply");
		is_int(r.nlines, 3, "three lines");
		is_str(r.text.data, "mx.example\nPIPELINING\nSIZE 100", "joined text");
	}
	{
		const char *l[] = { "250-a\r\n", NULL };
		is_int(feed(&r, l, &err), 0, "continuation needs more");
	}
	{
		const char *l[] = { "220\r\n", NULL };
		is_int(feed(&r, l, &err), 1, "bare code is a last line");
	}
	{
		const char *l[] = { "250-a\r\n", "251 b\r\n", NULL };
		is_int(feed(&r, l, &err), -1, "mixed codes refused");
	}
	{
		const char *l[] = { "hello\r\n", NULL };
		is_int(feed(&r, l, &err), -1, "garbage refused");
		const char *l2[] = { "250x\r\n", NULL };
		is_int(feed(&r, l2, &err), -1, "no separator refused");
		const char *l3[] = { "650 x\r\n", NULL };
		is_int(feed(&r, l3, &err), -1, "code out of range refused");
	}
	{
		int d = 0;
		size_t i;
		smtpc_reply_free(&r);
		smtpc_reply_init(&r);
		for (i = 0; i < 1000 && d == 0; i++)
			d = smtpc_reply_add(&r, "250-more\r\n", 10, &err);
		ok(d == -1 && i == SMTPC_REPLY_LINES_MAX + 1, "endless continuation stops at the line limit");
		ok(strstr(err.msg, "lines") != NULL, "and says so");
	}
	{
		char *big = malloc(SMTPC_LINE_MAX + 10);
		memset(big, 'A', SMTPC_LINE_MAX + 10);
		memcpy(big, "250 ", 4);
		smtpc_reply_free(&r);
		smtpc_reply_init(&r);
		is_int(smtpc_reply_add(&r, big, SMTPC_LINE_MAX + 10, &err), -1, "over-long line refused");
		free(big);
	}
	{
		const char *l[] = { "550-a\x01\r\n", "550 b\r\n", NULL };
		feed(&r, l, &err);
		smtpc_reply_summary(&r, s, sizeof(s));
		is_str(s, "550 a? b", "summary: one printable line");
	}
	smtpc_reply_free(&r);

	buf_init(&b);
	smtpc_dot_stuff(".a\r\nb\r\n..c\r\n", 12, &b);
	is_str(b.data, "..a\r\nb\r\n...c\r\n.\r\n", "dot-stuffing and terminator");
	buf_reset(&b);
	smtpc_dot_stuff("x", 1, &b);
	is_str(b.data, "x\r\n.\r\n", "missing final CRLF added");
	buf_reset(&b);
	smtpc_dot_stuff(".", 1, &b);
	is_str(b.data, "..\r\n.\r\n", "a lone dot is stuffed");
	buf_free(&b);

	{
		/* EHLO lines are judged whole: a long AUTH line is not cut into
		 * a different mechanism, and one at its end is still seen */
		struct smtpc c;
		char pad[53], lhost[300];
		char l1[200], l2[200];
		const char *l[] = { "250-mx.test\r\n", l1, l2, NULL };

		memset(pad, 'A', sizeof pad - 1);
		pad[sizeof pad - 1] = '\0';
		snprintf(l1, sizeof l1, "250-AUTH %s PLAINX\r\n", pad);
		snprintf(l2, sizeof l2, "250 AUTH %s %s LOGIN\r\n", pad, pad);
		smtpc_init(&c, -1, -1, "mx.test", 0);
		smtpc_reply_init(&r);
		is_int(feed(&r, l, &err), 1, "long EHLO reply complete");
		smtpc_parse_ehlo(&c, &r);
		ok(!(c.ext & SMTPC_EXT_AUTH_PLAIN), "PLAINX past 58 octets is not PLAIN");
		ok(c.ext & SMTPC_EXT_AUTH_LOGIN, "LOGIN past 63 octets is seen");
		smtpc_reply_free(&r);
		smtpc_close(&c);

		/* a host name that does not fit is never the TLS name checked */
		memset(lhost, 'h', sizeof lhost - 1);
		lhost[sizeof lhost - 1] = '\0';
		smtpc_init(&c, -1, -1, lhost, 0);
		ok(c.host_cut && strlen(c.host) == sizeof c.host - 1 &&
		    !strcmp(c.host + sizeof c.host - 4, "..."), "a too-long host is cut visibly, and marked");
		is_int(smtpc_starttls(&c, NULL, 1, "me.test", &err), SMTPC_TEMP,
		    "STARTTLS refuses a cut host name");
		ok(strstr(err.msg, "no TLS name to check") != NULL, "and says why (%.60s...)", err.msg);
		smtpc_close(&c);
	}
	return done_testing();
}
