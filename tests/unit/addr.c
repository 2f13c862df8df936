#include "tap.h"
#include "addr.h"

#include <stdlib.h>

static int path(const char *s, struct addr *a, int *null, int *code)
{
	struct mm_err err = { 0 };
	const char *rest;
	int r = addr_parse_path(s, 1, a, null, &rest, &err);
	*code = err.code;
	return r;
}

int main(void)
{
	struct addr a;
	struct mm_err err;
	int null, code;
	char s[ADDR_STR_MAX];

	ok(path("<Me@Example.COM>", &a, &null, &code) == 0, "simple path");
	is_str(a.local, "me", "local part lowercased");
	is_str(a.domain, "example.com", "domain lowercased");
	addr_format(&a, s);
	is_str(s, "me@example.com", "addr_format");
	ok(path("<>", &a, &null, &code) == 0 && null, "null path");
	ok(path("<@relay.example:me@example.com>", &a, &null, &code) == -1 && code == ADDR_E_POLICY,
	    "source route refused (553)");
	ok(path("<\"a b\"@example.com>", &a, &null, &code) == -1 && code == ADDR_E_POLICY,
	    "quoted local part refused (553)");
	ok(path("<me@[127.0.0.1]>", &a, &null, &code) == -1 && code == ADDR_E_POLICY,
	    "address literal refused (553)");
	ok(path("<;sleep 5;>", &a, &null, &code) == -1 && code == ADDR_E_SYNTAX,
	    "no @ is a syntax error");
	ok(path("me@example.com", &a, &null, &code) == -1 && code == ADDR_E_SYNTAX,
	    "missing brackets");
	ok(path("<a..b@example.com>", &a, &null, &code) == -1, "double dot in local part");
	ok(path("<me@example>", &a, &null, &code) == -1, "domain without dot");
	ok(path("<me@example.com.>", &a, &null, &code) == -1, "trailing dot");
	ok(path("<me@-x.example.com>", &a, &null, &code) == -1, "label with leading hyphen");
	ok(path("<m\xc3\xa9@example.com>", &a, &null, &code) == -1 && code == ADDR_E_POLICY,
	    "8-bit local part refused (553)");
	{
		char big[200];
		memset(big, 'a', 65);
		strcpy(big + 65, "@example.com>");
		char in[220] = "<";
		strcat(in, big);
		ok(path(in, &a, &null, &code) == -1 && code == ADDR_E_POLICY, "65-octet local part refused");
	}

	/* components that become paths */
	ok(addr_component_ok("me", 1, &err) == 0, "plain component");
	ok(addr_component_ok("..", 1, &err) == -1, "\"..\" refused");
	ok(addr_component_ok(".hidden", 1, &err) == -1, "leading dot refused");
	ok(addr_component_ok("a/b", 1, &err) == -1, "slash refused");
	ok(addr_component_ok("tmp", 1, &err) == -1, "tmp refused");
	ok(addr_component_ok("NEW", 1, &err) == -1, "NEW refused");
	ok(addr_component_ok("`id`", 1, &err) == -1, "backquote refused");
	ok(addr_component_ok("a%b", 1, &err) == -1, "percent refused");
	ok(addr_component_ok("first.last_x-y", 1, &err) == 0, "dots, underscore, hyphen allowed");

	{
		char base[ADDR_LOCAL_MAX + 1], suf[ADDR_LOCAL_MAX + 1];
		ok(addr_split_suffix("me+lists", "+/", base, suf) == 1, "suffix found");
		is_str(base, "me", "base");
		is_str(suf, "lists", "suffix");
		ok(addr_split_suffix("me", "+/", base, suf) == 0 && !suf[0], "no suffix");
		ok(addr_split_suffix("me/a+b", "+/", base, suf) == 1 && !strcmp(suf, "a+b"),
		    "split at first separator only");
	}

	/* header address lists */
	{
		struct addr_list l;
		const char *v = "\"Doe, John\" <John@Example.com>, bob@example.org (Bob),\r\n\t"
		    "team: c@example.net, d@example.net;, Eve <eve@example.com>";
		ok(addr_list_parse(v, strlen(v), &l, &err) == 0, "address list parses");
		ok(l.n == 5, "five addresses (got %zu)", l.n);
		if (l.n == 5) {
			addr_format(&l.v[0], s); is_str(s, "john@example.com", "display name with comma");
			addr_format(&l.v[1], s); is_str(s, "bob@example.org", "comment dropped");
			addr_format(&l.v[2], s); is_str(s, "c@example.net", "group member");
			addr_format(&l.v[4], s); is_str(s, "eve@example.com", "last");
		}
		addr_list_free(&l);
		v = "Just A Name";
		ok(addr_list_parse(v, strlen(v), &l, &err) == -1, "a name is not an address");
		v = "a@example.com <b@example.com>";
		ok(addr_list_parse(v, strlen(v), &l, &err) == 0 && l.n == 1 &&
		    !strcmp(l.v[0].local, "b"), "angle address wins over text");
		addr_list_free(&l);
		v = "x@example.com , y@example.com ";
		ok(addr_list_parse(v, strlen(v), &l, &err) == 0 && l.n == 2, "blanks around addresses");
		addr_list_free(&l);
	}
	return done_testing();
}
