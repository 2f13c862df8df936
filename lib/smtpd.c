/*
 * smtpd — see smtpd.h.  Why it looks like this: every command goes through
 * one table that says in which states it is allowed (the "check" half,
 * applied before anything else) and then its handler (the "proceed"
 * half), so an out-of-order command can never reach code that assumes an
 * earlier step happened.  DATA is read line-bounded (SMTPD_DATA_READ_MAX)
 * through a byte-level machine that knows only CRLF.CRLF as the end.
 */
#include "smtpd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* ---- pure half ------------------------------------------------------- */

static const struct {
	enum smtpd_verb v;
	const char *name;
} verbs[] = {
	{ SMTPD_V_HELO, "HELO" }, { SMTPD_V_EHLO, "EHLO" }, { SMTPD_V_MAIL, "MAIL" },
	{ SMTPD_V_RCPT, "RCPT" }, { SMTPD_V_DATA, "DATA" }, { SMTPD_V_RSET, "RSET" },
	{ SMTPD_V_NOOP, "NOOP" }, { SMTPD_V_QUIT, "QUIT" }, { SMTPD_V_VRFY, "VRFY" },
	{ SMTPD_V_EXPN, "EXPN" }, { SMTPD_V_HELP, "HELP" }, { SMTPD_V_STARTTLS, "STARTTLS" },
	{ SMTPD_V_BDAT, "BDAT" }, { SMTPD_V_AUTH, "AUTH" },
};

const char *smtpd_verb_name(enum smtpd_verb v)
{
	for (size_t i = 0; i < MM_NELEM(verbs); i++)
		if (verbs[i].v == v)
			return verbs[i].name;
	return "?";
}

