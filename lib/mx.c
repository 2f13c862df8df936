/*
 * mx — see mx.h.  Every path below ROOT is built from components that
 * passed addr_component_ok / addr_domain_ok and is opened one component
 * at a time with O_NOFOLLOW (maildir_openat); the strings used in logs and
 * headers are those same validated, lowercased components.
 */
#include "mx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"

#define MX_PATH_MAX (ADDR_DOMAIN_MAX + 2 * ADDR_LOCAL_MAX + 4)

struct mx_rcpt {
	int fd;                                   /* the Maildir folder */
	char path[MX_PATH_MAX];                   /* domain/local[/suffix] */
	int junkfd;                               /* quarantine: domain/local/junk, or -1 */
	char junkpath[MX_PATH_MAX];
};

static int ours(void *ctx, const char *domain)
{
	return mx_is_our_domain(ctx, domain);
}

int mx_init(struct mx *mx, const char *root, struct mm_err *err)
{
	memset(mx, 0, sizeof *mx);
	mx->auth.is_ours = ours;
	mx->auth.ours_ctx = mx;
	mx->root = root;
	mx->suffix_sep = MX_SUFFIX_SEP_DEFAULT;
	mx->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mx->rootfd < 0)
		return err_sys(err, "%s", root);
	return 0;
}

void mx_free(struct mx *mx)
{
	if (mx->rootfd >= 0)
		close(mx->rootfd);
	mx->rootfd = -1;
	if (mx->dns)
		dns_close(mx->dns);
	mx->dns = NULL;
}

