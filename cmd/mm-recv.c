/*
 * mm-recv — the SMTP server: one session on stdin/stdout (inetd, ucspi-tcp
 * tcpserver, systemd Accept=yes, a plain pipe), or its own accept loop
 * (systemd Accept=no via LISTEN_FDS, or --listen ADDR:PORT) that forks a
 * child per connection.  The protocol is lib/smtpd, the MX policy and
 * delivery lib/mx, submit mode (--submit) lib/submit; this file is
 * start-up: options, sockets, privileges.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "mx.h"
#include "smtpd.h"
#include "submit.h"

#define RECV_MAX_CONN_DEFAULT   20
#define RECV_MAX_PER_IP_DEFAULT 5
#define RECV_MAX_LISTEN         16
#define RECV_LISTEN_BACKLOG     64
#define SD_LISTEN_FDS_START     3
#define RECV_IP_MAX             INET6_ADDRSTRLEN
#define RECV_QUEUE_DEFAULT      "/var/spool/mm"
#define RECV_RUNNER_NAME        "mm-send"

static const char *usage_text =
"usage: mm-recv [options]\n"
"  SMTP server for one connection on stdin/stdout, delivering to Maildir.\n"
"  --root DIR           mail root (default /var/mail): ROOT/domain/local/\n"
"  --hostname NAME      our name in the banner and Received: (default: host name)\n"
"  --suffix-sep CHARS   address suffix separators (default \"+/\")\n"
"  --max-size N         message size limit (default 50M)\n"
"  --max-rcpt N         recipients per message (default 100)\n"
"  --max-errors N       errors before disconnect (default 10)\n"
"  --timeout SECS       command timeout (default 300)\n"
"  --data-timeout SECS  data timeout (default 300)\n"
"  --greeting-timeout SECS  from the banner to HELO/EHLO (default 60)\n"
"  --greet-delay SECS   wait before the banner; clients that talk first are dropped\n"
"  --bare-eol refuse|normalise   bare CR/LF in DATA (default refuse)\n"
"  --tls-cert FILE --tls-key FILE   offer STARTTLS\n"
"  --user NAME          drop to this user (required when started as root)\n"
"  --umask MODE         umask for delivered files (default 077)\n"
"  --log syslog|stderr|none   (default syslog)\n"
"  --listen ADDR:PORT   own accept loop, one child per connection\n"
"  --max-conn N         concurrent connections in the accept loop (default 20)\n"
"  --max-per-ip N       concurrent connections per client address (default 5)\n"
"  --test IP            session on stdin/stdout as if from IP, showing decisions\n"
"  --spf MODE --dkim MODE --dmarc MODE   off|tag|enforce (default tag, tag, enforce)\n"
"  --dnsbl ZONE         refuse clients listed in ZONE (repeatable)\n"
"  --spf-timeout SECS   deadline of one SPF evaluation (default 20)\n"
"  --resolver IP[:PORT] DNS server (or MM_RESOLVER)\n"
"submit mode (mail from our own users, DKIM as the login):\n"
"  --submit             accept only mail signed by the sender's own key\n"
"  --queue DIR          queue for other domains (default /var/spool/mm)\n"
"  --keys DIR           public keys ADDRESS.{rsa,ed25519}.pub (+ .selector)\n"
"  --sig-window SECS    signature age accepted (default 900)\n"
"  --mm-send 'CMD'      runner started per queued job (default mm-send next to\n"
"                       mm-recv, else from PATH); 'none' leaves it to the timer\n"
"  -h, --help, --version\n";

enum {
	O_ROOT = 256, O_HOSTNAME, O_SUFFIX, O_MAXSIZE, O_MAXRCPT, O_MAXERR, O_TIMEOUT,
	O_DTIMEOUT, O_GREET, O_BAREEOL, O_CERT, O_KEY, O_USER, O_UMASK, O_LOG, O_LISTEN,
	O_MAXCONN, O_PERIP, O_TEST, O_RESOLVER, O_VERSION, O_SUBMIT, O_SPF, O_DKIM, O_DMARC, O_SPFTIME, O_DNSBL,
	O_QUEUE, O_KEYS, O_SIGWIN, O_RUNNER, O_GTIMEOUT,
};

static const struct option longopts[] = {
	{ "root", required_argument, NULL, O_ROOT },
	{ "hostname", required_argument, NULL, O_HOSTNAME },
	{ "suffix-sep", required_argument, NULL, O_SUFFIX },
	{ "max-size", required_argument, NULL, O_MAXSIZE },
	{ "max-rcpt", required_argument, NULL, O_MAXRCPT },
	{ "max-errors", required_argument, NULL, O_MAXERR },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "data-timeout", required_argument, NULL, O_DTIMEOUT },
	{ "greeting-timeout", required_argument, NULL, O_GTIMEOUT },
	{ "greet-delay", required_argument, NULL, O_GREET },
	{ "bare-eol", required_argument, NULL, O_BAREEOL },
	{ "tls-cert", required_argument, NULL, O_CERT },
	{ "tls-key", required_argument, NULL, O_KEY },
	{ "user", required_argument, NULL, O_USER },
	{ "umask", required_argument, NULL, O_UMASK },
	{ "log", required_argument, NULL, O_LOG },
	{ "listen", required_argument, NULL, O_LISTEN },
	{ "max-conn", required_argument, NULL, O_MAXCONN },
	{ "max-per-ip", required_argument, NULL, O_PERIP },
	{ "test", required_argument, NULL, O_TEST },
	{ "resolver", required_argument, NULL, O_RESOLVER },
	{ "submit", no_argument, NULL, O_SUBMIT },
	{ "spf", required_argument, NULL, O_SPF },
	{ "dkim", required_argument, NULL, O_DKIM },
	{ "dmarc", required_argument, NULL, O_DMARC },
	{ "spf-timeout", required_argument, NULL, O_SPFTIME },
	{ "dnsbl", required_argument, NULL, O_DNSBL },
	{ "queue", required_argument, NULL, O_QUEUE },
	{ "keys", required_argument, NULL, O_KEYS },
	{ "sig-window", required_argument, NULL, O_SIGWIN },
	{ "mm-send", required_argument, NULL, O_RUNNER },
	{ "version", no_argument, NULL, O_VERSION },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct opts {
	const char *root, *hostname, *suffix_sep, *cert, *key, *user, *listen, *test;
	const char *resolver;
	struct smtpd_conf sc;
	enum log_dest log;
	int log_set;
	mode_t umask;
	long long max_conn, max_per_ip;
	enum mxauth_mode spf, dkim, dmarc;
	int spf_timeout;
	const char *dnsbl[MXAUTH_DNSBL_MAX];
	size_t ndnsbl;
	int submit;
	const char *queue, *keys, *runner;
	long long window;
};

/* The per-session policy: MX mode or submit mode. */
struct mode {
	const struct smtpd_hooks *hooks;
	void *ctx;
	struct submit *sb;         /* submit mode only */
};

