/*
 * conf — configuration files as command lines.
 *
 * A config file holds lines of "long-option value" (or a lone
 * "long-option" for a flag); '#' starts a comment, blank lines are
 * ignored.  conf_load turns each line into "--long-option" ["value"] and
 * appends it to an argument vector; the tool then parses
 * [argv0, config args..., real args...] with its ordinary getopt_long, so
 * the command line wins because later options override earlier ones, and
 * a config file can say nothing a command line could not.
 */
#ifndef MM_CONF_H
#define MM_CONF_H

#include "util.h"

#define CONF_MAX_BYTES (64 * 1024)   /* a config file larger than this is an error */
#define CONF_MAX_LINE  4096

struct argvec {
	char **v;
	size_t n;
	size_t cap;
};

void argvec_init(struct argvec *a);
void argvec_push(struct argvec *a, const char *s);   /* copies s */
void argvec_free(struct argvec *a);
/* NULL-terminated view, valid until the next push. */
char **argvec_argv(struct argvec *a);

/* Append the options of PATH to a.  A missing file is not an error when
 * optional is set (returns 0, nothing appended). */
int conf_load(const char *path, int optional, struct argvec *a, struct mm_err *err);

/* Split a command string into words without a shell: words are separated
 * by blanks; '...' quotes literally, "..." quotes with \" and \\ escapes,
 * a backslash outside quotes escapes the next character.  No expansion of
 * any kind ($, `, ~, globs) ever happens. */
int conf_split_words(const char *s, struct argvec *out, struct mm_err *err);

#endif