void smtpd_parse_cmd(const char *line, size_t len, struct smtpd_cmd *out)
{
	size_t body, vlen, i;
	const char *arg;

	memset(out, 0, sizeof *out);
	if (len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n')
		body = len - 2;
	else if (len >= 1 && line[len - 1] == '\n') {
		out->lerr = SMTPD_L_BARE_LF;
		body = len - 1;
	} else {
		out->lerr = SMTPD_L_NOEOL;
		body = len;
	}
	for (i = 0; i < body; i++) {
		if (line[i] == '\0') {
			out->lerr = SMTPD_L_NUL;
			return;
		}
		if (line[i] == '\r' || line[i] == '\n') {
			out->lerr = line[i] == '\r' ? SMTPD_L_BARE_CR : SMTPD_L_BARE_LF;
			return;
		}
	}
	if (out->lerr)
		return;
	if (body > SMTPD_CMD_MAX)
		body = SMTPD_CMD_MAX;     /* callers read with that bound anyway */
	for (vlen = 0; vlen < body && line[vlen] != ' '; vlen++)
		;
	out->verb = SMTPD_V_UNKNOWN;
	for (i = 0; i < MM_NELEM(verbs); i++)
		if (strlen(verbs[i].name) == vlen && !ascii_strncasecmp(line, verbs[i].name, vlen)) {
			out->verb = verbs[i].v;
			break;
		}
	arg = line + vlen;
	while (arg < line + body && *arg == ' ')
		arg++;
	out->arglen = (size_t)(line + body - arg);
	while (out->arglen && arg[out->arglen - 1] == ' ')
		out->arglen--;
	memcpy(out->arg, arg, out->arglen);
	out->arg[out->arglen] = '\0';
	out->has_arg = out->arglen > 0;
}

static int perr(struct mm_err *err, int code, const char *msg)
{
	err_set(err, "%s", msg);
	if (err)
		err->code = code;
	return -1;
}

int smtpd_parse_mail_params(const char *s, struct smtpd_mail_params *out, struct mm_err *err)
{
	memset(out, 0, sizeof *out);
	while (*s) {
		const char *kw, *eq, *end;
		size_t klen, vlen;

		while (*s == ' ')
			s++;
		if (!*s)
			break;
		kw = s;
		end = strchr(s, ' ');
		if (!end)
			end = s + strlen(s);
		eq = memchr(kw, '=', (size_t)(end - kw));
		klen = (size_t)((eq ? eq : end) - kw);
		vlen = eq ? (size_t)(end - eq - 1) : 0;
		if (klen == 4 && !ascii_strncasecmp(kw, "SIZE", 4)) {
			unsigned long long v = 0;
			if (!eq || vlen == 0)
				return perr(err, 501, "5.5.4 SIZE needs a value");
			for (const char *p = eq + 1; p < end; p++) {
				if (*p < '0' || *p > '9')
					return perr(err, 501, "5.5.4 SIZE must be a decimal number");
				if (v > (~0ULL - 9) / 10) {
					v = ~0ULL;   /* too large for anything: refused as oversize */
					continue;
				}
				v = v * 10 + (unsigned)(*p - '0');
			}
			out->has_size = 1;
			out->size = v;
		} else if (klen == 4 && !ascii_strncasecmp(kw, "BODY", 4)) {
			if (eq && vlen == 4 && !ascii_strncasecmp(eq + 1, "7BIT", 4))
				out->body_8bit = 0;
			else if (eq && vlen == 8 && !ascii_strncasecmp(eq + 1, "8BITMIME", 8))
				out->body_8bit = 1;
			else
				return perr(err, 501, "5.5.4 BODY must be 7BIT or 8BITMIME");
		} else if (klen == 8 && !ascii_strncasecmp(kw, "SMTPUTF8", 8) && !eq) {
			out->smtputf8 = 1;
		} else {
			return perr(err, 555, "5.5.4 unsupported MAIL parameter");
		}
		s = end;
	}
	return 0;
}

enum { D_BOL, D_MID, D_CR, D_DOT, D_DOTCR };

void smtpd_dot_init(struct smtpd_dot *d, size_t max, int normalise)
{
	memset(d, 0, sizeof *d);
	d->state = D_BOL;
	d->max = max;
	d->normalise = normalise;
}

static void dot_emit(struct smtpd_dot *d, struct buf *out, const char *p, size_t n)
{
	d->total += n;
	if (d->flags & SMTPD_DOT_TOOBIG)
		return;
	if (out->len + n > d->max) {
		d->flags |= SMTPD_DOT_TOOBIG;
		return;
	}
	buf_append(out, p, n);
}

static void dot_text(struct smtpd_dot *d, struct buf *out, char c)
{
	if (c == '\0')
		d->flags |= SMTPD_DOT_NUL;
	if (++d->linelen > SMTPD_TEXT_LINE_MAX - 2)
		d->flags |= SMTPD_DOT_LONGLINE;
	dot_emit(d, out, &c, 1);
}

/* A line end that was not CRLF: recorded, and never a line start where a
 * dot means anything (so "\n.\n" and "\r.\r" cannot end the message). */
static void dot_bare(struct smtpd_dot *d, struct buf *out, int flag, char c)
{
	d->flags |= flag;
	if (d->normalise) {
		dot_emit(d, out, "\r\n", 2);
		d->linelen = 0;
	} else
		dot_text(d, out, c);
	d->state = D_MID;
}

size_t smtpd_dot_feed(struct smtpd_dot *d, const char *p, size_t n, struct buf *out)
{
	size_t i;

	for (i = 0; i < n && !d->done; i++) {
		char c = p[i];
again:
		switch (d->state) {
		case D_BOL:
			if (c == '.') {
				d->state = D_DOT;
				d->linelen = 1;
				break;
			}
			d->state = D_MID;
			goto again;
		case D_MID:
			if (c == '\r')
				d->state = D_CR;
			else if (c == '\n')
				dot_bare(d, out, SMTPD_DOT_BARE_LF, '\n');
			else
				dot_text(d, out, c);
			break;
		case D_CR:
			if (c == '\n') {
				dot_emit(d, out, "\r\n", 2);
				d->linelen = 0;
				d->state = D_BOL;
				break;
			}
			dot_bare(d, out, SMTPD_DOT_BARE_CR, '\r');
			goto again;           /* c itself is ordinary text (or CR/LF) */
		case D_DOT:
			if (c == '\r') {
				d->state = D_DOTCR;
				break;
			}
			d->state = D_MID;     /* the stuffed dot is dropped */
			goto again;
		case D_DOTCR:
			if (c == '\n') {
				d->done = 1;
				break;
			}
			d->state = D_CR;      /* "." then a bare CR: the dot was stuffing */
			goto again;
		}
	}
	return i;
}

/* ---- the session ----------------------------------------------------- */

void smtpd_reply_set(struct smtpd_reply *r, int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	r->code = code;
	va_start(ap, fmt);
	n = vsnprintf(r->text, sizeof r->text, fmt, ap);
	va_end(ap);
	if (n < 0)
		r->text[0] = '\0';
	/* a reply never carries a line break from anywhere */
	for (char *p = r->text; *p; p++)
		if (*p == '\r' || *p == '\n' || (unsigned char)*p < 0x20)
			*p = ' ';
}

void smtpd_init(struct smtpd *s, const struct smtpd_conf *conf, struct io *io,
    const char *peer_ip, const struct smtpd_hooks *hooks, void *ctx)
{
	unsigned char r[6];

	memset(s, 0, sizeof *s);
	s->conf = conf;
	s->io = io;
	s->peer_ip = peer_ip;
	s->hooks = hooks;
	s->ctx = ctx;
	s->state = SMTPD_S_CONNECTED;
	random_bytes(r, sizeof r);
	hex_encode(r, sizeof r, s->id);
}

static void reset_tx(struct smtpd *s)
{
	if (s->hooks && s->hooks->reset && (s->nrcpt || s->state >= SMTPD_S_MAIL))
		s->hooks->reset(s->ctx, s);
	free(s->rcpt);
	s->rcpt = NULL;
	s->nrcpt = 0;
	memset(&s->mail, 0, sizeof s->mail);
	memset(&s->params, 0, sizeof s->params);
	s->mail_null = 0;
	if (s->state == SMTPD_S_MAIL || s->state == SMTPD_S_RCPT)
		s->state = SMTPD_S_HELO;
}

void smtpd_free(struct smtpd *s)
{
	reset_tx(s);
}

static void reply(struct smtpd *s, int code, const char *fmt, ...) MM_PRINTF(3, 4);
static void reply(struct smtpd *s, int code, const char *fmt, ...)
{
	struct smtpd_reply r;
	char text[SMTPD_REPLY_MAX];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(text, sizeof text, fmt, ap) < 0)
		text[0] = '\0';
	va_end(ap);
	smtpd_reply_set(&r, code, "%s", text);
	io_printf(s->io, "%d %s\r\n", r.code, r.text);
	if (code >= 400)
		log_info("%s: %s: %d %s", s->id, s->peer_ip, r.code, r.text);
	if (code >= 500)
		s->errors++;
}

