/* libFuzzer: the DATA machine.  Properties checked: feeding in one piece
 * or byte by byte gives the same result (chunking never matters, so no
 * end can hide across reads); an end is only ever found right after
 * "\r\n.\r\n" (or ".\r\n" at the very start); output never exceeds max. */
#include <stdint.h>
#include <string.h>
#include "smtpd.h"

#define FUZZ_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpd_dot d1, d2;
	struct buf o1, o2;
	size_t used1, used2 = 0;
	int norm = size && (data[0] & 1);

	smtpd_dot_init(&d1, FUZZ_MAX, norm);
	smtpd_dot_init(&d2, FUZZ_MAX, norm);
	buf_init(&o1);
	buf_init(&o2);
	used1 = smtpd_dot_feed(&d1, (const char *)data, size, &o1);
	while (used2 < size && !d2.done)
		used2 += smtpd_dot_feed(&d2, (const char *)data + used2, 1, &o2);
	if (used1 != used2 || d1.done != d2.done || d1.flags != d2.flags || o1.len != o2.len ||
	    memcmp(o1.data, o2.data, o1.len))
		__builtin_trap();
	if (o1.len > FUZZ_MAX)
		__builtin_trap();
	if (d1.done) {
		const char *p = (const char *)data;
		if (!(used1 == 3 && !memcmp(p, ".\r\n", 3)) &&
		    !(used1 >= 5 && !memcmp(p + used1 - 5, "\r\n.\r\n", 5)))
			__builtin_trap();
	}
	buf_free(&o1);
	buf_free(&o2);
	return 0;
}
