#include "send_mx.h"
#include <stdio.h>

void send_mx_deliver(const struct send_mx_opts *o, const char *from, struct smtpc_rcpt *r,
    size_t n, const char *msg, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		r[i].st = SMTPC_TEMP;
		snprintf(r[i].text, sizeof(r[i].text), "--mx is not available yet");
	}
}