static void send_reply(struct smtpd *s, const struct smtpd_reply *r)
{
	reply(s, r->code, "%s", r->text);
}

void smtpd_trace(struct smtpd *s, const char *fmt, ...)
{
	char text[SMTPD_REPLY_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(text, sizeof text, fmt, ap) < 0)
		text[0] = '\0';
	va_end(ap);
	log_debug("%s: %s", s->id, text);
	if (!s->conf->trace)
		return;
	for (char *p = text; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	io_printf(s->io, ">>> %s\r\n", text);
}

enum step { STEP_NEXT, STEP_QUIT, STEP_DROP, STEP_EOF, STEP_TIMEOUT, STEP_IOERR };

static enum step drop(struct smtpd *s, int code, const char *text)
{
	reply(s, code, "%s", text);
	(void)io_flush(s->io, NULL);
	return STEP_DROP;
}

static int helo_ok(const char *a)
{
	size_t n = strlen(a);

	if (n == 0 || n > SMTPD_HELO_MAX)
		return 0;
	for (; *a; a++)
		if ((unsigned char)*a <= ' ' || (unsigned char)*a >= 0x7f)
			return 0;
	return 1;
}

static enum step do_helo(struct smtpd *s, struct smtpd_cmd *c)
{
	struct smtpd_reply r = { 0 };
	int ehlo = c->verb == SMTPD_V_EHLO;

	if (!helo_ok(c->arg)) {
		reply(s, 501, "5.5.4 %s needs a host name (one word of printable ASCII)",
		    smtpd_verb_name(c->verb));
		return STEP_NEXT;
	}
	reset_tx(s);
	memcpy(s->helo, c->arg, c->arglen + 1);
	s->esmtp = ehlo;
	s->state = SMTPD_S_HELO;
	if (s->hooks && s->hooks->helo && s->hooks->helo(s->ctx, s, &r) < 0) {
		s->state = SMTPD_S_CONNECTED;
		send_reply(s, &r);
		return STEP_NEXT;
	}
	if (!ehlo) {
		io_printf(s->io, "250 %s\r\n", s->conf->hostname);
		return STEP_NEXT;
	}
	io_printf(s->io, "250-%s Hello [%s]\r\n", s->conf->hostname, s->peer_ip);
	io_printf(s->io, "250-PIPELINING\r\n250-SIZE %zu\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n", s->conf->max_size);
	if (s->conf->tls && !s->tls_done)
		io_printf(s->io, "250-STARTTLS\r\n");
	io_printf(s->io, "250 HELP\r\n");
	return STEP_NEXT;
}

static enum step do_mail(struct smtpd *s, struct smtpd_cmd *c)
{
	struct smtpd_reply r = { 0 };
	struct mm_err err;
	const char *rest;
	const char *a = c->arg;

	if (!ascii_has_prefix_ci(a, "FROM:")) {
		reply(s, 501, "5.5.4 syntax: MAIL FROM:<address>");
		return STEP_NEXT;
	}
	a += 5;
	while (*a == ' ')
		a++;
	if (addr_parse_path(a, 1, &s->mail, &s->mail_null, &rest, &err) < 0) {
		reply(s, err.code == ADDR_E_POLICY ? 553 : 501, "5.1.7 sender address refused: %s",
		    err.msg);
		return STEP_NEXT;
	}
	if (*rest && *rest != ' ') {
		reply(s, 501, "5.5.4 junk after the address");
		return STEP_NEXT;
	}
	if (smtpd_parse_mail_params(rest, &s->params, &err) < 0) {
		reply(s, err.code, "%s", err.msg);
		return STEP_NEXT;
	}
	if (s->params.has_size && s->params.size > s->conf->max_size) {
		reply(s, 552, "5.3.4 message size exceeds the limit of %zu octets", s->conf->max_size);
		return STEP_NEXT;
	}
	s->state = SMTPD_S_MAIL;
	if (s->hooks && s->hooks->mail && s->hooks->mail(s->ctx, s, &r) < 0) {
		reset_tx(s);
		send_reply(s, &r);
		return STEP_NEXT;
	}
	if (r.code)
		send_reply(s, &r);
	else {
		char a2[ADDR_STR_MAX];
		if (s->mail_null)
			a2[0] = '\0';
		else
			addr_format(&s->mail, a2);
		reply(s, 250, "2.1.0 <%s>: sender ok", a2);
	}
	return STEP_NEXT;
}

static enum step do_rcpt(struct smtpd *s, struct smtpd_cmd *c)
{
	struct smtpd_reply r = { 0 };
	struct smtpd_rcpt rc;
	struct mm_err err;
	const char *rest;
	const char *a = c->arg;
	int null;
	char as[ADDR_STR_MAX];

	if (!ascii_has_prefix_ci(a, "TO:")) {
		reply(s, 501, "5.5.4 syntax: RCPT TO:<address>");
		return STEP_NEXT;
	}
	if (s->nrcpt >= s->conf->max_rcpt) {
		reply(s, 452, "4.5.3 too many recipients (at most %zu per message)", s->conf->max_rcpt);
		return STEP_NEXT;
	}
	a += 3;
	while (*a == ' ')
		a++;
	memset(&rc, 0, sizeof rc);
	if (addr_parse_path(a, 0, &rc.addr, &null, &rest, &err) < 0) {
		reply(s, err.code == ADDR_E_POLICY ? 553 : 501, "5.1.3 recipient address refused: %s",
		    err.msg);
		return STEP_NEXT;
	}
	addr_format(&rc.addr, as);
	if (*rest) {
		reply(s, 555, "5.5.4 <%s>: RCPT parameters are not supported", as);
		return STEP_NEXT;
	}
	if (s->hooks && s->hooks->rcpt && s->hooks->rcpt(s->ctx, s, &rc, &r) < 0) {
		send_reply(s, &r);
		return STEP_NEXT;
	}
	s->rcpt = xreallocarray(s->rcpt, s->nrcpt + 1, sizeof *s->rcpt);
	s->rcpt[s->nrcpt++] = rc;
	s->state = SMTPD_S_RCPT;
	if (r.code)
		send_reply(s, &r);
	else
		reply(s, 250, "2.1.5 <%s>: recipient ok", as);
	return STEP_NEXT;
}

static enum step do_data(struct smtpd *s, struct smtpd_cmd *c)
{
	struct smtpd_dot d;
	struct smtpd_reply r = { 0 };
	struct buf msg;
	struct mm_err err;
	enum step st = STEP_NEXT;

	if (io_pending(s->io) > 0 && s->conf->trace)
		smtpd_trace(s, "data sent before the 354 reply: dropped unless --test");
	else if (io_pending(s->io) > 0)
		return drop(s, 554, "5.5.0 data sent before the 354 reply (RFC 2920): closing");
	reply(s, 354, "End data with <CR><LF>.<CR><LF>");
	if (io_flush(s->io, &err) != IO_OK)
		return STEP_IOERR;
	io_set_timeout(s->io, s->conf->data_timeout * 1000);
	smtpd_dot_init(&d, s->conf->max_size, s->conf->normalise_eol);
	buf_init(&msg);
	while (!d.done) {
		const char *line;
		size_t len;
		enum io_result ir = io_read_line(s->io, SMTPD_DATA_READ_MAX, &line, &len, &err);

		if (ir == IO_TOOLONG) {
			st = drop(s, 500, "5.5.2 line far too long in DATA: closing");
			goto out;
		}
		if (ir == IO_EOF) {
			log_info("%s: %s: connection closed during DATA after %llu octets", s->id,
			    s->peer_ip, (unsigned long long)d.total);
			st = STEP_EOF;
			goto out;
		}
		if (ir == IO_TIMEOUT) {
			st = drop(s, 421, "4.4.2 timeout waiting for data: closing");
			st = STEP_TIMEOUT;
			goto out;
		}
		if (ir != IO_OK) {
			st = STEP_IOERR;
			goto out;
		}
		(void)smtpd_dot_feed(&d, line, len, &msg);   /* lines end in \n: nothing left over */
	}
	if (d.flags & SMTPD_DOT_TOOBIG)
		reply(s, 552, "5.3.4 message larger than the limit of %zu octets", s->conf->max_size);
	else if (d.flags & SMTPD_DOT_NUL)
		reply(s, 554, "5.6.0 message contains a NUL byte");
	else if ((d.flags & SMTPD_DOT_BARE_LF) && !s->conf->normalise_eol)
		reply(s, 554, "5.6.0 message contains a bare LF (lines must end in CRLF, RFC 5321 2.3.8)");
	else if ((d.flags & SMTPD_DOT_BARE_CR) && !s->conf->normalise_eol)
		reply(s, 554, "5.6.0 message contains a bare CR (lines must end in CRLF, RFC 5321 2.3.8)");
	else if (d.flags & SMTPD_DOT_LONGLINE)
		reply(s, 554, "5.6.0 message has a line longer than 998 octets (RFC 5322 2.1.1)");
	else if (s->params.has_size && d.total > s->params.size && d.total > s->conf->max_size)
		reply(s, 552, "5.3.4 message larger than declared");
	else if (s->hooks && s->hooks->data) {
		if (s->hooks->data(s->ctx, s, &msg, &r) == 0)
			s->messages++;
		if (!r.code)
			smtpd_reply_set(&r, 451, "4.3.0 message not delivered (internal error)");
		send_reply(s, &r);
	} else
		reply(s, 554, "5.3.0 no delivery configured");
out:
	buf_free(&msg);
	io_set_timeout(s->io, s->conf->cmd_timeout * 1000);
	reset_tx(s);
	return st;
}

static enum step do_rset(struct smtpd *s, struct smtpd_cmd *c)
{
	reset_tx(s);
	reply(s, 250, "2.0.0 reset");
	return STEP_NEXT;
}

static enum step do_noop(struct smtpd *s, struct smtpd_cmd *c)
{
	reply(s, 250, "2.0.0 OK");
	return STEP_NEXT;
}

static enum step do_quit(struct smtpd *s, struct smtpd_cmd *c)
{
	reply(s, 221, "2.0.0 %s closing connection", s->conf->hostname);
	return STEP_QUIT;
}

static enum step do_vrfy(struct smtpd *s, struct smtpd_cmd *c)
{
	reply(s, 252, "2.5.0 cannot verify the address; send mail and it will be tried");
	return STEP_NEXT;
}

static enum step do_expn(struct smtpd *s, struct smtpd_cmd *c)
{
	reply(s, 502, "5.5.1 EXPN is not supported");
	return STEP_NEXT;
}

static enum step do_help(struct smtpd *s, struct smtpd_cmd *c)
{
	reply(s, 214, "2.0.0 commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP%s",
	    s->conf->tls ? " STARTTLS" : "");
	return STEP_NEXT;
}

static enum step do_notoffered(struct smtpd *s, struct smtpd_cmd *c)
{
	reply(s, 502, "5.5.1 %s is not offered here", smtpd_verb_name(c->verb));
	return STEP_NEXT;
}

static enum step do_starttls(struct smtpd *s, struct smtpd_cmd *c)
{
	struct mm_err err;

	if (!s->conf->tls) {
		reply(s, 502, "5.5.1 STARTTLS is not offered here");
		return STEP_NEXT;
	}
	if (s->tls_done) {
		reply(s, 503, "5.5.1 TLS is already active");
		return STEP_NEXT;
	}
	if (io_pending(s->io) > 0)
		return drop(s, 554, "5.5.0 commands pipelined after STARTTLS: closing");
	reply(s, 220, "2.0.0 ready to start TLS");
	if (io_flush(s->io, &err) != IO_OK)
		return STEP_IOERR;
	if (io_starttls_server(s->io, s->conf->tls, &err) != IO_OK) {
		log_info("%s: %s: TLS handshake failed: %s", s->id, s->peer_ip, err.msg);
		return STEP_IOERR;
	}
	log_info("%s: %s: TLS %s %s", s->id, s->peer_ip, io_tls_version(s->io),
	    io_tls_cipher(s->io));
	reset_tx(s);
	s->tls_done = 1;
	s->esmtp = 0;
	s->helo[0] = '\0';
	s->state = SMTPD_S_CONNECTED;     /* RFC 3207 4.2: forget everything, EHLO again */
	return STEP_NEXT;
}

#define ST(x) (1u << (x))
#define ANY (ST(SMTPD_S_CONNECTED) | ST(SMTPD_S_HELO) | ST(SMTPD_S_MAIL) | ST(SMTPD_S_RCPT))

enum argrule { ARG_NONE, ARG_NEED, ARG_ANY };

static const struct cmd_entry {
	enum smtpd_verb verb;
	unsigned states;        /* check: allowed in these states */
	enum argrule arg;       /* check: argument rule */
	int code;               /* refusal when the state is wrong */
	const char *why;
	enum step (*proceed)(struct smtpd *, struct smtpd_cmd *);
} cmd_table[] = {
	{ SMTPD_V_HELO, ANY, ARG_NEED, 0, NULL, do_helo },
	{ SMTPD_V_EHLO, ANY, ARG_NEED, 0, NULL, do_helo },
	{ SMTPD_V_MAIL, ST(SMTPD_S_HELO), ARG_NEED, 503, NULL, do_mail },
	{ SMTPD_V_RCPT, ST(SMTPD_S_MAIL) | ST(SMTPD_S_RCPT), ARG_NEED, 503,
	  "5.5.1 RCPT needs MAIL first", do_rcpt },
	{ SMTPD_V_DATA, ST(SMTPD_S_RCPT), ARG_NONE, 503, NULL, do_data },
	{ SMTPD_V_RSET, ANY, ARG_NONE, 0, NULL, do_rset },
	{ SMTPD_V_NOOP, ANY, ARG_ANY, 0, NULL, do_noop },
	{ SMTPD_V_QUIT, ANY, ARG_NONE, 0, NULL, do_quit },
	{ SMTPD_V_VRFY, ANY, ARG_NEED, 0, NULL, do_vrfy },
	{ SMTPD_V_EXPN, ANY, ARG_ANY, 0, NULL, do_expn },
	{ SMTPD_V_HELP, ANY, ARG_ANY, 0, NULL, do_help },
	{ SMTPD_V_STARTTLS, ST(SMTPD_S_HELO), ARG_NONE, 503,
	  "5.5.1 STARTTLS needs EHLO first and no open transaction", do_starttls },
	{ SMTPD_V_BDAT, ANY, ARG_ANY, 0, NULL, do_notoffered },
	{ SMTPD_V_AUTH, ANY, ARG_ANY, 0, NULL, do_notoffered },
};

static enum step bad_state(struct smtpd *s, const struct cmd_entry *e)
{
	if (e->why) {
		reply(s, e->code, "%s", e->why);
		return STEP_NEXT;
	}
	switch (e->verb) {
	case SMTPD_V_MAIL:
		if (s->state == SMTPD_S_CONNECTED)
			reply(s, 503, "5.5.1 say HELO or EHLO first");
		else
			reply(s, 503, "5.5.1 nested MAIL command (RSET first)");
		break;
	case SMTPD_V_DATA:
		if (s->state == SMTPD_S_MAIL)
			reply(s, 554, "5.5.1 no valid recipients");
		else
			reply(s, 503, "5.5.1 DATA needs MAIL and RCPT first");
		break;
	default:
		reply(s, 503, "5.5.1 bad sequence of commands");
	}
	return STEP_NEXT;
}

static enum step dispatch(struct smtpd *s, struct smtpd_cmd *c)
{
	const struct cmd_entry *e = NULL;

	for (size_t i = 0; i < MM_NELEM(cmd_table); i++)
		if (cmd_table[i].verb == c->verb)
			e = &cmd_table[i];
	if (!e) {
		reply(s, 500, "5.5.2 command not recognised");
		return STEP_NEXT;
	}
	if (e->arg == ARG_NEED && !c->has_arg) {
		reply(s, 501, "5.5.4 %s needs an argument", smtpd_verb_name(c->verb));
		return STEP_NEXT;
	}
	if (e->arg == ARG_NONE && c->has_arg) {
		reply(s, 501, "5.5.4 %s takes no argument", smtpd_verb_name(c->verb));
		return STEP_NEXT;
	}
	if (!(e->states & ST(s->state)))
		return bad_state(s, e);
	return e->proceed(s, c);
}

static enum smtpd_end end_of(enum step st)
{
	switch (st) {
	case STEP_QUIT: return SMTPD_END_QUIT;
	case STEP_EOF: return SMTPD_END_EOF;
	case STEP_TIMEOUT: return SMTPD_END_TIMEOUT;
	case STEP_IOERR: return SMTPD_END_IOERR;
	default: return SMTPD_END_DROPPED;
	}
}

enum smtpd_end smtpd_run(struct smtpd *s)
{
	struct smtpd_reply r = { 0 };
	struct mm_err err;
	enum step st;

	io_set_timeout(s->io, s->conf->cmd_timeout * 1000);
	/* A client that talks before our banner is not waiting for replies:
	 * a spam engine.  Checked over --greet-delay, and at least once. */
	if (io_input_ready(s->io, s->conf->greet_delay * 1000) > 0 && !s->conf->trace) {
		log_info("%s: %s: talked before the banner (pregreet)", s->id, s->peer_ip);
		drop(s, 554, "5.5.0 you talked before the banner: closing");
		return SMTPD_END_DROPPED;
	}
	if (s->hooks && s->hooks->connect && s->hooks->connect(s->ctx, s, &r) < 0) {
		send_reply(s, &r);
		(void)io_flush(s->io, NULL);
		return SMTPD_END_DROPPED;
	}
	io_printf(s->io, "220 %s ESMTP mm-recv\r\n", s->conf->hostname);
	for (;;) {
		const char *line;
		size_t len;
		enum io_result ir;
		struct smtpd_cmd c;

		if (s->errors >= s->conf->max_errors) {
			drop(s, 421, "4.7.0 too many errors: closing");
			return SMTPD_END_DROPPED;
		}
		/* a client that has not said HELO/EHLO yet gets less patience */
		io_set_timeout(s->io, (s->state == SMTPD_S_CONNECTED && s->conf->greet_timeout > 0 ?
		    s->conf->greet_timeout : s->conf->cmd_timeout) * 1000);
		if ((io_pending(s->io) == 0 || s->io->wbuf.len > SMTPD_REPLY_BACKLOG_MAX) &&
		    io_flush(s->io, &err) != IO_OK) {
			log_info("%s: %s: write failed: %s", s->id, s->peer_ip, err.msg);
			return SMTPD_END_IOERR;
		}
		ir = io_read_line(s->io, SMTPD_CMD_MAX, &line, &len, &err);
		if (ir == IO_TOOLONG) {
			reply(s, 500, "5.5.2 command line longer than %d octets", SMTPD_CMD_MAX);
			continue;
		}
		if (ir == IO_EOF)
			return SMTPD_END_EOF;
		if (ir == IO_TIMEOUT) {
			drop(s, 421, "4.4.2 timeout: closing");
			return SMTPD_END_TIMEOUT;
		}
		if (ir != IO_OK)
			return SMTPD_END_IOERR;
		smtpd_parse_cmd(line, len, &c);
		switch (c.lerr) {
		case SMTPD_L_OK:
			break;
		case SMTPD_L_NUL:
			reply(s, 500, "5.5.2 NUL byte in command");
			continue;
		case SMTPD_L_BARE_LF:
			reply(s, 500, "5.5.2 command must end in CRLF, not a bare LF");
			continue;
		case SMTPD_L_BARE_CR:
			reply(s, 500, "5.5.2 bare CR in command");
			continue;
		case SMTPD_L_NOEOL:
			return SMTPD_END_EOF;
		}
		if (!s->esmtp && c.verb != SMTPD_V_QUIT && io_pending(s->io) > 0 && s->conf->trace)
			smtpd_trace(s, "client pipelines without PIPELINING offered: dropped unless --test");
		else if (!s->esmtp && c.verb != SMTPD_V_QUIT && io_pending(s->io) > 0) {
			log_info("%s: %s: pipelining without PIPELINING offered", s->id, s->peer_ip);
			drop(s, 554, "5.5.0 pipelining was not offered: closing");
			return SMTPD_END_DROPPED;
		}
		st = dispatch(s, &c);
		if (st == STEP_QUIT) {
			(void)io_flush(s->io, NULL);
			return SMTPD_END_QUIT;
		}
		if (st != STEP_NEXT)
			return end_of(st);
	}
}