static long long num(const char *name, const char *s, long long min, long long max)
{
	long long v;

	if (parse_long(s, min, max, &v) < 0)
		mm_die(EX_USAGE, "--%s: %s: not a number in [%lld, %lld]", name, s, min, max);
	return v;
}

static int secs(const char *name, const char *s)
{
	long long v;

	if (parse_duration(s, &v) < 0 || v < 0 || v > 24 * 3600)
		mm_die(EX_USAGE, "--%s: %s: not a duration", name, s);
	return (int)v;
}

static int ip_ok(const char *s)
{
	unsigned char b[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* The peer name of a session on a pipe (not an address: no SPF, no DNSBL). */
static void peer_local(char out[RECV_IP_MAX])
{
	static const char local[] = "local";

	_Static_assert(sizeof local <= RECV_IP_MAX, "\"local\" fits");
	memcpy(out, local, sizeof local);
}

static void sockaddr_ip(const struct sockaddr_storage *ss, char out[RECV_IP_MAX])
{
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, RECV_IP_MAX);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, RECV_IP_MAX);
		else
			inet_ntop(AF_INET6, a, out, RECV_IP_MAX);
	} else
		peer_local(out);
}

/* Who is on fd 0: tcpserver says so in TCPREMOTEIP, a socket knows its
 * peer, anything else is a local pipe. */
