/* libFuzzer: smtpd_parse_cmd and smtpd_parse_mail_params on any line;
 * then, for MAIL/RCPT, the path parser as the session calls it. */
#include <stdint.h>
#include <string.h>
#include "addr.h"
#include "smtpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpd_cmd c;
	struct smtpd_mail_params p;
	struct addr a;
	struct mm_err e;
	const char *rest;
	int null;

	if (size > SMTPD_CMD_MAX)
		size = SMTPD_CMD_MAX;
	smtpd_parse_cmd((const char *)data, size, &c);
	if (c.lerr != SMTPD_L_OK)
		return 0;
	if (strlen(c.arg) != c.arglen)
		__builtin_trap();
	if ((c.verb == SMTPD_V_MAIL || c.verb == SMTPD_V_RCPT) && c.arglen > 5) {
		const char *s = c.arg + (c.verb == SMTPD_V_MAIL ? 5 : 3);
		if (addr_parse_path(s, c.verb == SMTPD_V_MAIL, &a, &null, &rest, &e) == 0)
			(void)smtpd_parse_mail_params(rest, &p, &e);
	}
	(void)smtpd_parse_mail_params(c.arg, &p, &e);
	return 0;
}
