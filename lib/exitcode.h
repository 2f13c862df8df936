/*
 * exitcode — the one exit-code table of the toolkit.  Only cmd/ uses it.
 *
 * mm-send and mm-recv follow sendmail and speak sysexits.h, because MUAs,
 * cron and inetd interpret those numbers.  mm-dnscheck and mm-sync have
 * small tables of their own, fixed by DESIGN.md, because monitoring and
 * cron scripts test them; the usage error is 64 (EX_USAGE) for dnscheck
 * and 2 for mm-sync, as the design says.  Each man page's EXIT STATUS
 * repeats its tool's rows.
 */
#ifndef MM_EXITCODE_H
#define MM_EXITCODE_H

#include <sysexits.h>   /* EX_OK 0, EX_USAGE 64, EX_DATAERR 65, EX_NOINPUT 66,
                           EX_NOUSER 67, EX_NOHOST 68, EX_UNAVAILABLE 69,
                           EX_SOFTWARE 70, EX_OSERR 71, EX_OSFILE 72,
                           EX_CANTCREAT 73, EX_IOERR 74, EX_TEMPFAIL 75,
                           EX_PROTOCOL 76, EX_NOPERM 77, EX_CONFIG 78 */

/* mm-dnscheck */
enum {
	DNSCHECK_EXIT_PASS = 0,     /* every check passed */
	DNSCHECK_EXIT_WARN = 1,     /* warnings, no failure */
	DNSCHECK_EXIT_FAIL = 2,     /* at least one failure */
	DNSCHECK_EXIT_CANT = 3,     /* could not check (resolver unreachable...) */
	DNSCHECK_EXIT_USAGE = EX_USAGE,
};

/* mm-sync */
enum {
	SYNC_EXIT_OK = 0,           /* everything moved */
	SYNC_EXIT_PARTIAL = 1,      /* some messages skipped or failed */
	SYNC_EXIT_USAGE = 2,        /* bad command line or local setup */
	SYNC_EXIT_CONNECT = 3,      /* could not reach or talk to the server */
};

/* mm-keygen: sysexits (EX_USAGE, EX_CANTCREAT when the key exists...). */

#endif
