/*
 * mm-send — a sendmail that signs every message on the user's own machine.
 *
 * Flow: read the message, complete its header (From, Date, Message-ID),
 * take recipients (arguments or -t), drop Bcc, make every line end CRLF,
 * sign (lib/dkimsign, keys named by lib/keys), then hand it to one
 * transport (lib/send: --via CMD, --relay HOST, --mx).  A temporary
 * failure queues the signed message (lib/queue) and exits 0; -q retries
 * the queue and -bp lists it (lib/qrun).
 * Nothing from the message or an address ever reaches a command line:
 * --via's command comes only from options or config files and is run with
 * execvp, and an address starting with '-' is refused outright.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "dkimsign.h"
#include "exitcode.h"
#include "keys.h"
#include "log.h"
#include "msg.h"
#include "queue.h"
#include "smtpc.h"
#include "submit.h"
#include "compose.h"
#include "qrun.h"
#include "send.h"

#include <openssl/crypto.h>

#define SEND_MSG_MAX ((size_t)100 * 1024 * 1024)   /* stdin larger than this is refused */
#define SEND_SYS_CONF "/etc/mm/send.conf"
#define SEND_SYS_CONF_ENV "MM_SEND_SYSTEM_CONF"   /* overrides SEND_SYS_CONF (tests, chroots) */
#define SEND_USER_CONF ".config/mm/send.conf"
#define SEND_QUEUE_SUBDIR ".local/share/mm/queue"
/* -q with --via/--relay re-signs a job whose own signatures are this old
 * (--resign-after): mm-recv --submit refuses any older than its window */
#define SEND_RESIGN_AGE 600
#define SEND_RESIGN_AFTER_MAX QUEUE_EXPIRE   /* longer would never come */
_Static_assert(SEND_RESIGN_AGE < SUBMIT_WINDOW_DEFAULT,
    "a queued job must be re-signed before the relay's default window refuses it");

struct opts {
	int t_flag, ignore_dots, verbose, list, run_queue, json, no_sign, now, smtps, mx;
	int queue_only, null_sender;
	const char *from, *fullname, *keys, *queue, *via, *relay, *domain, *tls_ca;
	const char *auth_user, *auth_pw_file, *auth_pw_cmd, *helo, *selector, *mx_port;
	const char *root, *queue_filter, *bounce_maildir;
	long long timeout;
	long long at;       /* --at: the queue runs as if the clock said this (0: the clock) */
	long long resign_after;   /* -q, --via/--relay: re-sign signatures this old */
};

static struct opts o;

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: mm-send [options] [--] address...      send a message read from stdin\n"
	    "       mm-send -t [options]                    recipients from To/Cc/Bcc\n"
	    "       mm-send -q [--now] [--at TIME] [--root DIR]  run the queue\n"
	    "       mm-send -bp [--json] | mailq            list the queue\n"
	    "sendmail flags: -t -f ADDR -r ADDR -F NAME -i -oi -oem -odi -odq -bm -bp -q -v\n"
	    "  -V ENVID -N DSN -B TYPE -R RET (accepted), other -oX ignored\n"
	    "transport:  --via CMD | --relay HOST[:PORT] [--smtps] [--tls-ca FILE]\n"
	    "            [--auth-user U --auth-password-file F | --auth-password-cmd CMD]\n"
	    "            | --mx [--mx-port PORT] [--resolver IP[:PORT]]\n"
	    "signing:    --keys DIR (~/%s), --selector S, --no-sign\n"
	    "queue:      --queue DIR (~/%s), --at TIME|+DURATION, --root DIR (%s)\n"
	    "            --resign-after DURATION (%ds; --via/--relay)\n"
	    "            --bounce-maildir DIR (bounces with --via/--relay; else stderr)\n"
	    "other:      --domain D, --helo NAME, --timeout SECONDS,\n"
	    "            --json, --now, -h/--help, --version\n"
	    "config:     %s then ~/%s (lines \"long-option value\")\n",
	    KEYS_DEFAULT_SUBDIR, SEND_QUEUE_SUBDIR, QRUN_ROOT_DEFAULT, SEND_RESIGN_AGE,
	    SEND_SYS_CONF, SEND_USER_CONF);
}

