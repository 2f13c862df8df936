/*
 * smtpc — SMTP client (see smtpc.h).
 *
 * Why replies are read byte by byte from io's buffer rather than with
 * io_read_line: io_read_line reads an over-long line through to its end,
 * which a server sending an endless line would turn into an endless read;
 * here the first byte past a bound ends the session.
 */
#include "smtpc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/crypto.h>

void smtpc_reply_init(struct smtpc_reply *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->text);
}

void smtpc_reply_free(struct smtpc_reply *r)
{
	buf_free(&r->text);
}

static int isdig(char c) { return c >= '0' && c <= '9'; }

int smtpc_reply_add(struct smtpc_reply *r, const char *line, size_t len, struct mm_err *err)
{
	int code, last;

	if (len > SMTPC_LINE_MAX)
		return err_set(err, "reply line longer than %d octets", SMTPC_LINE_MAX);
	if (r->nlines >= SMTPC_REPLY_LINES_MAX)
		return err_set(err, "reply of more than %d lines", SMTPC_REPLY_LINES_MAX);
	if (r->bytes + len > SMTPC_REPLY_BYTES_MAX)
		return err_set(err, "reply longer than %d octets", SMTPC_REPLY_BYTES_MAX);
	r->bytes += len;
	if (len && line[len - 1] == '\n')
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	if (len < 3 || !isdig(line[0]) || !isdig(line[1]) || !isdig(line[2]) ||
	    line[0] < '2' || line[0] > '5')
		return err_set(err, "malformed reply line \"%.*s\"", (int)(len > 40 ? 40 : len), line);
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return err_set(err, "malformed reply line \"%.*s\"", (int)(len > 40 ? 40 : len), line);
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines && code != r->code)
		return err_set(err, "reply lines with different codes (%d, %d)", r->code, code);
	r->code = code;
	last = len == 3 || line[3] == ' ';
	if (r->nlines)
		buf_putc(&r->text, '\n');
	if (len > 4)
		buf_append(&r->text, line + 4, len - 4);
	else if (!r->text.data)
		buf_puts(&r->text, "");
	r->nlines++;
	return last;
}

void smtpc_reply_summary(const struct smtpc_reply *r, char *out, size_t outsz)
{
	size_t o = 0;
	int n = snprintf(out, outsz, "%d ", r->code);

	if (n < 0 || (size_t)n >= outsz)
		return;
	o = (size_t)n;
	for (size_t i = 0; i < r->text.len && o + 1 < outsz; i++) {
		unsigned char ch = (unsigned char)r->text.data[i];
		out[o++] = ch == '\n' ? ' ' : (ch < 32 || ch == 127) ? '?' : (char)ch;
	}
	out[o] = 0;
}

void smtpc_init(struct smtpc *c, int rfd, int wfd, const char *host, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	io_init(&c->io, rfd, wfd, timeout_ms > 0 ? timeout_ms : SMTPC_TIMEOUT_MS);
	/* the host is the TLS name to check: one that does not fit is kept for
	 * messages (cut visibly) and STARTTLS refuses to use it */
	if (snprintf_ok(c->host, sizeof(c->host), "%s", host ? host : "") < 0) {
		str_trunc(c->host, sizeof(c->host), "%s", host);
		c->host_cut = 1;
	}
}

void smtpc_close(struct smtpc *c)
{
	io_close(&c->io);
}

static void vlog(struct smtpc *c, const char *dir, const char *s, size_t n)
{
	if (!c->verbose)
		return;
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	fprintf(stderr, "%s %.*s\n", dir, (int)(n > 300 ? 300 : n), s);
}

