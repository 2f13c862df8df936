/*
 * dnscheck — is the DNS of a mail domain right?  MX, addresses, PTR
 * (forward-confirmed), SPF, DKIM keys, DMARC, DNSBL, MTA-STS/TLS-RPT.
 * mm-dnscheck is this module plus option parsing and output.
 *
 * How it stays fast: the checks are written as plain sequential code over
 * dns_query, and run several times.  While the resolver is in deferred
 * mode, a pass sends nothing: every question it cannot answer from the
 * cache is collected, and dns_flush then asks all of them at once.  Each
 * pass gets one dependency level further (MX -> addresses -> PTR ->
 * forward confirmation; SPF includes level by level), so the whole check
 * costs about one round trip per level.  A last pass, with the cache full,
 * produces the findings.  Findings of the dry passes are thrown away.
 *
 * The result is a list of findings in the order the checks ran; the
 * caller prints them and picks the exit code.  A finding's message and
 * fix are printable ASCII (record text is escaped as \DDD), the fix being
 * zone-file lines ("\n"-separated) or "; " comments.
 */
#ifndef MM_DNSCHECK_H
#define MM_DNSCHECK_H

#include <stddef.h>

#include "dns.h"
#include "util.h"

#define DNSCHECK_LIST_MAX      64     /* --ip, --selector, --dnsbl each */
#define DNSCHECK_ROOT_USERS_MAX 4096  /* selectors taken from --root per domain (more: a WARN) */
#define DNSCHECK_PASSES_MAX    16     /* planning passes (dependency depth bound) */
#define DNSCHECK_ADDRS_MAX     64     /* addresses checked per domain */
#define DNSCHECK_TXT_CHUNK     255    /* octets per character-string in a fix */
#define DNSCHECK_CLEAN_MAX     2000   /* octets of record text quoted in a message */
#define DNSCHECK_NAME_SHOWN    300    /* octets of a bad domain argument shown */
#define DNSCHECK_SPF_EVAL_MS   10000  /* per address SPF evaluation */

/* Ordered by gravity: the worst status decides the exit code (INFO aside). */
enum dnscheck_status {
	DNSCHECK_PASS,
	DNSCHECK_INFO,
	DNSCHECK_WARN,
	DNSCHECK_FAIL,
};
/* "PASS", "INFO", "WARN", "FAIL". */
const char *dnscheck_status_str(enum dnscheck_status st);

struct dnscheck_finding {
	const char *check;       /* static: "mx", "address", "ptr", "spf", "dkim",
	                            "dmarc", "dnsbl", "mta-sts", "tls-rpt" */
	char *subject;           /* the name, address or "ADDR ZONE" checked */
	char *message;
	char *fix;               /* zone-file lines, or NULL */
	enum dnscheck_status status;
};

struct dnscheck_report {
	struct dnscheck_finding *f;
	size_t n;
	int cant;                /* some check could not be done (resolver
	                            failure): "could not check", exit 3 */
	struct dns_stats stats;  /* the resolver's counters after the run */
};

struct dnscheck_opts {
	const char *const *ips;        /* --ip: IP literals (the caller checks) */
	size_t nips;
	const char *const *selectors;  /* --selector: DKIM selectors */
	size_t nselectors;
	const char *key;               /* --key: private key every --selector's
	                                  record must match, or NULL */
	const char *const *dnsbls;     /* --dnsbl zones */
	size_t ndnsbls;
	const char *root;              /* --root: ROOT/<domain>/<user>/, or NULL */
	const char *resolver;          /* "IP[:PORT]"; NULL: MM_RESOLVER, then
	                                  /etc/resolv.conf (see dns_open) */
	int timeout_ms;                /* per query; 0: lib/dns's default */
	const char *psl_path;          /* NULL: DMARC_PSL_PATH */
};

enum dnscheck_rc {
	DNSCHECK_OK = 0,         /* report filled (see report.cant) */
	DNSCHECK_EOPTS = -1,     /* an option is unusable (key, root, resolver) */
	DNSCHECK_ECANT = -2,     /* nothing could be checked: no public suffix
	                            list, or the resolver does not answer */
};

/*
 * Check each domain (as given on the command line: case and a trailing dot
 * do not matter; an unusable name is a finding, not an error).  On
 * DNSCHECK_OK, out holds the findings (free with dnscheck_report_free);
 * otherwise out is empty and err says why, worded for "PROG: MESSAGE".
 */
enum dnscheck_rc dnscheck_run(const struct dnscheck_opts *o, const char *const *domains,
    size_t ndomains, struct dnscheck_report *out, struct mm_err *err);

/* Append a finding; fix is taken (may be NULL), the message is made
 * printable (dnscheck_clean). */
void dnscheck_report_add(struct dnscheck_report *r, const char *check, const char *subject,
    enum dnscheck_status st, char *fix, const char *fmt, ...) MM_PRINTF(6, 7);
/* The worst status among the findings, INFO counting as PASS. */
enum dnscheck_status dnscheck_report_worst(const struct dnscheck_report *r);
void dnscheck_report_free(struct dnscheck_report *r);

/*
 * The pure parts, exposed for the unit tests.
 */

/* Printable, single-line, ASCII copy of n octets of untrusted text: other
 * octets become \DDD; past DNSCHECK_CLEAN_MAX the copy ends in "...". */
char *dnscheck_clean(const char *s, size_t n);

/* Zone-file line "OWNER IN TXT "..." "..."" for text, split into
 * DNSCHECK_TXT_CHUNK-octet strings, '"' and '\' escaped; appended to b on
 * a new line when b is not empty. */
void dnscheck_zone_txt(struct buf *b, const char *owner, const char *text);
/* The same line, allocated. */
char *dnscheck_fix_txt(const char *owner, const char *text);

/* A domain argument as it is checked: lowercase, without a trailing dot,
 * a valid name with at least one dot.  NULL with err ("no dot in the
 * name", or dns_name_ok's reason). */
char *dnscheck_domain_name(const char *arg, struct mm_err *err);

/* The SPF record to suggest: "v=spf1 mx ip4:A ip6:B ... -all". */
char *dnscheck_spf_suggest(const char *const *ips, size_t nips);
/* The published record with "ip4:IP"/"ip6:IP" added before its "all" term
 * (or at the end); a record that already names it is returned as it is. */
char *dnscheck_spf_with_ip(const char *rec, const char *ip);

#endif
