/*
 * addr — mail addresses, parsed and judged without any I/O.
 *
 * Two grammars live here: the RFC 5321 envelope path ("<local@domain>",
 * as in MAIL FROM and RCPT TO) and the RFC 5322 address list of header
 * fields (From:, To:, Cc:, with display names, comments and groups).
 *
 * mm treats an address as a file system path (ROOT/domain/local/suffix),
 * so beyond the grammar this module also says whether an address is safe
 * to become a path: every component lowercase [a-z0-9._-], no leading dot,
 * no "..", RFC 5321 lengths, the domain a dotted LDH name.  The grammar is
 * deliberately narrower than RFC 5321 (no quoted local parts, no address
 * literals, no source routes, no 8-bit): those are refused, with a reason,
 * as ADDR_E_POLICY (SMTP 553), while broken syntax is ADDR_E_SYNTAX (501).
 */
#ifndef MM_ADDR_H
#define MM_ADDR_H

#include "util.h"

#define ADDR_LOCAL_MAX  64    /* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX 255   /* RFC 5321 4.5.3.1.2 */
#define ADDR_LABEL_MAX  63    /* RFC 1035 */
#define ADDR_PATH_MAX   256   /* RFC 5321 4.5.3.1.3, including < > */
#define ADDR_LIST_MAX   1000  /* addresses taken from one header field */

/* err->code after a failed parse */
enum addr_error {
	ADDR_E_SYNTAX = 1,    /* not an address at all: 501 */
	ADDR_E_POLICY = 2,    /* an address we refuse to handle: 553 */
};

struct addr {
	char local[ADDR_LOCAL_MAX + 1];
	char domain[ADDR_DOMAIN_MAX + 1];
};

/* "local@domain" as one string (at most 64+1+255 octets + NUL). */
#define ADDR_STR_MAX (ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX + 1)
void addr_format(const struct addr *a, char out[ADDR_STR_MAX]);

/*
 * Parse a bare mailbox "local@domain" of exactly len bytes.  The local part
 * is a dot-atom of atext; the domain must pass addr_domain_ok.  Both are
 * stored lowercase.  On failure err->code is an enum addr_error.
 */
int addr_parse_mailbox(const char *s, size_t len, struct addr *out, struct mm_err *err);

/*
 * Parse an SMTP path at the start of s: "<mailbox>" or, if null_ok, "<>".
 * A source route ("<@a,@b:x@y>") is refused.  On success *null is set for
 * "<>", and *rest points after '>' (where ESMTP parameters begin).
 */
int addr_parse_path(const char *s, int null_ok, struct addr *out, int *null,
    const char **rest, struct mm_err *err);

/* A domain that may become a directory name: dotted LDH labels, at least
 * one dot, no trailing dot, total <= 255, labels 1..63, no leading or
 * trailing hyphen.  Case-insensitive (callers lowercase). */
int addr_domain_ok(const char *domain, struct mm_err *err);

/* One path component (local part, or suffix): 1..64 of [a-z0-9._-] after
 * lowercasing, no leading dot, no "..".  "tmp", "new", "cur" are refused
 * when maildir_names is set (they would alias the Maildir's own folders). */
int addr_component_ok(const char *comp, int maildir_names, struct mm_err *err);

/* Split a local part at the first separator from seps ("+/" by default):
 * base gets what is before it, suffix what is after (empty if none).
 * Returns 1 if a separator was found, 0 if not. */
int addr_split_suffix(const char *local, const char *seps,
    char base[ADDR_LOCAL_MAX + 1], char suffix[ADDR_LOCAL_MAX + 1]);

/*
 * RFC 5322 address list ("A <a@x>, b@y (c), grp: c@z;").  Display names,
 * comments and groups are understood and dropped; each addr-spec is then
 * parsed as addr_parse_mailbox.  An entry that is not a usable address
 * makes the whole call fail with its reason (callers decide whether a bad
 * header is fatal).
 */
struct addr_list {
	struct addr *v;
	size_t n;
};
int addr_list_parse(const char *value, size_t len, struct addr_list *out, struct mm_err *err);
void addr_list_free(struct addr_list *l);

#endif
