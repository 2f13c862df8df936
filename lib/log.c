/*
 * log — see log.h.  Lines are formatted once into a buffer and written
 * with one write(2), so concurrent children never interleave mid-line.
 */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static const char *progname = "mm";
static enum log_dest dest = LOG_DEST_STDERR;
static enum log_level maxlvl = LOG_LVL_INFO;

void log_init(const char *name, enum log_dest d)
{
	progname = name;
	dest = d;
	if (d == LOG_DEST_SYSLOG)
		openlog(name, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

int log_parse_dest(const char *s, enum log_dest *out)
{
	if (!strcmp(s, "syslog"))
		*out = LOG_DEST_SYSLOG;
	else if (!strcmp(s, "stderr"))
		*out = LOG_DEST_STDERR;
	else if (!strcmp(s, "none"))
		*out = LOG_DEST_NONE;
	else
		return -1;
	return 0;
}

void log_set_level(enum log_level max)
{
	maxlvl = max;
}

const char *log_progname(void)
{
	return progname;
}

static void emit_stderr(const char *msg)
{
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "%s: %s\n", progname, msg);
	(void)write_all(2, b.data, b.len);
	buf_free(&b);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	struct buf b;
	va_list ap;

	if (lvl > maxlvl || dest == LOG_DEST_NONE)
		return;
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	/* A log line is one line: never let a peer's CR/LF forge another. */
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n' || b.data[i] == '\r' || (unsigned char)b.data[i] < 0x20)
			b.data[i] = '?';
	if (dest == LOG_DEST_SYSLOG)
		syslog(prio[lvl], "%s", b.data);
	else
		emit_stderr(b.data);
	buf_free(&b);
}

MM_PRINTF(1, 0)
static void warn_v(const char *fmt, va_list ap)
{
	struct buf b;

	buf_init(&b);
	buf_vprintf(&b, fmt, ap);
	emit_stderr(b.data ? b.data : "");
	buf_free(&b);
}

void mm_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	warn_v(fmt, ap);
	va_end(ap);
}

void mm_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	warn_v(fmt, ap);
	va_end(ap);
	exit(code);
}
