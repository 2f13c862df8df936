#!/bin/sh
# mm-sync kill -9 loop: 60 rounds, each adds new messages to the server,
# starts a run, and kills the client, the server or both with SIGKILL at a
# random moment; then one run to the end.  After every round the union of
# the local and the remote Maildir holds every message added so far
# exactly once, under its own name and byte-identical; after the final
# run the remote holds none.  The seed is printed, to replay a failure:
# SEED=n prove tests/sync-kill.t (the kill moments it draws are fractions
# of a run's length, measured at the start, so they replay in proportion).
. "$(dirname "$0")/lib.sh"
need sha256sum:coreutils awk:mawk
SYNC=$MM_BIN/mm-sync
ROUNDS=60
PER_ROUND=25
# below 2^31: mawk's srand() makes every larger seed the same one
SEED=${SEED:-$(($(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 2147483647))}
diag "seed $SEED"

# The -e remote shell: records the server's pid, then becomes the server.
RSH=$T/rsh.sh
cat >"$RSH" <<SH
#!/bin/sh
shift
echo \$\$ >"$T/srvpid"
exec sh -c "exec \$*"
SH
chmod +x "$RSH"

maildir() { mkdir -p "$1/tmp" "$1/new" "$1/cur"; }
# a server's Maildir with the nested folders FOLDERS names
remote_maildir() { for d in "$1" "$1/.Lists" "$1/.Lists.Deep" "$1/Archive/2024"; do maildir "$d"; done; }
R=$T/remote L=$T/local O=$T/orig
remote_maildir "$R"
for d in "$L" "$O"; do maildir "$d"; done
FOLDERS="new cur .Lists/new .Lists/cur .Lists.Deep/new Archive/2024/cur"

# Messages: unique bytes, sizes from 0 to ~200 KiB, flags in cur/ names.
# One awk writes a round's messages (a process per message made this test
# slow); the list of what was added goes to $O/list as "sha256  path".
add_messages() { # ROUND [REMOTE [LIST]]
	dir=${2:-$R} list=${3:-$O/list}
	(cd "$dir" && awk -v seed="$SEED" -v round="$1" -v per="$PER_ROUND" -v folders="$FOLDERS" 'BEGIN {
		srand(seed + round); nf = split(folders, f, " ")
		for (i = 0; i < per; i++) {
			k = int(rand() * nf) + 1
			r = rand(); size = r < 0.1 ? 0 : (r < 0.9 ? int(rand() * 4000) : int(rand() * 200000))
			name = sprintf("%d.R%dM%d.vps", 1700000000 + round, round, i)
			if (f[k] ~ /cur$/) name = name ":2," (rand() < 0.5 ? "S" : "RS")
			path = f[k] "/" name
			printf "Subject: %s\n\n", path >path
			for (left = size; left > 0; left -= length(line)) {
				line = ""
				for (j = 0; j < 16; j++) line = line sprintf("%08x", int(rand() * 4294967296))
				line = substr(line "\n", 1, left)
				printf "%s", line >path
			}
			close(path)
			print path
		}
	}' | tr '\n' '\0' | xargs -0 sha256sum) >>"$list"
}

# union: "sha256  path" of every message on either side, sorted
union() {
	{ (cd "$R" && find . -type f \( -path '*/new/*' -o -path '*/cur/*' \) -printf '%P\0' | xargs -0r sha256sum)
	  (cd "$L" && find . -type f \( -path '*/new/*' -o -path '*/cur/*' \) -printf '%P\0' | xargs -0r sha256sum)
	} | LC_ALL=C sort
}

# alive PID: running, not a zombie waiting for init to reap it
alive() {
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ]
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A kill at a random moment must fall inside a run, and how long a run
# takes depends on the machine (an ASan build on a loaded CI host is many
# times slower than a plain one on an idle laptop).  So the moments are
# drawn from the median of five measured runs of a round's worth of mail
# into a scratch pair, not from a fixed range.
CR=$T/cal-remote CL=$T/cal-local
remote_maildir "$CR"
maildir "$CL"
for k in 1 2 3 4 5; do
	add_messages $((100000 + k)) "$CR" "$T/cal-list"
	t0=$(now_ms)
	"$SYNC" -e "$RSH" --remote-path "$SYNC" "x:$CR" "$CL" >/dev/null 2>>"$T/cal-err" ||
		echo "run $k: exit $?" >>"$T/cal-err"
	echo $(($(now_ms) - t0))
done | sort -n >"$T/cal-ms"
is "$(cat "$T/cal-err" 2>/dev/null)" "" "five unkilled runs, timed to place the kills, exit 0 and say nothing"
# four fifths of the median: the runs that follow are often quicker, and
# a kill aimed at the server counts from its start, after the rsh's
run_ms=$(($(sed -n 3p "$T/cal-ms") * 4 / 5))
diag "a round's run takes $(tr '\n' ' ' <"$T/cal-ms")ms here; kills fall in 0..$run_ms ms"

delays=$(awk -v seed="$SEED" -v n="$ROUNDS" -v ms="$run_ms" 'BEGIN { srand(seed)
	for (i = 0; i < n; i++) printf "%.3f %d\n", rand() * ms / 1000, int(rand() * 3) }')
bad=0 killed_c=0 killed_s=0 round=0
echo "$delays" >"$T/delays"
while read -r delay who; do
	round=$((round + 1))
	add_messages "$round"
	rm -f "$T/srvpid"
	"$SYNC" -e "$RSH" --remote-path "$SYNC" "x:$R" "$L" >/dev/null 2>&1 &
	cpid=$!
	# a kill aimed at the server waits for it to be there (an ASan build
	# on a loaded machine can take longer to start than the longest
	# delay), so the delay counts from the server's start
	if [ "$who" != 0 ]; then
		i=0
		while [ ! -s "$T/srvpid" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
	fi
	sleep "$delay"
	spid=$(cat "$T/srvpid" 2>/dev/null)
	case $who in
	0) kill -9 "$cpid" 2>/dev/null && killed_c=$((killed_c + 1)) ;;
	1) [ -n "$spid" ] && kill -9 "$spid" 2>/dev/null && killed_s=$((killed_s + 1)) ;;
	2) kill -9 "$cpid" 2>/dev/null && killed_c=$((killed_c + 1))
	   [ -n "$spid" ] && kill -9 "$spid" 2>/dev/null && killed_s=$((killed_s + 1)) ;;
	esac
	wait "$cpid" 2>/dev/null
	# the server ends on its own once its client is gone
	i=0
	while [ -n "$spid" ] && alive "$spid" && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
	# Between rounds a message may be on both sides (stored and durable
	# here, not yet deleted there); none may be missing, damaged or extra.
	union | uniq >"$T/union"
	if ! LC_ALL=C sort "$O/list" | cmp -s - "$T/union"; then
		bad=$((bad + 1))
		[ $bad -le 3 ] && diag "round $round (delay $delay, kill $who): messages differ" &&
			LC_ALL=C sort "$O/list" | diff - "$T/union" | head -5 | sed 's/^/# /'
	fi
done <"$T/delays"
is "$bad" 0 "after each of $ROUNDS kill -9 rounds every message is still there, byte-identical, nothing extra"
diag "clients killed $killed_c times, servers $killed_s times"
ok "the loop killed clients" test "$killed_c" -gt 5
ok "the loop killed servers" test "$killed_s" -gt 5
ok "some rounds moved messages" test "$(find "$L" -type f -path '*/new/*' | wc -l)" -gt 0

"$SYNC" -e "$RSH" --remote-path "$SYNC" "x:$R" "$L" 2>"$T/err"
is "$?" 0 "the final run exits 0"
is "$(union)" "$(LC_ALL=C sort "$O/list")" "the union still holds every message exactly once, byte-identical"
is "$(find "$R" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l | tr -d ' ')" 0 "the remote holds none"
is "$(wc -l <"$O/list" | tr -d ' ')" $((ROUNDS * PER_ROUND)) "all $((ROUNDS * PER_ROUND)) messages counted"
is "$(find "$L" -name '*mmsync-*' | wc -l | tr -d ' ')" 0 "no message was stored twice under a fresh name"

done_testing
