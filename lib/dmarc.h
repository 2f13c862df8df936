/*
 * dmarc — DMARC (RFC 7489) records, organisational domains and alignment,
 * without I/O (the caller fetches "_dmarc.DOMAIN" TXT through lib/dns).
 *
 * The organisational domain comes from the Public Suffix List as Debian's
 * `publicsuffix` package ships it (DMARC_PSL_PATH), never from a
 * hand-made table: "mail.example.co.uk" -> "example.co.uk".
 */
#ifndef MM_DMARC_H
#define MM_DMARC_H

#include <stddef.h>

#include "util.h"

#define DMARC_PSL_PATH     "/usr/share/publicsuffix/public_suffix_list.dat"
#define DMARC_PSL_MAX      (16 * 1024 * 1024)  /* bytes of PSL file read */
#define DMARC_RECORD_MAX   4096                /* octets of one record parsed */
#define DMARC_URIS_MAX     16                  /* rua/ruf URIs kept each */
#define DMARC_DOMAIN_MAX   255

enum dmarc_policy {
	DMARC_POLICY_UNSET = 0,   /* sp= absent: inherit p= */
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};
const char *dmarc_policy_str(enum dmarc_policy p);   /* "none", ... */

struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp;     /* DMARC_POLICY_UNSET when absent */
	int pct;                  /* 0..100, default 100 */
	char adkim;               /* 'r' (default) or 's' */
	char aspf;                /* 'r' (default) or 's' */
	char fo[16];              /* default "0" */
	long ri;                  /* default 86400 */
	char **rua, **ruf;        /* URIs as written (mailto:...) */
	size_t nrua, nruf;
	char *warnings;           /* non-fatal remarks, "; "-separated, or NULL */
};

/*
 * Parse one record ("v=DMARC1; p=reject; ...").  Strict where RFC 7489
 * is: v=DMARC1 must be first, p= must be present (or the record is
 * invalid), every known tag's value must be valid.  Unknown tags are
 * ignored with a warning.  0, or -1 with err naming the bad tag.
 */
int dmarc_parse(const char *txt, struct dmarc_record *out, struct mm_err *err);
void dmarc_record_free(struct dmarc_record *r);

/* Is this TXT string a DMARC record at all ("v=DMARC1" first)? */
int dmarc_is_record(const char *txt);

/* The domain of a "mailto:addr@domain!size" URI, lowercased.  0 or -1. */
int dmarc_uri_domain(const char *uri, char *out, size_t outsz);

/* Public suffix list. */
struct dmarc_psl;
struct dmarc_psl *dmarc_psl_load(const char *path /* NULL: DMARC_PSL_PATH */,
    struct mm_err *err);
void dmarc_psl_free(struct dmarc_psl *psl);

/* Organisational domain of domain into out (lowercase).  A public suffix
 * itself is its own organisational domain.  0 or -1 (bad name/small out). */
int dmarc_org_domain(const struct dmarc_psl *psl, const char *domain,
    char *out, size_t outsz);

/* Identifier alignment: strict = same name (case-insensitive); relaxed =
 * same organisational domain.  1 aligned, 0 not. */
int dmarc_aligned(const struct dmarc_psl *psl, const char *a, const char *b,
    int strict);

#endif
