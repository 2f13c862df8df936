/*
 * dns — a small stub resolver on glibc's libresolv, for tools that must
 * ask many independent questions quickly and tell apart every way a
 * question can fail.
 *
 * Why not res_nquery/getaddrinfo: they ask one question at a time, fold
 * SERVFAIL, timeouts and NXDOMAIN into one "not found", and cannot be
 * pointed at an arbitrary server:port.  Here libresolv only builds
 * (res_nmkquery) and parses (ns_initparse/ns_parserr) messages; the
 * module owns its UDP sockets, keeps many queries in flight with poll(),
 * retransmits, falls back to TCP when an answer is truncated, and follows
 * CNAME chains (bounded).
 *
 * Every query goes to one server: the --resolver argument, else
 * $MM_RESOLVER, else the first nameserver of /etc/resolv.conf.  Tests and
 * admins point it at an authoritative server on loopback.
 *
 * Answers are parsed into struct dns_answer: only the RRs of the asked
 * type that belong to the final name of the CNAME chain, plus the chain.
 */
#ifndef MM_DNS_H
#define MM_DNS_H

#include <arpa/nameser.h>   /* ns_t_a, ns_t_mx, ... for callers */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define DNS_PORT              53
#define DNS_NAME_MAX          1025  /* presentation form incl. escapes + NUL (NS_MAXDNAME) */
#define DNS_CNAME_MAX         8     /* CNAME hops followed before giving up (loop) */
#define DNS_RR_MAX            512   /* RRs kept from one answer */
#define DNS_TXT_MAX           65535 /* octets of one TXT RR, all strings */
#define DNS_TIMEOUT_DEFAULT_MS 5000 /* per query, all tries together */
#define DNS_TRIES             3     /* UDP transmissions per query */
#define DNS_INFLIGHT_MAX      64    /* queries on the wire at once */
#define DNS_BATCH_MAX         4096  /* queries in one batch */
#define DNS_ADDRSTR_MAX       46    /* INET6_ADDRSTRLEN */

enum dns_status {
	DNS_OK = 0,        /* at least one RR of the asked type */
	DNS_NXDOMAIN,      /* the name does not exist (rcode 3) */
	DNS_NODATA,        /* the name exists, no RR of this type */
	DNS_SERVFAIL,      /* rcode 2 (and REFUSED/other server errors: see rcode) */
	DNS_TIMEOUT,       /* no answer within the timeout */
	DNS_ERROR,         /* anything else: bad name, malformed answer,
	                      CNAME loop, socket error; see the error message */
};

/* "ok", "nxdomain", "nodata", "servfail", "timeout", "error" */
const char *dns_status_str(enum dns_status st);

struct dns_rr {
	int type;               /* ns_t_a, ns_t_aaaa, ns_t_mx, ns_t_txt, ... */
	uint32_t ttl;
	char *owner;            /* owner name, lowercase, no trailing dot */

	/* A / AAAA */
	int family;             /* AF_INET / AF_INET6, else 0 */
	unsigned char addr[16]; /* 4 or 16 bytes, network order */
	char addrstr[DNS_ADDRSTR_MAX]; /* printable ("192.0.2.1", "2001:db8::1") */

	/* MX */
	unsigned pref;

	/* MX exchange, PTR, CNAME, NS target: lowercase, no trailing dot
	 * ("" for the root, i.e. the null MX "."). */
	char *name;

	/* TXT (and SPF type 99): the character-strings concatenated (txt,
	 * txt_len; NUL-terminated, may contain NUL bytes) and one by one. */
	char *txt;
	size_t txt_len;
	char **strings;         /* nstrings NUL-terminated strings */
	size_t *string_lens;
	size_t nstrings;
};

struct dns_answer {
	enum dns_status status;
	int rcode;              /* the server's rcode (ns_r_*), -1 if none */
	int qtype;
	char *qname;            /* as asked, lowercase, no trailing dot */
	char *canon;            /* name at the end of the CNAME chain */
	char **cnames;          /* the chain: cnames[0] is the target of qname */
	size_t ncnames;
	int cname_loop;         /* chain longer than DNS_CNAME_MAX or a loop */
	int used_tcp;           /* the answer came over TCP (was truncated) */
	int chain_open;         /* dns_parse_response only: the chain leaves the
	                           message; canon is the name still to ask */
	struct dns_rr *rr;      /* RRs of type qtype owned by canon */
	size_t nrr;
	char *error;            /* NULL, or why status is DNS_ERROR/TIMEOUT/... */
	int deferred;           /* deferred mode: not asked yet (status DNS_ERROR) */
};

