/* libFuzzer: the queue's envelope parser (lib/queue), which reads files a
 * crash, a full disk or a person may have damaged.  Properties: it never
 * crashes; whatever it accepts passes queue_env_check (so it could be
 * written back), and encoding it and decoding that again gives the same
 * encoding (nothing is lost or changed on an update). */
#include <stdint.h>
#include <string.h>
#include "queue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_env e, f;
	struct mm_err err;
	struct buf a, b;

	if (size > QUEUE_ENV_MAX)
		return 0;
	if (queue_env_decode((const char *)data, size, &e, &err) < 0)
		return 0;
	if (queue_env_check(&e, &err) < 0)
		__builtin_trap();
	buf_init(&a);
	buf_init(&b);
	queue_env_encode(&e, &a);
	if (queue_env_decode(a.data, a.len, &f, &err) < 0)
		__builtin_trap();
	queue_env_encode(&f, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len))
		__builtin_trap();
	for (size_t i = 0; i < a.len; i++)
		if ((a.data[i] < 32 && a.data[i] != '\n') || a.data[i] == 127)
			__builtin_trap();
	queue_env_free(&f);
	queue_env_free(&e);
	buf_free(&a);
	buf_free(&b);
	return 0;
}
