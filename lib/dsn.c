/*
 * dsn — see dsn.h.
 *
 * Why only the header is attached: RFC 3462/6522 allow the whole message
 * or just its header; the header is enough for the sender to recognise
 * the message, keeps the bounce small and means a forged sender gets no
 * payload reflected at it.
 */
#include "dsn.h"
#include "addr.h"
#include "maildir.h"
#include "msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DSN_SUFFIX_SEP "+/"     /* as mm-recv's default --suffix-sep */
#define DSN_DATE_MAX 64
#define DSN_HEAD_MAX 1024       /* Return-Path and Delivered-To of a local copy */

/* RFC 5322 date in UTC (strftime under the C locale: English names). */
static void date_utc(long long t, char out[DSN_DATE_MAX])
{
	time_t tt = (time_t)t;
	struct tm tm;

	static const char epoch[] = "Thu, 01 Jan 1970 00:00:00 +0000";

	_Static_assert(sizeof epoch <= DSN_DATE_MAX, "the fallback date fits");
	if (!gmtime_r(&tt, &tm) || !strftime(out, DSN_DATE_MAX, "%a, %d %b %Y %H:%M:%S +0000", &tm))
		memcpy(out, epoch, sizeof epoch);
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of "D.D{1,3}.D{1,3}" at s, or 0. */
static size_t enhanced_len(const char *s)
{
	size_t i = 0;

	if (!is_digit(s[i++]) || s[i++] != '.')
		return 0;
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		while (is_digit(s[i]) && n < 4)
			i++, n++;
		if (n == 0 || n > 3)
			return 0;
		if (part == 0 && s[i++] != '.')
			return 0;
	}
	return (s[i] == 0 || s[i] == ' ') ? i : 0;
}

/* 1 if diag starts with an SMTP reply code (3 digits, then end, ' ' or '-'). */
static int has_reply_code(const char *diag)
{
	return diag && is_digit(diag[0]) && is_digit(diag[1]) && is_digit(diag[2]) &&
	    (diag[3] == 0 || diag[3] == ' ' || diag[3] == '-');
}

void dsn_status(const char *diag, int perm, char out[DSN_STATUS_MAX])
{
	if (has_reply_code(diag) && (diag[0] == '4' || diag[0] == '5')) {
		const char *e = diag[3] ? diag + 4 : diag + 3;
		size_t n = enhanced_len(e);
		if (n && n < DSN_STATUS_MAX && e[0] == diag[0]) {
			memcpy(out, e, n);
			out[n] = 0;
			return;
		}
		perm = diag[0] == '5';
	}
	_Static_assert(sizeof "5.0.0" <= DSN_STATUS_MAX, "a class-only status fits");
	memcpy(out, perm ? "5.0.0" : "4.0.0", sizeof "5.0.0");
}

static int printable(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < 32 || (unsigned char)*s >= 127)
			return 0;
	return 1;
}

static int host_ok(const char *h)
{
	if (!h || !*h || strlen(h) > 255 || h[0] == '-' || h[0] == '.')
		return 0;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || is_digit(*h) ||
		    *h == '-' || *h == '.' || *h == '_' || *h == '[' || *h == ']' || *h == ':'))
			return 0;
	return 1;
}

static int mailbox_ok(const char *a)
{
	struct addr x;

	return a && printable(a) && !strchr(a, ' ') &&
	    addr_parse_mailbox(a, strlen(a), &x, NULL) == 0;
}

static int check(const struct dsn *d, struct mm_err *err)
{
	if (!host_ok(d->reporting_mta))
		return err_set(err, "dsn: reporting host name is not a plain DNS name");
	if (!mailbox_ok(d->sender))
		return err_set(err, "dsn: no sender to report to (a null sender gets no DSN)");
	if (d->queue_id && !printable(d->queue_id))
		return err_set(err, "dsn: queue id with a control byte");
	if (d->nr == 0 || d->nr > DSN_RCPT_MAX)
		return err_set(err, "dsn: %zu recipients to report", d->nr);
	for (size_t i = 0; i < d->nr; i++) {
		const struct dsn_rcpt *r = &d->r[i];
		if (!mailbox_ok(r->addr))
			return err_set(err, "dsn: recipient %zu is not a plain address", i + 1);
		if (!printable(r->diag) || (r->mta && *r->mta && !host_ok(r->mta)) ||
		    (r->status && !printable(r->status)))
			return err_set(err, "dsn: recipient %zu: text or host with a control byte", i + 1);
		if (r->status && strlen(r->status) >= DSN_STATUS_MAX)
			return err_set(err, "dsn: recipient %zu: status longer than %d octets", i + 1,
			    DSN_STATUS_MAX - 1);
	}
	return 0;
}

