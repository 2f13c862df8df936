/*
 * dsn — delivery status notifications (RFC 3464): the bounce the queue
 * sends back to a sender when recipients failed for good or the job
 * expired, and its delivery into a local Maildir when the sender is one
 * of ours.
 *
 * The report is a multipart/report (RFC 6522) with three parts: a short
 * text/plain explanation, message/delivery-status with one block per
 * failed recipient (Final-Recipient, Action, Status, Remote-MTA,
 * Diagnostic-Code, Last-Attempt-Date), and the original header section as
 * text/rfc822-headers (never the body: the sender has it, and a bounce
 * must not carry a payload on to a third party).  It is sent with the null
 * envelope sender (MAIL FROM:<>), so it is never bounced in turn.
 *
 * Everything placed in the report comes from fields the queue already
 * validated (addresses, host names, printable texts); dsn_build checks them
 * again and refuses anything with a control byte, so the report cannot be
 * made to grow header lines of someone else's choosing.  Output is CRLF,
 * ready for the queue or for SMTP.
 */
#ifndef MM_DSN_H
#define MM_DSN_H

#include <time.h>
#include "util.h"

#define DSN_HEADERS_MAX (64 * 1024)   /* original header attached, at most */
#define DSN_STATUS_MAX  16            /* "5.123.456" and a NUL fit */
#define DSN_RCPT_MAX    1000          /* recipients reported in one DSN */
#define DSN_STATUS_EXPIRED "4.4.7"    /* RFC 3463: delivery time expired */

enum dsn_action {
	DSN_FAILED = 0,     /* refused for good, or given up on */
	DSN_DELAYED = 1,    /* still being tried (a warning) */
};

struct dsn_rcpt {
	const char *addr;          /* the recipient (Final-Recipient) */
	enum dsn_action action;
	const char *status;        /* "5.1.1"; NULL: taken from diag */
	const char *mta;           /* the host that answered, or NULL/"" */
	const char *diag;          /* its last answer or the error, or NULL */
	long long last_attempt;    /* unix time, 0 = never tried */
};

struct dsn {
	const char *reporting_mta; /* our host name */
	const char *sender;        /* the original envelope sender: the DSN's To */
	const char *queue_id;      /* the job, for the reader (may be NULL) */
	long long arrival;         /* when the job was queued */
	long long now;             /* Date: of the report */
	int expired;               /* the job was given up after days */
	const struct dsn_rcpt *r;
	size_t nr;
};

/*
 * The RFC 3463 status of an answer: its enhanced code ("550 5.1.1 ...")
 * when it has one of the right class, else X.0.0 from the reply code,
 * else 5.0.0 for a permanent failure and 4.0.0 for a temporary one.
 */
void dsn_status(const char *diag, int perm, char out[DSN_STATUS_MAX]);

/* Append the report (a whole message, CRLF) for original message orig. */
int dsn_build(const struct dsn *d, const char *orig, size_t len, struct buf *out,
    struct mm_err *err);

/*
 * Deliver a report to addr's Maildir, ROOT/domain/local/ (a +suffix is
 * dropped: a bounce goes to the inbox), through lib/maildir (durable,
 * symlink-proof).  Returns 1 when delivered, 0 when addr is not a mailbox
 * under ROOT (the caller sends it instead), -1 on error.
 */
int dsn_deliver_local(const char *root, const char *addr, const char *host, const char *msg,
    size_t len, struct mm_err *err);

/*
 * Deliver a report into the Maildir DIR itself (mm-send --bounce-maildir:
 * the user's own ~/Maildir on the laptop, where a bounce cannot go back
 * out through the relay).  DIR must exist; its tmp/, new/, cur/ are made
 * if missing.  Returns 0 once durable, -1 on error.
 */
int dsn_deliver_maildir(const char *dir, const char *host, const char *msg, size_t len,
    struct mm_err *err);

#endif
