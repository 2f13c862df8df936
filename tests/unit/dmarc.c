/* dmarc: record tags, organisational domains from the real PSL, alignment. */
#include "dmarc.h"
#include "tap.h"

#include <stdlib.h>

static int parses(const char *txt)
{
	struct dmarc_record r;
	struct mm_err err;
	int rc = dmarc_parse(txt, &r, &err);

	if (rc == 0)
		dmarc_record_free(&r);
	return rc == 0;
}

int main(void)
{
	struct dmarc_record r;
	struct mm_err err;
	struct dmarc_psl *psl;
	char org[256];

	ok(dmarc_parse("v=DMARC1; p=reject; sp=none; pct=50; adkim=s; aspf=r; fo=1:d; ri=3600; "
	    "rua=mailto:a@example.org,mailto:b@rep.example.net!10m; ruf=mailto:f@example.org",
	    &r, &err) == 0, "full record parses");
	is_int(r.p, DMARC_POLICY_REJECT, "p=reject");
	is_int(r.sp, DMARC_POLICY_NONE, "sp=none");
	is_int(r.pct, 50, "pct=50");
	is_int(r.adkim, 's', "adkim=s");
	is_int(r.aspf, 'r', "aspf=r");
	is_str(r.fo, "1:d", "fo=1:d");
	is_int(r.ri, 3600, "ri=3600");
	is_int(r.nrua, 2, "two rua URIs");
	is_int(r.nruf, 1, "one ruf URI");
	ok(dmarc_uri_domain(r.rua[1], org, sizeof org) == 0 && !strcmp(org, "rep.example.net"),
	    "rua URI domain without the size suffix");
	dmarc_record_free(&r);

	ok(dmarc_parse("v=DMARC1;p=none", &r, &err) == 0, "minimal record");
	is_int(r.pct, 100, "pct defaults to 100");
	is_int(r.adkim, 'r', "adkim defaults to r");
	is_int(r.sp, DMARC_POLICY_UNSET, "sp unset");
	dmarc_record_free(&r);

	ok(!parses("p=reject; v=DMARC1"), "v= not first is invalid");
	ok(!parses("v=DMARC1"), "no p= is invalid");
	ok(!parses("v=DMARC1; p=block"), "bad p= is invalid");
	ok(!parses("v=DMARC1; p=none; sp=maybe"), "bad sp= is invalid");
	ok(!parses("v=DMARC1; p=none; pct=101"), "pct=101 is invalid");
	ok(!parses("v=DMARC1; p=none; pct=-1"), "pct=-1 is invalid");
	ok(!parses("v=DMARC1; p=none; adkim=x"), "adkim=x is invalid");
	ok(!parses("v=DMARC1; p=none; aspf=relaxed"), "aspf=relaxed is invalid");
	ok(!parses("v=DMARC1; p=none; fo=2"), "fo=2 is invalid");
	ok(!parses("v=DMARC1; p=none; ri=soon"), "ri=soon is invalid");
	ok(!parses("v=DMARC1; p=none; rua=http://x.example/"), "non-mailto rua is invalid");
	ok(!parses("v=DMARC1; p=none; rua=mailto:nobody"), "rua without a domain is invalid");
	ok(!parses("v=DMARC1; p"), "tag without = is invalid");
	ok(dmarc_parse("v=DMARC1; p=none; foo=bar", &r, &err) == 0 && r.warnings &&
	    strstr(r.warnings, "foo"), "unknown tag is a warning");
	dmarc_record_free(&r);
	ok(dmarc_is_record("v=DMARC1; p=none"), "is a DMARC record");
	ok(!dmarc_is_record("v=spf1 -all"), "SPF is not a DMARC record");
	ok(!dmarc_is_record("v=DMARC10; p=none"), "v=DMARC10 is not DMARC1");

	psl = dmarc_psl_load(NULL, &err);
	if (!ok(psl != NULL, "Debian's public suffix list loads"))
		printf("# %s\n", err.msg);
	if (psl) {
		static const char *cases[][2] = {
			{ "mail.example.com", "example.com" },
			{ "example.com", "example.com" },
			{ "a.b.example.co.uk", "example.co.uk" },
			{ "co.uk", "co.uk" },
			{ "x.y.foo.ck", "y.foo.ck" },      /* *.ck */
			{ "a.www.ck", "www.ck" },          /* !www.ck */
			{ "MX.Example.ORG.", "example.org" },
			{ "host.example.test", "example.test" }, /* implicit * */
		};
		size_t i;

		for (i = 0; i < MM_NELEM(cases); i++) {
			org[0] = '\0';
			dmarc_org_domain(psl, cases[i][0], org, sizeof org);
			is_str(org, cases[i][1], cases[i][0]);
		}
		ok(dmarc_aligned(psl, "mail.example.com", "example.com", 0), "relaxed: subdomain aligned");
		ok(!dmarc_aligned(psl, "mail.example.com", "example.com", 1), "strict: subdomain not aligned");
		ok(dmarc_aligned(psl, "Example.com", "example.COM", 1), "strict: case-insensitive");
		ok(!dmarc_aligned(psl, "a.co.uk", "b.co.uk", 0), "relaxed: siblings under a public suffix are not");
		dmarc_psl_free(psl);
	}
	return done_testing();
}