/* ---- addresses ---- */

static const char *default_domain(void)
{
	static char host[256];

	if (o.domain)
		return o.domain;
	if (gethostname(host, sizeof(host) - 1) == 0 && strchr(host, '.'))
		return host;
	return NULL;
}

/* lib/compose's recipient parsing; too many recipients is a usage error
 * wherever they came from (arguments or -t's header fields). */
static int parse_rcpts(const char *value, const char *dom, char ***v, size_t *n,
    struct mm_err *err)
{
	int r = compose_rcpts(value, dom, v, n, err);

	if (r == COMPOSE_ETOOMANY)
		mm_die(EX_USAGE, "%s", err->msg);
	return r < 0 ? -1 : 0;
}

/* The transport's options, from ours (lib/send); o is final by the time
 * anything is sent. */
static const struct send_opts *send_opts(void)
{
	static struct send_opts so;

	so = (struct send_opts){
		.via = o.via, .relay = o.relay, .mx_port = o.mx_port, .tls_ca = o.tls_ca,
		.helo = o.helo, .auth_user = o.auth_user, .auth_pw_file = o.auth_pw_file,
		.auth_pw_cmd = o.auth_pw_cmd, .smtps = o.smtps, .verbose = o.verbose,
		.timeout_ms = (int)(o.timeout * 1000),
	};
	return &so;
}

/* ---- queue ---- */

static char *queue_dir(void)
{
	const char *home = getenv("HOME");

	if (o.queue)
		return xstrdup(o.queue);
	if (!home || !*home)
		mm_die(EX_CONFIG, "HOME is not set: give --queue DIR");
	return xasprintf("%s/%s", home, SEND_QUEUE_SUBDIR);
}

static long long clock_now(void)
{
	return o.at ? o.at : (long long)time(NULL);
}

/* The key directory the first signing used. */
static char *keys_dir(struct mm_err *err)
{
	return o.keys ? xstrdup(o.keys) : keys_default_dir(err);
}

/* The queue runner's options (lib/qrun), for the queue in dir. */
static struct qrun_opts qrun_opts(const char *dir)
{
	return (struct qrun_opts){
		.send = send_opts(), .dir = dir, .keys = o.keys, .selector = o.selector,
		.root = o.root, .filter = o.queue_filter, .bounce_maildir = o.bounce_maildir,
		.now = clock_now(), .resign_after = o.resign_after, .mx = o.mx, .force = o.now,
		.verbose = o.verbose,
	};
}

/* -q and -bp: lib/qrun's outcome as an exit status; a queue that cannot be
 * opened or listed ends the program with its reason. */
static int queue_cmd(int list)
{
	struct mm_err err = { 0 };
	char *dir = queue_dir();
	struct qrun_opts qo = qrun_opts(dir);
	enum qrun_status st = list ? qrun_list(&qo, stdout, o.json, &err) : qrun_run(&qo, &err);

	free(dir);
	switch (st) {
	case QRUN_OK:
		return 0;
	case QRUN_TOLD:
		return EX_UNAVAILABLE;
	case QRUN_CORRUPT:
		return EX_DATAERR;
	case QRUN_ERRORS:
		return EX_IOERR;
	case QRUN_EOPEN:
		mm_die(EX_CANTCREAT, "%s", err.msg);
	case QRUN_ELIST:
		mm_die(EX_IOERR, "%s", err.msg);
	}
	return EX_SOFTWARE;
}

/* ---- main ---- */

enum {
	O_KEYS = 256, O_QUEUE, O_VIA, O_RELAY, O_MX, O_MX_PORT, O_SMTPS, O_TLS_CA,
	O_AUTH_USER, O_AUTH_PWF, O_AUTH_PWC, O_DOMAIN, O_HELO, O_SELECTOR, O_NO_SIGN,
	O_JSON, O_NOW, O_TIMEOUT, O_RESOLVER, O_VERSION, O_AT, O_ROOT, O_BOUNCE_MAILDIR,
	O_RESIGN_AFTER,
};

