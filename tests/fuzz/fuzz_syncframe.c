/* libFuzzer: mm-sync's frame decoder and path check on any bytes, then the
 * whole client fed the same bytes as a server's stream, storing into a
 * scratch Maildir.
 *
 * Checked: a decoded frame lies inside the input and re-encodes to the
 * same bytes; a path the check accepts has no empty, "." or ".." part, no
 * control byte, and ends in new/NAME or cur/NAME; whatever the stream,
 * the client creates nothing outside its Maildir and leaves no file in
 * its tmp/. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sync.h"

static char sandbox[64], root[96];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	remove(p);
	return 0;
}

static void cleanup(void)
{
	nftw(sandbox, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	if (sandbox[0])
		return;
	snprintf(sandbox, sizeof sandbox, "/tmp/fuzz_syncframe.%ld", (long)getpid());
	snprintf(root, sizeof root, "%s/md", sandbox);
	mkdir(sandbox, 0700);
	atexit(cleanup);
}

static void check_path(const uint8_t *p, size_t n)
{
	struct mm_err e;
	size_t start = 0, comps = 0;

	if (sync_path_check((const char *)p, n, &e) < 0)
		return;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '/') {
			if (p[i] < 0x20 || p[i] == 0x7f)
				__builtin_trap();
			continue;
		}
		if (i == start || (i - start == 1 && p[start] == '.') ||
		    (i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
			__builtin_trap();
		comps++;
		start = i + 1;
	}
	if (comps < 2)
		__builtin_trap();
}

/* Entries of dir other than "." and ".." and keep (may be NULL). */
static int others(const char *dir, const char *keep)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    (!keep || strcmp(de->d_name, keep)))
			n++;
	if (d)
		closedir(d);
	return n;
}

static void check_sandbox(void)
{
	char tmp[128];

	if (others(sandbox, "md"))
		__builtin_trap();       /* written outside the Maildir */
	snprintf(tmp, sizeof tmp, "%s/tmp", root);
	if (others(tmp, NULL))
		__builtin_trap();       /* junk left in tmp/ */
}

static void run_client(const uint8_t *data, size_t size)
{
	int in[2], out, err2, nul, rootfd;
	struct sync_opts o = { 0 };
	struct sync_stats st = { 0 };
	struct mm_err e = { 0 };
	char tmp[128];

	setup();
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(tmp, sizeof tmp, "%s/tmp", root);
	if (mkdir(root, 0700) < 0 || mkdir(tmp, 0700) < 0)
		abort();
	if (pipe(in) < 0)
		abort();
	(void)fcntl(in[1], F_SETPIPE_SZ, 1 << 20);
	if (size > 65536)
		size = 65536;   /* fits the pipe: no writer thread needed */
	if (write(in[1], data, size) != (ssize_t)size)
		abort();
	close(in[1]);
	out = open("/dev/null", O_WRONLY);
	nul = open("/dev/null", O_WRONLY);
	err2 = dup(2);
	dup2(nul, 2);           /* the client's warnings would drown the log */
	rootfd = open(root, O_RDONLY | O_DIRECTORY);
	(void)sync_client(in[0], out, rootfd, &o, &st, &e);
	close(rootfd);
	dup2(err2, 2);
	close(err2);
	close(nul);
	close(out);
	close(in[0]);
	check_sandbox();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sync_frame f;
	struct mm_err e;
	size_t used, off = 0;

	/* every frame of the stream, as the decoder sees it */
	while (off < size) {
		enum sync_dec r = sync_frame_decode(data + off, size - off, &f, &used, &e);
		if (r != SYNC_DEC_OK)
			break;
		if (used > size - off || used != SYNC_HDR_LEN + (size_t)f.len ||
		    f.len > sync_frame_limit(f.type) || f.payload != data + off + SYNC_HDR_LEN)
			__builtin_trap();
		{
			struct buf b;
			buf_init(&b);
			sync_frame_encode(&b, f.type, f.payload, f.len);
			if (b.len != used || memcmp(b.data, data + off, used))
				__builtin_trap();
			buf_free(&b);
		}
		if ((f.type == SYNC_F_FILE && f.len > 16) ||
		    (f.type == SYNC_F_CONFIRM && f.len > 16 + SYNC_SHA_LEN))
			check_path(f.payload + (f.type == SYNC_F_FILE ? 16 : 16 + SYNC_SHA_LEN),
			    f.len - (f.type == SYNC_F_FILE ? 16 : 16 + SYNC_SHA_LEN));
		off += used;
	}
	check_path(data, size);
	run_client(data, size);
	return 0;
}