int smtpc_read_reply(struct smtpc *c, struct smtpc_reply *r, struct mm_err *err)
{
	char line[SMTPC_LINE_MAX + 1];
	size_t n = 0;

	smtpc_reply_free(r);
	smtpc_reply_init(r);
	for (;;) {
		char ch;
		size_t got;
		enum io_result ir = io_read(&c->io, &ch, 1, &got, err);

		if (ir == IO_EOF)
			return err_set(err, "%s: connection closed", c->host);
		if (ir == IO_TIMEOUT)
			return err_set(err, "%s: timeout waiting for a reply", c->host);
		if (ir != IO_OK)
			return err_wrap(err, "%s", c->host);
		if (n >= SMTPC_LINE_MAX)
			return err_set(err, "%s: reply line longer than %d octets", c->host, SMTPC_LINE_MAX);
		line[n++] = ch;
		if (ch != '\n')
			continue;
		vlog(c, "<-", line, n);
		int d = smtpc_reply_add(r, line, n, err);
		if (d < 0)
			return err_wrap(err, "%s", c->host);
		if (d)
			return 0;
		n = 0;
	}
}

static enum smtpc_status status_of(int code)
{
	return code < 400 ? SMTPC_OK : code < 500 ? SMTPC_TEMP : SMTPC_PERM;
}

static int cmd(struct smtpc *c, const char *fmt, ...) MM_PRINTF(2, 3);
static int cmd(struct smtpc *c, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	vlog(c, "->", b.data, b.len);
	buf_puts(&b, "\r\n");
	io_write(&c->io, b.data, b.len);
	buf_free(&b);
	return 0;
}

/* flush + read a reply; -1 on failure (err set, TEMP) */
static int exchange(struct smtpc *c, struct smtpc_reply *r, struct mm_err *err)
{
	if (io_flush(&c->io, err) != IO_OK)
		return err_wrap(err, "%s: sending", c->host);
	return smtpc_read_reply(c, r, err);
}

static enum smtpc_status reply_err(struct smtpc *c, const char *what,
    const struct smtpc_reply *r, struct mm_err *err)
{
	char s[SMTPC_TEXT_MAX];

	smtpc_reply_summary(r, s, sizeof(s));
	err_set(err, "%s: %s: %s", c->host, what, s);
	if (err)
		err->code = r->code;
	return status_of(r->code);
}

void smtpc_parse_ehlo(struct smtpc *c, const struct smtpc_reply *r)
{
	const char *p = r->text.data, *end = p + r->text.len;

	c->ext = 0;
	c->size_max = 0;
	p = memchr(p, '\n', r->text.len);    /* skip the greeting line */
	while (p && p < end) {
		const char *l = p + 1;
		const char *e = memchr(l, '\n', (size_t)(end - l));
		size_t n = e ? (size_t)(e - l) : (size_t)(end - l);
		/* the whole line (reply lines are bounded by SMTPC_LINE_MAX): a cut
		 * one could turn "AUTH ... PLAINX" into "PLAIN" */
		char *kw = xstrndup(l, n);

		if (!ascii_strcasecmp(kw, "PIPELINING"))
			c->ext |= SMTPC_EXT_PIPELINING;
		else if (!ascii_strcasecmp(kw, "STARTTLS"))
			c->ext |= SMTPC_EXT_STARTTLS;
		else if (!ascii_strcasecmp(kw, "8BITMIME"))
			c->ext |= SMTPC_EXT_8BITMIME;
		else if (ascii_has_prefix_ci(kw, "SIZE")) {
			long long v;
			c->ext |= SMTPC_EXT_SIZE;
			if (kw[4] == ' ' && parse_long(kw + 5, 0, (long long)1 << 50, &v) == 0)
				c->size_max = (size_t)v;
		} else if (ascii_has_prefix_ci(kw, "AUTH ") || ascii_has_prefix_ci(kw, "AUTH=")) {
			for (char *t = strtok(kw + 5, " "); t; t = strtok(NULL, " ")) {
				if (!ascii_strcasecmp(t, "PLAIN"))
					c->ext |= SMTPC_EXT_AUTH_PLAIN;
				if (!ascii_strcasecmp(t, "LOGIN"))
					c->ext |= SMTPC_EXT_AUTH_LOGIN;
			}
		}
		free(kw);
		p = e;
	}
}

static enum smtpc_status ehlo(struct smtpc *c, const char *helo, struct mm_err *err)
{
	struct smtpc_reply r;
	enum smtpc_status st;