/* The original header section, CRLF, cut at a field boundary when it is
 * longer than DSN_HEADERS_MAX. */
static void original_header(const char *orig, size_t len, struct buf *out)
{
	struct msg m;
	struct mm_err e;
	size_t hl = 0;

	if (msg_parse(&m, orig, len, MSG_LENIENT, &e) == 0) {
		for (size_t i = 0; i < m.n; i++) {
			size_t end = m.f[i].off + m.f[i].raw_len;
			if (end > DSN_HEADERS_MAX)
				break;
			hl = end;
		}
		msg_free(&m);
	}
	msg_to_crlf(orig, hl, out);
}

int dsn_build(const struct dsn *d, const char *orig, size_t len, struct buf *out,
    struct mm_err *err)
{
	unsigned char rnd[12];
	char hex[25], boundary[64], date[DSN_DATE_MAX];
	struct buf hdr, v;

	if (check(d, err) < 0)
		return -1;
	buf_init(&hdr);
	original_header(orig, len, &hdr);
	/* a boundary that does not occur in what is attached */
	do {
		random_bytes(rnd, sizeof rnd);
		hex_encode(rnd, sizeof rnd, hex);
		if (snprintf_ok(boundary, sizeof boundary, "=_mm-dsn_%s", hex) < 0) {
			buf_free(&hdr);      /* cannot happen (fixed sizes), but never a cut boundary */
			return err_set(err, "dsn: boundary does not fit");
		}
	} while (hdr.len && memmem(hdr.data, hdr.len, boundary, strlen(boundary)));

