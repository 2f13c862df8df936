#include "tap.h"
#include "dsn.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int has(const struct buf *b, const char *s)
{
	return b->data && strstr(b->data, s) != NULL;
}

/* every line of b ends in CRLF and no bare CR or LF is left */
static int all_crlf(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			return 0;
		if (b->data[i] == '\r' && (i + 1 >= b->len || b->data[i + 1] != '\n'))
			return 0;
	}
	return 1;
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path);
}

int main(void)
{
	char st[DSN_STATUS_MAX];
	struct mm_err err = { 0 };
	struct buf out;
	const char *orig = "From: me@example.test\r\nTo: a@example.org\r\nSubject: hello\r\n"
	    "\r\nthe secret body\r\n";

	{
		static const struct { const char *diag; int perm; const char *want, *name; } t[] = {
		{ "550 5.1.1 no such user", 1, "5.1.1", "enhanced code taken" },
		{ "550-5.7.26 unauthenticated", 1, "5.7.26", "continuation form, two-digit detail" },
		{ "554 transaction failed", 1, "5.0.0", "no enhanced code: class from the reply" },
		{ "550 4.1.1 confused server", 1, "5.0.0", "enhanced code of the wrong class ignored" },
		{ "451 4.3.0 try later", 0, "4.3.0", "temporary" },
		{ "nx.test: no such domain", 1, "5.0.0", "no reply code, permanent" },
		{ NULL, 0, "4.0.0", "nothing known, temporary" },
		{ "550 5.1.1234 too long", 1, "5.0.0", "malformed enhanced code ignored" },
		};
		for (size_t i = 0; i < MM_NELEM(t); i++) {
			dsn_status(t[i].diag, t[i].perm, st);
			is_str(st, t[i].want, t[i].name);
		}
	}

	struct dsn_rcpt r[2] = {
		{ .addr = "a@example.org", .action = DSN_FAILED, .mta = "mx.example.org",
		  .diag = "550 5.1.1 <a@example.org>: no such user", .last_attempt = 1700000000 },
		{ .addr = "b@example.net", .action = DSN_FAILED, .status = DSN_STATUS_EXPIRED,
		  .diag = "451 4.3.0 try later", .last_attempt = 1700000100 },
	};
	struct dsn d = {
		.reporting_mta = "vps.example.test", .sender = "me@example.test",
		.queue_id = "65f0.1234.abcdef", .arrival = 1699999000, .now = 1700000200,
		.r = r, .nr = 2,
	};

	buf_init(&out);
	ok(dsn_build(&d, orig, strlen(orig), &out, &err) == 0, "built");
	ok(has(&out, "Content-Type: multipart/report; report-type=delivery-status;"), "multipart/report");
	ok(has(&out, "Content-Type: message/delivery-status\r\n"), "delivery-status part");
	ok(has(&out, "Content-Type: text/rfc822-headers\r\n"), "headers part");
	ok(has(&out, "Content-Type: text/plain; charset=us-ascii\r\n"), "text part");
	ok(has(&out, "To: <me@example.test>\r\n"), "to the sender");
	ok(has(&out, "From: Mail Delivery System <MAILER-DAEMON@vps.example.test>\r\n"), "from the mailer daemon");
	ok(has(&out, "Auto-Submitted: auto-replied\r\n"), "auto-submitted");
	ok(has(&out, "Reporting-MTA: dns; vps.example.test\r\n"), "reporting MTA");
	ok(has(&out, "Arrival-Date: Tue, 14 Nov 2023 21:56:40 +0000\r\n"), "arrival date");
	ok(has(&out, "\r\nFinal-Recipient: rfc822; a@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.example.org\r\nDiagnostic-Code: smtp; 550 5.1.1 <a@example.org>: no such user\r\n"
	    "Last-Attempt-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"), "first recipient block");
	ok(has(&out, "Final-Recipient: rfc822; b@example.net\r\nAction: failed\r\nStatus: 4.4.7\r\n"
	    "Diagnostic-Code: smtp; 451 4.3.0 try later\r\n"), "expired recipient: 4.4.7, no MTA");
	ok(has(&out, "Subject: hello\r\n"), "original header attached");
	ok(!has(&out, "the secret body"), "original body not attached");
	ok(all_crlf(&out), "CRLF throughout");
	buf_free(&out);

	/* refusals */
	d.sender = "";
	buf_init(&out);
	ok(dsn_build(&d, orig, strlen(orig), &out, &err) == -1 && out.len == 0, "null sender: no DSN");
	d.sender = "me@example.test\r\nBcc: x@evil.test";
	ok(dsn_build(&d, orig, strlen(orig), &out, &err) == -1, "CRLF in the sender refused");
	d.sender = "me@example.test";
	r[0].diag = "550 no\r\nBcc: x@evil.test";
	ok(dsn_build(&d, orig, strlen(orig), &out, &err) == -1, "CRLF in a diagnostic refused");
	r[0].diag = "550 5.1.1 no such user";
	r[0].mta = "mx\nX: y";
	ok(dsn_build(&d, orig, strlen(orig), &out, &err) == -1, "LF in a host refused");
	r[0].mta = NULL;
	d.reporting_mta = "bad host";
	ok(dsn_build(&d, orig, strlen(orig), &out, &err) == -1, "bad reporting host refused");
	d.reporting_mta = "vps.example.test";
	d.nr = 0;
	ok(dsn_build(&d, orig, strlen(orig), &out, &err) == -1, "no recipients refused");
	d.nr = 2;
	buf_free(&out);

	/* a long diagnostic is folded; a huge header is cut between fields */
	{
		char diag[400];
		struct buf big;
		memset(diag, 'x', sizeof diag);
		memcpy(diag, "550 5.7.1 ", 10);
		for (size_t i = 20; i < sizeof diag - 1; i += 20)
			diag[i] = ' ';
		diag[sizeof diag - 1] = 0;
		r[0].diag = diag;
		buf_init(&big);
		for (int i = 0; i < 2000; i++)
			buf_printf(&big, "X-Filler-%d: %060d\r\n", i, i);
		buf_puts(&big, "\r\nbody\r\n");
		buf_init(&out);
		ok(dsn_build(&d, big.data, big.len, &out, &err) == 0, "built with a huge header");
		ok(out.len < DSN_HEADERS_MAX + 8192, "attached header bounded (%zu)", out.len);
		ok(has(&out, "X-Filler-0: ") && !has(&out, "X-Filler-1999: "), "cut, first fields kept");
		{
			size_t maxl = 0, cur = 0;
			for (size_t i = 0; i < out.len; i++) {
				if (out.data[i] == '\n') {
					if (cur > maxl)
						maxl = cur;
					cur = 0;
				} else
					cur++;
			}
			ok(maxl <= 998, "no line over 998 octets (%zu)", maxl);
		}
		ok(all_crlf(&out), "still CRLF");
		buf_free(&out);
		buf_free(&big);
		r[0].diag = "550 5.1.1 no such user";
	}

	/* local delivery */
	{
		char root[] = "/tmp/mm-dsn-XXXXXX", p[256];
		ok(mkdtemp(root) != NULL, "scratch root");
		snprintf(p, sizeof p, "%s/example.test", root);
		mkdir(p, 0700);
		snprintf(p, sizeof p, "%s/example.test/me", root);
		mkdir(p, 0700);
		buf_init(&out);
		ok(dsn_build(&d, orig, strlen(orig), &out, &err) == 0, "built again");
		is_int(dsn_deliver_local(root, "me+lists@Example.Test", "vps.example.test", out.data,
		    out.len, &err), 1, "delivered to our sender (suffix dropped, case folded)");
		snprintf(p, sizeof p, "%s/example.test/me/new", root);
		is_int(count_files(p), 1, "one file in new/");
		is_int(dsn_deliver_local(root, "you@example.test", "h", out.data, out.len, &err), 0,
		    "no such mailbox: not ours");
		is_int(dsn_deliver_local(root, "me@example.org", "h", out.data, out.len, &err), 0,
		    "other domain: not ours");
		is_int(dsn_deliver_local(root, "../me@example.test", "h", out.data, out.len, &err), 0,
		    "path trick: not ours");
		{
			/* the host goes into the Maildir file name: too long is an
			 * error, never a shortened name */
			char lh[300];
			memset(lh, 'h', sizeof lh - 1);
			lh[sizeof lh - 1] = '\0';
			is_int(dsn_deliver_local(root, "me@example.test", lh, out.data, out.len, &err), -1,
			    "a host too long for a Maildir name is an error");
			ok(strstr(err.msg, "file name too long") != NULL, "and says so (%s)", err.msg);
			is_int(count_files(p), 1, "nothing more in new/");
		}
		ok(nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0, "cleaned");
		buf_free(&out);
	}
	{
		/* a status that would not fit the report's field is refused, not cut */
		struct dsn_rcpt lr = { .addr = "a@example.org", .action = DSN_FAILED,
			.status = "5.123.4567890123456", .diag = "550 no" };
		struct dsn ld = d;

		ld.r = &lr;
		ld.nr = 1;
		buf_init(&out);
		ok(dsn_build(&ld, orig, strlen(orig), &out, &err) == -1 && strstr(err.msg, "status longer"),
		    "an over-long status is an error (%s)", err.msg);
		buf_free(&out);
	}
	return done_testing();
}