	smtpc_reply_init(&r);
	cmd(c, "EHLO %s", helo);
	if (exchange(c, &r, err) < 0) {
		smtpc_reply_free(&r);
		return SMTPC_TEMP;
	}
	if (r.code == 250) {
		smtpc_parse_ehlo(c, &r);
		smtpc_reply_free(&r);
		return SMTPC_OK;
	}
	if (r.code >= 500 && r.code < 510) {    /* EHLO not understood: HELO */
		cmd(c, "HELO %s", helo);
		if (exchange(c, &r, err) < 0) {
			smtpc_reply_free(&r);
			return SMTPC_TEMP;
		}
		c->ext = 0;
		if (r.code == 250) {
			smtpc_reply_free(&r);
			return SMTPC_OK;
		}
	}
	st = reply_err(c, "EHLO", &r, err);
	smtpc_reply_free(&r);
	return st;
}

enum smtpc_status smtpc_hello(struct smtpc *c, const char *helo, struct mm_err *err)
{
	struct smtpc_reply r;
	enum smtpc_status st;

	smtpc_reply_init(&r);
	if (smtpc_read_reply(c, &r, err) < 0) {
		smtpc_reply_free(&r);
		return SMTPC_TEMP;
	}
	if (r.code != 220) {
		st = reply_err(c, "greeting", &r, err);
		smtpc_reply_free(&r);
		return st == SMTPC_OK ? SMTPC_TEMP : st;
	}
	smtpc_reply_free(&r);
	return ehlo(c, helo, err);
}

enum smtpc_status smtpc_starttls(struct smtpc *c, SSL_CTX *ctx, int verify_host,
    const char *helo, struct mm_err *err)
{
	struct smtpc_reply r;
	enum smtpc_status st;

	if (c->host_cut) {
		err_set(err, "%s: host name longer than %zu octets: no TLS name to check", c->host,
		    sizeof(c->host) - 1);
		return SMTPC_TEMP;
	}
	smtpc_reply_init(&r);
	cmd(c, "STARTTLS");
	if (exchange(c, &r, err) < 0) {
		smtpc_reply_free(&r);
		return SMTPC_TEMP;
	}
	if (r.code != 220) {
		st = reply_err(c, "STARTTLS", &r, err);
		smtpc_reply_free(&r);
		return st == SMTPC_OK ? SMTPC_TEMP : SMTPC_TEMP;
	}
	smtpc_reply_free(&r);
	/* io drops whatever the server sent before the handshake */
	if (io_starttls_client(&c->io, ctx, c->host, verify_host, err) != IO_OK) {
		err_wrap(err, "%s: TLS", c->host);
		return SMTPC_TEMP;
	}
	return ehlo(c, helo, err);
}

enum smtpc_status smtpc_tls_now(struct smtpc *c, SSL_CTX *ctx, int verify_host,
    struct mm_err *err)
{
	if (io_starttls_client(&c->io, ctx, c->host, verify_host, err) != IO_OK) {
		err_wrap(err, "%s: TLS", c->host);
		return SMTPC_TEMP;
	}
	return SMTPC_OK;
}

enum smtpc_status smtpc_auth(struct smtpc *c, const char *user, const char *pass,
    struct mm_err *err)
{
	struct smtpc_reply r;
	enum smtpc_status st = SMTPC_OK;
	int saved = c->verbose;

