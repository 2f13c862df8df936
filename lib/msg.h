/*
 * msg — RFC 5322 message header parsing and editing, pure (no I/O).
 *
 * A message is a byte buffer the caller owns.  msg_parse splits its header
 * section into fields without copying the raw bytes: each field keeps a
 * pointer to its raw text (name, colon, value, every folded line and the
 * line terminator, exactly as it came), so a signer or verifier can see
 * what is really there, plus an unfolded copy of its value for the logic
 * that has to read it.  Editing never rewrites a field in place: msg_build
 * makes a new buffer of (prepended fields) + (kept raw fields) + (body),
 * which is how Received:, DKIM-Signature: and friends are added and Bcc:
 * is taken out.
 *
 * Line ends: the parser accepts CRLF and bare LF (what arrives on a pipe
 * from a MUA); a bare CR inside a field is kept in its raw bytes and its
 * value.  msg_to_crlf turns any mix into canonical CRLF before signing, so
 * what is signed is what is sent; msg_check_lines finds lines over the
 * RFC 5322 limit.
 */
#ifndef MM_MSG_H
#define MM_MSG_H

#include "util.h"

#define MSG_MAX_FIELDS   10000          /* header fields in one message */
#define MSG_FIELD_MAX    (256 * 1024)   /* one field with its folded lines */
#define MSG_NAME_MAX     998            /* a field name fits one line */
#define MSG_LINE_MAX     998            /* RFC 5322 2.1.1, octets w/o CRLF */

/* err->code after a failed msg_parse */
enum msg_error {
	MSG_E_SYNTAX = 1,     /* a header line that is not a field (line in err) */
	MSG_E_LIMIT = 2,      /* too many fields, or a field too long */
};

/* msg_parse flags */
#define MSG_LENIENT 0x1   /* a non-field line ends the header section
                             (it becomes the first body line, as sendmail
                             does) instead of being an error */

struct msg_field {
	const char *name;     /* into the buffer; not NUL-terminated */
	size_t name_len;
	const char *raw;      /* whole field: name ... final line terminator */
	size_t raw_len;
	size_t off;           /* offset of raw in the buffer */
	char *value;          /* unfolded value, NUL-terminated, allocated:
	                         line breaks before WSP removed, leading and
	                         trailing WSP (and the terminator) dropped;
	                         a NUL byte of the input stays in it, so
	                         value_len, not strlen, is its length */
	size_t value_len;
};

struct msg {
	const char *data;     /* the caller's buffer */
	size_t len;
	struct msg_field *f;
	size_t n;
	size_t hdr_len;       /* bytes of header fields (offset of the separator) */
	size_t body_off;      /* first body byte (after the empty line); len if none */
	int has_sep;          /* an empty line separated header and body */
	int crlf;             /* the first line ended in CRLF (else LF) */
};

/*
 * Parse the header section of data[0..len).  The buffer must outlive m.
 * A message of only header fields (no empty line) has body_off == len.
 * On error err->code is an enum msg_error and the message names the line.
 */
int msg_parse(struct msg *m, const char *data, size_t len, int flags, struct mm_err *err);
void msg_free(struct msg *m);

/* 1 if field f is called name (ASCII case-insensitive). */
int msg_field_is(const struct msg_field *f, const char *name);
/* The idx-th (from 0, top to bottom) field called name, or NULL. */
const struct msg_field *msg_find_nth(const struct msg *m, const char *name, size_t idx);
/* The first field called name, or NULL. */
const struct msg_field *msg_find(const struct msg *m, const char *name);
/* How many fields are called name. */
size_t msg_count(const struct msg *m, const char *name);

/*
 * A new message into out (appended): prepend (raw field text, each field
 * already terminated, may be NULL or ""), then every field of m whose name
 * is not in the NULL-terminated list remove (may be NULL), then append
 * (raw fields added after the existing ones, may be NULL), then the empty
 * line (in m's line-end style) if m had one or a body exists, then the
 * body.  Bytes are copied unchanged.
 */
void msg_build(const struct msg *m, const char *prepend, const char *const *remove,
    const char *append, struct buf *out);

/*
 * Copy data to out with every line end made CRLF: CRLF stays, a bare LF
 * becomes CRLF and a bare CR becomes CRLF.  Returns how many line ends
 * had to change (0 means the input was already canonical).
 */
size_t msg_to_crlf(const char *data, size_t len, struct buf *out);

/*
 * The 1-based number of the first line longer than max octets (not
 * counting its CRLF/LF), or 0 if every line fits.
 */
size_t msg_check_lines(const char *data, size_t len, size_t max);

/*
 * Fold a header field for output: "Name: value" broken at spaces so that
 * lines stay under 78 octets where possible, terminated with eol ("\r\n"
 * or "\n").  The value is used as-is (the caller encodes it).
 */
void msg_fold_field(struct buf *out, const char *name, const char *value, const char *eol);

#endif