	date_utc(d->now, date);
	random_bytes(rnd, sizeof rnd);
	hex_encode(rnd, sizeof rnd, hex);
	buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", d->reporting_mta);
	buf_printf(out, "To: <%s>\r\n", d->sender);
	buf_printf(out, "Subject: %s\r\n", d->expired ? "Undelivered Mail Returned to Sender "
	    "(delivery time expired)" : "Undelivered Mail Returned to Sender");
	buf_printf(out, "Date: %s\r\n", date);
	buf_printf(out, "Message-ID: <%llx.%s@%s>\r\n", d->now, hex, d->reporting_mta);
	buf_puts(out, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	buf_printf(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n", boundary);
	buf_puts(out, "This is a MIME-encapsulated delivery status notification.\r\n\r\n");

	/* 1: for the human */
	buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Description: Notification\r\n\r\n", boundary);
	buf_printf(out, "This is the mail system at host %s.\r\n\r\n", d->reporting_mta);
	if (d->expired)
		buf_puts(out, "Your message could not be delivered to the recipients below, and the\r\n"
		    "mail system has stopped trying: it was queued too long ago.\r\n\r\n");
	else
		buf_puts(out, "Your message could not be delivered to the recipients below.\r\n\r\n");
	for (size_t i = 0; i < d->nr; i++) {
		const struct dsn_rcpt *r = &d->r[i];
		buf_init(&v);
		buf_printf(&v, "<%s>: %s", r->addr, r->diag && *r->diag ? r->diag : "failed");
		if (r->mta && *r->mta)
			buf_printf(&v, " (host %s)", r->mta);
		buf_puts(out, v.data);
		buf_puts(out, "\r\n");
		buf_free(&v);
	}
	buf_puts(out, "\r\nThe header of your message is attached.\r\n\r\n");

	/* 2: for the machine */
	buf_printf(out, "--%s\r\nContent-Type: message/delivery-status\r\n"
	    "Content-Description: Delivery report\r\n\r\n", boundary);
	buf_printf(out, "Reporting-MTA: dns; %s\r\n", d->reporting_mta);
	if (d->queue_id)
		buf_printf(out, "X-mm-Queue-ID: %s\r\n", d->queue_id);
	if (d->arrival > 0) {
		date_utc(d->arrival, date);
		buf_printf(out, "Arrival-Date: %s\r\n", date);
	}
	for (size_t i = 0; i < d->nr; i++) {
		const struct dsn_rcpt *r = &d->r[i];
		char st[DSN_STATUS_MAX];
		if (r->status)
			memcpy(st, r->status, strlen(r->status) + 1);   /* length checked in check() */
		else
			dsn_status(r->diag, r->action == DSN_FAILED, st);
		buf_printf(out, "\r\nFinal-Recipient: rfc822; %s\r\n", r->addr);
		buf_printf(out, "Action: %s\r\n", r->action == DSN_FAILED ? "failed" : "delayed");
		buf_printf(out, "Status: %s\r\n", st);
		if (r->mta && *r->mta)
			buf_printf(out, "Remote-MTA: dns; %s\r\n", r->mta);
		if (r->diag && *r->diag) {
			buf_init(&v);
			buf_printf(&v, "%s; %s", has_reply_code(r->diag) ? "smtp" : "X-mm", r->diag);
			msg_fold_field(out, "Diagnostic-Code", v.data, "\r\n");
			buf_free(&v);
		}
		if (r->last_attempt > 0) {
			date_utc(r->last_attempt, date);
			buf_printf(out, "Last-Attempt-Date: %s\r\n", date);
		}
	}
	buf_puts(out, "\r\n");

	/* 3: what it was */
	buf_printf(out, "--%s\r\nContent-Type: text/rfc822-headers\r\n"
	    "Content-Description: Undelivered message header\r\n\r\n", boundary);
	buf_append(out, hdr.data ? hdr.data : "", hdr.len);
	buf_printf(out, "\r\n--%s--\r\n", boundary);
	buf_free(&hdr);
	return 0;
}

/* One durable copy (head, then msg) into the Maildir open at fd. */
static int deliver_to(int fd, const char *head, const char *host, const char *msg, size_t len,
    struct mm_err *err)
{
	struct maildir_tx tx;
	int r;

	maildir_tx_init(&tx, host);
	r = maildir_tx_add(&tx, fd, head, strlen(head), msg, len, err);
	if (r < 0)
		maildir_tx_abort(&tx);
	else if ((r = maildir_tx_commit(&tx, err)) == 0)   /* a failed commit undid itself */
		maildir_tx_free(&tx);
	return r < 0 ? -1 : 0;
}

int dsn_deliver_local(const char *root, const char *addr, const char *host, const char *msg,
    size_t len, struct mm_err *err)
{
	struct addr a;
	char base[ADDR_LOCAL_MAX + 1], suffix[ADDR_LOCAL_MAX + 1], head[DSN_HEAD_MAX];
	int rootfd, dfd, lfd, r;

	if (!mailbox_ok(addr) || addr_parse_mailbox(addr, strlen(addr), &a, err) < 0)
		return 0;
	ascii_lower(a.domain);
	ascii_lower(a.local);
	addr_split_suffix(a.local, DSN_SUFFIX_SEP, base, suffix);
	if (addr_domain_ok(a.domain, NULL) < 0 || addr_component_ok(base, 1, NULL) < 0)
		return 0;
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys(err, "%s", root);
	}
	dfd = maildir_openat(rootfd, a.domain, err);
	close(rootfd);
	if (dfd < 0)
		return err->code == ENOENT ? 0 : -1;
	lfd = maildir_openat(dfd, base, err);
	close(dfd);
	if (lfd < 0)
		return err->code == ENOENT ? 0 : -1;
	if (snprintf_ok(head, sizeof head, "Return-Path: <>\nDelivered-To: %s@%s\n", base,
	    a.domain) < 0) {
		close(lfd);
		return err_set(err, "dsn: address too long");
	}
	r = deliver_to(lfd, head, host, msg, len, err);
	close(lfd);
	return r < 0 ? -1 : 1;
}

int dsn_deliver_maildir(const char *dir, const char *host, const char *msg, size_t len,
    struct mm_err *err)
{
	int fd, r;

	/* the user's own setting: a symlinked ~/Maildir is followed */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "%s", dir);
	r = maildir_prepare(fd, err);
	if (r == 0)
		r = deliver_to(fd, "Return-Path: <>\n", host, msg, len, err);
	close(fd);
	if (r < 0 && !strstr(err->msg, dir))
		err_wrap(err, "%s", dir);
	return r < 0 ? -1 : 0;
}