	smtpc_reply_init(&r);
	if (c->ext & SMTPC_EXT_AUTH_PLAIN) {
		struct buf b;
		buf_init(&b);
		buf_putc(&b, 0);
		buf_puts(&b, user);
		buf_putc(&b, 0);
		buf_puts(&b, pass);
		char *s = base64_encode(b.data, b.len);
		OPENSSL_cleanse(b.data, b.len);
		buf_free(&b);
		c->verbose = 0;
		if (saved)
			fprintf(stderr, "-> AUTH PLAIN (credentials not shown)\n");
		cmd(c, "AUTH PLAIN %s", s);
		OPENSSL_cleanse(s, strlen(s));
		free(s);
		if (exchange(c, &r, err) < 0)
			st = SMTPC_TEMP;
	} else if (c->ext & SMTPC_EXT_AUTH_LOGIN) {
		char *u = base64_encode(user, strlen(user));
		char *p = base64_encode(pass, strlen(pass));
		c->verbose = 0;
		if (saved)
			fprintf(stderr, "-> AUTH LOGIN (credentials not shown)\n");
		cmd(c, "AUTH LOGIN");
		if (exchange(c, &r, err) < 0)
			st = SMTPC_TEMP;
		if (st == SMTPC_OK && r.code == 334) {
			cmd(c, "%s", u);
			if (exchange(c, &r, err) < 0)
				st = SMTPC_TEMP;
		}
		if (st == SMTPC_OK && r.code == 334) {
			cmd(c, "%s", p);
			if (exchange(c, &r, err) < 0)
				st = SMTPC_TEMP;
		}
		OPENSSL_cleanse(p, strlen(p));
		free(u);
		free(p);
	} else {
		c->verbose = saved;
		smtpc_reply_free(&r);
		err_set(err, "%s: the server offers no AUTH PLAIN or LOGIN", c->host);
		return SMTPC_PERM;
	}
	c->verbose = saved;
	if (st == SMTPC_OK && r.code != 235)
		st = reply_err(c, "AUTH", &r, err);
	smtpc_reply_free(&r);
	return st == SMTPC_OK ? SMTPC_OK : st;
}

/* Dot-stuff msg[from..to) onto out: a '.' that starts a line (at 0 or
 * after a LF, also one before from) is doubled.  Spans between such dots
 * are copied whole (memmem finds "\n."), not line by line. */
static void stuff_span(const char *msg, size_t from, size_t to, struct buf *out)
{
	size_t pos = from;

	if (pos < to && msg[pos] == '.' && (pos == 0 || msg[pos - 1] == '\n'))
		buf_putc(out, '.');
	while (pos < to) {
		const char *d = memmem(msg + pos, to - pos, "\n.", 2);
		size_t end = d ? (size_t)(d - msg) + 1 : to;   /* just after the LF */

		buf_append(out, msg + pos, end - pos);
		if (d)
			buf_putc(out, '.');
		pos = end;
	}
}

/* the end of the data: CRLF if the message lacks one, then "." */
static void stuff_end(const char *msg, size_t len, struct buf *out)
{
	if (len && msg[len - 1] != '\n')
		buf_puts(out, "\r\n");
	buf_puts(out, ".\r\n");
}

void smtpc_dot_stuff(const char *msg, size_t len, struct buf *out)
{
	buf_reserve(out, len + len / 64 + 8);
	stuff_span(msg, 0, len, out);
	stuff_end(msg, len, out);
}

static void set_text(char dst[SMTPC_TEXT_MAX], const char *src)
{
	size_t n = strlen(src);

	if (n >= SMTPC_TEXT_MAX)
		n = SMTPC_TEXT_MAX - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static int has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] & 0x80)
			return 1;
	return 0;
}

