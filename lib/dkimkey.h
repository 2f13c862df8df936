/*
 * dkimkey — DKIM public key records (RFC 6376 3.6.1, RFC 8463) parsed and
 * loaded with OpenSSL, for checking what is published against the private
 * key on disk.  No I/O but reading the private key file: the caller
 * fetches "SELECTOR._domainkey.DOMAIN" TXT through lib/dns.
 */
#ifndef MM_DKIMKEY_H
#define MM_DKIMKEY_H

#include <stddef.h>

#include "util.h"

#define DKIMKEY_RECORD_MAX  8192          /* octets of one key record */
#define DKIMKEY_PEM_MAX     (64 * 1024)   /* bytes of a private key file */
#define DKIMKEY_RSA_MIN     1024          /* below: refused (RFC 8301) */
#define DKIMKEY_RSA_GOOD    2048          /* below: weak */

struct dkimkey {
	char ktype[16];      /* "rsa" (default) or "ed25519"; other = unknown */
	int testing;         /* t=y */
	int strict;          /* t=s */
	int revoked;         /* p= empty */
	int bits;            /* key size (RSA modulus bits; 256 for ed25519) */
	void *pkey;          /* EVP_PKEY *, NULL if revoked */
	char *warnings;      /* "; "-separated remarks, or NULL */
};

/*
 * Parse a key record.  v=DKIM1 is optional but must come first if present;
 * p= is required (empty = revoked: returns 0 with revoked set); base64
 * may contain whitespace.  0, or -1 with err (unknown k=, bad base64, a
 * key OpenSSL cannot load...).
 */
int dkimkey_parse(const char *txt, struct dkimkey *out, struct mm_err *err);
void dkimkey_free(struct dkimkey *k);

/* Does the published key match the private key in the PEM file?
 * 1 yes, 0 no, -1 with err when the file cannot be read or parsed. */
int dkimkey_match_private(const struct dkimkey *k, const char *pem_path,
    struct mm_err *err);

/* The record to publish for a private key file:
 * "v=DKIM1; k=rsa; p=BASE64".  NULL with err. */
char *dkimkey_record_for_private(const char *pem_path, struct mm_err *err);

#endif