static void stdin_peer(char out[RECV_IP_MAX])
{
	const char *e = getenv("TCPREMOTEIP");
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;

	if (e && ip_ok(e) && strlen(e) < RECV_IP_MAX) {
		memcpy(out, e, strlen(e) + 1);
		return;
	}
	if (getpeername(0, (struct sockaddr *)&ss, &sl) == 0) {
		sockaddr_ip(&ss, out);
		return;
	}
	peer_local(out);
}

static void drop_privileges(const char *user)
{
	struct passwd *pw;

	if (!user) {
		if (geteuid() == 0)
			mm_die(EX_USAGE, "refusing to run as root: give --user NAME");
		return;
	}
	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		mm_die(EX_NOUSER, "--user %s: no such user", user);
	if (pw->pw_uid == 0)
		mm_die(EX_USAGE, "--user %s: is root; use an unprivileged account", user);
	if (geteuid() != 0) {
		if (geteuid() != pw->pw_uid)
			mm_die(EX_NOPERM, "--user %s: cannot change user when not started as root", user);
		return;
	}
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		mm_die(EX_OSERR, "dropping privileges to %s: %s", user, strerror(errno));
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid || getegid() != pw->pw_gid ||
	    setuid(0) == 0)
		mm_die(EX_OSERR, "dropping privileges to %s: did not stick", user);
	/* what we start (the submit runner) reads its config as this user */
	if (setenv("HOME", pw->pw_dir, 1) < 0 || setenv("USER", pw->pw_name, 1) < 0 ||
	    setenv("LOGNAME", pw->pw_name, 1) < 0)
		mm_die(EX_OSERR, "setenv: %s", strerror(errno));
}

static const char *end_name(enum smtpd_end e)
{
	switch (e) {
	case SMTPD_END_QUIT: return "quit";
	case SMTPD_END_EOF: return "client closed";
	case SMTPD_END_TIMEOUT: return "timeout";
	case SMTPD_END_DROPPED: return "dropped";
	default: return "i/o error";
	}
}

static int run_session(struct opts *o, struct mode *m, int rfd, int wfd, const char *peer)
{
	struct io io;
	struct smtpd s;
	enum smtpd_end e;

	/* a pipe (ssh's forced command) is already private; TCP is not */
	if (m->sb)
		m->sb->tls_required = strcmp(peer, "local") != 0;
	io_init(&io, rfd, wfd, o->sc.cmd_timeout * 1000);
	smtpd_init(&s, &o->sc, &io, peer, m->hooks, m->ctx);
	log_info("%s: connection from %s", s.id, peer);
	e = smtpd_run(&s);
	(void)io_flush(&io, NULL);
	log_info("%s: %s: disconnected (%s), %lu message%s, %llu octets in", s.id, peer,
	    end_name(e), s.messages, s.messages == 1 ? "" : "s", (unsigned long long)io.bytes_in);
	smtpd_free(&s);
	io_close(&io);
	return e == SMTPD_END_IOERR ? EX_IOERR : 0;
}

/* ---- the accept loop ------------------------------------------------- */

struct child {
	pid_t pid;
	char ip[RECV_IP_MAX];
};

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }
static void on_chld(int sig) { (void)sig; }

