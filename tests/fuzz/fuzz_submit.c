/* libFuzzer: the two parsers of lib/submit that read what a client sent.
 * submit_h_covers (a signature's h= list): the answer is 0 or 1, and 1
 * only when each required name really is in the list.  submit_msg_ids
 * (the b= of every DKIM-Signature in a message): never more than asked
 * for, each a 64-digit lowercase hex id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "submit.h"

#define FUZZ_IDS 4

static int has_name(const char *h, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = h; (p = strcasestr(p, name)); p++)
		if (p[n] == '\0' || p[n] == ':' || p[n] == ' ' || p[n] == '\t' || p[n] == '\r' ||
		    p[n] == '\n')
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *h = malloc(size + 1);
	char ids[FUZZ_IDS][SUBMIT_REPLAY_ID_LEN + 1];
	const char *missing = NULL;
	size_t n;
	int c;

	memcpy(h, data, size);
	h[size] = '\0';
	c = submit_h_covers(h, &missing);
	if (c != 0 && c != 1)
		__builtin_trap();
	if (c == 1 && !(has_name(h, "from") && has_name(h, "to") && has_name(h, "subject") &&
	    has_name(h, "date")))
		__builtin_trap();
	if (c == 0 && !missing)
		__builtin_trap();
	free(h);
	n = submit_msg_ids((const char *)data, size, ids, FUZZ_IDS);
	if (n > FUZZ_IDS)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		if (strlen(ids[i]) != SUBMIT_REPLAY_ID_LEN)
			__builtin_trap();
		for (size_t k = 0; k < SUBMIT_REPLAY_ID_LEN; k++)
			if (!((ids[i][k] >= '0' && ids[i][k] <= '9') || (ids[i][k] >= 'a' && ids[i][k] <= 'f')))
				__builtin_trap();
	}
	return 0;
}
