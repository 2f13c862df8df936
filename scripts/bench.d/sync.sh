#!/bin/sh
# mm-sync benchmark: BENCH_N (default 10,000) messages of about 20 KiB
# pulled over a real sshd on loopback, by mm-sync and by the rsync command
# it replaces (seeds/003: rsync -az --remove-source-files
# --exclude='*temp*'), plain and with --fsync (rsync's only way to make a
# file durable before --remove-source-files deletes it).  Same messages,
# same sshd, one run; wall time and bytes over the wire (the application
# bytes each tool reports: mm-sync's frames, rsync --stats), each run
# checked to have moved everything.
set -u
MM_TOP=${MM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MM_BIN=${MM_BIN:-$MM_TOP/build}
export MM_TOP MM_BIN
. "$MM_TOP/tests/lib.sh"
. "$MM_TOP/tests/sshd.sh"
need rsync
N=${BENCH_N:-10000}
start_sshd

# The server's Maildir lives on tmpfs (/dev/shm): on one ext4 the
# server's unlinks and the client's creates would share inode groups, and
# this machine's ext4 (no journal) then scans its recently deleted inodes
# on every create — a cost of running both ends on one disk, not of either
# tool.  For the same reason no local directory is removed during the run.
RD=$(mktemp -d /dev/shm/mm-bench.XXXXXX) || bail "no /dev/shm"
trap '_cleanup; rm -rf "$RD"' EXIT

# The messages: headers, a text part and a base64 attachment, 16-24 KiB,
# so compression (rsync -z) has about what real mail gives it.
SRC=$RD/src
mkdir -p "$SRC/new" "$SRC/cur" "$SRC/tmp"
$PY - "$SRC" "$N" <<'PY'
import base64, os, random, sys
src, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1)
words = ("the of and to a in is it you that he was for on are with as his they be at one have "
         "this from or had by hot word but what some we can out other were all there when up").split()