enum smtpc_status smtpc_send(struct smtpc *c, const char *from, struct smtpc_rcpt *rcpts,
    size_t n, const char *msg, size_t len, struct mm_err *err)
{
	struct smtpc_reply r;
	struct buf params;
	int pipe = (c->ext & SMTPC_EXT_PIPELINING) != 0;
	size_t accepted = 0;
	enum smtpc_status st = SMTPC_OK, worst_rcpt = SMTPC_PERM;
	char first_err[MM_ERR_MAX] = "";

	smtpc_reply_init(&r);
	buf_init(&params);
	if ((c->ext & SMTPC_EXT_SIZE))
		buf_printf(&params, " SIZE=%zu", len);
	if ((c->ext & SMTPC_EXT_8BITMIME) && has_8bit(msg, len))
		buf_puts(&params, " BODY=8BITMIME");
	if (c->size_max && len > c->size_max) {
		buf_free(&params);
		for (size_t i = 0; i < n; i++) {
			rcpts[i].st = SMTPC_PERM;
			str_trunc(rcpts[i].text, sizeof(rcpts[i].text), "message of %zu octets over the server's SIZE %zu",
			    len, c->size_max);
		}
		err_set(err, "%s: message of %zu octets over the server's limit of %zu", c->host, len,
		    c->size_max);
		return SMTPC_PERM;
	}
	cmd(c, "MAIL FROM:<%s>%s", from, params.data ? params.data : "");
	buf_free(&params);
	if (!pipe) {
		if (exchange(c, &r, err) < 0)
			goto temp;
		if (r.code != 250)
			goto mailfail;
	}
	for (size_t i = 0; i < n; i++) {
		cmd(c, "RCPT TO:<%s>", rcpts[i].addr);
		if (!pipe) {
			if (exchange(c, &r, err) < 0)
				goto temp;
			rcpts[i].st = status_of(r.code == 250 || r.code == 251 ? 200 : r.code);
			smtpc_reply_summary(&r, rcpts[i].text, sizeof(rcpts[i].text));
			if (rcpts[i].st == SMTPC_OK)
				accepted++;
		}
	}
	if (pipe) {
		cmd(c, "DATA");
		if (exchange(c, &r, err) < 0)
			goto temp;
		if (r.code != 250) {
			/* read and drop the RCPT and DATA replies */
			for (size_t i = 0; i < n + 1; i++)
				if (smtpc_read_reply(c, &r, err) < 0)
					break;
			goto mailfail_after;
		}
		for (size_t i = 0; i < n; i++) {
			if (smtpc_read_reply(c, &r, err) < 0)
				goto temp;
			rcpts[i].st = status_of(r.code == 250 || r.code == 251 ? 200 : r.code);
			smtpc_reply_summary(&r, rcpts[i].text, sizeof(rcpts[i].text));
			if (rcpts[i].st == SMTPC_OK)
				accepted++;
		}
		if (smtpc_read_reply(c, &r, err) < 0)   /* DATA */
			goto temp;
	} else if (accepted) {
		cmd(c, "DATA");
		if (exchange(c, &r, err) < 0)
			goto temp;
	}
	for (size_t i = 0; i < n; i++)
		if (rcpts[i].st == SMTPC_TEMP)
			worst_rcpt = SMTPC_TEMP;
	if (!accepted) {
		if (r.code == 354) {   /* pipelined DATA accepted with no recipient */
			io_puts(&c->io, ".\r\n");
			if (exchange(c, &r, err) < 0)
				goto temp;
		}
		for (size_t i = 0; i < n; i++)
			if (rcpts[i].st != SMTPC_OK) {
				str_trunc(first_err, sizeof(first_err), "%s", rcpts[i].text);
				break;
			}
		err_set(err, "%s: no recipient accepted: %s", c->host, first_err);
		smtpc_reply_free(&r);
		return worst_rcpt;
	}
	if (r.code != 354) {
		st = reply_err(c, "DATA", &r, err);
		goto datafail;
	}
	{
		/* dot-stuffed straight into the output buffer and sent a chunk
		 * at a time: no second copy of a large message in memory */
		size_t pos = 0, sent = 0;
		while (pos < len) {
			size_t to = len - pos > SMTPC_DATA_CHUNK ? pos + SMTPC_DATA_CHUNK : len;
			size_t before = c->io.wbuf.len;
			stuff_span(msg, pos, to, &c->io.wbuf);
			sent += c->io.wbuf.len - before;
			pos = to;
			if (pos < len && io_flush(&c->io, err) != IO_OK) {
				err_wrap(err, "%s: sending the message", c->host);
				goto temp;
			}
		}
		stuff_end(msg, len, &c->io.wbuf);
		if (c->verbose)
			fprintf(stderr, "-> (%zu octets of message)\n-> .\n", sent);
	}
	if (exchange(c, &r, err) < 0)
		goto temp;
	if (r.code != 250) {
		st = reply_err(c, "end of data", &r, err);
		goto datafail;
	}
	smtpc_reply_free(&r);
	return SMTPC_OK;

mailfail_after:
	if (r.code == 0)
		goto temp;
mailfail:
	st = reply_err(c, "MAIL FROM", &r, err);
datafail:
	if (st == SMTPC_OK)
		st = SMTPC_TEMP;
	for (size_t i = 0; i < n; i++)
		if (rcpts[i].st != SMTPC_PERM) {
			rcpts[i].st = st;
			set_text(rcpts[i].text, err ? err->msg : "");
		}
	smtpc_reply_free(&r);
	return st;
temp:
	for (size_t i = 0; i < n; i++) {
		rcpts[i].st = SMTPC_TEMP;
		set_text(rcpts[i].text, err ? err->msg : "");
	}
	smtpc_reply_free(&r);
	return SMTPC_TEMP;
}

