/*
 * dkimsign — DKIM signatures (RFC 6376, RFC 8463) made on the sender's
 * own machine, with the keys lib/keys names: canonicalization by
 * lib/dkimcanon, cryptography by OpenSSL.
 *
 * Policy is fixed here, not left to callers: c=relaxed/relaxed, rsa-sha256
 * and/or ed25519-sha256, no l= (the whole body is signed, so nothing can be
 * appended), t= set, every header field signed except the trace fields
 * RFC 6376 5.4.1 advises against (Return-Path, Received, Comments,
 * Keywords), and From/To/Cc/Subject/Date/Message-ID/Reply-To over-signed
 * (named once more in h= than they occur, so a second copy added in
 * transit breaks the signature).  The message handed in must already be
 * in canonical CRLF form (msg_to_crlf): what is signed is byte for byte
 * what is sent, and a bare CR or LF in the body is an error.
 */
#ifndef MM_DKIMSIGN_H
#define MM_DKIMSIGN_H

#include "addr.h"
#include "keys.h"
#include "util.h"

struct dkimsign_key {
	enum keys_type type;
	char selector[KEYS_SELECTOR_MAX + 1];
	struct buf pem;          /* private key, PEM */
	char path[4096];         /* where it came from, for messages */
};

struct dkimsign_keys {
	struct dkimsign_key k[KEYS_NTYPES];
	size_t n;
	/* paths looked for, for the "no key" message */
	char looked[KEYS_NTYPES][4096];
};

/*
 * Load every key of address a in dir (rsa, ed25519).  Returns 0 with
 * ks->n == 0 when there is none (ks->looked says where it looked), -1 when
 * a key exists but cannot be read or its selector file is bad.
 */
int dkimsign_load(const char *dir, const struct addr *a, struct dkimsign_keys *ks,
    struct mm_err *err);
/* Forget the keys (wiping the private key bytes). */
void dkimsign_keys_free(struct dkimsign_keys *ks);

/*
 * Sign msg (CRLF, header + empty line + body) for domain with each key;
 * the DKIM-Signature fields (folded, CRLF-terminated) are appended to
 * sigs, Ed25519's first.  selector_override, when not NULL, replaces
 * every key's own selector (checked: it is written into the field).
 * now (0 = the clock) fixes t=: mm-send
 * records it, and a queue run at --at TIME signs as of that time.
 */
int dkimsign_sign(const char *msg, size_t len, const char *domain,
    const struct dkimsign_keys *ks, const char *selector_override, long long now,
    struct buf *sigs, struct mm_err *err);

/*
 * The offset in msg just past its first nsig header fields, which must all
 * be DKIM-Signature fields (the ones mm-send prepended when it signed):
 * 0 with *off set, -1 when the message does not start with that many.
 * Only the top of the header is looked at, so a DKIM-Signature field the
 * message already carried (a forwarded one, say) is never taken.
 */
int dkimsign_strip(const char *msg, size_t len, size_t nsig, size_t *off, struct mm_err *err);

/*
 * Re-sign a queued message whose first nown fields are our own, older
 * signatures: drop exactly those, then sign the rest as the first signing
 * did (keys of the header From: address in keydir, selector_override or
 * the keys' own selectors) with t= now.  out receives the fresh
 * signatures followed by the rest, *nsig how many there are.  -1 (nothing
 * in out) when the own fields are not there, the From: is not one
 * address, or there is no key any more: err says which.
 */
int dkimsign_resign(const char *msg, size_t len, size_t nown, const char *keydir,
    const char *selector_override, long long now, struct buf *out, size_t *nsig,
    struct mm_err *err);

#endif
