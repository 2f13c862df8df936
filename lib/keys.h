/*
 * keys — where DKIM keys live on disk, and how new ones are made.
 *
 * One naming scheme shared by mm-keygen (writes), mm-send (signs with the
 * private half) and mm-recv --submit (checks with the public half), so a
 * key made once is found by all three.  In the key directory DIR
 * (--keys DIR; default ~/.config/mm/keys for a user):
 *
 *   ADDRESS.rsa.key          private key, PEM (PKCS#8), mode 0600
 *   ADDRESS.ed25519.key      private key, PEM (PKCS#8), mode 0600
 *   ADDRESS.rsa.pub          the DKIM key record value, one line:
 *   ADDRESS.ed25519.pub        "v=DKIM1; k=rsa; p=BASE64" (what DNS holds)
 *   ADDRESS.rsa.selector     the selector, one line; when the file is
 *   ADDRESS.ed25519.selector   absent the selector is the local part
 *
 * ADDRESS is "local@domain" in lowercase as lib/addr makes it (so it is a
 * safe file name: [a-z0-9._-] and '@').  Files are created exclusively
 * (temporary name, fsync, link, fsync of the directory): a key is never
 * overwritten.  An RSA and an Ed25519 key of one address must have
 * different selectors (one DNS name holds one key); mm-keygen refuses to
 * reuse one.
 */
#ifndef MM_KEYS_H
#define MM_KEYS_H

#include <sys/types.h>
#include "util.h"
#include "addr.h"

#define KEYS_DEFAULT_SUBDIR ".config/mm/keys"   /* under $HOME */
#define KEYS_SELECTOR_MAX 63                    /* one DNS label */
#define KEYS_RSA_BITS_DEFAULT 2048
#define KEYS_RSA_BITS_MIN 1024
#define KEYS_RSA_BITS_MAX 4096
#define KEYS_FILE_MAX (64 * 1024)               /* a key file larger is refused */
#define KEYS_TXT_CHUNK 255                      /* octets per TXT string */

enum keys_type {
	KEYS_RSA = 0,
	KEYS_ED25519 = 1,
};
#define KEYS_NTYPES 2

enum keys_file {
	KEYS_PRIVATE,     /* .key */
	KEYS_PUBLIC,      /* .pub */
	KEYS_SELECTOR,    /* .selector */
};

/* "rsa" / "ed25519" */
const char *keys_type_name(enum keys_type t);
int keys_parse_type(const char *s, enum keys_type *t);

/* $HOME/.config/mm/keys, allocated; NULL (and err) when HOME is unset. */
char *keys_default_dir(struct mm_err *err);

/* DIR/ADDRESS.TYPE.{key,pub,selector} into out; -1 if it does not fit. */
int keys_path(const char *dir, const struct addr *a, enum keys_type t, enum keys_file f,
    char *out, size_t outsz, struct mm_err *err);

/* A selector is one or more dot-separated LDH labels ([a-z0-9-], not
 * starting or ending with '-'), at most 63 octets in all. */
int keys_selector_ok(const char *sel, struct mm_err *err);

/* The selector of a key: the .selector file if present, else the local
 * part.  -1 if the file exists but cannot be read or is not a selector. */
int keys_selector(const char *dir, const struct addr *a, enum keys_type t,
    char sel[KEYS_SELECTOR_MAX + 1], struct mm_err *err);

/* Make a key pair: pem gets the private key (PKCS#8 PEM), record the DKIM
 * record value "v=DKIM1; k=...; p=..." (no newline). bits only for RSA. */
int keys_generate(enum keys_type t, int bits, struct buf *pem, struct buf *record,
    struct mm_err *err);

/* Create path with exactly these bytes and mode, never replacing an
 * existing file (err->code = EEXIST then); durable when it returns 0. */
int keys_write_new(const char *path, const void *data, size_t n, mode_t mode,
    struct mm_err *err);

/* Zone-file text for the record: a comment line, then
 *   SELECTOR._domainkey IN TXT "..." "..."
 * with the owner relative to the domain's zone and the value split into
 * strings of at most 255 octets.  Appended to out. */
void keys_zone_text(const struct addr *a, const char *selector, enum keys_type t,
    const char *record, struct buf *out);

#endif