void smtpc_quit(struct smtpc *c)
{
	struct smtpc_reply r;
	struct mm_err e;

	smtpc_reply_init(&r);
	io_set_timeout(&c->io, 5000);
	cmd(c, "QUIT");
	if (io_flush(&c->io, &e) == IO_OK)
		smtpc_read_reply(c, &r, &e);
	smtpc_reply_free(&r);
}

int smtpc_connect_tcp(const char *host, const char *port, int timeout_ms, int *fd,
    struct mm_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res, *ai;
	int e, last = 0;

	e = getaddrinfo(host, port, &hints, &res);
	if (e != 0)
		return err_set(err, "%s: %s", host, gai_strerror(e));
	for (ai = res; ai; ai = ai->ai_next) {
		int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
		if (s < 0) {
			last = errno;
			continue;
		}
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
			struct pollfd p = { .fd = s, .events = POLLOUT };
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			int pr;
			do
				pr = poll(&p, 1, timeout_ms);
			while (pr < 0 && errno == EINTR);
			if (pr == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
				fd_set_nonblock(s, 0);
				*fd = s;
				freeaddrinfo(res);
				return 0;
			}
			last = pr == 0 ? ETIMEDOUT : soerr ? soerr : errno;
		} else {
			last = errno;
		}
		close(s);
	}
	freeaddrinfo(res);
	errno = last;
	return err_sys(err, "connect to %s port %s", host, port);
}

int smtpc_spawn(char *const argv[], pid_t *pid, int *rfd, int *wfd, struct mm_err *err)
{
	int to[2], from[2], ex[2];
	pid_t p;

	if (pipe2(to, O_CLOEXEC) < 0)
		return err_sys(err, "pipe");
	if (pipe2(from, O_CLOEXEC) < 0) {
		close(to[0]);
		close(to[1]);
		return err_sys(err, "pipe");
	}
	if (pipe2(ex, O_CLOEXEC) < 0) {
		close(to[0]); close(to[1]); close(from[0]); close(from[1]);
		return err_sys(err, "pipe");
	}
	p = fork();
	if (p < 0) {
		close(to[0]); close(to[1]); close(from[0]); close(from[1]);
		close(ex[0]); close(ex[1]);
		return err_sys(err, "fork");
	}
	if (p == 0) {
		int e;
		signal(SIGPIPE, SIG_DFL);
		if (dup2(to[0], 0) < 0 || dup2(from[1], 1) < 0)
			_exit(127);
		execvp(argv[0], argv);
		e = errno;
		(void)!write(ex[1], &e, sizeof(e));
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	close(ex[1]);
	{
		int e = 0;
		ssize_t n;
		do
			n = read(ex[0], &e, sizeof(e));
		while (n < 0 && errno == EINTR);
		close(ex[0]);
		if (n == (ssize_t)sizeof(e)) {
			close(to[1]);
			close(from[0]);
			int stt;
			while (waitpid(p, &stt, 0) < 0 && errno == EINTR)
				;
			errno = e;
			return err_sys(err, "cannot run %s", argv[0]);
		}
	}
	*pid = p;
	*rfd = from[0];
	*wfd = to[1];
	return 0;
}
