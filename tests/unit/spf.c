/* spf: term counting (no I/O), libspf2 syntax check in its sandbox, and
 * spf_eval's guarantees: bad input and an unanswering resolver give a
 * temperror verdict with a header, within the deadline, never a crash. */
#include "spf.h"
#include "tap.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int silent_socket(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t l = sizeof sa;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &l) < 0)
		abort();
	*port = ntohs(sa.sin_port);
	return fd;
}

static void free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* With arguments, a helper for tests/spfeval.t: "eval IP HELO FROM"
 * evaluates through $MM_RESOLVER and prints result, rc, header. */
static int helper(int argc, char **argv)
{
	struct spf_verdict v;
	struct mm_err err = { 0 };
	int rc;

	if (argc != 5 || strcmp(argv[1], "eval"))
		return 64;
	rc = spf_eval(NULL, argv[2], argv[3], argv[4], 5000, &v, &err);
	printf("%s %d\n%s\n%s\n", spf_vresult_str(v.result), rc, v.received_spf, v.explanation);
	return 0;
}

int main(int argc, char **argv)
{
	char **t = NULL, **via = NULL, srv[64];
	size_t n = 0;
	struct mm_err err;
	struct spf_verdict v;
	int fd, port, rc;
	int64_t t0, dt;

	if (argc > 1)
		return helper(argc, argv);
	is_int(spf_count_terms("v=spf1 a mx include:_spf.example.test redirect=other.test ip4:192.0.2.1 -all",
	    &t, &via, &n), 4, "a, mx, include, redirect count; ip4 and all do not");
	is_int(n, 2, "two targets");
	ok(n == 2 && !strcmp(t[0], "_spf.example.test") && !strcmp(via[0], "include"), "include target");
	ok(n == 2 && !strcmp(t[1], "other.test") && !strcmp(via[1], "redirect"), "redirect target");
	free_list(t, n);
	free_list(via, n);
	is_int(spf_count_terms("v=spf1 +a:mail.example.test/24 ~mx:example.test//64 ?ptr exists:%{i}.x.test -all",
	    NULL, NULL, NULL), 4, "qualifiers, CIDR suffixes, macros");
	is_int(spf_count_terms("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 exp=explain.test -all", NULL, NULL, NULL),
	    0, "ip4, ip6, exp= are no lookups");
	is_int(spf_count_terms("v=spf1 INCLUDE:X.TEST MX -ALL", &t, &via, &n), 2, "case-insensitive");
	ok(n == 1 && !strcmp(t[0], "x.test"), "target lowercased");
	free_list(t, n);
	free_list(via, n);
	is_int(spf_count_terms("", NULL, NULL, NULL), 0, "empty record");

	ok(spf_syntax_check("v=spf1 mx ip4:192.0.2.0/24 include:x.test -all", &err) == 0, "valid record compiles");
	ok(spf_syntax_check("v=spf1 ip4:300.1.1.1 -all", &err) < 0 && strstr(err.msg, "300.1.1.1"),
	    "bad ip4 refused with libspf2's message");
	ok(spf_syntax_check("v=spf1 include:%{z}.test -all", &err) < 0, "bad macro refused");

	is_str(spf_vresult_str(SPF_V_PASS), "pass", "pass");
	is_str(spf_vresult_str(SPF_V_SOFTFAIL), "softfail", "softfail");
	is_str(spf_vresult_str(SPF_V_PERMERROR), "permerror", "permerror");
	is_str(spf_vresult_str(SPF_V_NONE), "none", "none");

	rc = spf_eval("127.0.0.1:1", "not-an-ip", "helo.test", "a@b.test", 1000, &v, &err);
	ok(rc < 0 && v.result == SPF_V_TEMPERROR, "bad client address: temperror, -1");
	ok(strstr(v.received_spf, "temperror") == v.received_spf, "...with a Received-SPF value: %s", v.received_spf);

	/* a resolver that never answers: temperror within the deadline */
	fd = silent_socket(&port);
	snprintf(srv, sizeof srv, "127.0.0.1:%d", port);
	t0 = now_ms();
	rc = spf_eval(srv, "192.0.2.1", "helo.example.test", "a@example.test", 800, &v, &err);
	dt = now_ms() - t0;
	is_int(v.result, SPF_V_TEMPERROR, "silent resolver: temperror");
	ok(dt < 2000, "within the deadline (%lld ms)", (long long)dt);
	ok(v.received_spf[0] != '\0' && !strchr(v.received_spf, '\n'), "header value, one line");
	(void)rc;

	/* null sender: the HELO identity is checked */
	rc = spf_eval(srv, "192.0.2.1", "helo.example.test", "", 500, &v, &err);
	is_int(v.result, SPF_V_TEMPERROR, "null sender evaluated (temperror here, no crash)");

	/* the child crashing (libspf2 calls abort()) or hanging: temperror */
	setenv("MM_SPF_TEST_ABORT", "1", 1);
	rc = spf_eval(srv, "192.0.2.1", "helo.example.test", "a@example.test", 2000, &v, &err);
	ok(rc < 0 && v.result == SPF_V_TEMPERROR, "child abort(): temperror, -1");
	ok(strstr(v.explanation, "crashed (signal 6)") != NULL, "...saying so: %s", v.explanation);
	unsetenv("MM_SPF_TEST_ABORT");
	setenv("MM_SPF_TEST_HANG", "1", 1);
	t0 = now_ms();
	rc = spf_eval(srv, "192.0.2.1", "helo.example.test", "a@example.test", 500, &v, &err);
	dt = now_ms() - t0;
	ok(rc < 0 && v.result == SPF_V_TEMPERROR, "child hangs: temperror, -1");
	ok(dt >= 450 && dt < 1500, "killed at the deadline (%lld ms)", (long long)dt);
	ok(strstr(v.received_spf, "temperror") == v.received_spf, "...with a header: %s", v.received_spf);
	unsetenv("MM_SPF_TEST_HANG");
	close(fd);
	return done_testing();
}
