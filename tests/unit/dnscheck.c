/* dnscheck: the parts of mm-dnscheck that need no DNS server — fix lines
 * (TXT split into 255-octet strings), message cleaning, domain names, SPF
 * suggestions, the finding list — and dnscheck_run's own errors and
 * findings against a closed local port (no query is answered there). */
#include "dnscheck.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* The quoted strings of a zone TXT line, each checked for length (in
 * octets of record data, "\x" counting once).  Returns how many. */
static int txt_strings(const char *line, size_t *longest, size_t *total)
{
	const char *p = strstr(line, " IN TXT ");
	int n = 0;

	*longest = *total = 0;
	if (!p)
		return -1;
	for (p += 8; *p; p++) {
		size_t len = 0;

		if (*p == ' ')
			continue;
		if (*p != '"')
			return -1;
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\')
				p++;
			len++;
		}
		if (*p != '"')
			return -1;
		n++;
		*total += len;
		if (len > *longest)
			*longest = len;
	}
	return n;
}

/* is_str on an allocated result, which it frees. */
static void is_taken(char *got, const char *want, const char *name)
{
	is_str(got, want, name);
	free(got);
}

static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_fix_txt(void)
{
	char *s, *text;
	size_t longest, total;
	struct buf b;

	is_taken(dnscheck_fix_txt("example.test.", "v=spf1 mx -all"),
	    "example.test. IN TXT \"v=spf1 mx -all\"", "short TXT: one string");
	is_taken(dnscheck_fix_txt("e.test.", ""),
	    "e.test. IN TXT \"\"", "empty TXT: one empty string");
	is_taken(dnscheck_fix_txt("e.test.", "a\"b\\c"),
	    "e.test. IN TXT \"a\\\"b\\\\c\"", "quote and backslash escaped");

	text = repeat('x', DNSCHECK_TXT_CHUNK);
	s = dnscheck_fix_txt("e.test.", text);
	is_int(txt_strings(s, &longest, &total), 1, "exactly 255 octets: one string");
	free(s);
	free(text);

	text = repeat('x', DNSCHECK_TXT_CHUNK + 1);
	s = dnscheck_fix_txt("e.test.", text);
	is_int(txt_strings(s, &longest, &total), 2, "256 octets: two strings");
	is_int(total, DNSCHECK_TXT_CHUNK + 1, "...holding every octet");
	ok(strstr(s, "\"x\"") && strlen(strstr(s, "\"x\"")) == 3, "...the second one octet, last");
	free(s);
	free(text);

	/* a 2048-bit DKIM record is about 410 octets; make one of 700 with
	 * quotes to escape, so that escaping cannot be counted as length */
	text = repeat('k', 700);
	text[254] = '"';
	text[255] = '\\';
	s = dnscheck_fix_txt("sel._domainkey.e.test.", text);
	is_int(txt_strings(s, &longest, &total), 3, "700 octets: three strings");
	is_int(longest, DNSCHECK_TXT_CHUNK, "no string over 255 octets (escapes not counted)");
	is_int(total, 700, "the strings concatenate to the record");
	ok(strstr(s, "k\\\"\" \"\\\\k") != NULL, "split falls between the escaped octets 255 and 256");
	ok(!strchr(s, '\n'), "one line");
	free(s);
	free(text);

	/* zone_txt appends a second record on its own line */
	buf_init(&b);
	dnscheck_zone_txt(&b, "a.test.", "one");
	dnscheck_zone_txt(&b, "b.test.", "two");
	is_str(b.data, "a.test. IN TXT \"one\"\nb.test. IN TXT \"two\"", "records after the first start a new line");
	buf_free(&b);
}

static void test_clean(void)
{
	char *s, *big;

	is_taken(dnscheck_clean("plain text", 10),
	    "plain text", "printable ASCII kept");
	is_taken(dnscheck_clean("a\nb\tc\x7f", 6),
	    "a\\010b\\009c\\127", "controls and DEL as \\DDD");
	is_taken(dnscheck_clean("r\xc3\xa9ject", 7),
	    "r\\195\\169ject", "non-ASCII octets as \\DDD");
	is_taken(dnscheck_clean("a\0b", 3),
	    "a\\000b", "a NUL inside the counted length is shown");
	is_taken(dnscheck_clean("", 0),
	    "", "empty in, empty out");
	big = repeat('z', 5000);
	s = dnscheck_clean(big, 5000);
	is_int(strlen(s), DNSCHECK_CLEAN_MAX + 1 + 3, "huge record cut after the limit");
	ok(strlen(s) >= 3 && !strcmp(s + strlen(s) - 3, "..."), "...visibly (\"...\")");
	free(s);
	free(big);
}