for i in range(n):
    size = rnd.randint(16384, 24576)
    text = " ".join(rnd.choice(words) for _ in range(size // 12))
    att = base64.encodebytes(os.urandom(size // 3)).decode()
    msg = ("Return-Path: <a%d@example.org>\nDelivered-To: me@example.com\n"
           "From: a%d@example.org\nTo: me@example.com\nSubject: message %d\n"
           "Message-ID: <%d@example.org>\nMIME-Version: 1.0\n\n%s\n\n%s" %
           (i, i, i, i, text, att))[:size]
    sub = "cur" if i % 4 == 0 else "new"
    name = "17%08d.M%dP%d.vps%s" % (i, i, 1000 + i, ":2,S" if sub == "cur" else "")
    with open(os.path.join(src, sub, name), "w") as f:
        f.write(msg)
PY
printf 'half' >"$SRC/tmp/1.partial"
TOTAL=$(du -sb "$SRC/new" "$SRC/cur" | awk '{ s += $1 } END { print s }')

R=$RD/remote
run=0
fresh() { # a new server copy and a new local Maildir in L
	rm -rf "$R"
	cp -a "$SRC" "$R"
	run=$((run + 1))
	L=$T/local$run
	mkdir -p "$L/new" "$L/cur" "$L/tmp"
	sync
}
moved() { # everything in L, nothing left in R's new/ and cur/
	[ "$(find "$L/new" "$L/cur" -type f | wc -l)" = "$N" ] &&
		[ "$(find "$R/new" "$R/cur" -type f | wc -l)" = 0 ]
}
ms() { date +%s%3N; }
RSYNC_FSYNC=yes
rsync --help 2>&1 | grep -q -- '--fsync' || RSYNC_FSYNC=no

row() { # LABEL MS BYTES CHECK
	printf '%-44s %9s %12s %s\n' "$1" "$2" "$3" "$4"
}
row "$N messages, $((TOTAL / 1048576)) MiB" "wall ms" "wire bytes" "check"

mm_run() {
	fresh
	S=$(ms)
	MM_SYNC_STATS=1 "$MM_BIN/mm-sync" -e "$SSH_CMD" --remote-path "$MM_BIN/mm-sync" \
		"root@127.0.0.1:$R" "$L" 2>"$T/mm.err"
	RC=$?
	E=$(ms)
	B=$(sed -n 's/.*wire_in=\([0-9]*\) wire_out=\([0-9]*\).*/\1 \2/p' "$T/mm.err" | awk '{ print $1 + $2 }')
	moved && [ $RC = 0 ] && c=ok || c="FAILED (exit $RC)"
	[ -e "$R/tmp/1.partial" ] || c="$c; deleted the server's tmp/ file"
	row "mm-sync" "$((E - S))" "$B" "$c"
	LAST_MS=$((E - S))
}

rsync_run() { # LABEL EXTRA...
	label=$1; shift
	fresh
	S=$(ms)
	rsync -az --remove-source-files --exclude='*temp*' --stats "$@" -e "$SSH_CMD" \
		"root@127.0.0.1:$R/" "$L/" >"$T/rs.out" 2>&1
	RC=$?
	E=$(ms)
	B=$(awk '/^Total bytes (sent|received)/ { gsub(",", "", $4); s += $4 } END { print s }' "$T/rs.out")
	moved && [ $RC = 0 ] && c=ok || c="FAILED (exit $RC)"
	[ -e "$R/tmp/1.partial" ] || c="$c; deleted the server's tmp/ file"
	row "$label" "$((E - S))" "$B" "$c"
	LAST_MS=$((E - S))
}

# BENCH_ROUNDS rounds (default 5).  File creation on this kind of machine
# varies several-fold from minute to minute (other jobs, ext4 skipping
# recently deleted inodes), so the tools take turns and the first slot
# rotates: each tool runs first, second and third as evenly as the number
# of rounds allows (exactly with a multiple of 3) and none always follows
# the same one.  The first run of a bench is often slow whoever runs it:
# the previous bench's clean-up deleted its local copies, and this ext4
# skips inodes deleted in the last minute or so on every create.  Each run gets a fresh local Maildir on the
# same file system and a fresh server copy; the median counts (the best is
# shown too), and the ratio is of the medians.
ROUNDS=${BENCH_ROUNDS:-5}
TOOLS="mm rs"
[ "$RSYNC_FSYNC" = yes ] && TOOLS="mm rs rsf"
MM= RS= RSF=
run_tool() {
	case $1 in
	mm) mm_run; MM="$MM $LAST_MS" ;;
	rs) rsync_run "rsync -az --remove-source-files"; RS="$RS $LAST_MS" ;;
	rsf) rsync_run "rsync -az --remove-source-files --fsync" --fsync; RSF="$RSF $LAST_MS" ;;
	esac
}
round=0
while [ "$round" -lt "$ROUNDS" ]; do
	set -- $TOOLS
	k=0
	while [ "$k" -lt $((round % $#)) ]; do # rotate the order by the round number
		t=$1; shift; set -- "$@" "$t"; k=$((k + 1))
	done
	for t in "$@"; do run_tool "$t"; done
	round=$((round + 1))
done
[ "$RSYNC_FSYNC" = yes ] ||
	echo "rsync --fsync: not supported by the installed rsync ($(rsync --version | head -1))"
# What both tools pay before a byte moves: an ssh login running a command
# (here the login shell also reads root's ~/.bashrc).
LOGIN=
for i in 1 2 3 4 5; do
	S=$(ms)
	$SSH_CMD root@127.0.0.1 true
	LOGIN="$LOGIN $(($(ms) - S))"
done
stat_of() { # "median best" of a list of numbers
	printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%d %d\n", m, v[1] }'
}
set -- $(stat_of "$MM") $(stat_of "$RS") $(stat_of "${RSF:-0}")
awk -v n="$ROUNDS" -v mm="$1" -v mb="$2" -v rm="$3" -v rb="$4" -v fm="$5" -v fb="$6" \
    -v all_mm="$MM" -v all_rs="$RS" -v all_rsf="$RSF" 'BEGIN {
	printf "all runs (ms): mm-sync%s; rsync -az%s", all_mm, all_rs
	if (fm > 0) printf "; rsync -az --fsync%s", all_rsf
	printf "\nmedian (best) of %d: mm-sync %d (%d) ms, rsync -az %d (%d) ms", n, mm, mb, rm, rb
	if (fm > 0) printf ", rsync -az --fsync %d (%d) ms", fm, fb
	printf "\nmm-sync / rsync -az: %.2f x wall time, medians (goal <= 0.70); %.2f x, bests\n",
	    mm / rm, mb / rb
	if (fm > 0) printf "mm-sync / rsync -az --fsync: %.2f x wall time, medians\n", mm / fm }'
set -- $(stat_of "$LOGIN")
echo "an ssh login alone (ssh host true), paid by both tools: median $1 ms of 5"
echo "loopback sshd; the machine may be shared with other jobs, so figures are noisy"
