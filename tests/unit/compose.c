/* compose_date: the Date: mm-send adds, in local time with its offset
 * (POSIX TZ strings, so no tzdata is needed); compose_rcpts and
 * compose_display_name; compose_header; and qrun_record, which turns one attempt's
 * per-recipient answers into the envelope's states. */
#include "tap.h"
#include "compose.h"
#include "qrun.h"

#include <stdlib.h>
#include <string.h>

static void name_is(const char *name, const char *want)
{
	struct buf b;

	buf_init(&b);
	compose_display_name(&b, name);
	buf_putc(&b, '\0');
	is_str(b.data, want, name);
	buf_free(&b);
}

static void free_rcpts(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void date_in(const char *tz, time_t t, const char *want)
{
	char d[COMPOSE_DATE_MAX];

	setenv("TZ", tz, 1);
	tzset();
	compose_date(d, sizeof(d), t);
	is_str(d, want, tz);
}

int main(void)
{
	date_in("UTC0", 1700000000, "Tue, 14 Nov 2023 22:13:20 +0000");
	date_in("EST5", 1700000000, "Tue, 14 Nov 2023 17:13:20 -0500");
	date_in("IST-5:30", 1700000000, "Wed, 15 Nov 2023 03:43:20 +0530");
	date_in("NST3:30", 0, "Wed, 31 Dec 1969 20:30:00 -0330");
	date_in("UTC0", 951782400, "Tue, 29 Feb 2000 00:00:00 +0000");

	char **v = NULL;
	size_t n = 0;
	struct mm_err err = { 0 };
	is_int(compose_rcpts("Ann <a@x.example>, b@x.example", NULL, &v, &n, &err), COMPOSE_OK,
	    "address list");
	is_int(compose_rcpts("root, B@X.example", "host.example", &v, &n, &err), COMPOSE_OK,
	    "bare name qualified, known address kept once");
	is_int(n, 3, "three recipients");
	if (n == 3) {
		is_str(v[0], "a@x.example", "display name dropped");
		is_str(v[1], "b@x.example", "second");
		is_str(v[2], "root@host.example", "qualified with the domain");
	}
	is_int(compose_rcpts("root", NULL, &v, &n, &err), COMPOSE_EBAD, "no domain: refused");
	ok(strstr(err.msg, "--domain") != NULL, "and told to set --domain");
	is_int(compose_rcpts("-oi@x.example", NULL, &v, &n, &err), COMPOSE_EBAD,
	    "an address starting with '-' refused");
	free_rcpts(v, n);
	v = NULL, n = 0;
	char a[32];
	int st = COMPOSE_OK;
	for (int i = 0; i <= COMPOSE_RCPT_MAX && st == COMPOSE_OK; i++) {
		snprintf(a, sizeof(a), "u%d@x.example", i);
		st = compose_rcpts(a, NULL, &v, &n, &err);
	}
	is_int(st, COMPOSE_ETOOMANY, "one more than COMPOSE_RCPT_MAX: too many");
	is_int(n, COMPOSE_RCPT_MAX, "the first COMPOSE_RCPT_MAX kept");
	free_rcpts(v, n);

	name_is("Ann Example", "Ann Example");
	name_is("Example, Ann", "\"Example, Ann\"");
	name_is("say \"hi\"", "\"say \\\"hi\\\"\"");
	name_is(" lead", "\" lead\"");
	name_is("J\xc3\xb6rg", "=?UTF-8?B?SsO2cmc=?=");

	static const char in[] = "Subject: hi\r\nBcc: secret@x.example\r\n\r\nbody\r\n";
	struct msg m;
	struct buf out;
	setenv("TZ", "UTC0", 1);
	tzset();
	ok(msg_parse(&m, in, sizeof(in) - 1, MSG_LENIENT, &err) == 0, "test message parses");
	buf_init(&out);
	compose_header(&m, "me@x.example", "Ann\nExample", "x.example", 1700000000, &out);
	buf_putc(&out, '\0');
	static const char want[] = "From: Ann Example <me@x.example>\r\n"
	    "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <6553f100.";
	ok(!strncmp(out.data, want, sizeof(want) - 1), "From:, Date:, Message-ID: prepended");
	ok(strstr(out.data, "@x.example>\r\nSubject: hi\r\n\r\nbody\r\n") != NULL,
	    "Bcc: dropped, the rest kept");
	ok(strstr(out.data, "secret") == NULL, "no trace of the Bcc");
	buf_free(&out);
	msg_free(&m);
	static const char in2[] = "From: a@x.example\r\nDate: x\r\nMessage-ID: <1@x>\r\n\r\n";
	ok(msg_parse(&m, in2, sizeof(in2) - 1, MSG_LENIENT, &err) == 0, "second message parses");
	buf_init(&out);
	compose_header(&m, NULL, "Ann", "x.example", 1700000000, &out);
	is_int(out.len, sizeof(in2) - 1, "a complete header is left as it is");
	buf_free(&out);
	msg_free(&m);

	struct queue_env e;
	struct smtpc_rcpt r[3] = { { 0 } };
	char *mta[3] = { "mx.a.example", NULL, "mx.c.example" };
	size_t map[3] = { 2, 0, 1 };   /* r[i] is e.r[map[i]] */
	int perm = 0;

	queue_env_init(&e);
	queue_env_add_rcpt(&e, "x@a.example");
	queue_env_add_rcpt(&e, "y@b.example");
	queue_env_add_rcpt(&e, "z@c.example");
	r[0].st = SMTPC_OK, r[0].addr = "z@c.example";
	snprintf(r[0].text, sizeof(r[0].text), "250 ok");
	r[1].st = SMTPC_PERM, r[1].addr = "x@a.example";
	snprintf(r[1].text, sizeof(r[1].text), "550 5.1.1 no such user");
	r[2].st = SMTPC_TEMP, r[2].addr = "y@b.example";
	snprintf(r[2].text, sizeof(r[2].text), "451 4.3.0 later");
	is_int(qrun_record(&e, r, mta, map, 3, 1234, &perm), 1, "one recipient pending");
	is_int(perm, 1, "one refused for good");
	is_int(e.r[2].state, QUEUE_SENT, "250: sent");
	is_int(e.r[0].state, QUEUE_FAILED, "550: failed");
	is_int(e.r[1].state, QUEUE_PENDING, "451: pending");
	is_str(e.r[1].text, "451 4.3.0 later", "the answer kept");
	is_str(e.last_error, "451 4.3.0 later", "last error: the temporary answer");
	is_str(e.r[2].mta, "mx.a.example", "the answering host kept");
	is_str(e.r[0].mta, "", "no host: none recorded");
	is_int(e.r[0].last_try, 1234, "attempt time recorded");
	queue_env_free(&e);
	return done_testing();
}
