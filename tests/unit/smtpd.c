/*
 * Unit tests of lib/smtpd linked directly: the command parser, the MAIL
 * parameter parser, the DATA dot machine, and the session state machine
 * run over a socketpair in a forked child whose hooks report what they
 * saw in their replies, so every assertion is about bytes on the wire.
 */
#include "tap.h"
#include "log.h"
#include "smtpd.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000       /* a reply that takes longer than this is missing */

/* ---- pure half ---- */

static void test_parse_cmd(void)
{
	struct smtpd_cmd c;

	smtpd_parse_cmd("mail FROM:<a@b.c>  \r\n", 21, &c);
	is_int(c.lerr, SMTPD_L_OK, "parse: CRLF line ok");
	is_int(c.verb, SMTPD_V_MAIL, "parse: verb case-insensitive");
	is_str(c.arg, "FROM:<a@b.c>", "parse: argument, trailing blanks cut");
	ok(c.has_arg, "parse: has_arg");
	smtpd_parse_cmd("QUIT\r\n", 6, &c);
	ok(c.verb == SMTPD_V_QUIT && !c.has_arg && c.arglen == 0, "parse: QUIT without argument");
	smtpd_parse_cmd("STARTTLSX\r\n", 11, &c);
	is_int(c.verb, SMTPD_V_UNKNOWN, "parse: a verb prefix is not the verb");
	smtpd_parse_cmd("NOOP\n", 5, &c);
	is_int(c.lerr, SMTPD_L_BARE_LF, "parse: bare LF at the end");
	smtpd_parse_cmd("NOOP\rRSET\r\n", 11, &c);
	is_int(c.lerr, SMTPD_L_BARE_CR, "parse: bare CR inside");
	smtpd_parse_cmd("NO\nOP\r\n", 7, &c);
	is_int(c.lerr, SMTPD_L_BARE_LF, "parse: bare LF inside");
	smtpd_parse_cmd("NO\0OP\r\n", 7, &c);
	is_int(c.lerr, SMTPD_L_NUL, "parse: NUL");
	smtpd_parse_cmd("NOOP", 4, &c);
	is_int(c.lerr, SMTPD_L_NOEOL, "parse: no line end");
	smtpd_parse_cmd("\r\n", 2, &c);
	ok(c.lerr == SMTPD_L_OK && c.verb == SMTPD_V_UNKNOWN, "parse: empty line is an unknown verb");
	smtpd_parse_cmd("BDAT 10 LAST\r\n", 14, &c);
	is_int(c.verb, SMTPD_V_BDAT, "parse: BDAT recognised (to be refused)");
	is_str(smtpd_verb_name(SMTPD_V_STARTTLS), "STARTTLS", "verb name");
}

static void test_mail_params(void)
{
	struct smtpd_mail_params p;
	struct mm_err e;

	ok(smtpd_parse_mail_params("", &p, &e) == 0 && !p.has_size, "params: none");
	ok(smtpd_parse_mail_params(" SIZE=1000 body=8bitmime SMTPUTF8", &p, &e) == 0 && p.has_size &&
	    p.size == 1000 && p.body_8bit && p.smtputf8, "params: SIZE, BODY, SMTPUTF8");
	ok(smtpd_parse_mail_params(" SIZE=99999999999999999999999", &p, &e) == 0 &&
	    p.size == ~0ULL, "params: SIZE overflow saturates (refused later as oversize)");
	ok(smtpd_parse_mail_params(" SIZE=-1", &p, &e) < 0 && e.code == 501, "params: SIZE=-1: 501");
	ok(smtpd_parse_mail_params(" SIZE=", &p, &e) < 0 && e.code == 501, "params: SIZE= empty: 501");
	ok(smtpd_parse_mail_params(" BODY=BINARYMIME", &p, &e) < 0 && e.code == 501,
	    "params: BODY=BINARYMIME: 501");
	ok(smtpd_parse_mail_params(" RET=FULL", &p, &e) < 0 && e.code == 555,
	    "params: DSN's RET= (not offered): 555");
	ok(smtpd_parse_mail_params(" SMTPUTF8=yes", &p, &e) < 0 && e.code == 555,
	    "params: SMTPUTF8 takes no value: 555");
}

/* Feed s to a fresh machine in chunks of step bytes; out gets the message. */
static size_t dot_run(const char *s, size_t n, size_t step, size_t max, int norm,
    struct smtpd_dot *d, struct buf *out)
{
	size_t used = 0;

