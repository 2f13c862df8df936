/* dns: response parsing on hand-built messages (no I/O), names, reverse
 * names, server addresses; timeouts, retries and concurrency against a
 * real UDP socket that never answers. */
#include "dns.h"
#include "tap.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct msg {
	unsigned char b[4096];
	size_t n;
};

static void put8(struct msg *m, unsigned v) { m->b[m->n++] = (unsigned char)v; }
static void put16(struct msg *m, unsigned v) { put8(m, v >> 8); put8(m, v & 0xff); }
static void put32(struct msg *m, unsigned long v) { put16(m, (unsigned)(v >> 16)); put16(m, (unsigned)(v & 0xffff)); }

static void put_name(struct msg *m, const char *name)
{
	const char *p = name, *dot;

	while (*p) {
		dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		put8(m, (unsigned)l);
		memcpy(m->b + m->n, p, l);
		m->n += l;
		p += l;
		if (*p == '.')
			p++;
	}
	put8(m, 0);
}

static void begin(struct msg *m, int rcode, const char *qname, int qtype, unsigned an)
{
	m->n = 0;
	put16(m, 0x1234);
	put16(m, 0x8000 | 0x0400 | (unsigned)rcode);  /* QR, AA */
	put16(m, 1);
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
	put_name(m, qname);
	put16(m, (unsigned)qtype);
	put16(m, 1);
}

static void rr_head(struct msg *m, const char *owner, int type, unsigned rdlen)
{
	put_name(m, owner);
	put16(m, (unsigned)type);
	put16(m, 1);
	put32(m, 300);
	put16(m, rdlen);
}

static unsigned name_len(const char *n) { return n[0] ? (unsigned)strlen(n) + 2 : 1; }

static void rr_a(struct msg *m, const char *owner, const char *ip)
{
	rr_head(m, owner, ns_t_a, 4);
	inet_pton(AF_INET, ip, m->b + m->n);
	m->n += 4;
}

static void rr_name(struct msg *m, const char *owner, int type, const char *target)
{
	rr_head(m, owner, type, name_len(target));
	put_name(m, target);
}

static enum dns_status parse(struct msg *m, const char *q, int t, struct dns_answer *a)
{
	return dns_parse_response(m->b, m->n, q, t, a);
}

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

/* With arguments, a helper for tests/dns.t: "query TYPE NAME [TYPE NAME]..."
 * asks them as one batch through $MM_RESOLVER and prints, per answer,
 * "status nrr tcp=N cnames=N first", then "waves=N queries=N". */
static int helper(int argc, char **argv)
{
	struct mm_err err;
	struct dns_resolver *r = dns_open(NULL, &err);
	struct dns_batch *b;
	struct dns_stats st;
	size_t i;
	int k;

	if (!r || argc < 4 || strcmp(argv[1], "query"))
		return 64;
	b = dns_batch_new(r);
	for (k = 2; k + 1 < argc; k += 2) {
		int t = !strcmp(argv[k], "A") ? ns_t_a : !strcmp(argv[k], "AAAA") ? ns_t_aaaa :
		    !strcmp(argv[k], "MX") ? ns_t_mx : !strcmp(argv[k], "TXT") ? ns_t_txt :
		    !strcmp(argv[k], "PTR") ? ns_t_ptr : ns_t_cname;

		dns_batch_add(b, argv[k + 1], t);
	}
	dns_batch_run(b, &err);
	for (i = 0; i < dns_batch_count(b); i++) {
		const struct dns_answer *a = dns_batch_answer(b, i);
		const struct dns_rr *x = a->nrr ? &a->rr[0] : NULL;

		printf("%s %zu tcp=%d cnames=%zu %s\n", dns_status_str(a->status), a->nrr, a->used_tcp,
		    a->ncnames, !x ? "-" : x->addrstr[0] ? x->addrstr : x->name ? x->name : x->txt ? "txt" : "?");
	}
	dns_get_stats(r, &st);
	printf("waves=%lu queries=%lu\n", st.waves, st.queries);
	dns_batch_free(b);
	dns_close(r);
	return 0;
}

