/*
 * mm-sync — pull Maildir folders home over SSH; --server is its remote
 * half.  The protocol and both halves live in lib/sync.c; this file parses
 * options, takes the lock, starts the transport and maps results to the
 * exit codes of lib/exitcode.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "exitcode.h"
#include "log.h"
#include "sync.h"
#include "util.h"

#define LOCK_NAME ".mm-sync.lock"

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: mm-sync [-nkv] [--progress] [-e CMD] [--remote-path PATH]\n"
	    "               [user@]host:REMOTE_MAILDIR... LOCAL_MAILDIR\n"
	    "       mm-sync --server MAILDIR\n"
	    "  -n, --dry-run        list what would be moved, change nothing\n"
	    "  -k, --keep           copy, do not delete on the server\n"
	    "  -v, --verbose        print each message moved\n"
	    "      --progress       a progress line on a terminal\n"
	    "  -e, --rsh CMD        remote shell (default: ssh)\n"
	    "      --remote-path P  mm-sync on the server (default: mm-sync)\n"
	    "      --server DIR     be the remote half, serving DIR on stdin/stdout\n"
	    "  -h, --help, --version\n");
}

static pid_t spawn(char **argv, int *rfd, int *wfd)
{
	int in[2], out[2];
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	/* A pipe from the remote shell as big as the client's reads: ssh
	 * then writes its output whole (a hint; the default size works). */
	(void)fcntl(in[0], F_SETPIPE_SZ, SYNC_READ_CHUNK);
	pid = fork();
	if (pid < 0) {
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		return -1;
	}
	if (pid == 0) {
		if (dup2(out[0], 0) < 0 || dup2(in[1], 1) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "mm-sync: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[0]);
	close(in[1]);
	*rfd = in[0];
	*wfd = out[1];
	return pid;
}

static int pull(const char *rsh, const char *remote_path, const char *src, int rootfd,
    const struct sync_opts *o, struct sync_stats *st)
{
	struct mm_err err = { 0 };
	struct argvec av;
	char *host, *dir, *qbin, *qdir, *cmd;
	int rfd, wfd, status = 0;
	pid_t pid;
	enum sync_result r;

	if (sync_parse_source(src, &host, &dir, &err) < 0)
		mm_die(SYNC_EXIT_USAGE, "%s", err.msg);
	argvec_init(&av);
	if (conf_split_words(rsh, &av, &err) < 0 || av.n == 0)
		mm_die(SYNC_EXIT_USAGE, "--rsh: %s", err.msg[0] ? err.msg : "empty");
	qbin = sync_shell_quote(remote_path);
	qdir = sync_shell_quote(dir);
	cmd = xasprintf("%s --server %s", qbin, qdir);
	argvec_push(&av, host);
	argvec_push(&av, cmd);
	pid = spawn(argvec_argv(&av), &rfd, &wfd);
	if (pid < 0) {
		mm_warnx("%s: cannot start %s: %s", src, av.v[0], strerror(errno));
		r = SYNC_CONNECT;
	} else {
		r = sync_client(rfd, wfd, rootfd, o, st, &err);
		close(wfd);
		close(rfd);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (r != SYNC_OK)
			mm_warnx("%s: %s", src, err.msg[0] ? err.msg : "incomplete");
	}
	free(qbin); free(qdir); free(cmd); free(host); free(dir);
	argvec_free(&av);
	switch (r) {
	case SYNC_OK: return SYNC_EXIT_OK;
	case SYNC_CONNECT: return SYNC_EXIT_CONNECT;
	default: return SYNC_EXIT_PARTIAL;
	}
}

int main(int argc, char **argv)
{
	enum { OPT_PROGRESS = 256, OPT_REMOTE_PATH, OPT_SERVER, OPT_VERSION };
	static const struct option lo[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "keep", no_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "rsh", required_argument, NULL, 'e' },
		{ "remote-path", required_argument, NULL, OPT_REMOTE_PATH },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct sync_opts o = { 0 };
	struct sync_stats st = { 0 };
	const char *rsh = "ssh", *remote_path = "mm-sync", *server = NULL, *local;
	int c, rootfd, lockfd, rc = SYNC_EXIT_OK;

	log_init("mm-sync", LOG_DEST_STDERR);
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "nkve:h", lo, NULL)) != -1) {
		switch (c) {
		case 'n': o.flags |= SYNC_FLAG_DRY; break;
		case 'k': o.flags |= SYNC_FLAG_KEEP; break;
		case 'v': o.verbose = 1; break;
		case OPT_PROGRESS: o.progress = 1; break;
		case 'e': rsh = optarg; break;
		case OPT_REMOTE_PATH: remote_path = optarg; break;
		case OPT_SERVER: server = optarg; break;
		case 'h': usage(stdout); return SYNC_EXIT_OK;
		case OPT_VERSION: printf("mm-sync %s\n", MM_VERSION); return SYNC_EXIT_OK;
		default: usage(stderr); return SYNC_EXIT_USAGE;
		}
	}
	if (server) {
		struct mm_err err = { 0 };
		if (optind != argc) {
			usage(stderr);
			return SYNC_EXIT_USAGE;
		}
		/* No bigger pipes here: with a 1 MiB pipe to sshd the ssh
		 * client at the far end spent a third more CPU (its buffers
		 * are copied per packet) and whole runs took 10% longer. */
		if (sync_server(0, 1, server, &err) < 0)
			mm_die(SYNC_EXIT_PARTIAL, "--server %s: %s", server, err.msg);
		return SYNC_EXIT_OK;
	}
	if (argc - optind < 2) {
		usage(stderr);
		return SYNC_EXIT_USAGE;
	}
	local = argv[argc - 1];
	for (int i = optind; i < argc - 1; i++) {
		char *h, *d;
		struct mm_err err = { 0 };
		if (sync_parse_source(argv[i], &h, &d, &err) < 0)
			mm_die(SYNC_EXIT_USAGE, "%s", err.msg);
		free(h);
		free(d);
	}
	/* The local side must be usable before anything happens remotely. */
	rootfd = open(local, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		mm_die(SYNC_EXIT_USAGE, "%s: %s", local, strerror(errno));
	{
		struct mm_err err = { 0 };
		if (sync_local_check(rootfd, o.flags & SYNC_FLAG_DRY, &err) < 0)
			mm_die(SYNC_EXIT_USAGE, "%s: %s", local, err.msg);
	}
	lockfd = openat(rootfd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lockfd < 0 && (o.flags & SYNC_FLAG_DRY))
		lockfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lockfd < 0)
		mm_die(SYNC_EXIT_USAGE, "%s: not writable: %s", local, strerror(errno));
	if (flock(lockfd, LOCK_EX) < 0)
		mm_die(SYNC_EXIT_USAGE, "%s: lock: %s", local, strerror(errno));
	o.progress = o.progress && isatty(2);
	for (int i = optind; i < argc - 1; i++) {
		int r = pull(rsh, remote_path, argv[i], rootfd, &o, &st);
		if (r == SYNC_EXIT_CONNECT || (r == SYNC_EXIT_PARTIAL && rc != SYNC_EXIT_CONNECT))
			rc = r;
	}
	if (o.verbose)
		fprintf(stderr, "mm-sync: %llu moved (%llu bytes), %llu already here, %llu "
		    "conflicts, %llu skipped, %llu failed, %llu deleted on the server\n",
		    (unsigned long long)st.moved, (unsigned long long)st.bytes,
		    (unsigned long long)st.already, (unsigned long long)st.conflicts,
		    (unsigned long long)st.skipped, (unsigned long long)st.failed,
		    (unsigned long long)st.deleted);
	if (getenv("MM_SYNC_STATS"))
		fprintf(stderr, "mm-sync-stats: wire_in=%llu wire_out=%llu via_tmp=%llu\n",
		    (unsigned long long)st.wire_in, (unsigned long long)st.wire_out,
		    (unsigned long long)st.via_tmp);
	close(lockfd);
	close(rootfd);
	return rc;
}
