/* libFuzzer: the relaxed body hash.  Properties checked: a body is
 * refused exactly when it has a bare CR or LF; otherwise its hash is the
 * hash of what the obvious line-by-line reference (dkimcanon_ref.h)
 * makes of it, so the block scanner never skips or misreads a byte. */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "dkimcanon.h"
#include "../unit/dkimcanon_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *b = (const char *)data;
	unsigned char got[DKIMCANON_HASH_LEN], want[EVP_MAX_MD_SIZE];
	unsigned int wl = 0;
	struct mm_err err = { 0 };
	int r = dkimcanon_body_sha256(b, size, got, &err);

	if (ref_first_bare(b, size) < size) {
		if (r != -1)
			__builtin_trap();
		return 0;
	}
	if (r != 0)
		__builtin_trap();
	struct buf ref;
	buf_init(&ref);
	ref_body(b, size, &ref);
	EVP_Digest(ref.data ? ref.data : "", ref.len, want, &wl, EVP_sha256(), NULL);
	if (wl != DKIMCANON_HASH_LEN || memcmp(got, want, wl))
		__builtin_trap();
	buf_free(&ref);
	return 0;
}