int main(int argc, char **argv)
{
	struct msg m;
	struct dns_answer a;
	struct mm_err err;
	char rev[128], srv[64];
	struct dns_resolver *r;
	int fd, port, i;
	int64_t t0, dt;
	struct dns_stats st;

	if (argc > 1)
		return helper(argc, argv);
	memset(&a, 0, sizeof a);

	/* A */
	begin(&m, 0, "host.example.test", ns_t_a, 2);
	rr_a(&m, "host.example.test", "192.0.2.1");
	rr_a(&m, "HOST.Example.test", "192.0.2.2");
	is_int(parse(&m, "host.example.test.", ns_t_a, &a), DNS_OK, "A answer: ok");
	is_int(a.nrr, 2, "two A records (owner case-insensitive)");
	is_str(a.rr[0].addrstr, "192.0.2.1", "printable address");
	is_int(a.rr[0].family, AF_INET, "family");
	is_str(a.qname, "host.example.test", "qname without the trailing dot");

	/* CNAME chain inside the message */
	begin(&m, 0, "www.example.test", ns_t_a, 3);
	rr_name(&m, "www.example.test", ns_t_cname, "c1.example.test");
	rr_name(&m, "c1.example.test", ns_t_cname, "host.example.test");
	rr_a(&m, "host.example.test", "192.0.2.9");
	is_int(parse(&m, "www.example.test", ns_t_a, &a), DNS_OK, "CNAME chain followed");
	is_int(a.ncnames, 2, "chain of two");
	is_str(a.canon, "host.example.test", "canonical name");
	is_str(a.rr[0].addrstr, "192.0.2.9", "address at the end of the chain");

	/* chain that leaves the message */
	begin(&m, 0, "www.example.test", ns_t_a, 1);
	rr_name(&m, "www.example.test", ns_t_cname, "elsewhere.test");
	is_int(parse(&m, "www.example.test", ns_t_a, &a), DNS_NODATA, "chain leaving the message: nodata");
	ok(a.chain_open && !strcmp(a.canon, "elsewhere.test"), "...with the name still to ask");

	/* CNAME loop */
	begin(&m, 0, "a.example.test", ns_t_a, 2);
	rr_name(&m, "a.example.test", ns_t_cname, "b.example.test");
	rr_name(&m, "b.example.test", ns_t_cname, "a.example.test");
	is_int(parse(&m, "a.example.test", ns_t_a, &a), DNS_ERROR, "CNAME loop: error");
	ok(a.cname_loop, "cname_loop set");

	/* rcodes stay distinct */
	begin(&m, 3, "nx.example.test", ns_t_a, 0);
	is_int(parse(&m, "nx.example.test", ns_t_a, &a), DNS_NXDOMAIN, "rcode 3: nxdomain");
	begin(&m, 2, "sf.example.test", ns_t_a, 0);
	is_int(parse(&m, "sf.example.test", ns_t_a, &a), DNS_SERVFAIL, "rcode 2: servfail");
	begin(&m, 5, "rf.example.test", ns_t_a, 0);
	is_int(parse(&m, "rf.example.test", ns_t_a, &a), DNS_SERVFAIL, "rcode 5 (refused): servfail class");
	is_int(a.rcode, 5, "...with the rcode kept");
	begin(&m, 0, "nd.example.test", ns_t_a, 0);
	is_int(parse(&m, "nd.example.test", ns_t_a, &a), DNS_NODATA, "noerror, no answer: nodata");
	begin(&m, 1, "fe.example.test", ns_t_a, 0);
	is_int(parse(&m, "fe.example.test", ns_t_a, &a), DNS_ERROR, "formerr: error");

	/* TXT strings */
	begin(&m, 0, "t.example.test", ns_t_txt, 1);
	rr_head(&m, "t.example.test", ns_t_txt, 1 + 7 + 1 + 6);
	put8(&m, 7); memcpy(m.b + m.n, "v=spf1 ", 7); m.n += 7;
	put8(&m, 6); memcpy(m.b + m.n, "a -all", 6); m.n += 6;
	is_int(parse(&m, "t.example.test", ns_t_txt, &a), DNS_OK, "TXT ok");
	is_str(a.rr[0].txt, "v=spf1 a -all", "strings concatenated");
	is_int(a.rr[0].nstrings, 2, "two strings");
	is_str(a.rr[0].strings[1], "a -all", "second string kept");

	/* TXT with a length byte that overruns the rdata */
	begin(&m, 0, "t.example.test", ns_t_txt, 1);
	rr_head(&m, "t.example.test", ns_t_txt, 3);
	put8(&m, 9); put8(&m, 'a'); put8(&m, 'b');
	is_int(parse(&m, "t.example.test", ns_t_txt, &a), DNS_ERROR, "TXT string overrunning its RR: error");

	/* MX, null MX */
	begin(&m, 0, "example.test", ns_t_mx, 2);
	rr_head(&m, "example.test", ns_t_mx, 2 + name_len("mx1.example.test"));
	put16(&m, 10); put_name(&m, "mx1.example.test");
	rr_head(&m, "example.test", ns_t_mx, 2 + 1);
	put16(&m, 0); put_name(&m, "");
	is_int(parse(&m, "example.test", ns_t_mx, &a), DNS_OK, "MX ok");
	is_int(a.rr[0].pref, 10, "preference");
	is_str(a.rr[0].name, "mx1.example.test", "exchange");
	is_str(a.rr[1].name, "", "null MX target is the root, \"\"");

	/* truncated message */
	begin(&m, 0, "host.example.test", ns_t_a, 1);
	rr_a(&m, "host.example.test", "192.0.2.1");
	m.n -= 3;
	is_int(parse(&m, "host.example.test", ns_t_a, &a), DNS_ERROR, "cut message: error, no crash");
	is_int(dns_parse_response(m.b, 5, "x.test", ns_t_a, &a), DNS_ERROR, "5-byte message: error");
	dns_answer_free(&a);
	dns_answer_free(&a);
	ok(1, "dns_answer_free twice is safe");

	/* names */
	ok(dns_reverse_name("192.0.2.1", rev, sizeof rev) == 0 && !strcmp(rev, "1.2.0.192.in-addr.arpa"), "IPv4 reverse name");
	ok(dns_reverse_name("2001:db8::1", rev, sizeof rev) == 0 &&
	    !strcmp(rev, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"), "IPv6 reverse name");
	ok(dns_reverse_name("192.0.2.1", rev, 10) < 0, "reverse name: small buffer refused");
	ok(dns_reverse_name("not-an-ip", rev, sizeof rev) < 0, "reverse name: bad address refused");
	ok(dns_name_ok("mail.example.test", &err) == 0, "name ok");
	ok(dns_name_ok("_dmarc.example.test.", &err) == 0, "underscore and trailing dot ok");
	ok(dns_name_ok("a..b", &err) < 0, "empty label refused");
	ok(dns_name_ok("exa\xc3\xa4mple.test", &err) < 0 && strstr(err.msg, "non-ASCII"), "non-ASCII refused");
	{
		char lab[80], longname[300];

		memset(lab, 'a', 64);
		strcpy(lab + 64, ".test");
		ok(dns_name_ok(lab, &err) < 0, "64-octet label refused");
		memset(longname, 'a', 299); longname[299] = '\0';
		for (i = 50; i < 299; i += 50) longname[i] = '.';
		ok(dns_name_ok(longname, &err) < 0, "name over 253 octets refused");
	}
	ok(dns_name_ok("a b.test", &err) < 0, "space refused");

	/* server addresses */
	r = dns_open("127.0.0.1:5353", &err);
	ok(r && !strcmp(dns_server_str(r), "127.0.0.1:5353"), "IP:PORT");
	dns_close(r);
	r = dns_open("[::1]:53", &err);
	ok(r && !strcmp(dns_server_str(r), "[::1]:53"), "[IPv6]:PORT");
	dns_close(r);
	r = dns_open("::1", &err);
	ok(r && !strcmp(dns_server_str(r), "[::1]:53"), "bare IPv6, default port");
	dns_close(r);
	ok(dns_open("resolver.example", &err) == NULL, "a host name is refused");
	ok(dns_open("127.0.0.1:99999", &err) == NULL, "bad port refused");
	{
		/* a host longer than any address is an error, not a shortened spec */
		char lng[300];
		memset(lng, '1', sizeof lng - 4);
		memcpy(lng + sizeof lng - 4, ":53", 4);
		ok(dns_open(lng, &err) == NULL && strstr(err.msg, "too long"),
		    "a too-long resolver host is refused (%s)", err.msg);
	}
	setenv("MM_RESOLVER", "127.0.0.2:1053", 1);
	r = dns_open(NULL, &err);
	ok(r && !strcmp(dns_server_str(r), "127.0.0.2:1053"), "MM_RESOLVER used when no server given");
	dns_close(r);
	unsetenv("MM_RESOLVER");

	/* a real socket that never answers: timeout, retries, concurrency */
	fd = silent_socket(&port);
	snprintf(srv, sizeof srv, "127.0.0.1:%d", port);
	r = dns_open(srv, &err);
	dns_set_timeout(r, 300);
	t0 = now_ms();
	is_int(dns_query(r, "x.example.test", ns_t_a, &a, &err), DNS_TIMEOUT, "silent server: timeout");
	dt = now_ms() - t0;
	ok(dt >= 250 && dt < 1500, "after about the timeout (%lld ms)", (long long)dt);
	dns_answer_free(&a);
	{
		struct dns_batch *b = dns_batch_new(r);
		char n[64];
		int all = 1;

		for (i = 0; i < 20; i++) {
			snprintf(n, sizeof n, "q%d.example.test", i);
			dns_batch_add(b, n, ns_t_a);
		}
		t0 = now_ms();
		dns_batch_run(b, &err);
		dt = now_ms() - t0;
		for (i = 0; i < 20; i++)
			all &= dns_batch_answer(b, (size_t)i)->status == DNS_TIMEOUT;
		ok(all, "20 queries in a batch all time out");
		ok(dt < 1500, "concurrently: %lld ms, not 20 x 300", (long long)dt);
		dns_batch_free(b);
	}
	{
		/* more than DNS_INFLIGHT_MAX: queued, at most that many on the wire */
		struct dns_batch *b = dns_batch_new(r);
		char n[64];
		int all = 1;
		size_t nq = DNS_INFLIGHT_MAX + 36;

		dns_set_timeout(r, 150);
		for (i = 0; i < (int)nq; i++) {
			snprintf(n, sizeof n, "many%d.example.test", i);
			dns_batch_add(b, n, ns_t_a);
		}
		t0 = now_ms();
		dns_batch_run(b, &err);
		dt = now_ms() - t0;
		for (i = 0; i < (int)nq; i++)
			all &= dns_batch_answer(b, (size_t)i)->status == DNS_TIMEOUT;
		ok(all, "%zu queries, all answered (timeout)", nq);
		ok(dt >= 250 && dt < 1500, "in two rounds of at most %d (%lld ms)", DNS_INFLIGHT_MAX, (long long)dt);
		dns_batch_free(b);
		dns_set_timeout(r, 300);
	}
	dns_get_stats(r, &st);
	is_int(st.queries, (21 + DNS_INFLIGHT_MAX + 36) * DNS_TRIES, "each query sent DNS_TRIES times");
	is_int(st.waves, 3, "three waves");
	/* cached: asking again costs nothing */
	dns_query(r, "x.example.test", ns_t_a, &a, &err);
	dns_get_stats(r, &st);
	is_int(st.queries, (21 + DNS_INFLIGHT_MAX + 36) * DNS_TRIES, "second ask answered from the cache");
	dns_answer_free(&a);
	dns_close(r);
	close(fd);

	/* a closed port: refused at once, not a timeout */
	fd = silent_socket(&port);
	close(fd);
	snprintf(srv, sizeof srv, "127.0.0.1:%d", port);
	r = dns_open(srv, &err);
	t0 = now_ms();
	is_int(dns_query(r, "x.example.test", ns_t_a, &a, &err), DNS_ERROR, "closed port: error");
	ok(now_ms() - t0 < 1000, "...at once");
	ok(strstr(err.msg, "no DNS server") != NULL, "...saying so: %s", err.msg);
	dns_answer_free(&a);
	dns_close(r);
	return done_testing();
}
