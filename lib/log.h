/*
 * log — one line per event, to syslog (the default for daemons: under inetd
 * fd 2 is the client's socket) or to stderr (interactive tools, systemd's
 * journal with --log stderr).  Every line starts with the program name, so
 * messages read "mm-recv: what: why".
 */
#ifndef MM_LOG_H
#define MM_LOG_H

#include "util.h"

enum log_dest {
	LOG_DEST_STDERR,
	LOG_DEST_SYSLOG,
	LOG_DEST_NONE,
};

enum log_level {
	LOG_LVL_ERR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Set the program name ("mm-recv") and where lines go. */
void log_init(const char *progname, enum log_dest dest);
/* Parse "syslog" | "stderr" | "none". */
int log_parse_dest(const char *s, enum log_dest *out);
void log_set_level(enum log_level max);
const char *log_progname(void);

void log_msg(enum log_level lvl, const char *fmt, ...) MM_PRINTF(2, 3);
#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* For cmd/: "PROG: message" on stderr, whatever the log destination. */
void mm_warnx(const char *fmt, ...) MM_PRINTF(1, 2);
/* mm_warnx, then exit(code). */
MM_NORETURN void mm_die(int code, const char *fmt, ...) MM_PRINTF(2, 3);

#endif
