/* lib/dkimcanon's portable path (eight bytes in a 64-bit word), which
 * x86-64 builds never take: compiled here with DKIMCANON_NO_SIMD and
 * compared with the reference on the same random bodies as the SSE2 path
 * in dkimcanon.t. */
#define DKIMCANON_NO_SIMD
#include "../../lib/dkimcanon.c"

#include "tap.h"
#include "dkimcanon_ref.h"

_Static_assert(BLOCK == 8, "the portable path is the one under test");

int main(void)
{
	int errors, agree, same;

	srand(2);
	same = ref_compare_random(20000, &errors, &agree);
	ok(same == 20000 - errors, "%d random bodies: the 64-bit-word scanner's hash is the reference's (%d)",
	    20000 - errors, same);
	ok(errors > 100 && agree == errors, "%d bodies with a bare CR or LF: all refused (%d)", errors,
	    agree);
	return done_testing();
}