static void name_fails(const char *arg, const char *why, const char *what)
{
	struct mm_err err;
	char *d = dnscheck_domain_name(arg, &err);

	ok(d == NULL && strstr(err.msg, why) != NULL, "%s: refused (%s)", what, d ? d : err.msg);
	free(d);
}

static void test_domain_name(void)
{
	struct mm_err err;
	char *d, *longlabel, *longname;
	size_t i;

	d = dnscheck_domain_name("GOOD.Test.", &err);
	is_str(d, "good.test", "lowercased, trailing dot dropped");
	free(d);
	d = dnscheck_domain_name("mail.example.co.uk", &err);
	is_str(d, "mail.example.co.uk", "a usual name as it is");
	free(d);
	name_fails("nodot", "no dot in the name", "single label");
	name_fails("nodot.", "no dot in the name", "single label with a trailing dot");
	name_fails("bad..name", "empty label", "empty label");
	name_fails("", "no dot in the name", "empty argument (a missing dot is said first)");
	name_fails(".", "empty label", "the root");
	name_fails("ex\xc3\xa4mple.test", "non-ASCII", "non-ASCII name");
	name_fails("sp ace.test", "invalid character 0x20", "space in a name");
	longlabel = repeat('a', 70);
	memcpy(longlabel + 65, ".test", 5);
	name_fails(longlabel, "label longer than 63", "label over 63 octets");
	longname = repeat('a', 300);
	for (i = 10; i < 300; i += 10)
		longname[i] = '.';
	name_fails(longname, "too long", "name over 253 octets");
	free(longlabel);
	free(longname);
}

static void test_spf(void)
{
	static const struct {
		const char *rec, *ip, *want, *name;
	} with_ip[] = {
		{ "v=spf1 mx -all", "192.0.2.5", "v=spf1 mx ip4:192.0.2.5 -all", "address added before -all" },
		{ "v=spf1 a ~all", "2001:db8::5", "v=spf1 a ip6:2001:db8::5 ~all", "ip6 added before ~all" },
		{ "v=spf1 mx all", "192.0.2.5", "v=spf1 mx ip4:192.0.2.5 all", "before a bare all" },
		{ "v=spf1 include:allmail.test exists:all.test -all", "192.0.2.5",
		  "v=spf1 include:allmail.test exists:all.test ip4:192.0.2.5 -all",
		  "\"all\" inside other terms is not the all term" },
		{ "v=spf1 redirect=_spf.example.test", "192.0.2.5",
		  "v=spf1 redirect=_spf.example.test ip4:192.0.2.5", "no all: appended" },
		{ "v=spf1 ip4:192.0.2.5 -all", "192.0.2.5", "v=spf1 ip4:192.0.2.5 -all", "already there: unchanged" },
	};
	const char *none[1] = { NULL };
	const char *ips[] = { "192.0.2.1", "2001:db8::1" };
	size_t i;

	is_taken(dnscheck_spf_suggest(none, 0),
	    "v=spf1 mx -all", "suggestion without --ip");
	is_taken(dnscheck_spf_suggest(ips, 2),
	    "v=spf1 mx ip4:192.0.2.1 ip6:2001:db8::1 -all", "suggestion names each --ip, ip4/ip6");
	for (i = 0; i < MM_NELEM(with_ip); i++)
		is_taken(dnscheck_spf_with_ip(with_ip[i].rec, with_ip[i].ip), with_ip[i].want, with_ip[i].name);
}

static void test_report(void)
{
	struct dnscheck_report r;

	memset(&r, 0, sizeof r);
	is_int(dnscheck_report_worst(&r), DNSCHECK_PASS, "empty report: PASS");
	dnscheck_report_add(&r, "mx", "a.test", DNSCHECK_PASS, NULL, "%d MX", 2);
	dnscheck_report_add(&r, "mta-sts", "_mta-sts.a.test", DNSCHECK_INFO, NULL, "no record (optional)");
	is_int(dnscheck_report_worst(&r), DNSCHECK_PASS, "INFO does not count");
	dnscheck_report_add(&r, "dmarc", "_dmarc.a.test", DNSCHECK_WARN, NULL, "p=none");
	is_int(dnscheck_report_worst(&r), DNSCHECK_WARN, "a WARN: WARN");
	dnscheck_report_add(&r, "spf", "a.test", DNSCHECK_FAIL, xstrdup("a.test. IN TXT \"v=spf1 -all\""),
	    "bad record: %s", "r\xc3\xa9\ncord");
	dnscheck_report_add(&r, "ptr", "192.0.2.1", DNSCHECK_PASS, NULL, "ok");
	is_int(dnscheck_report_worst(&r), DNSCHECK_FAIL, "a FAIL wins over a later PASS");
	is_int(r.n, 5, "five findings, in order");
	is_str(r.f[0].message, "2 MX", "message formatted");
	is_str(r.f[1].check, "mta-sts", "check kept");
	is_str(r.f[3].subject, "a.test", "subject kept");
	is_str(r.f[3].message, "bad record: r\\195\\169\\010cord", "message made printable, one line");
	is_str(r.f[3].fix, "a.test. IN TXT \"v=spf1 -all\"", "fix taken");
	ok(r.f[0].fix == NULL, "no fix: NULL");
	dnscheck_report_free(&r);
	ok(r.n == 0 && r.f == NULL, "freed report is empty");

	is_str(dnscheck_status_str(DNSCHECK_PASS), "PASS", "PASS");
	is_str(dnscheck_status_str(DNSCHECK_INFO), "INFO", "INFO");
	is_str(dnscheck_status_str(DNSCHECK_WARN), "WARN", "WARN");
	is_str(dnscheck_status_str(DNSCHECK_FAIL), "FAIL", "FAIL");
	is_str(dnscheck_status_str((enum dnscheck_status)7), "?", "out of range: ?");
}

