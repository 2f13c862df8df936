/*
 * compose — completing a message mm-send was given: the header fields a
 * user agent may leave out (Date:, From:'s display name, ...).  Pure
 * string work, no I/O, so unit tests check it directly.
 */
#ifndef MM_COMPOSE_H
#define MM_COMPOSE_H

#include <stddef.h>
#include <time.h>

#define COMPOSE_DATE_MAX 64   /* room for any compose_date */

/* t as an RFC 5322 date-time in local time, "Wed, 2 Dec 2026 11:07:19 +0100". */
void compose_date(char *out, size_t n, time_t t);

#endif