static const struct option longopts[] = {
	{ "keys", required_argument, NULL, O_KEYS },
	{ "queue", required_argument, NULL, O_QUEUE },
	{ "via", required_argument, NULL, O_VIA },
	{ "relay", required_argument, NULL, O_RELAY },
	{ "mx", no_argument, NULL, O_MX },
	{ "mx-port", required_argument, NULL, O_MX_PORT },
	{ "smtps", no_argument, NULL, O_SMTPS },
	{ "tls-ca", required_argument, NULL, O_TLS_CA },
	{ "auth-user", required_argument, NULL, O_AUTH_USER },
	{ "auth-password-file", required_argument, NULL, O_AUTH_PWF },
	{ "auth-password-cmd", required_argument, NULL, O_AUTH_PWC },
	{ "domain", required_argument, NULL, O_DOMAIN },
	{ "helo", required_argument, NULL, O_HELO },
	{ "selector", required_argument, NULL, O_SELECTOR },
	{ "no-sign", no_argument, NULL, O_NO_SIGN },
	{ "json", no_argument, NULL, O_JSON },
	{ "now", no_argument, NULL, O_NOW },
	{ "at", required_argument, NULL, O_AT },
	{ "resign-after", required_argument, NULL, O_RESIGN_AFTER },
	{ "root", required_argument, NULL, O_ROOT },
	{ "bounce-maildir", required_argument, NULL, O_BOUNCE_MAILDIR },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "resolver", required_argument, NULL, O_RESOLVER },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

static int addr_arg(const char *what, const char *s, struct addr *a)
{
	struct mm_err err = { 0 };

	if (s[0] == '-' || addr_parse_mailbox(s, strlen(s), a, &err) < 0)
		mm_die(EX_USAGE, "%s %s: not a usable address%s%s", what, s,
		    s[0] == '-' ? ": it starts with '-'" : ": ", err.msg);
	return 0;
}

/* the config file being checked, or NULL for the command line */
static const char *conf_src;
#define ARG_DIE(...) mm_die(conf_src ? EX_CONFIG : EX_USAGE, __VA_ARGS__)