	smtpd_dot_init(d, max, norm);
	buf_reset(out);
	while (used < n && !d->done) {
		size_t k = n - used < step ? n - used : step;
		used += smtpd_dot_feed(d, s + used, k, out);
	}
	return used;
}

static int buf_is(const struct buf *b, const char *want)
{
	return b->len == strlen(want) && !memcmp(b->data, want, b->len);
}

static void test_dot(void)
{
	static const char *const ends[] = { "\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n", "\r\n.\r", "\r.\r\n" };
	struct smtpd_dot d;
	struct buf out;
	const char *m = "Subject: x\r\n\r\n..stuffed\r\n.\r\nMAIL FROM:<a@b.c>\r\n";
	size_t used;

	buf_init(&out);
	for (size_t step = 1; step <= 7; step += 3) {
		used = dot_run(m, strlen(m), step, 1000, 0, &d, &out);
		ok(d.done && used == strlen("Subject: x\r\n\r\n..stuffed\r\n.\r\n"),
		    "dot (chunks of %zu): ends at CRLF.CRLF, the rest is left", step);
		ok(buf_is(&out, "Subject: x\r\n\r\n.stuffed\r\n"), "dot (chunks of %zu): unstuffed", step);
	}
	for (size_t i = 0; i < MM_NELEM(ends); i++) {
		char s[128];
		int n = snprintf(s, sizeof s, "a%sMAIL FROM:<e@f.g>\r\n", ends[i]);
		dot_run(s, (size_t)n, 1, 1000, 0, &d, &out);
		ok(!d.done && (d.flags & (SMTPD_DOT_BARE_CR | SMTPD_DOT_BARE_LF)),
		    "dot: smuggling end #%zu is content, flagged bare CR/LF", i + 1);
		dot_run(s, (size_t)n, 5, 1000, 1, &d, &out);
		ok(!d.done, "dot: smuggling end #%zu is no end with --bare-eol normalise either", i + 1);
	}
	dot_run("a\nb\r\n.\r\n", 8, 3, 1000, 1, &d, &out);
	ok(d.done && buf_is(&out, "a\r\nb\r\n"), "dot: normalise turns a bare LF into CRLF");
	dot_run("a\0b\r\n.\r\n", 8, 8, 1000, 0, &d, &out);
	ok(d.done && (d.flags & SMTPD_DOT_NUL), "dot: NUL flagged");
	dot_run(".\r\n", 3, 1, 1000, 0, &d, &out);
	ok(d.done && out.len == 0, "dot: empty message");
	dot_run("0123456789\r\n.\r\n", 15, 4, 5, 0, &d, &out);
	ok(d.done && (d.flags & SMTPD_DOT_TOOBIG) && out.len <= 5 && d.total == 12,
	    "dot: over max only counts (total %llu)", (unsigned long long)d.total);
	for (int len = 998; len <= 999; len++) {
		struct buf big;
		buf_init(&big);
		for (int i = 0; i < len; i++)
			buf_append(&big, "x", 1);
		buf_puts(&big, "\r\n.\r\n");
		dot_run(big.data, big.len, 64, 1 << 20, 0, &d, &out);
		ok(d.done && !!(d.flags & SMTPD_DOT_LONGLINE) == (len > 998),
		    "dot: %d-octet line %s", len, len > 998 ? "flagged" : "fine");
		buf_free(&big);
	}
	buf_free(&out);
}

/* ---- the session, over a socketpair ---- */

struct counters {
	int helo, mail, rcpt, data, reset, connect;
};
static struct counters cnt;

/* A hook's verdict: refuse with this reply when cond holds. */
static int refuse_if(int cond, struct smtpd_reply *r, int code, const char *text)
{
	if (!cond)
		return 0;
	smtpd_reply_set(r, code, "%s", text);
	return -1;
}

static int h_connect(void *ctx, struct smtpd *s, struct smtpd_reply *r)
{
	cnt.connect++;
	return refuse_if(!strcmp(s->peer_ip, "192.0.2.66"), r, 554, "5.7.1 go away");
}

static int h_helo(void *ctx, struct smtpd *s, struct smtpd_reply *r)
{
	cnt.helo++;
	return refuse_if(!strcmp(s->helo, "bad.example"), r, 550, "5.7.1 not you");
}

