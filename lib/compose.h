/*
 * compose — completing a message mm-send was given: its recipients (from
 * arguments or To:/Cc:/Bcc:, bare local names qualified with a domain as
 * cron's "root") and the header fields a user agent may leave out (Date:,
 * From:'s display name).  Pure string work, no I/O, so unit tests check
 * it directly.
 */
#ifndef MM_COMPOSE_H
#define MM_COMPOSE_H

#include "msg.h"
#include "queue.h"
#include "util.h"

#include <stddef.h>
#include <time.h>

#define COMPOSE_DATE_MAX 64                /* room for any compose_date */
#define COMPOSE_RCPT_MAX QUEUE_RCPT_MAX    /* recipients of one message */
#define COMPOSE_MSGID_RANDOM 12            /* random bytes in a Message-ID we make */

enum compose_status {
	COMPOSE_OK = 0,
	COMPOSE_EBAD = -1,       /* not an address list, or an address starting with '-' */
	COMPOSE_ETOOMANY = -2,   /* more than COMPOSE_RCPT_MAX recipients */
};

/* s is a dot-atom-ish word, as a bare local name ("root") is. */
int compose_is_word(const char *s);

/* Add the addresses of value (an argument or a header field's value:
 * "a@b", "Name <a@b>", "a@b, c@d", or bare local names qualified with
 * dom, which may be NULL) to the *n strings of *v, each once.  An address
 * starting with '-' is refused.  Returns COMPOSE_OK, or an error with err
 * set; what was added before stays in *v. */
enum compose_status compose_rcpts(const char *value, const char *dom, char ***v, size_t *n,
    struct mm_err *err);

/* Append name as an RFC 5322 phrase: atoms as they are, otherwise a quoted
 * string, non-ASCII as an RFC 2047 encoded word.  name holds no CR/LF. */
void compose_display_name(struct buf *out, const char *name);

/* t as an RFC 5322 date-time in local time, "Wed, 2 Dec 2026 11:07:19 +0100". */
void compose_date(char *out, size_t n, time_t t);

/* Complete the header of m (its lines CRLF) into out: From: when from is
 * not NULL (with fullname, if set, as display name; CR, LF and TAB in it
 * become spaces), Date: (now, local time) and Message-ID: (@domain) when
 * missing, all prepended; Bcc: and Resent-Bcc: dropped. */
void compose_header(const struct msg *m, const char *from, const char *fullname,
    const char *domain, time_t now, struct buf *out);

#endif