/* 127.0.0.1:PORT where nothing listens (bound, then closed): queries get
 * "connection refused" at once. */
static int closed_port(char *out, size_t outsz)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		return -1;
	close(fd);
	return snprintf_ok(out, outsz, "127.0.0.1:%u", ntohs(sa.sin_port));
}

static void test_run(void)
{
	struct dnscheck_opts o;
	struct dnscheck_report r;
	struct mm_err err;
	char dead[64];
	const char *good[] = { "good.test" };
	const char *bad[] = { "bad..name", "nodot", "GOOD.test." };
	const char *sel[] = { "s" };

	if (!ok(closed_port(dead, sizeof dead) == 0, "a closed local port"))
		return;
	memset(&o, 0, sizeof o);
	o.resolver = dead;

	o.root = "/nonexistent/root";
	is_int(dnscheck_run(&o, good, 1, &r, &err), DNSCHECK_EOPTS, "--root not a directory: option error");
	is_str(err.msg, "--root /nonexistent/root: not a directory", "...said so");
	o.root = NULL;

	o.key = "/nonexistent/key.pem";
	o.selectors = sel;
	o.nselectors = 1;
	is_int(dnscheck_run(&o, good, 1, &r, &err), DNSCHECK_EOPTS, "unreadable --key: option error");
	ok(!strncmp(err.msg, "--key: ", 7), "...named (%s)", err.msg);
	o.key = NULL;
	o.selectors = NULL;
	o.nselectors = 0;

	o.resolver = "not-an-address";
	is_int(dnscheck_run(&o, good, 1, &r, &err), DNSCHECK_EOPTS, "bad --resolver: option error");
	ok(!strncmp(err.msg, "resolver: ", 10), "...named (%s)", err.msg);
	o.resolver = dead;

	o.psl_path = "/nonexistent/psl.dat";
	is_int(dnscheck_run(&o, good, 1, &r, &err), DNSCHECK_ECANT, "no public suffix list: cannot check");
	o.psl_path = NULL;

	is_int(dnscheck_run(&o, good, 1, &r, &err), DNSCHECK_ECANT, "resolver refuses: cannot check");
	ok(strstr(err.msg, "does not answer") && strstr(err.msg, dead), "...naming the resolver (%s)", err.msg);
	ok(r.n == 0 && r.f == NULL, "...and no findings");

	/* unusable names ask nothing: findings, even with nobody to ask */
	is_int(dnscheck_run(&o, bad, 2, &r, &err), DNSCHECK_OK, "only bad names: a report");
	is_int(r.n, 2, "one finding per name");
	is_str(r.f[0].check, "mx", "reported under mx");
	is_str(r.f[0].subject, "bad..name", "subject is the argument");
	is_str(r.f[0].message, "not a usable domain name: empty label in domain name", "empty label said");
	is_str(r.f[1].message, "not a usable domain name: no dot in the name", "missing dot said");
	is_int(r.f[1].status, DNSCHECK_FAIL, "a FAIL");
	is_int(r.cant, 0, "not a could-not-check");
	is_int(r.stats.queries, 0, "no query sent");
	dnscheck_report_free(&r);

	/* a good name among them: the dead resolver is noticed after the
	 * first wave, although the first domain is a bad one */
	is_int(dnscheck_run(&o, bad, 3, &r, &err), DNSCHECK_OK,
	    "bad names first: the first domain decides the early exit");
	ok(r.cant == 1, "...and the good name is a could-not-check");
	ok(r.n >= 3 && !strncmp(r.f[2].message, "could not check: ", 17), "...said in its finding (%s)",
	    r.n >= 3 ? r.f[2].message : "none");
	dnscheck_report_free(&r);
}

int main(void)
{
	test_fix_txt();
	test_clean();
	test_domain_name();
	test_spf();
	test_report();
	test_run();
	return done_testing();
}
