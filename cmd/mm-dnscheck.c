/*
 * mm-dnscheck — is the DNS of a mail domain right?  The checks live in
 * lib/dnscheck (its header says how they are planned in waves); this is
 * the command line, the output (text, colour on a TTY, --json) and the
 * exit code.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "dnscheck.h"
#include "exitcode.h"
#include "log.h"
#include "util.h"

#define PROG "mm-dnscheck"

static const char *status_color[] = { "\033[32m", "\033[36m", "\033[33m", "\033[31m" };

struct list {
	const char *v[DNSCHECK_LIST_MAX];
	size_t n;
};

struct out {
	int json, quiet, color;
};

/* ---------- output ---------- */

static void json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void print_json(const struct dnscheck_finding *f)
{
	fputs("{\"check\":", stdout);
	json_str(stdout, f->check);
	fputs(",\"subject\":", stdout);
	json_str(stdout, f->subject);
	fputs(",\"status\":", stdout);
	json_str(stdout, dnscheck_status_str(f->status));
	fputs(",\"message\":", stdout);
	json_str(stdout, f->message);
	fputs(",\"fix\":", stdout);
	json_str(stdout, f->fix);
	fputs("}\n", stdout);
}

/* "STATUS check subject: message", then the fix indented, line by line. */
static void print_text(const struct dnscheck_finding *f, int color)
{
	const char *p, *nl;

	printf("%s%s%s %-7s %s: %s\n", color ? status_color[f->status] : "", dnscheck_status_str(f->status),
	    color ? "\033[0m" : "", f->check, f->subject, f->message);
	if (!f->fix)
		return;
	printf("    fix:\n");
	for (p = f->fix; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		printf("      %.*s\n", (int)(nl ? nl - p : (ptrdiff_t)strlen(p)), p);
		if (!nl)
			break;
	}
}

static void print_findings(const struct dnscheck_report *r, const struct out *o)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		const struct dnscheck_finding *f = &r->f[i];

		if (o->quiet && (f->status == DNSCHECK_PASS || f->status == DNSCHECK_INFO))
			continue;
		if (o->json)
			print_json(f);
		else
			print_text(f, o->color);
	}
}

/* ---------- command line ---------- */

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: %s [--ip ADDR]... [--selector S]... [--key FILE] [--dnsbl ZONE]...\n"
	    "           [--root DIR] [--json] [-q] [--resolver IP[:PORT]] [--timeout SECONDS]\n"
	    "           DOMAIN...\n"
	    "Checks MX, addresses, PTR, SPF, DKIM, DMARC, DNSBL, MTA-STS and TLS-RPT.\n"
	    "Exit: 0 all pass, 1 warnings, 2 failures, 3 could not check, 64 usage.\n", PROG);
}

static void list_add(struct list *l, const char *v, const char *opt)
{
	if (l->n >= DNSCHECK_LIST_MAX)
		mm_die(DNSCHECK_EXIT_USAGE, "%s: at most %d", opt, DNSCHECK_LIST_MAX);
	l->v[l->n++] = v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ip", required_argument, NULL, 'i' },
		{ "selector", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "dnsbl", required_argument, NULL, 'b' },
		{ "root", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "resolver", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ "stats", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct list ips = { .n = 0 }, selectors = { .n = 0 }, dnsbls = { .n = 0 };
	struct dnscheck_opts o;
	struct dnscheck_report rep;
	struct out out = { 0, 0, 0 };
	struct mm_err err;
	enum dnscheck_status worst;
	long long timeout_s = 0;
	int ch, stats = 0, cant;

	log_init(PROG, LOG_DEST_STDERR);
	memset(&o, 0, sizeof o);
	while ((ch = getopt_long(argc, argv, "hqVj", opts, NULL)) != -1) {
		switch (ch) {
		case 'i': {
			unsigned char b[16];

			if (inet_pton(AF_INET, optarg, b) != 1 && inet_pton(AF_INET6, optarg, b) != 1)
				mm_die(DNSCHECK_EXIT_USAGE, "--ip %s: not an IP address", optarg);
			list_add(&ips, optarg, "--ip");
			break;
		}
		case 's':
			if (dns_name_ok(optarg, &err) < 0)
				mm_die(DNSCHECK_EXIT_USAGE, "--selector %s: %s", optarg, err.msg);
			list_add(&selectors, optarg, "--selector");
			break;
		case 'k': o.key = optarg; break;
		case 'b':
			if (dns_name_ok(optarg, &err) < 0)
				mm_die(DNSCHECK_EXIT_USAGE, "--dnsbl %s: %s", optarg, err.msg);
			list_add(&dnsbls, optarg, "--dnsbl");
			break;
		case 'r': o.root = optarg; break;
		case 'j': out.json = 1; break;
		case 'q': out.quiet = 1; break;
		case 'R': o.resolver = optarg; break;
		case 't':
			if (parse_long(optarg, 1, 300, &timeout_s) < 0)
				mm_die(DNSCHECK_EXIT_USAGE, "--timeout %s: want 1..300 seconds", optarg);
			break;
		case 'S': stats = 1; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("%s %s\n", PROG, MM_VERSION); return 0;
		default: usage(stderr); return DNSCHECK_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return DNSCHECK_EXIT_USAGE;
	}
	o.ips = ips.v;
	o.nips = ips.n;
	o.selectors = selectors.v;
	o.nselectors = selectors.n;
	o.dnsbls = dnsbls.v;
	o.ndnsbls = dnsbls.n;
	o.timeout_ms = (int)(timeout_s * 1000);
	out.color = !out.json && isatty(1) && !getenv("NO_COLOR");

	switch (dnscheck_run(&o, (const char *const *)argv + optind, (size_t)(argc - optind), &rep, &err)) {
	case DNSCHECK_OK: break;
	case DNSCHECK_EOPTS: mm_die(DNSCHECK_EXIT_USAGE, "%s", err.msg);
	case DNSCHECK_ECANT: mm_die(DNSCHECK_EXIT_CANT, "%s", err.msg);
	}
	print_findings(&rep, &out);
	worst = dnscheck_report_worst(&rep);
	if (stats)
		fprintf(stderr, "%s: stats: queries=%lu waves=%lu retries=%lu tcp=%lu cache_hits=%lu\n",
		    PROG, rep.stats.queries, rep.stats.waves, rep.stats.retries, rep.stats.tcp,
		    rep.stats.cache_hits);
	cant = rep.cant;
	dnscheck_report_free(&rep);
	fflush(stdout);
	if (cant)
		return DNSCHECK_EXIT_CANT;
	return worst == DNSCHECK_FAIL ? DNSCHECK_EXIT_FAIL :
	    worst == DNSCHECK_WARN ? DNSCHECK_EXIT_WARN : DNSCHECK_EXIT_PASS;
}
