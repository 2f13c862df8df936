/* libFuzzer: dns_parse_response on arbitrary bytes, for a few question types. */
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int types[] = { ns_t_a, ns_t_aaaa, ns_t_mx, ns_t_txt, ns_t_ptr, ns_t_cname };
	struct dns_answer a = { 0 };
	size_t i;

	for (i = 0; i < sizeof types / sizeof types[0]; i++) {
		dns_parse_response(data, size, "example.test", types[i], &a);
		dns_answer_free(&a);
	}
	return 0;
}
