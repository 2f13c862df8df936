#include "tap.h"
#include "queue.h"

#include <stdlib.h>
#include <unistd.h>

int main(void)
{
	struct queue_env e, d;
	struct mm_err err = { 0 };
	struct buf b;
	char dir[] = "/tmp/mm-queue-XXXXXX";

	queue_env_init(&e);
	snprintf(e.id, sizeof(e.id), "%s", "65f0.1234.abcdef");
	e.created = 1700000000;
	e.size = 42;
	snprintf(e.from, sizeof(e.from), "%s", "me@example.test");
	e.attempts = 3;
	e.next_try = 1700000600;
	queue_text_set(e.last_error, "451 4.3.0 try\r\nlater");
	queue_env_add_rcpt(&e, "a@example.org");
	queue_env_add_rcpt(&e, "b@example.org");
	e.r[1].state = QUEUE_FAILED;
	queue_text_set(e.r[1].text, "550 no such user");
	ok(queue_host_set(e.r[1].mta, "mx1.example.org") == 0, "host name accepted");
	e.r[1].last_try = 1700000300;
	e.r[1].notified = 1;
	ok(queue_host_set(e.r[0].mta, "mx\r\nrcpt sent x@y.z") == -1 && e.r[0].mta[0] == 0,
	    "host with CRLF refused, left empty");
	ok(queue_host_set(e.r[0].mta, "[192.0.2.1]") == 0, "address literal accepted");
	is_str(e.last_error, "451 4.3.0 try??later", "controls replaced in text");

	buf_init(&b);
	queue_env_encode(&e, &b);
	ok(queue_env_decode(b.data, b.len, &d, &err) == 0, "decode what was encoded");
	is_str(d.id, e.id, "id");
	is_int(d.created, 1700000000, "created");
	is_int(d.size, 42, "size");
	is_str(d.from, "me@example.test", "from");
	is_int(d.attempts, 3, "attempts");
	is_int(d.next_try, 1700000600, "next-try");
	is_str(d.last_error, e.last_error, "last error");
	is_int(d.nr, 2, "two recipients");
	is_int(d.r[0].state, QUEUE_PENDING, "pending");
	is_int(d.r[1].state, QUEUE_FAILED, "failed");
	is_str(d.r[1].text, "550 no such user", "recipient text");
	is_str(d.r[1].mta, "mx1.example.org", "recipient's MTA");
	is_int(d.r[1].last_try, 1700000300, "recipient's last try");
	is_int(d.r[1].notified, 1, "notified");
	is_int(d.r[0].notified, 0, "not notified");
	is_str(d.r[0].mta, "[192.0.2.1]", "literal kept");
	ok(queue_env_check(&d, &err) == 0, "decoded envelope passes the check");
	is_int(d.own_sigs, 0, "no signed line: no own signatures");
	ok(strstr(b.data, "signed") == NULL, "no signed line written when there are none");
	queue_env_free(&d);

	/* the own-signature count mm-send -q may strip and re-sign */
	e.own_sigs = 2;
	e.signed_at = 1699999999;
	buf_reset(&b);
	queue_env_encode(&e, &b);
	ok(strstr(b.data, "\nsigned 2 1699999999\n") != NULL, "signed line written");
	ok(queue_env_decode(b.data, b.len, &d, &err) == 0, "decode with a signed line");
	is_int(d.own_sigs, 2, "own signatures");
	is_int(d.signed_at, 1699999999, "their signing time");
	ok(queue_env_check(&d, &err) == 0, "and it passes the check");
	queue_env_free(&d);
	e.own_sigs = QUEUE_OWN_SIGS_MAX + 1;
	ok(queue_env_check(&e, &err) == -1, "too many own signatures refused by the check");
	e.own_sigs = 0;
	e.signed_at = 0;

	{
		const char *bad[] = {
			"mm-queue 2\nid 1\nrcpt pending a@b.c\n",
			"mm-queue 1\nid ../x\nrcpt pending a@b.c\n",
			"mm-queue 1\nid 1\nrcpt pending -oQ/tmp@b.c\n",
			"mm-queue 1\nid 1\nrcpt maybe a@b.c\n",
			"mm-queue 1\nid 1\n",
			"mm-queue 1\nid 1\nfrom x\nrcpt pending a@b.c\n",
			"mm-queue 1\nid 1\nunknown 1\nrcpt pending a@b.c\n",
			"mm-queue 1\nid 1\ncreated -5\nrcpt pending a@b.c\n",
			"mm-queue 1\nid 1\nrcpt-mta mx.b.c\nrcpt pending a@b.c\n",
			"mm-queue 1\nid 1\nrcpt pending a@b.c\nrcpt-mta -oX\n",
			"mm-queue 1\nid 1\nrcpt pending a@b.c\nrcpt-mta a b\n",
			"mm-queue 1\nid 1\nrcpt pending a@b.c\nrcpt-try x\n",
			"mm-queue 1\nid 1\nrcpt pending a@b.c\nrcpt-notified 2\n",
			"mm-queue 1\nid 1\nrcpt pending a@b.c\r\n",
			"mm-queue 1\nid 1\nsigned 1\nrcpt pending a@b.c\n",
			"mm-queue 1\nid 1\nsigned 0 5\nrcpt pending a@b.c\n",
			"mm-queue 1\nid 1\nsigned 17 5\nrcpt pending a@b.c\n",
			"mm-queue 1\nid 1\nsigned 1 -5\nrcpt pending a@b.c\n",
			"mm-queue 1\nid 1\nsigned x 5\nrcpt pending a@b.c\n",
		};
		for (size_t i = 0; i < MM_NELEM(bad); i++)
			ok(queue_env_decode(bad[i], strlen(bad[i]), &d, &err) == -1, "corrupt envelope %zu refused", i);
	}
	{
		const char *nul = "mm-queue 1\nid 1\nfrom \nrcpt pending a@b.c";
		ok(queue_env_decode(nul, strlen(nul), &d, &err) == 0,
	    "null sender, no final newline");
		queue_env_free(&d);
	}

	is_int(QUEUE_BACKOFF_MIN, 300, "first retry after 5 minutes");
	is_int(QUEUE_BACKOFF_MAX, 4 * 3600, "backoff capped at 4 hours");
	is_int(QUEUE_EXPIRE, 5 * 86400, "expiry after 5 days");
	is_int(queue_backoff(1), QUEUE_BACKOFF_MIN, "first backoff");
	is_int(queue_backoff(2), 2 * QUEUE_BACKOFF_MIN, "doubles");
	is_int(queue_backoff(100), QUEUE_BACKOFF_MAX, "capped");
	is_int(queue_backoff(6), 32 * QUEUE_BACKOFF_MIN, "sixth: 160 minutes");
	is_int(queue_backoff(7), QUEUE_BACKOFF_MAX, "seventh: capped");
	{
		struct queue_env x = { .created = 1000 };
		ok(!queue_expired(&x, 1000 + QUEUE_EXPIRE - 1), "not expired a second early");
		ok(queue_expired(&x, 1000 + QUEUE_EXPIRE), "expired at 5 days");
	}

	/* on disk */
	{
		struct queue q;
		char **ids;
		size_t n;
		int fd, fd2;
		struct buf m;

		ok(mkdtemp(dir) != NULL, "scratch dir");
		ok(queue_open(&q, dir, &err) == 0, "open");
		e.id[0] = 0;
		ok(queue_add(&q, &e, "msg\r\n", 5, &err) == 0, "add");
		ok(queue_list(&q, &ids, &n, &err) == 0 && n == 1 && !strcmp(ids[0], e.id), "listed");
		is_int(queue_lock(&q, ids[0], &fd, &err), 1, "locked");
		is_int(queue_lock(&q, ids[0], &fd2, &err), 0, "second lock refused");
		buf_init(&m);
		ok(queue_load(&q, ids[0], &d, &m, &err) == 0 && m.len == 5 && d.size == 5, "load");
		d.attempts++;
		ok(queue_update(&q, &d, &err) == 0, "update");
		queue_env_free(&d);
		ok(queue_load(&q, ids[0], &d, NULL, &err) == 0 && d.attempts == 4, "update stuck");
		queue_env_free(&d);
		{
			struct queue_env bad;
			queue_env_init(&bad);
			queue_env_add_rcpt(&bad, "a@example.org\r\nrcpt pending x@evil.test");
			ok(queue_add(&q, &bad, "m\r\n", 3, &err) == -1, "CRLF in a recipient: not queued");
			queue_env_free(&bad);
			{
				/* longer than an envelope address can be: refused, not cut to
				 * a different (valid-looking) address */
				/* cut at ADDR_STR_MAX - 1 it would be a valid 64@255 address */
				char la[ADDR_STR_MAX + 8];
				memset(la, 'a', sizeof la - 1);
				la[sizeof la - 1] = '\0';
				la[ADDR_LOCAL_MAX] = '@';
				for (size_t k = ADDR_LOCAL_MAX + 64; k < sizeof la - 1; k += 64)
					la[k] = '.';
				queue_env_init(&bad);
				queue_env_add_rcpt(&bad, la);
				ok(queue_add(&q, &bad, "m\r\n", 3, &err) == -1 &&
				    strstr(err.msg, "recipient 1 is not a plain address"),
				    "a too-long recipient: not queued (%s)", err.msg);
				queue_env_free(&bad);
			}
			ok(queue_load(&q, ids[0], &d, NULL, &err) == 0, "reload");
			d.r[0].text[0] = '\n';
			ok(queue_update(&q, &d, &err) == -1, "control byte in a text: not written");
			d.r[0].text[0] = 0;
			snprintf(d.from, sizeof(d.from), "%s", "a b@example.org");
			ok(queue_update(&q, &d, &err) == -1, "space in the sender: not written");
			queue_env_free(&d);
			ok(queue_load(&q, ids[0], &d, NULL, &err) == 0 && d.attempts == 4,
			    "refused updates left the job as it was");
			queue_env_free(&d);
		}
		ok(queue_remove(&q, ids[0], &err) == 0, "remove");
		is_int(queue_load(&q, ids[0], &d, NULL, &err), 1, "gone");
		close(fd);
		is_int(queue_lock(&q, ids[0], &fd, &err), 0, "lock of a removed job: 0");
		buf_free(&m);
		queue_ids_free(ids, n);
		{
			char p[200];
			const char *sub[] = { "tmp", "msg", "env" };
			for (int i = 0; i < 3; i++) {
				snprintf(p, sizeof(p), "%s/%s", dir, sub[i]);
				ok(rmdir(p) == 0, "%s empty", sub[i]);
			}
			ok(rmdir(dir) == 0, "clean");
		}
		queue_close(&q);
	}
	queue_env_free(&e);
	buf_free(&b);
	return done_testing();
}