static int listen_on(const char *spec)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { 0 }, *ai;
	int fd, one = 1, r;
	size_t hl;

	if (!colon || colon == spec)
		mm_die(EX_USAGE, "--listen %s: want ADDR:PORT", spec);
	hl = (size_t)(colon - spec);
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		mm_die(EX_USAGE, "--listen %s: address too long", spec);
	memcpy(host, spec, hl);
	host[hl] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((r = getaddrinfo(host, colon + 1, &hints, &ai)) != 0)
		mm_die(EX_USAGE, "--listen %s: %s", spec, gai_strerror(r));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, RECV_LISTEN_BACKLOG) < 0)
		mm_die(EX_OSERR, "--listen %s: %s", spec, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

static void reap(struct child *kids, size_t *n)
{
	pid_t p;
	int st;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		for (size_t i = 0; i < *n; i++)
			if (kids[i].pid == p) {
				kids[i] = kids[--*n];
				break;
			}
}

static void refuse_conn(int fd, const char *why)
{
	char line[256];
	int n = snprintf(line, sizeof line, "421 4.7.0 %s: try again later\r\n", why);

	if (n > 0)
		(void)write_all(fd, line, (size_t)n);
	close(fd);
}

static int accept_loop(struct opts *o, struct mode *m, int *lfds, size_t nl)
{
	struct pollfd pfd[RECV_MAX_LISTEN];
	struct child *kids = xcalloc((size_t)o->max_conn, sizeof *kids);
	size_t nk = 0;
	struct sigaction sa = { 0 };

	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_chld;
	sigaction(SIGCHLD, &sa, NULL);
	for (size_t i = 0; i < nl; i++) {
		pfd[i].fd = lfds[i];
		pfd[i].events = POLLIN;
		fd_set_nonblock(lfds[i], 1);
	}
	log_info("accepting connections (at most %lld, %lld per address)", o->max_conn,
	    o->max_per_ip);
	while (!stop) {
		int r;

		reap(kids, &nk);
		r = poll(pfd, nl, 1000);
		if (r <= 0)
			continue;
		for (size_t i = 0; i < nl; i++) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof ss;
			char ip[RECV_IP_MAX];
			long long same = 0;
			pid_t pid;
			int c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			c = accept4(lfds[i], (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			sockaddr_ip(&ss, ip);
			reap(kids, &nk);
			for (size_t k = 0; k < nk; k++)
				same += !strcmp(kids[k].ip, ip);
			if ((long long)nk >= o->max_conn) {
				log_warn("%s: refused: %zu connections already", ip, nk);
				refuse_conn(c, "too many connections");
				continue;
			}
			if (same >= o->max_per_ip) {
				log_warn("%s: refused: %lld connections from this address already", ip, same);
				refuse_conn(c, "too many connections from your address");
				continue;
			}
			pid = fork();
			if (pid < 0) {
				log_err("fork: %s", strerror(errno));
				refuse_conn(c, "server busy");
				continue;
			}
			if (pid == 0) {
				signal(SIGTERM, SIG_DFL);
				signal(SIGINT, SIG_DFL);
				signal(SIGCHLD, SIG_DFL);
				for (size_t k = 0; k < nl; k++)
					close(lfds[k]);
				_exit(run_session(o, m, c, c, ip));
			}
			close(c);
			kids[nk].pid = pid;
			_Static_assert(sizeof kids[nk].ip == sizeof ip, "the peer address fits");
			memcpy(kids[nk].ip, ip, strlen(ip) + 1);
			nk++;
		}
	}
	for (size_t k = 0; k < nk; k++)
		kill(kids[k].pid, SIGTERM);
	free(kids);
	return 0;
}

static int ours(void *ctx, const char *domain)
{
	return mx_is_our_domain(ctx, domain);
}

/*
 * The runner for queued jobs: --mm-send's words, or mm-send beside our
 * own binary (an installed pair stays a pair), else mm-send from PATH.
 * Our --root (reports to our users go to their Maildirs), --hostname (as
 * --helo) and --resolver are passed on, so both halves agree.
 */
static void runner_argv(const struct opts *o, struct argvec *av)
{
	struct mm_err err;
	struct argvec words;
	char self[4096], *slash;
	ssize_t n;

	if (o->runner && !strcmp(o->runner, "none"))
		return;
	argvec_init(&words);
	if (o->runner) {
		if (conf_split_words(o->runner, &words, &err) < 0 || words.n == 0)
			mm_die(EX_USAGE, "--mm-send %s: %s", o->runner, words.n ? err.msg : "empty");
		if (words.n > SUBMIT_RUNNER_ARGS_MAX - 8)
			mm_die(EX_USAGE, "--mm-send: at most %d words", SUBMIT_RUNNER_ARGS_MAX - 8);
		argvec_push(av, words.v[0]);
	} else {
		n = readlink("/proc/self/exe", self, sizeof self - 1);
		if (n > 0) {
			self[n] = '\0';
			slash = strrchr(self, '/');
			if (slash && (size_t)(slash - self) + sizeof "/" RECV_RUNNER_NAME <= sizeof self) {
				strcpy(slash + 1, RECV_RUNNER_NAME);
				if (access(self, X_OK) == 0)
					argvec_push(av, self);
			}
		}
		if (av->n == 0)
			argvec_push(av, RECV_RUNNER_NAME);
	}
	/* what the runner must share with us; the --mm-send words come after,
	 * so they can still override any of it */
	argvec_push(av, "--root");
	argvec_push(av, o->root);
	argvec_push(av, "--helo");
	argvec_push(av, o->hostname);
	if (o->resolver) {
		argvec_push(av, "--resolver");
		argvec_push(av, o->resolver);
	}
	for (size_t i = 1; i < words.n; i++)
		argvec_push(av, words.v[i]);
	argvec_free(&words);
}

/* systemd Accept=no: our sockets start at fd 3 when LISTEN_PID is us. */
static size_t systemd_fds(int *fds)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	long long p, k;

	if (!pid || !n || parse_long(pid, 1, INT32_MAX, &p) < 0 || p != getpid() ||
	    parse_long(n, 1, RECV_MAX_LISTEN, &k) < 0)
		return 0;
	for (long long i = 0; i < k; i++) {
		fds[i] = SD_LISTEN_FDS_START + (int)i;
		fd_set_cloexec(fds[i]);
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return (size_t)k;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct mx mx;
	struct submit sb;
	struct mode mode;
	struct argvec runner;
	struct mm_err err;
	char hostbuf[256], peer[RECV_IP_MAX];
	int lfds[RECV_MAX_LISTEN], c;
	size_t nl = 0;
	long long v;
	struct dmarc_psl *psl = NULL;

	memset(&o, 0, sizeof o);
	argvec_init(&runner);
	o.root = "/var/mail";
	o.suffix_sep = MX_SUFFIX_SEP_DEFAULT;
	o.sc.max_size = SMTPD_SIZE_DEFAULT;
	o.sc.max_rcpt = SMTPD_RCPT_DEFAULT;
	o.sc.max_errors = SMTPD_ERRORS_DEFAULT;
	o.sc.cmd_timeout = SMTPD_CMD_TIMEOUT_DEFAULT;
	o.sc.data_timeout = SMTPD_DATA_TIMEOUT_DEFAULT;
	o.sc.greet_timeout = SMTPD_GREET_TIMEOUT_DEFAULT;
	o.umask = 077;
	o.log = LOG_DEST_SYSLOG;
	o.max_conn = RECV_MAX_CONN_DEFAULT;
	o.max_per_ip = RECV_MAX_PER_IP_DEFAULT;
	o.resolver = getenv("MM_RESOLVER");
	o.spf = MXAUTH_TAG;
	o.spf_timeout = MXAUTH_SPF_TIMEOUT_MS / 1000;
	o.dkim = MXAUTH_TAG;
	o.dmarc = MXAUTH_ENFORCE;
	o.queue = RECV_QUEUE_DEFAULT;
	o.window = SUBMIT_WINDOW_DEFAULT;
	log_init("mm-recv", LOG_DEST_STDERR);

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_ROOT: o.root = optarg; break;
		case O_HOSTNAME: o.hostname = optarg; break;
		case O_SUFFIX: o.suffix_sep = optarg; break;
		case O_MAXSIZE:
			if (parse_size(optarg, &o.sc.max_size) < 0 || o.sc.max_size == 0)
				mm_die(EX_USAGE, "--max-size %s: not a size", optarg);
			break;
		case O_MAXRCPT: o.sc.max_rcpt = (size_t)num("max-rcpt", optarg, 1, 100000); break;
		case O_MAXERR: o.sc.max_errors = (int)num("max-errors", optarg, 1, 1000); break;
		case O_TIMEOUT: o.sc.cmd_timeout = secs("timeout", optarg); break;
		case O_DTIMEOUT: o.sc.data_timeout = secs("data-timeout", optarg); break;
		case O_GTIMEOUT: o.sc.greet_timeout = secs("greeting-timeout", optarg); break;
		case O_GREET: o.sc.greet_delay = secs("greet-delay", optarg); break;
		case O_BAREEOL:
			if (!strcmp(optarg, "refuse"))
				o.sc.normalise_eol = 0;
			else if (!strcmp(optarg, "normalise") || !strcmp(optarg, "normalize"))
				o.sc.normalise_eol = 1;
			else
				mm_die(EX_USAGE, "--bare-eol %s: want refuse or normalise", optarg);
			break;
		case O_CERT: o.cert = optarg; break;
		case O_KEY: o.key = optarg; break;
		case O_USER: o.user = optarg; break;
		case O_UMASK:
			v = strtol(optarg, NULL, 8);
			if (v < 0 || v > 0777 || strspn(optarg, "01234567") != strlen(optarg))
				mm_die(EX_USAGE, "--umask %s: not an octal mode", optarg);
			o.umask = (mode_t)v;
			break;
		case O_LOG:
			if (log_parse_dest(optarg, &o.log) < 0)
				mm_die(EX_USAGE, "--log %s: want syslog, stderr or none", optarg);
			o.log_set = 1;
			break;
		case O_LISTEN: o.listen = optarg; break;
		case O_MAXCONN: o.max_conn = num("max-conn", optarg, 1, 100000); break;
		case O_PERIP: o.max_per_ip = num("max-per-ip", optarg, 1, 100000); break;
		case O_TEST: o.test = optarg; break;
		case O_RESOLVER: o.resolver = optarg; break;
		case O_DNSBL:
			if (o.ndnsbl >= MXAUTH_DNSBL_MAX)
				mm_die(EX_USAGE, "--dnsbl: at most %d zones", MXAUTH_DNSBL_MAX);
			if (addr_domain_ok(optarg, &err) < 0)
				mm_die(EX_USAGE, "--dnsbl %s: %s", optarg, err.msg);
			o.dnsbl[o.ndnsbl++] = optarg;
			break;
		case O_SPFTIME: o.spf_timeout = secs("spf-timeout", optarg); break;
		case O_SPF:
		case O_DKIM:
		case O_DMARC:
			if (mxauth_parse_mode(optarg, c == O_SPF ? &o.spf : c == O_DKIM ? &o.dkim : &o.dmarc) < 0)
				mm_die(EX_USAGE, "--%s %s: want off, tag or enforce",
				    c == O_SPF ? "spf" : c == O_DKIM ? "dkim" : "dmarc", optarg);
			break;
		case O_SUBMIT: o.submit = 1; break;
		case O_QUEUE: o.queue = optarg; break;
		case O_KEYS: o.keys = optarg; break;
		case O_RUNNER: o.runner = optarg; break;
		case O_SIGWIN:
			if (parse_duration(optarg, &o.window) < 0 || o.window < 1 ||
			    o.window > SUBMIT_WINDOW_MAX)
				mm_die(EX_USAGE, "--sig-window %s: not a duration up to a day", optarg);
			break;
		case O_VERSION: printf("mm-recv %s\n", MM_VERSION); return 0;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return EX_USAGE;
		}
	}
	if (optind != argc)
		mm_die(EX_USAGE, "unexpected argument %s (see --help)", argv[optind]);
	if (!!o.cert != !!o.key)
		mm_die(EX_USAGE, "--tls-cert and --tls-key go together");
	if (o.test && !ip_ok(o.test))
		mm_die(EX_USAGE, "--test %s: not an IP address", o.test);
	if (o.sc.cmd_timeout == 0 || o.sc.data_timeout == 0 || o.sc.greet_timeout == 0)
		mm_die(EX_USAGE, "timeouts must be at least one second");
	if (!o.hostname) {
		if (gethostname(hostbuf, sizeof hostbuf) < 0)
			mm_die(EX_OSERR, "gethostname: %s", strerror(errno));
		hostbuf[sizeof hostbuf - 1] = '\0';
		o.hostname = hostbuf;
	}
	if (addr_domain_ok(o.hostname, &err) < 0 && strchr(o.hostname, '.'))
		mm_die(EX_USAGE, "--hostname %s: %s", o.hostname, err.msg);
	for (const char *p = o.hostname; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			mm_die(EX_USAGE, "--hostname %s: not a host name", o.hostname);
	if (strlen(o.suffix_sep) > 8 || strspn(o.suffix_sep, "+-/=_#~") != strlen(o.suffix_sep))
		mm_die(EX_USAGE, "--suffix-sep %s: want a few of + - / = _ # ~", o.suffix_sep);
	o.sc.hostname = o.hostname;
	if (o.test) {
		o.sc.trace = 1;
		if (!o.log_set)
			o.log = LOG_DEST_STDERR;
	}
	log_init("mm-recv", o.log);
	signal(SIGPIPE, SIG_IGN);
	umask(o.umask);

	/* Everything that may need root happens before the drop: sockets,
	 * the TLS key (which may be readable by root only). */
	if (o.listen && !o.test)
		lfds[nl++] = listen_on(o.listen);
	else if (!o.test)
		nl = systemd_fds(lfds);
	if (o.cert) {
		o.sc.tls = io_tls_server_ctx(o.cert, o.key, &err);
		if (!o.sc.tls)
			mm_die(EX_CONFIG, "TLS: %s", err.msg);
	}
	if (o.dmarc != MXAUTH_OFF) {
		psl = dmarc_psl_load(NULL, &err);
		if (!psl)
			log_warn("public suffix list: %s (DMARC relaxed alignment falls back to exact names)",
			    err.msg);
	}
	drop_privileges(o.user);
	if (mx_init(&mx, o.root, &err) < 0)
		mm_die(EX_CONFIG, "--root: %s", err.msg);
	mx.suffix_sep = o.suffix_sep;
	mx.hostname = o.hostname;
	mx.auth.spf = o.spf;
	mx.auth.dkim = o.dkim;
	mx.auth.dmarc = o.dmarc;
	mx.auth.resolver = o.resolver;
	mx.auth.spf_timeout_ms = o.spf_timeout * 1000;
	mx.auth.psl = psl;
	memcpy(mx.dnsbl, o.dnsbl, sizeof mx.dnsbl);
	mx.ndnsbl = o.ndnsbl;
	mx.auth.hostname = o.hostname;

	if (o.submit) {
		if (submit_init(&sb, &mx, o.queue, &err) < 0)
			mm_die(EX_CANTCREAT, "--queue: %s", err.msg);
		sb.conf.keys_dir = o.keys;
		sb.conf.resolver = o.resolver;
		sb.conf.window = o.window;
		sb.conf.is_ours = ours;
		sb.conf.ours_ctx = &mx;
		runner_argv(&o, &runner);
		sb.runner = runner.n ? argvec_argv(&runner) : NULL;
		mode.hooks = &submit_hooks;
		mode.ctx = mode.sb = &sb;
		if (nl && !o.sc.tls)
			log_warn("--submit over TCP without --tls-cert: every MAIL will be refused "
			    "(STARTTLS is required)");
	} else {
		mode.hooks = &mx_hooks;
		mode.ctx = &mx;
		mode.sb = NULL;
	}
	if (nl)
		return accept_loop(&o, &mode, lfds, nl);
	if (o.test) {
		if (snprintf_ok(peer, sizeof peer, "%s", o.test) < 0)   /* cannot: ip_ok above */
			mm_die(EX_USAGE, "--test %s: address too long", o.test);
	} else {
		stdin_peer(peer);
	}
	c = run_session(&o, &mode, 0, 1, peer);
	if (o.submit)
		submit_free(&sb);
	argvec_free(&runner);
	mx_free(&mx);
	if (o.sc.tls)
		SSL_CTX_free(o.sc.tls);
	if (psl)
		dmarc_psl_free(psl);
	return c;
}
