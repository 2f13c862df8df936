/*
 * spf — SPF (RFC 7208) in two halves.
 *
 * Evaluation (spf_eval) is libspf2's, with its DNS sent through lib/dns so
 * --resolver/MM_RESOLVER apply.  libspf2 has unfixed CVEs and calls
 * abort() on some inputs, so every evaluation runs in a forked child with
 * a deadline and rlimits (address space, CPU); the verdict comes back over
 * a pipe.  A crash, a kill or a timeout of the child is a temperror
 * verdict, never a crash of the caller.
 *
 * Analysis (spf_analyze) is for mm-dnscheck: exactly one "v=spf1" record,
 * its syntax (libspf2's compiler), the 10-DNS-lookup and 2-void-lookup
 * limits counted recursively through include/redirect with a tree that
 * names where the limit breaks, include loops bounded, +all/?all flagged.
 * Each level of includes is fetched as one concurrent batch.
 */
#ifndef MM_SPF_H
#define MM_SPF_H

#include <stddef.h>

#include "dns.h"
#include "util.h"

#define SPF_LOOKUP_LIMIT   10    /* RFC 7208 4.6.4 */
#define SPF_VOID_LIMIT     2     /* RFC 7208 4.6.4 */
#define SPF_DEPTH_MAX      10    /* include/redirect nesting followed */
#define SPF_EXPL_MAX       512
#define SPF_HEADER_MAX     1024
#define SPF_EVAL_TIMEOUT_DEFAULT_MS 20000
#define SPF_CHILD_AS_LIMIT (256UL * 1024 * 1024)  /* bytes of address space */
#define SPF_CHILD_CPU_LIMIT 10                     /* seconds */

/* Verdicts (prefixed SPF_V_ so they cannot clash with libspf2's names). */
enum spf_vresult {
	SPF_V_NONE = 0,
	SPF_V_NEUTRAL,
	SPF_V_PASS,
	SPF_V_FAIL,
	SPF_V_SOFTFAIL,
	SPF_V_TEMPERROR,
	SPF_V_PERMERROR,
};

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" */
const char *spf_vresult_str(enum spf_vresult r);

struct spf_verdict {
	enum spf_vresult result;
	char explanation[SPF_EXPL_MAX];   /* why (libspf2's comment, or ours) */
	char received_spf[SPF_HEADER_MAX];/* value for a "Received-SPF:" field */
};

/*
 * Evaluate SPF for a connection: client_ip, HELO name, MAIL FROM (NULL or
 * "" for the null sender: then the HELO identity is checked).
 * resolver: "IP[:PORT]" or NULL ($MM_RESOLVER, else resolv.conf).
 * timeout_ms <= 0: SPF_EVAL_TIMEOUT_DEFAULT_MS.
 * out is ALWAYS filled.  Returns 0 when the verdict came from an
 * evaluation; -1 with err when it is a temperror we made up (child crashed,
 * timed out, bad arguments, fork failed) — out says temperror then.
 */
int spf_eval(const char *resolver, const char *client_ip, const char *helo,
    const char *mail_from, int timeout_ms, struct spf_verdict *out,
    struct mm_err *err);

/* The same with an open resolver: the child inherits its cache (answers
 * already fetched cost nothing) and its counters are added back to r. */
int spf_eval_r(struct dns_resolver *r, const char *client_ip, const char *helo,
    const char *mail_from, int timeout_ms, struct spf_verdict *out,
    struct mm_err *err);

/* ---- analysis, for mm-dnscheck ---- */

/* One record in the include/redirect tree. */
struct spf_node {
	char *domain;
	char *record;             /* NULL if none found */
	enum dns_status status;   /* of the TXT query */
	int nrecords;             /* v=spf1 records at this name */
	int lookups;              /* DNS-lookup terms in this record itself */
	int voids;                /* void lookups caused by this record's terms */
	int total_lookups;        /* this record and everything below it */
	int total_voids;
	int loop;                 /* this include closes a loop: not followed */
	char *syntax_error;       /* libspf2's message, or NULL */
	char via[16];             /* "include" / "redirect" / "" for the root */
	struct spf_node **kids;
	size_t nkids;
};

struct spf_analysis {
	struct spf_node *root;
	int nrecords;             /* v=spf1 records at the domain */
	int lookups;              /* total DNS-lookup terms, recursive */
	int voids;                /* total void lookups, recursive */
	char all_qual;            /* '+', '?', '~', '-', or 0 if no "all" */
	int has_redirect;
	int loop;                 /* an include/redirect loop was cut */
	int too_deep;             /* nesting beyond SPF_DEPTH_MAX */
	int temp_error;           /* some record could not be fetched (timeout/servfail) */
	char *limit_path;         /* "a.test -> include:b.test -> include:c.test"
	                             where the lookup limit is crossed, or NULL */
	char *void_path;          /* same for the void limit */
	char *tree;               /* printable tree, one line per record */
	char *first_syntax_error; /* "domain: message" or NULL */
};

/* Fetch and analyse the SPF of domain.  0, or -1 with err when the
 * domain's own TXT query failed in a way that says nothing (timeout,
 * servfail: out->root->status tells which). */
int spf_analyze(struct dns_resolver *r, const char *domain,
    struct spf_analysis *out, struct mm_err *err);
void spf_analysis_free(struct spf_analysis *a);

/* Check a record's syntax with libspf2's compiler.  0, or -1 with err. */
int spf_syntax_check(const char *record, struct mm_err *err);

/* Count the DNS-lookup terms of one record (include, a, mx, ptr, exists,
 * redirect) without any I/O, and list include/redirect targets.
 * Returns the count; targets (may be NULL) get xstrdup'ed domains. */
int spf_count_terms(const char *record, char ***targets, char ***via,
    size_t *ntargets);

#endif
