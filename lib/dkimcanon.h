/*
 * dkimcanon — DKIM "relaxed" canonicalization (RFC 6376 3.4.2, 3.4.4) of
 * a header field and of a message body, for the signer (lib/dkimsign).
 *
 * Why our own and not libopendkim's: libopendkim canonicalises the body a
 * byte at a time through a growable string, which on ordinary text runs at
 * about a sixth of the speed of SHA-256 itself; here the body is scanned
 * for the few bytes relaxed canonicalization changes (a tab, a second
 * space, white space before a line end, empty lines at the end) and the
 * untouched stretches between them go to SHA-256 as they are, so the cost
 * is close to the hash alone.  libopendkim stays the reference: the unit
 * test and fuzz_dkimcanon compare every body hash with its own.
 *
 * Input is canonical CRLF (msg_to_crlf): a bare CR or LF in a body is an
 * error, never silently read one way or the other.
 */
#ifndef MM_DKIMCANON_H
#define MM_DKIMCANON_H

#include <stddef.h>

#include "util.h"

#define DKIMCANON_HASH_LEN 32    /* SHA-256 */

/*
 * SHA-256 of the relaxed canonical form of body[0..len): 0, or -1 with
 * err when the body has a bare CR or LF (the line is named) or the hash
 * could not be computed.  A body without a final CRLF is hashed as if it
 * had one (RFC 6376 erratum 3192); an empty body, or one of only empty
 * lines, hashes as the empty string.
 */
int dkimcanon_body_sha256(const char *body, size_t len, unsigned char out[DKIMCANON_HASH_LEN],
    struct mm_err *err);

/*
 * Append to out the relaxed canonical form of one header field, raw as it
 * is in the message (name, colon, value with its folded lines, with or
 * without the final line end): the name in lowercase without white space
 * around it, a colon, the value unfolded with every run of SP/HTAB made
 * one SP and none at either end, then CRLF when crlf is set (every
 * signed field has it; the DKIM-Signature field being made does not).
 */
void dkimcanon_header(const char *raw, size_t len, int crlf, struct buf *out);

#endif