static int h_mail(void *ctx, struct smtpd *s, struct smtpd_reply *r)
{
	cnt.mail++;
	return refuse_if(!s->mail_null && !strcmp(s->mail.domain, "refused.example"), r, 550,
	    "5.7.23 sender refused by hook");
}

static int h_rcpt(void *ctx, struct smtpd *s, struct smtpd_rcpt *rc, struct smtpd_reply *r)
{
	cnt.rcpt++;
	if (!strcmp(rc->addr.local, "nobody")) {
		smtpd_reply_set(r, 550, "5.1.1 <nobody@%s>: no such mailbox", rc->addr.domain);
		return -1;
	}
	return 0;
}

/* Reports the message it got, printable, so the test sees exact bytes. */
static int h_data(void *ctx, struct smtpd *s, const struct buf *msg, struct smtpd_reply *r)
{
	char shown[200];
	size_t o = 0;

	cnt.data++;
	for (size_t i = 0; i < msg->len && o + 3 < sizeof shown; i++) {
		char c = msg->data[i];
		if (c == '\r') { shown[o++] = '\\'; shown[o++] = 'r'; }
		else if (c == '\n') { shown[o++] = '\\'; shown[o++] = 'n'; }
		else shown[o++] = c;
	}
	shown[o] = '\0';
	smtpd_reply_set(r, 250, "2.0.0 got %zu rcpt %zu: %s", msg->len, s->nrcpt, shown);
	return 0;
}

static void h_reset(void *ctx, struct smtpd *s)
{
	cnt.reset++;
}

static const struct smtpd_hooks hooks = {
	.connect = h_connect, .helo = h_helo, .mail = h_mail, .rcpt = h_rcpt,
	.data = h_data, .reset = h_reset,
};

struct sess {
	pid_t pid;
	int fd;             /* the client's end */
	int cfd;            /* counters from the child */
	char buf[1 << 16];
	size_t len;
};

static void sess_start(struct sess *t, const struct smtpd_conf *conf, const char *peer)
{
	int sv[2], cp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe(cp) < 0)
		abort();
	t->len = 0;
	t->pid = fork();
	if (t->pid < 0)
		abort();
	if (t->pid == 0) {
		struct io io;
		struct smtpd s;
		enum smtpd_end e;

		close(sv[0]);
		close(cp[0]);
		memset(&cnt, 0, sizeof cnt);
		io_init(&io, sv[1], sv[1], conf->cmd_timeout * 1000);
		smtpd_init(&s, conf, &io, peer, &hooks, NULL);
		e = smtpd_run(&s);
		(void)io_flush(&io, NULL);
		smtpd_free(&s);
		io_close(&io);
		if (write(cp[1], &cnt, sizeof cnt) != (ssize_t)sizeof cnt)
			_exit(100);
		_exit((int)e);
	}
	close(sv[1]);
	close(cp[1]);
	t->fd = sv[0];
	t->cfd = cp[0];
}

/* Read until n more final reply lines ("ddd " ...) or EOF; returns what
 * arrived since the call. */
static const char *sess_read(struct sess *t, int n)
{
	size_t start = t->len;
	int finals = 0;
	size_t scan = start;

	while (finals < n) {
		struct pollfd p = { .fd = t->fd, .events = POLLIN };
		ssize_t k;

		if (poll(&p, 1, WAIT_MS) <= 0)
			break;
		k = read(t->fd, t->buf + t->len, sizeof t->buf - 1 - t->len);
		if (k <= 0)
			break;
		t->len += (size_t)k;
		t->buf[t->len] = '\0';
		for (char *nl; (nl = strchr(t->buf + scan, '\n')); scan = (size_t)(nl - t->buf) + 1)
			if (nl - (t->buf + scan) >= 4 && t->buf[scan + 3] == ' ')
				finals++;
	}
	t->buf[t->len] = '\0';
	return t->buf + start;
}

static const char *sess_send(struct sess *t, const char *s, size_t n, int replies)
{
	if (write(t->fd, s, n) != (ssize_t)n) {
		printf("# write to the session failed: %s\n", strerror(errno));
		fflush(stdout);
		abort();
	}
	return sess_read(t, replies);
}
#define SEND(t, lit, k) sess_send((t), (lit), sizeof(lit) - 1, (k))

