/* libFuzzer: the record parsers mm-dnscheck feeds with DNS data: DMARC,
 * DKIM key records, SPF term counting. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkimkey.h"
#include "dmarc.h"
#include "spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct dmarc_record r;
	struct dkimkey k;
	struct mm_err err;
	char **t = NULL, **via = NULL, dom[256];
	size_t n = 0, i;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (dmarc_parse(s, &r, &err) == 0)
		dmarc_record_free(&r);
	dmarc_uri_domain(s, dom, sizeof dom);
	if (dkimkey_parse(s, &k, &err) == 0)
		dkimkey_free(&k);
	spf_count_terms(s, &t, &via, &n);
	for (i = 0; i < n; i++) {
		free(t[i]);
		free(via[i]);
	}
	free(t);
	free(via);
	free(s);
	return 0;
}