struct dns_resolver;

/*
 * Open a resolver.  server: "IP", "IP:PORT", "[IPv6]:PORT" or NULL (then
 * $MM_RESOLVER, else the first nameserver of /etc/resolv.conf).
 * NULL with err on a bad address or when no server can be found.
 */
struct dns_resolver *dns_open(const char *server, struct mm_err *err);
void dns_close(struct dns_resolver *r);
/* Per-query deadline in milliseconds (all tries); <= 0 restores the default. */
void dns_set_timeout(struct dns_resolver *r, int ms);
/* The server in use, printable ("127.0.0.1:5353"). */
const char *dns_server_str(const struct dns_resolver *r);

/* Counters for --stats: messages sent (UDP+TCP, retries included) and
 * waves (calls to dns_query/dns_batch_run that sent anything). */
struct dns_stats {
	unsigned long queries;
	unsigned long waves;
	unsigned long retries;
	unsigned long tcp;
	unsigned long cache_hits;
};
void dns_get_stats(const struct dns_resolver *r, struct dns_stats *out);

/*
 * One synchronous query.  out is always filled (free it with
 * dns_answer_free, whatever the status); the status is returned and also
 * stored in out->status.  err gets a message for anything but DNS_OK.
 * Answers are cached for the resolver's lifetime (same name and type).
 */
enum dns_status dns_query(struct dns_resolver *r, const char *name, int type,
    struct dns_answer *out, struct mm_err *err);

/* Release what an answer holds (not the struct itself); safe twice. */
void dns_answer_free(struct dns_answer *a);

/*
 * Concurrent batch: add any number of queries, run them (up to
 * DNS_INFLIGHT_MAX on the wire at once, CNAMEs followed in further
 * rounds), then read each answer by the index dns_batch_add returned.
 * Queries added after a run are sent by the next run; answers already
 * read stay valid until dns_batch_free.
 */
struct dns_batch;
struct dns_batch *dns_batch_new(struct dns_resolver *r);
/* Returns the query's index; (size_t)-1 if the batch is full. */
size_t dns_batch_add(struct dns_batch *b, const char *name, int type);
/* 0, or -1 with err on a local failure (sockets).  Per-query failures are
 * in each answer's status. */
int dns_batch_run(struct dns_batch *b, struct mm_err *err);
size_t dns_batch_count(const struct dns_batch *b);
const struct dns_answer *dns_batch_answer(const struct dns_batch *b, size_t i);
void dns_batch_free(struct dns_batch *b);

/*
 * Deferred mode, for planners that want one round trip per dependency
 * level: run the whole check logic while deferred (every uncached query
 * is remembered, not sent, and answered with deferred = 1), then
 * dns_flush sends everything remembered as one concurrent wave; repeat
 * until dns_pending is 0, then run the logic once more for real.
 */
void dns_set_defer(struct dns_resolver *r, int on);
size_t dns_pending(const struct dns_resolver *r);
/* Send the remembered queries; answers land in the cache.  0 or -1. */
int dns_flush(struct dns_resolver *r, struct mm_err *err);
/* Add another resolver's counters (e.g. from a child process) to r's. */
void dns_add_stats(struct dns_resolver *r, const struct dns_stats *add);

/*
 * "192.0.2.1" -> "1.2.0.192.in-addr.arpa", "2001:db8::1" ->
 * "1.0.0.0....8.b.d.0.1.0.0.2.ip6.arpa".  0, or -1 on a bad address or a
 * small buffer.
 */
int dns_reverse_name(const char *ip, char *out, size_t outsz);

/*
 * Pure parsing (no I/O): fill out from a response message to (qname,
 * qtype).  Follows the CNAME chain inside the message; if the chain leaves
 * the message, out->chain_open is set, out->status is DNS_NODATA and
 * out->canon is the name still to ask (dns_query does that for you).  Returns out->status.
 */
enum dns_status dns_parse_response(const unsigned char *msg, size_t len,
    const char *qname, int qtype, struct dns_answer *out);

/* A domain name acceptable to ask: presentation form, labels 1..63,
 * total <= 253, printable ASCII.  0 or -1 with err. */
int dns_name_ok(const char *name, struct mm_err *err);

#endif
