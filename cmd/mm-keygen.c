/*
 * mm-keygen — make a DKIM key pair for an address and print the DNS
 * record to publish.  The files it writes are named by lib/keys, so
 * mm-send and mm-recv --submit find them with the same --keys DIR.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "exitcode.h"
#include "keys.h"
#include "log.h"

#include <openssl/crypto.h>

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: mm-keygen [-t rsa|ed25519] [-b BITS] [-s SELECTOR] [--keys DIR] ADDRESS\n"
	    "  -t TYPE      key type: rsa (default) or ed25519\n"
	    "  -b BITS      RSA key size, %d..%d (default %d)\n"
	    "  -s SELECTOR  DKIM selector (default: the local part of ADDRESS)\n"
	    "  --keys DIR   key directory (default ~/%s)\n"
	    "Writes DIR/ADDRESS.TYPE.key (0600), .pub and .selector, never replacing\n"
	    "a file, and prints the zone-file line to publish in ADDRESS's domain.\n",
	    KEYS_RSA_BITS_MIN, KEYS_RSA_BITS_MAX, KEYS_RSA_BITS_DEFAULT, KEYS_DEFAULT_SUBDIR);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "keys", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	enum keys_type type = KEYS_RSA;
	long long bits = KEYS_RSA_BITS_DEFAULT;
	const char *selopt = NULL;
	char *dir = NULL;
	int c, bits_set = 0;
	struct mm_err err = { 0 };
	struct addr a;
	char sel[KEYS_SELECTOR_MAX + 1];
	char path[KEYS_NTYPES][3][4096];

	log_init("mm-keygen", LOG_DEST_STDERR);
	while ((c = getopt_long(argc, argv, "t:b:s:hV", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if (keys_parse_type(optarg, &type) < 0)
				mm_die(EX_USAGE, "-t %s: key type must be rsa or ed25519", optarg);
			break;
		case 'b':
			if (parse_long(optarg, KEYS_RSA_BITS_MIN, KEYS_RSA_BITS_MAX, &bits) < 0)
				mm_die(EX_USAGE, "-b %s: RSA key size must be %d..%d", optarg,
				    KEYS_RSA_BITS_MIN, KEYS_RSA_BITS_MAX);
			bits_set = 1;
			break;
		case 's':
			selopt = optarg;
			break;
		case 'K':
			free(dir);
			dir = xstrdup(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mm-keygen %s\n", MM_VERSION);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return EX_USAGE;
	}
	if (bits_set && type != KEYS_RSA)
		mm_die(EX_USAGE, "-b is for RSA keys only");
	if (argv[optind][0] == '-' ||
	    addr_parse_mailbox(argv[optind], strlen(argv[optind]), &a, &err) < 0)
		mm_die(EX_USAGE, "%s: not a usable address: %s", argv[optind], err.msg);
	if (!dir && !(dir = keys_default_dir(&err)))
		mm_die(EX_USAGE, "%s", err.msg);
	if (selopt) {
		if (keys_selector_ok(selopt, &err) < 0)
			mm_die(EX_USAGE, "-s: %s", err.msg);
		if (snprintf_ok(sel, sizeof(sel), "%s", selopt) < 0)    /* cannot: checked above */
			mm_die(EX_USAGE, "-s: selector longer than %d octets", KEYS_SELECTOR_MAX);
	} else if (snprintf_ok(sel, sizeof(sel), "%s", a.local) < 0 || keys_selector_ok(sel, &err) < 0) {
		mm_die(EX_USAGE, "the local part is not a usable selector: give -s SELECTOR");
	}
	for (int t = 0; t < KEYS_NTYPES; t++)
		for (int f = 0; f < 3; f++)
			if (keys_path(dir, &a, (enum keys_type)t, (enum keys_file)f, path[t][f],
			    sizeof(path[t][f]), &err) < 0)
				mm_die(EX_USAGE, "%s", err.msg);
	for (int f = 0; f < 3; f++)
		if (access(path[type][f], F_OK) == 0)
			mm_die(EX_CANTCREAT, "%s exists; not replacing it (remove it first to make a new key)",
			    path[type][f]);
	{
		/* One DNS name holds one key: the other type must use another selector. */
		int other = type == KEYS_RSA ? KEYS_ED25519 : KEYS_RSA;
		char osel[KEYS_SELECTOR_MAX + 1];
		if (access(path[other][KEYS_PRIVATE], F_OK) == 0 &&
		    keys_selector(dir, &a, (enum keys_type)other, osel, &err) == 0 &&
		    ascii_strcasecmp(osel, sel) == 0)
			mm_die(EX_USAGE, "selector %s is already used by %s; choose another with -s",
			    sel, path[other][KEYS_PRIVATE]);
	}
	if (mkdir_p(dir, 0700, &err) < 0)
		mm_die(EX_CANTCREAT, "%s", err.msg);

	struct buf pem, rec, out;
	buf_init(&pem);
	buf_init(&rec);
	buf_init(&out);
	if (keys_generate(type, (int)bits, &pem, &rec, &err) < 0)
		mm_die(EX_SOFTWARE, "%s", err.msg);
	if (keys_write_new(path[type][KEYS_PRIVATE], pem.data, pem.len, 0600, &err) < 0)
		mm_die(err.code == EEXIST ? EX_CANTCREAT : EX_IOERR, "%s", err.msg);
	OPENSSL_cleanse(pem.data, pem.len);
	buf_puts(&rec, "\n");
	if (keys_write_new(path[type][KEYS_PUBLIC], rec.data, rec.len, 0644, &err) < 0)
		mm_die(EX_IOERR, "%s", err.msg);
	rec.data[--rec.len] = 0;
	buf_printf(&out, "%s\n", sel);
	if (keys_write_new(path[type][KEYS_SELECTOR], out.data, out.len, 0644, &err) < 0)
		mm_die(EX_IOERR, "%s", err.msg);
	buf_reset(&out);
	keys_zone_text(&a, sel, type, rec.data, &out);
	fputs(out.data, stdout);
	if (fflush(stdout) != 0 || ferror(stdout))
		mm_die(EX_IOERR, "writing the record: %s", strerror(errno));
	fprintf(stderr, "mm-keygen: private key %s\n", path[type][KEYS_PRIVATE]);
	buf_free(&pem);
	buf_free(&rec);
	buf_free(&out);
	free(dir);
	return 0;
}