static void parse_args(int argc, char **argv)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+tf:r:F:io:B:b:q::vV:N:R:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': o.t_flag = 1; break;
		case 'f': case 'r':
			/* sendmail: -f '<>' (or -f '') is the null sender */
			o.null_sender = !strcmp(optarg, "<>") || !*optarg;
			o.from = o.null_sender ? NULL : optarg;
			break;
		case 'F': o.fullname = optarg; break;
		case 'i': o.ignore_dots = 1; break;
		case 'o':
			if (!strcmp(optarg, "i"))
				o.ignore_dots = 1;
			else if (!strcmp(optarg, "dq"))
				o.queue_only = 1;
			/* -oem, -odi, -odb and any other -oX: accepted, ignored */
			break;
		case 'B':
			if (ascii_strcasecmp(optarg, "8BITMIME") && ascii_strcasecmp(optarg, "7BIT"))
				ARG_DIE("-B %s: body type must be 7BIT or 8BITMIME", optarg);
			break;
		case 'b':
			if (!strcmp(optarg, "m"))
				o.list = 0;
			else if (!strcmp(optarg, "p"))
				o.list = 1;
			else
				ARG_DIE("-b%s: not supported (only -bm and -bp)", optarg);
			break;
		case 'q':   /* -q, -q30m: the interval is cron's job; -qIID: jobs whose id has ID */
			o.run_queue = 1;
			o.queue_filter = optarg && optarg[0] == 'I' ? optarg + 1 : NULL;
			break;
		case 'v': o.verbose = 1; break;
		case 'V': case 'N': case 'R': break;   /* DSN requests: accepted, not passed on */
		case O_VERSION: printf("mm-send %s\n", MM_VERSION); exit(0);
		case O_KEYS: o.keys = optarg; break;
		case O_QUEUE: o.queue = optarg; break;
		case O_VIA: o.via = optarg; o.relay = NULL; o.mx = 0; break;
		case O_RELAY: o.relay = optarg; o.via = NULL; o.mx = 0; break;
		case O_MX: o.mx = 1; o.via = NULL; o.relay = NULL; break;
		case O_MX_PORT: o.mx_port = optarg; break;
		case O_SMTPS: o.smtps = 1; break;
		case O_TLS_CA: o.tls_ca = optarg; break;
		case O_AUTH_USER: o.auth_user = optarg; break;
		case O_AUTH_PWF: o.auth_pw_file = optarg; o.auth_pw_cmd = NULL; break;
		case O_AUTH_PWC: o.auth_pw_cmd = optarg; o.auth_pw_file = NULL; break;
		case O_DOMAIN: o.domain = optarg; break;
		case O_HELO: o.helo = optarg; break;
		case O_SELECTOR: o.selector = optarg; break;
		case O_NO_SIGN: o.no_sign = 1; break;
		case O_JSON: o.json = 1; break;
		case O_NOW: o.now = 1; break;
		case O_AT: {
			/* UNIXTIME, or +DURATION from the real clock (tests: --at +5d) */
			long long t;
			if (optarg[0] == '+' ? parse_duration(optarg + 1, &t) < 0 :
			    parse_long(optarg, 1, (long long)1 << 40, &t) < 0)
				mm_die(EX_USAGE, "--at %s: not a time (UNIXTIME or +DURATION)", optarg);
			o.at = optarg[0] == '+' ? (long long)time(NULL) + t : t;
			break;
		}
		case O_RESIGN_AFTER:
			if (parse_duration(optarg, &o.resign_after) < 0 || o.resign_after < 1 ||
			    o.resign_after > SEND_RESIGN_AFTER_MAX)
				ARG_DIE("--resign-after %s: not a duration up to %d days", optarg,
				    SEND_RESIGN_AFTER_MAX / 86400);
			break;
		case O_ROOT: o.root = optarg; break;
		case O_BOUNCE_MAILDIR: o.bounce_maildir = optarg; break;
		case O_TIMEOUT:
			if (parse_duration(optarg, &o.timeout) < 0 || o.timeout <= 0 || o.timeout > 86400)
				ARG_DIE("--timeout %s: not a duration", optarg);
			break;
		case O_RESOLVER:
			if (setenv("MM_RESOLVER", optarg, 1) < 0)
				mm_die(EX_OSERR, "setenv failed");
			break;
		case 'h':
			if (conf_src)
				ARG_DIE("%s: help is no config option", conf_src);
			usage(stdout);
			exit(0);
		default:
			if (conf_src)
				ARG_DIE("%s: not a valid option line (see above)", conf_src);
			usage(stderr);
			exit(EX_USAGE);
		}
	}
}

/* file scope: still reachable (not a leak) when a mode returns early */
static struct argvec av;

/* Append one config file's options to all, checking them on their own
 * first so that a bad line is blamed on its file (EX_CONFIG), not on the
 * command line. */
static void load_conf(const char *path, struct argvec *all)
{
	struct argvec one;
	struct mm_err err = { 0 };

	argvec_init(&one);
	argvec_push(&one, all->v[0]);
	if (conf_load(path, 1, &one, &err) < 0)
		mm_die(EX_CONFIG, "%s", err.msg);
	conf_src = path;
	parse_args((int)one.n, argvec_argv(&one));
	if (optind != (int)one.n)
		mm_die(EX_CONFIG, "%s: %s: not an option", path, one.v[optind]);
	conf_src = NULL;
	for (size_t i = 1; i < one.n; i++)
		argvec_push(all, one.v[i]);
	argvec_free(&one);
}