static int sess_end(struct sess *t, struct counters *c)
{
	int st;

	close(t->fd);
	if (read(t->cfd, c, sizeof *c) != (ssize_t)sizeof *c)
		memset(c, -1, sizeof *c);
	close(t->cfd);
	if (waitpid(t->pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int has(const char *got, const char *want, const char *name)
{
	int c = got && strstr(got, want) != NULL;

	ok(c, "%s", name);
	if (!c)
		printf("#   got: '%s'\n#  want substring: '%s'\n", got ? got : "(null)", want);
	return c;
}

static void conf_default(struct smtpd_conf *c)
{
	memset(c, 0, sizeof *c);
	c->hostname = "mx.test.example";
	c->max_size = 1000;
	c->max_rcpt = 3;
	c->max_errors = 10;
	c->cmd_timeout = 10;
	c->data_timeout = 10;
}

static void test_session(void)
{
	struct smtpd_conf conf;
	struct sess t;
	struct counters c;
	int e;

	conf_default(&conf);
	conf.max_errors = 100;    /* this session makes many on purpose */

	/* the ordinary path, sequence errors, hooks, RSET */
	sess_start(&t, &conf, "192.0.2.1");
	has(sess_read(&t, 1), "220 mx.test.example ESMTP", "session: banner");
	has(SEND(&t, "MAIL FROM:<a@b.example>\r\n", 1), "503 5.5.1 say HELO or EHLO first", "MAIL before EHLO: 503");
	has(SEND(&t, "EHLO client.example\r\n", 1), "250-PIPELINING\r\n250-SIZE 1000\r\n", "EHLO: PIPELINING, SIZE from conf");
	has(t.buf, "250 HELP\r\n", "EHLO: last line");
	ok(!strstr(t.buf, "STARTTLS"), "no STARTTLS without a TLS context");
	has(SEND(&t, "RCPT TO:<me@d.example>\r\n", 1), "503 5.5.1 RCPT needs MAIL first", "RCPT before MAIL: 503");
	has(SEND(&t, "DATA\r\n", 1), "503 5.5.1 DATA needs MAIL and RCPT first", "DATA before MAIL: 503");
	has(SEND(&t, "MAIL FROM:<a@refused.example>\r\n", 1), "550 5.7.23 sender refused by hook", "mail hook refusal passed on");
	has(SEND(&t, "RCPT TO:<me@d.example>\r\n", 1), "503 5.5.1 RCPT needs MAIL first", "a refused MAIL opens no transaction");
	has(SEND(&t, "MAIL FROM:<a@b.example> SIZE=1001\r\n", 1), "552 5.3.4 message size exceeds the limit of 1000", "SIZE over max_size: 552");
	has(SEND(&t, "MAIL FROM:<a@b.example> SIZE=1000\r\n", 1), "250 2.1.0 <a@b.example>: sender ok", "MAIL: 250");
	has(SEND(&t, "MAIL FROM:<c@b.example>\r\n", 1), "503 5.5.1 nested MAIL command", "second MAIL: 503");
	has(SEND(&t, "DATA\r\n", 1), "554 5.5.1 no valid recipients", "DATA without RCPT: 554");
	has(SEND(&t, "RCPT TO:<nobody@d.example>\r\n", 1), "550 5.1.1 <nobody@d.example>: no such mailbox", "rcpt hook refusal");
	has(SEND(&t, "RCPT TO:<me@d.example> NOTIFY=NEVER\r\n", 1), "555 5.5.4 <me@d.example>: RCPT parameters", "RCPT parameters: 555");
	has(SEND(&t, "RCPT TO:<Me@D.Example>\r\n", 1), "250 2.1.5 <me@d.example>: recipient ok", "RCPT lowercased: 250");
	has(SEND(&t, "DATA x\r\n", 1), "501 5.5.4 DATA takes no argument", "DATA with an argument: 501");
	has(SEND(&t, "DATA\r\n", 1), "354 ", "DATA: 354");
	has(SEND(&t, "Subject: s\r\n\r\n..dot\r\n.\r\n", 1), "250 2.0.0 got 20 rcpt 1: Subject: s\\r\\n\\r\\n.dot\\r\\n", "data hook gets the unstuffed message");
	has(SEND(&t, "RCPT TO:<me@d.example>\r\n", 1), "503 5.5.1 RCPT needs MAIL first", "after DATA the transaction is closed");
	SEND(&t, "MAIL FROM:<>\r\n", 1);
	has(SEND(&t, "RCPT TO:<a@d.example>\r\nRCPT TO:<b@d.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<x@d.example>\r\n", 4),
	    "452 4.5.3 too many recipients (at most 3", "max_rcpt: the fourth gets 452");
	has(SEND(&t, "RSET\r\n", 1), "250 2.0.0 reset", "RSET: 250");
	has(SEND(&t, "RCPT TO:<me@d.example>\r\n", 1), "503 5.5.1 RCPT needs MAIL first", "RSET closes the transaction");
	has(SEND(&t, "VRFY me\r\n", 1), "252 2.5.0", "VRFY: 252");
	has(SEND(&t, "EXPN list\r\n", 1), "502 5.5.1 EXPN", "EXPN: 502");
	has(SEND(&t, "BDAT 4 LAST\r\n", 1), "502 5.5.1 BDAT is not offered", "BDAT: 502");
	has(SEND(&t, "AUTH PLAIN\r\n", 1), "502 5.5.1 AUTH is not offered", "AUTH: 502");
	has(SEND(&t, "STARTTLS\r\n", 1), "502 5.5.1 STARTTLS is not offered", "STARTTLS without TLS: 502");
	has(SEND(&t, "HELP\r\n", 1), "214 2.0.0 commands", "HELP: 214");
	has(SEND(&t, "FOO\r\n", 1), "500 5.5.2 command not recognised", "unknown verb: 500");
	has(SEND(&t, "EHLO\r\n", 1), "501 5.5.4 EHLO needs an argument", "EHLO without a name: 501");
	has(SEND(&t, "HELO bad.example\r\n", 1), "550 5.7.1 not you", "helo hook refusal");
	has(SEND(&t, "MAIL FROM:<a@b.example>\r\n", 1), "503 5.5.1 say HELO or EHLO first", "a refused HELO leaves the client ungreeted");
	has(SEND(&t, "QUIT\r\n", 1), "221 2.0.0 mx.test.example closing", "QUIT: 221");
	e = sess_end(&t, &c);
	is_int(e, SMTPD_END_QUIT, "session ends with QUIT");
	ok(c.connect == 1 && c.data == 1 && c.rcpt == 5 && c.mail == 3 && c.helo == 2,
	    "hooks called once per event (connect %d, helo %d, mail %d, rcpt %d, data %d)",
	    c.connect, c.helo, c.mail, c.rcpt, c.data);
	ok(c.reset >= 2, "reset hook at the end of each transaction (%d)", c.reset);

	conf.max_errors = 10;

	/* pipelining: fine after EHLO, dropped after HELO */
	sess_start(&t, &conf, "192.0.2.1");
	sess_read(&t, 1);
	has(SEND(&t, "EHLO c.example\r\n", 1), "250 HELP", "EHLO");
	has(SEND(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<me@d.example>\r\nNOOP\r\n", 3),
	    "250 2.0.0 OK", "after the EHLO reply, pipelined commands are all answered");
	has(SEND(&t, "DATA\r\nSubject: early\r\n\r\n.\r\n", 1), "554 5.5.0 data sent before the 354", "data before 354: dropped");
	is_int(sess_end(&t, &c), SMTPD_END_DROPPED, "and the session is dropped");
	is_int(c.data, 0, "data hook never called");
	sess_start(&t, &conf, "192.0.2.1");
	sess_read(&t, 1);
	SEND(&t, "HELO c.example\r\n", 1);
	has(SEND(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<me@d.example>\r\n", 1), "554 5.5.0 pipelining was not offered", "HELO then pipelining: 554");
	is_int(sess_end(&t, &c), SMTPD_END_DROPPED, "and dropped");
	is_int(c.mail, 0, "the pipelined MAIL never reached the hook");
	sess_start(&t, &conf, "192.0.2.1");
	sess_read(&t, 1);
	has(SEND(&t, "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n", 1), "554 5.5.0 pipelining was not offered",
	    "MAIL pipelined behind EHLO (before PIPELINING was offered): 554");
	is_int(sess_end(&t, &c), SMTPD_END_DROPPED, "and dropped");

	/* line hygiene, errors, EOF */
	conf.max_errors = 4;
	sess_start(&t, &conf, "192.0.2.1");
	sess_read(&t, 1);
	has(SEND(&t, "NOOP\n", 1), "500 5.5.2 command must end in CRLF", "bare LF: 500");
	has(SEND(&t, "NO\rOP\r\n", 1), "500 5.5.2 bare CR in command", "bare CR: 500");
	{
		char line[SMTPD_CMD_MAX + 8];
		memset(line, 'x', sizeof line);
		memcpy(line, "NOOP ", 5);
		memcpy(line + SMTPD_CMD_MAX - 1, "\r\n", 2);   /* 513 octets */
		has(sess_send(&t, line, SMTPD_CMD_MAX + 1, 1), "500 5.5.2 command line longer than 512", "513 octets: 500");
		memcpy(line + SMTPD_CMD_MAX - 2, "\r\n", 2);   /* 512 octets */
		has(sess_send(&t, line, SMTPD_CMD_MAX, 1), "250 2.0.0 OK", "512 octets: fine");
	}
	has(SEND(&t, "FOO\r\n", 2), "421 4.7.0 too many errors", "max_errors: 421");
	is_int(sess_end(&t, &c), SMTPD_END_DROPPED, "too many errors: dropped");
	conf.max_errors = 10;
	sess_start(&t, &conf, "192.0.2.1");
	sess_read(&t, 1);
	SEND(&t, "EHLO c.example\r\n", 1);
	SEND(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<me@d.example>\r\nDATA\r\n", 3);
	SEND(&t, "Subject: cut\r\n\r\nhalf", 0);
	shutdown(t.fd, SHUT_WR);
	sess_read(&t, 1);
	is_int(sess_end(&t, &c), SMTPD_END_EOF, "EOF in DATA: the client went away");
	ok(c.data == 0 && c.reset == 1, "no data hook, transaction reset");

	/* a hook refusing the connection; pregreet */
	sess_start(&t, &conf, "192.0.2.66");
	has(sess_read(&t, 1), "554 5.7.1 go away", "connect hook refusal instead of the banner");
	ok(!strstr(t.buf, "220"), "no banner");
	is_int(sess_end(&t, &c), SMTPD_END_DROPPED, "dropped");
	conf.greet_delay = 1;     /* the child waits; we talk at once */
	sess_start(&t, &conf, "192.0.2.1");
	if (write(t.fd, "EHLO early\r\n", 12) != 12)
		abort();
	has(sess_read(&t, 1), "554 5.5.0 you talked before the banner", "pregreet: 554");
	is_int(sess_end(&t, &c), SMTPD_END_DROPPED, "pregreet: dropped");
	is_int(c.connect, 0, "pregreet: connect hook never ran");
	conf.greet_delay = 0;

	/* the command timeout */
	conf.cmd_timeout = 1;
	sess_start(&t, &conf, "192.0.2.1");
	sess_read(&t, 1);
	has(SEND(&t, "EHLO c.example\r\n", 1), "250 HELP", "greeted");
	has(sess_read(&t, 1), "421 4.4.2 timeout", "silent client: 421 4.4.2");
	is_int(sess_end(&t, &c), SMTPD_END_TIMEOUT, "ends as a timeout");
	/* the greeting timeout: shorter than the command timeout, which would
	 * outlast our read (WAIT_MS), so only the greeting timeout can answer */
	conf.cmd_timeout = 3 * WAIT_MS / 1000;
	conf.greet_timeout = 1;
	sess_start(&t, &conf, "192.0.2.1");
	sess_read(&t, 1);
	has(sess_read(&t, 1), "421 4.4.2 timeout", "no HELO within greet_timeout: 421 4.4.2");
	is_int(sess_end(&t, &c), SMTPD_END_TIMEOUT, "ends as a timeout");
	/* the data timeout */
	conf.cmd_timeout = 10;
	conf.greet_timeout = 0;
	conf.data_timeout = 1;
	sess_start(&t, &conf, "192.0.2.1");
	sess_read(&t, 1);
	SEND(&t, "EHLO c.example\r\n", 1);
	has(SEND(&t, "MAIL FROM:<a@b.example>\r\nRCPT TO:<me@d.example>\r\nDATA\r\n", 3), "354 ", "DATA");
	has(SEND(&t, "Subject: slow\r\n", 1), "421 4.4.2 timeout waiting for data", "data stops: 421 4.4.2");
	is_int(sess_end(&t, &c), SMTPD_END_TIMEOUT, "ends as a timeout");
	is_int(c.data, 0, "nothing handed to the data hook");
}

int main(void)
{
	log_init("smtpd-test", LOG_DEST_NONE);
	signal(SIGPIPE, SIG_IGN);
	test_parse_cmd();
	test_mail_params();
	test_dot();
	test_session();
	return done_testing();
}