int mx_is_our_domain(const struct mx *mx, const char *domain)
{
	int fd;

	if (addr_domain_ok(domain, NULL) < 0)
		return 0;
	fd = maildir_openat(mx->rootfd, domain, NULL);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int hook_mail(void *ctx, struct smtpd *s, struct smtpd_reply *r)
{
	struct mx *mx = ctx;

	return mxauth_mail(&mx->auth, &mx->dns, s, &mx->tx, r);
}

static int lookup_fail(struct smtpd *s, struct smtpd_reply *r, const char *as,
    const char *what, const struct mm_err *e)
{
	if (e->code == ENOENT || e->code == ELOOP || e->code == ENOTDIR) {
		if (e->code != ENOENT)
			log_warn("%s: <%s>: %s is not a plain directory (symlink?): refused", s->id,
			    as, what);
		smtpd_trace(s, "no folder %s: no such mailbox", what);
		smtpd_reply_set(r, 550, "5.1.1 <%s>: no such mailbox", as);
	} else {
		log_err("%s: <%s>: cannot open %s: %s", s->id, as, what, e->msg);
		smtpd_reply_set(r, 451, "4.3.0 <%s>: mailbox temporarily unavailable", as);
	}
	return -1;
}

int mx_rcpt(void *ctx, struct smtpd *s, struct smtpd_rcpt *rc, struct smtpd_reply *r)
{
	struct mx *mx = ctx;
	char as[ADDR_STR_MAX], base[ADDR_LOCAL_MAX + 1], suffix[ADDR_LOCAL_MAX + 1];
	struct mm_err e;
	struct mx_rcpt *mr;
	int dfd, lfd, sfd = -1, has_suffix;

	addr_format(&rc->addr, as);
	dfd = maildir_openat(mx->rootfd, rc->addr.domain, &e);
	if (dfd < 0) {
		if (e.code == ENOENT || e.code == ELOOP || e.code == ENOTDIR) {
			smtpd_trace(s, "domain %s: no folder %s/%s: not ours", rc->addr.domain,
			    mx->root, rc->addr.domain);
			log_info("%s: %s: <%s>: relaying denied", s->id, s->peer_ip, as);
			smtpd_reply_set(r, 550, "5.7.1 <%s>: relaying denied (%s is not a domain of "
			    "this server)", as, rc->addr.domain);
			return -1;
		}
		return lookup_fail(s, r, as, rc->addr.domain, &e);
	}
	has_suffix = addr_split_suffix(rc->addr.local, mx->suffix_sep, base, suffix);
	if (addr_component_ok(base, 1, &e) < 0 || (has_suffix && addr_component_ok(suffix, 1, &e) < 0)) {
		close(dfd);
		smtpd_reply_set(r, 553, "5.1.3 <%s>: mailbox name refused: %s", as, e.msg);
		return -1;
	}
	lfd = maildir_openat(dfd, base, &e);
	if (lfd < 0) {
		close(dfd);
		if (e.code == ENOENT && !strcmp(base, "postmaster")) {
			log_err("%s: <%s>: %s/%s/postmaster/ is missing: create it (postmaster must "
			    "always be deliverable)", s->id, as, mx->root, rc->addr.domain);
			smtpd_reply_set(r, 451, "4.3.0 <%s>: postmaster mailbox not set up yet", as);
			return -1;
		}
		return lookup_fail(s, r, as, base, &e);
	}
	close(dfd);
	if (has_suffix) {
		sfd = maildir_openat(lfd, suffix, &e);
		close(lfd);
		if (sfd < 0)
			return lookup_fail(s, r, as, suffix, &e);
		lfd = sfd;
	}
	mr = xcalloc(1, sizeof *mr);
	mr->fd = lfd;
	mr->junkfd = -1;
	if (snprintf_ok(mr->path, sizeof mr->path, "%s/%s%s%s", rc->addr.domain, base,
	    has_suffix ? "/" : "", has_suffix ? suffix : "") < 0)
		mr->path[0] = '\0';   /* cannot happen: sized for the maxima */
	rc->data = mr;
	smtpd_trace(s, "recipient <%s>: maildir %s/%s", as, mx->root, mr->path);
	log_info("%s: %s: <%s>: accepted for %s", s->id, s->peer_ip, as, mr->path);
	return 0;
}

void mx_reset(void *ctx, struct smtpd *s)
{
	for (size_t i = 0; i < s->nrcpt; i++) {
		struct mx_rcpt *mr = s->rcpt[i].data;
		if (mr) {
			close(mr->fd);
			if (mr->junkfd >= 0)
				close(mr->junkfd);
			free(mr);
			s->rcpt[i].data = NULL;
		}
	}
}

static void rfc5322_date(char *out, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	if (!strftime(out, cap, "%a, %d %b %Y %H:%M:%S %z", &tm))
		out[0] = '\0';
}

/* Where this recipient's copy goes: its folder, or its junk folder. */
static const char *target_path(const struct mx_rcpt *mr)
{
	return mr->junkfd >= 0 ? mr->junkpath : mr->path;
}

static int target_fd(const struct mx_rcpt *mr)
{
	return mr->junkfd >= 0 ? mr->junkfd : mr->fd;
}

static int dup_rcpt(struct smtpd *s, size_t i)
{
	const struct mx_rcpt *b = s->rcpt[i].data;

	for (size_t j = 0; j < i; j++) {
		const struct mx_rcpt *a = s->rcpt[j].data;
		if (a && b && !strcmp(target_path(a), target_path(b)))
			return 1;
	}
	return 0;
}

/* Quarantine: open ROOT/domain/local/junk/ if the user made one (a
 * suffix address files into its base mailbox's junk).  No junk folder is
 * not an error: the copy is tagged instead. */
static void open_junk(struct mx *mx, struct smtpd_rcpt *rc)
{
	struct mx_rcpt *mr = rc->data;
	char base[ADDR_LOCAL_MAX + 1], suffix[ADDR_LOCAL_MAX + 1];
	int dfd, lfd;

	(void)addr_split_suffix(rc->addr.local, mx->suffix_sep, base, suffix);
	if ((dfd = maildir_openat(mx->rootfd, rc->addr.domain, NULL)) < 0)
		return;
	lfd = maildir_openat(dfd, base, NULL);
	close(dfd);
	if (lfd < 0)
		return;
	mr->junkfd = maildir_openat(lfd, MX_JUNK_FOLDER, NULL);
	close(lfd);
	if (mr->junkfd >= 0 && snprintf_ok(mr->junkpath, sizeof mr->junkpath, "%s/%s/%s",
	    rc->addr.domain, base, MX_JUNK_FOLDER) < 0) {
		close(mr->junkfd);
		mr->junkfd = -1;
	}
}

static const char *with_name(const struct smtpd *s)
{
	if (s->params.smtputf8)
		return s->tls_done ? "UTF8SMTPS" : "UTF8SMTP";
	if (s->esmtp)
		return s->tls_done ? "ESMTPS" : "ESMTP";
	return s->tls_done ? "SMTPS" : "SMTP";
}

void mx_received(const struct mx *mx, struct smtpd *s, const char *for_addr, int hide_client,
    struct buf *out)
{
	char date[64];

	rfc5322_date(date, sizeof date);
	if (hide_client)
		buf_printf(out, "Received: by %s (mm-recv) with %s id %s.%lu\n", mx->hostname,
		    with_name(s), s->id, s->messages + 1);
	else
		buf_printf(out, "Received: from %s ([%s])\n\tby %s (mm-recv) with %s id %s.%lu\n",
		    s->helo, s->peer_ip, mx->hostname, with_name(s), s->id, s->messages + 1);
	if (s->tls_done)
		buf_printf(out, "\t(version=%s cipher=%s)\n", io_tls_version(s->io),
		    io_tls_cipher(s->io));
	if (for_addr)
		buf_printf(out, "\tfor <%s>; %s\n", for_addr, date);
	else
		buf_printf(out, "\t; %s\n", date);
}

long mx_deliver(struct mx *mx, struct smtpd *s, const char *extra, size_t extralen,
    const char *body, size_t bodylen, int hide_client, const struct mx_note *note,
    struct smtpd_reply *r)
{
	struct maildir_tx tx;
	struct mm_err e;
	struct buf head;
	char sender[ADDR_STR_MAX], as[ADDR_STR_MAX];
	long copies = 0;

	if (s->mail_null)
		sender[0] = '\0';
	else
		addr_format(&s->mail, sender);
	maildir_tx_init(&tx, mx->hostname);
	buf_init(&head);
	if (mx->tx.quarantine)
		for (size_t i = 0; i < s->nrcpt; i++)
			if (s->rcpt[i].data)
				open_junk(mx, &s->rcpt[i]);
	for (size_t i = 0; i < s->nrcpt; i++) {
		struct mx_rcpt *mr = s->rcpt[i].data;

		if (!mr || dup_rcpt(s, i))
			continue;
		addr_format(&s->rcpt[i].addr, as);
		buf_reset(&head);
		buf_printf(&head, "Return-Path: <%s>\nDelivered-To: %s\n", sender, as);
		mx_received(mx, s, as, hide_client, &head);
		buf_append(&head, extra, extralen);
		if (mx->tx.quarantine && mr->junkfd < 0)
			buf_puts(&head, "X-Spam-Flag: YES\n");
		if (maildir_tx_add(&tx, target_fd(mr), head.data, head.len, body, bodylen, &e) < 0)
			goto fail;
		copies++;
	}
	for (size_t i = 0, k = 0; note && i < s->nrcpt; i++) {
		struct mx_rcpt *mr = s->rcpt[i].data;
		if (!mr || dup_rcpt(s, i))
			continue;
		if (note->fn(note->ctx, target_path(mr), tx.v[k++].name) < 0) {
			err_set(&e, "could not note the delivery before its commit");
			goto fail;
		}
	}
	if (note && note->fn(note->ctx, NULL, NULL) < 0) {
		err_set(&e, "could not note the delivery before its commit");
		goto fail;
	}
	if (copies && maildir_tx_commit(&tx, &e) < 0)
		goto fail;
	for (size_t i = 0, k = 0; i < s->nrcpt; i++) {
		struct mx_rcpt *mr = s->rcpt[i].data;
		if (!mr || dup_rcpt(s, i))
			continue;
		addr_format(&s->rcpt[i].addr, as);
		log_info("%s: %s: delivered <%s> to %s/new/%s (%zu octets)%s", s->id, s->peer_ip, as,
		    target_path(mr), tx.v[k].name, bodylen,
		    mx->tx.quarantine ? (mr->junkfd >= 0 ? " (quarantined)" : " (quarantine: tagged)") : "");
		smtpd_trace(s, "delivered: %s/%s/new/%s", mx->root, target_path(mr), tx.v[k].name);
		k++;
	}
	maildir_tx_free(&tx);
	buf_free(&head);
	return copies;
fail:
	log_err("%s: %s: delivery failed, nothing delivered: %s", s->id, s->peer_ip, e.msg);
	maildir_tx_abort(&tx);
	buf_free(&head);
	if (e.code == ENOSPC || e.code == EDQUOT)
		smtpd_reply_set(r, 452, "4.3.1 insufficient storage: try again later");
	else
		smtpd_reply_set(r, 451, "4.3.0 local error while storing the message: try again later");
	return -1;
}

static int hook_data(void *ctx, struct smtpd *s, const struct buf *msg, struct smtpd_reply *r)
{
	struct mx *mx = ctx;
	struct buf auth, body;
	long copies;

	buf_init(&auth);
	buf_init(&body);
	if (mxauth_data(&mx->auth, &mx->dns, s, &mx->tx, msg, &auth, &body, r) < 0) {
		log_info("%s: %s: message refused: %d %s", s->id, s->peer_ip, r->code, r->text);
		buf_free(&auth);
		buf_free(&body);
		return -1;
	}
	copies = mx_deliver(mx, s, auth.data, auth.len, body.data, body.len, 0, NULL, r);
	buf_free(&auth);
	buf_free(&body);
	if (copies < 0)
		return -1;
	smtpd_reply_set(r, 250, "2.0.0 delivered to %ld mailbox%s (id %s.%lu)", copies,
	    copies == 1 ? "" : "es", s->id, s->messages + 1);
	return 0;
}

static int hook_connect(void *ctx, struct smtpd *s, struct smtpd_reply *r)
{
	struct mx *mx = ctx;

	return mxauth_dnsbl(&mx->auth, &mx->dns, s, mx->dnsbl, mx->ndnsbl, r);
}

const struct smtpd_hooks mx_hooks = {
	.connect = hook_connect,
	.mail = hook_mail,
	.rcpt = mx_rcpt,
	.data = hook_data,
	.reset = mx_reset,
};
