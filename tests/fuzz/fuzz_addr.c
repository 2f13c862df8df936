/* libFuzzer: envelope paths and the address-as-path rules.  Property: an
 * address that passes every check mm-recv applies becomes only path
 * components of [a-z0-9._-], never "." or "..", never tmp/new/cur. */
#include <stdint.h>
#include <string.h>
#include "addr.h"

static void must_be_safe(const char *c)
{
	if (!*c || !strcmp(c, ".") || !strcmp(c, "..") || c[0] == '.')
		__builtin_trap();
	for (; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' ||
		    *c == '-'))
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[1024], base[ADDR_LOCAL_MAX + 1], suffix[ADDR_LOCAL_MAX + 1];
	struct addr a;
	struct mm_err e;
	const char *rest;
	int null, has;

	if (size >= sizeof s)
		size = sizeof s - 1;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_parse_path(s, 1, &a, &null, &rest, &e) < 0 || null)
		return 0;
	if (addr_domain_ok(a.domain, &e) < 0)
		__builtin_trap();
	has = addr_split_suffix(a.local, "+/", base, suffix);
	if (addr_component_ok(base, 1, &e) < 0 || (has && addr_component_ok(suffix, 1, &e) < 0))
		return 0;
	must_be_safe(a.domain);
	must_be_safe(base);
	if (has) {
		must_be_safe(suffix);
		if (!strcmp(suffix, "tmp") || !strcmp(suffix, "new") || !strcmp(suffix, "cur"))
			__builtin_trap();
	}
	return 0;
}