int main(int argc, char **argv)
{
	struct mm_err err = { 0 };
	struct buf in, crlf, built, final, sigs;
	unsigned own_sigs = 0;      /* DKIM-Signature fields prepended here */
	long long signed_at = 0;    /* their t= */
	struct msg m;
	char **rcpt = NULL;
	size_t nrcpt = 0;
	char fromaddr[ADDR_STR_MAX] = "", hdrfrom[ADDR_STR_MAX] = "";
	struct addr hfa;
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

	log_init("mm-send", LOG_DEST_STDERR);
	signal(SIGPIPE, SIG_IGN);
	o.timeout = SMTPC_TIMEOUT_MS / 1000;

	/* config files first, then the command line: later options win */
	argvec_init(&av);
	argvec_push(&av, argv[0]);
	{
		/* the system file's place can be moved, so it can be tested (and
		 * used) without root; an empty value means no system file */
		const char *sys = getenv(SEND_SYS_CONF_ENV);
		if (!sys)
			sys = SEND_SYS_CONF;
		if (*sys)
			load_conf(sys, &av);
	}
	{
		const char *home = getenv("HOME");
		if (home && *home) {
			char *p = xasprintf("%s/%s", home, SEND_USER_CONF);
			load_conf(p, &av);
			free(p);
		}
	}
	for (int i = 1; i < argc; i++)
		argvec_push(&av, argv[i]);
	/* the whole vector decides: start from the defaults again */
	memset(&o, 0, sizeof(o));
	o.timeout = SMTPC_TIMEOUT_MS / 1000;
	o.resign_after = SEND_RESIGN_AGE;
	parse_args((int)av.n, argvec_argv(&av));
	int first = optind;
	char **args = argvec_argv(&av);
	int nargs = (int)av.n;

	if (!strcmp(prog, "mailq"))
		o.list = 1;
	if (o.list) {
		if (first < nargs)
			mm_die(EX_USAGE, "-bp takes no arguments");
		return queue_cmd(1);
	}
	if (!o.via && !o.relay && !o.mx && !o.queue_only)
		mm_die(EX_CONFIG, "no transport: give --via CMD, --relay HOST or --mx "
		    "(or put one in ~/%s)", SEND_USER_CONF);
	if (o.via) {
		/* a --via that cannot be split is a configuration error, found
		 * before a message is read, not a failed delivery afterwards */
		struct argvec vv;
		argvec_init(&vv);
		int bad = conf_split_words(o.via, &vv, &err) < 0 || vv.n == 0;
		argvec_free(&vv);
		if (bad)
			mm_die(EX_CONFIG, "--via %s: %s", o.via, err.msg[0] ? err.msg : "no command");
	}
	if (o.run_queue) {
		if (first < nargs)
			mm_die(EX_USAGE, "-q takes no arguments");
		return queue_cmd(0);
	}

	/* ---- the message ---- */
	buf_init(&in);
	if (read_fd_all(0, SEND_MSG_MAX, &in, &err) < 0)
		mm_die(err.code == 0 ? EX_DATAERR : EX_IOERR, "reading the message: %s", err.msg);
	if (memchr(in.data ? in.data : "", 0, in.len))
		mm_die(EX_DATAERR, "the message contains a NUL byte");
	if (!o.ignore_dots) {
		/* sendmail: a line of a single "." ends the message */
		size_t pos = 0;
		while (pos < in.len) {
			const char *nl = memchr(in.data + pos, '\n', in.len - pos);
			size_t end = nl ? (size_t)(nl - in.data) + 1 : in.len;
			size_t l = end - pos;
			if ((l == 2 && !memcmp(in.data + pos, ".\n", 2)) ||
			    (l == 3 && !memcmp(in.data + pos, ".\r\n", 3)) ||
			    (l == 1 && in.data[pos] == '.')) {
				in.len = pos;
				in.data[pos] = 0;
				break;
			}
			pos = end;
		}
	}
	{
		size_t bad = msg_check_lines(in.data ? in.data : "", in.len, MSG_LINE_MAX);
		if (bad)
			mm_die(EX_DATAERR, "line %zu of the message is longer than %d octets", bad,
			    MSG_LINE_MAX);
	}
	buf_init(&crlf);
	msg_to_crlf(in.data ? in.data : "", in.len, &crlf);
	buf_free(&in);
	if (!crlf.data)
		buf_puts(&crlf, "");
	/* SMTP ends the data with CRLF: add it now, so it is signed too */
	if (crlf.len && crlf.data[crlf.len - 1] != '\n')
		buf_puts(&crlf, "\r\n");
	if (msg_parse(&m, crlf.data, crlf.len, MSG_LENIENT, &err) < 0)
		mm_die(EX_DATAERR, "message header: %s", err.msg);
	if (msg_count(&m, "from") > 1)
		mm_die(EX_DATAERR, "the message has %zu From: fields", msg_count(&m, "from"));

	/* envelope sender and header From */
	const struct msg_field *ff = msg_find(&m, "from");
	if (o.from) {
		struct addr a;
		char *full = NULL;
		/* sendmail qualifies a bare login ("-f root", as cron passes it) */
		if (o.from[0] != '-' && !strchr(o.from, '@') && compose_is_word(o.from)) {
			const char *dom = default_domain();
			if (!dom)
				mm_die(EX_USAGE, "-f %s: no domain to qualify it with (set --domain)", o.from);
			full = xasprintf("%s@%s", o.from, dom);
		}
		addr_arg("-f", full ? full : o.from, &a);
		free(full);
		addr_format(&a, fromaddr);
	}
	if (ff) {
		struct addr_list l;
		if (addr_list_parse(ff->value, ff->value_len, &l, &err) < 0 || l.n != 1) {
			if (l.n > 1 || err.msg[0] == 0)
				err_set(&err, "more than one address");
			mm_die(EX_DATAERR, "From: %s: %s", ff->value, err.msg);
		}
		hfa = l.v[0];
		addr_list_free(&l);
		addr_format(&hfa, hdrfrom);
	} else if (fromaddr[0]) {
		addr_parse_mailbox(fromaddr, strlen(fromaddr), &hfa, &err);
		snprintf(hdrfrom, sizeof(hdrfrom), "%s", fromaddr);
	} else {
		struct passwd *pw = getpwuid(getuid());
		const char *dom = default_domain();
		if (!pw)
			mm_die(EX_OSERR, "who am I? no passwd entry for uid %u", (unsigned)getuid());
		if (!dom)
			mm_die(EX_CONFIG, "no From: and no --domain to make one (login %s)", pw->pw_name);
		char *s = xasprintf("%s@%s", pw->pw_name, dom);
		addr_arg("From", s, &hfa);
		free(s);
		addr_format(&hfa, hdrfrom);
	}
	if (!fromaddr[0])
		snprintf(fromaddr, sizeof(fromaddr), "%s", hdrfrom);

	/* recipients */
	const char *qualify = o.domain ? o.domain : hfa.domain;
	for (int i = first; i < nargs; i++) {
		if (args[i][0] == '-')
			mm_die(EX_USAGE, "recipient %s: an address may not start with '-'", args[i]);
	}
	if (o.t_flag) {
		static const char *const hdrs[] = { "to", "cc", "bcc" };
		char **skip = NULL;
		size_t nskip = 0;
		/* sendmail: with -t, addresses given as arguments are left out */
		for (int i = first; i < nargs; i++)
			if (parse_rcpts(args[i], qualify, &skip, &nskip, &err) < 0)
				mm_die(EX_USAGE, "recipient %s: %s", args[i], err.msg);
		for (size_t h = 0; h < MM_NELEM(hdrs); h++)
			for (size_t k = 0; k < msg_count(&m, hdrs[h]); k++) {
				const struct msg_field *f = msg_find_nth(&m, hdrs[h], k);
				if (f->value_len == 0)
					continue;
				if (parse_rcpts(f->value, qualify, &rcpt, &nrcpt, &err) < 0)
					mm_die(EX_DATAERR, "%.*s: %s", (int)f->name_len, f->name, err.msg);
			}
		for (size_t s = 0; s < nskip; s++) {
			for (size_t i = 0; i < nrcpt; i++)
				if (!strcmp(rcpt[i], skip[s])) {
					free(rcpt[i]);
					rcpt[i] = rcpt[--nrcpt];
					break;
				}
			free(skip[s]);
		}
		free(skip);
	} else {
		for (int i = first; i < nargs; i++)
			if (parse_rcpts(args[i], qualify, &rcpt, &nrcpt, &err) < 0)
				mm_die(EX_USAGE, "recipient %s: %s", args[i], err.msg);
	}
	if (nrcpt == 0)
		mm_die(EX_USAGE, "no recipients%s", o.t_flag ? " in To:, Cc: or Bcc:" : "");

	/* complete the header, drop Bcc */
	buf_init(&built);
	compose_header(&m, ff ? NULL : hdrfrom, o.fullname, hfa.domain, time(NULL), &built);
	msg_free(&m);
	buf_free(&crlf);

	/* sign */
	buf_init(&sigs);
	if (!o.no_sign && o.selector && keys_selector_ok(o.selector, &err) < 0)
		mm_die(EX_USAGE, "--selector %s: %s", o.selector, err.msg);
	if (!o.no_sign) {
		struct dkimsign_keys ks;
		char *kd = keys_dir(&err);
		if (!kd)
			mm_die(EX_CONFIG, "%s", err.msg);
		if (dkimsign_load(kd, &hfa, &ks, &err) < 0)
			mm_die(EX_NOPERM, "key for %s: %s", hdrfrom, err.msg);
		if (ks.n == 0)
			mm_die(EX_NOPERM, "no DKIM key for %s: looked for %s and %s "
			    "(make one with mm-keygen, or send with --no-sign)",
			    hdrfrom, ks.looked[1], ks.looked[0]);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		/* --at signs as of that time too: tests age a queued message so */
		signed_at = clock_now();
		if (dkimsign_sign(built.data, built.len, hfa.domain, &ks, o.selector, signed_at, &sigs,
		    &err) < 0)
			mm_die(EX_SOFTWARE, "signing: %s", err.msg);
		own_sigs = (unsigned)ks.n;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* for scripts/bench: the signing step alone, in-process */
		if (getenv("MM_SEND_STATS"))
			fprintf(stderr, "mm-send-stats: signed=%zu signatures=%zu sign_us=%lld\n",
			    built.len, ks.n,
			    (long long)(t1.tv_sec - t0.tv_sec) * 1000000 +
			    (t1.tv_nsec - t0.tv_nsec) / 1000);
		dkimsign_keys_free(&ks);
		free(kd);
	}
	buf_init(&final);
	buf_append(&final, sigs.data ? sigs.data : "", sigs.len);
	buf_append(&final, built.data, built.len);
	buf_free(&sigs);
	buf_free(&built);

	/* deliver, or queue */
	struct queue_env e;
	queue_env_init(&e);
	snprintf(e.from, sizeof(e.from), "%s", o.null_sender ? "" : fromaddr);
	/* what -q may strip and re-sign: only the fields prepended just now */
	e.own_sigs = own_sigs;
	e.signed_at = signed_at;
	for (size_t i = 0; i < nrcpt; i++)
		queue_env_add_rcpt(&e, rcpt[i]);
	size_t pending = nrcpt;
	int perm = 0, user_unknown = 0;
	if (!o.queue_only)
		pending = qrun_first(send_opts(), &e, final.data, final.len, (long long)time(NULL),
		    &perm, &user_unknown);
	if (pending) {
		struct queue q;
		char *dir = queue_dir();
		if (queue_open(&q, dir, &err) < 0 || queue_add(&q, &e, final.data, final.len, &err) < 0)
			mm_die(EX_TEMPFAIL, "could not deliver and could not queue: %s", err.msg);
		mm_warnx("queued as %s (%zu recipient%s)%s%s", e.id, pending, pending == 1 ? "" : "s",
		    e.last_error[0] ? ": " : "", e.last_error);
		queue_close(&q);
		free(dir);
	}
	queue_env_free(&e);
	buf_free(&final);
	for (size_t i = 0; i < nrcpt; i++)
		free(rcpt[i]);
	free(rcpt);
	argvec_free(&av);
	if (perm)
		return user_unknown == perm ? EX_NOUSER : EX_UNAVAILABLE;
	return 0;
}
