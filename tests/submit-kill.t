#!/bin/sh
# Exactly once under kill -9.  Messages flow from the laptop's mm-send
# through mm-recv --submit (over a pipe) into the server's queue and out
# through the runners mm-recv starts, to a real aiosmtpd; in every round
# mm-recv and/or the running mm-send -q are killed with SIGKILL at a random
# moment.  Then both queues drain (the laptop's mm-send -q resends what
# never got its 250; the server's mm-send -q delivers what is left).  Every
# message mm-send accepted must reach the far end exactly once or still be
# queued.  Messages that got their 250 at once and messages the laptop
# had to resend (mm-recv died before the 250) are counted apart.  The only
# duplicates allowed come from a runner killed between the far end's 250
# and its job removal; they are counted and reported.  A resend never
# doubles a message: lib/submit queues the job held, writes the replay
# entry, then releases it, and the next session finishes what a killed one
# left half done (see submit.h).  Every third message is for our own
# domain and goes straight to Maildir: exactly once there, no exception.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"
. "$MM_TOP/tests/submit/setup.sh"
mkdir -p "$T/run"
chmod 777 "$T/run"
ROUNDS=${SUBMIT_KILL_ROUNDS:-60}
start_smtp_server "$T/far" --rcpt-delay 0.05
P=$SMTP_PORT

# Wrappers that say who to kill: every runner, and the current mm-recv.
cat >"$T/runner" <<EOF
#!/bin/sh
echo \$\$ >>"$T/run/pids"
exec "$MM_BIN/mm-send" --mx-port $P "\$@"
EOF
cat >"$T/recv" <<EOF
#!/bin/sh
echo \$\$ >"$T/run/recv.pid"
exec "$MM_BIN/mm-recv" --submit --root "$ROOT" --hostname mx.example.org --log none $RUSER \
	--queue "$T/spool" --keys "$K" --resolver "$MM_RESOLVER" --mm-send "$T/runner"
EOF
chmod 755 "$T/runner" "$T/recv"
SEND="mm-send --keys $K --queue $T/lq --timeout 10"
# (a zombie is not alive: an orphan waits for init, which may be slow to reap)
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
live_runners() { [ -f "$T/run/pids" ] && for p in $(cat "$T/run/pids"); do alive "$p" && echo "$p"; done; }

# Messages flow back to back in the background while the killer, at
# random moments, SIGKILLs whichever mm-recv or runner is alive then.
MSGS=${SUBMIT_KILL_MSGS:-500}     # at most; the sender stops when the killer is done
SEED=${SUBMIT_KILL_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
diag "seed $SEED (SUBMIT_KILL_SEED=$SEED reproduces the killer's plan)"
# a body of some size, so a session spends its time in DATA and in fsync
$PY -c "print(('x' * 76 + '\\n') * 1500, end='')" >"$T/body"
$PY -c "
import random; r = random.Random($SEED)
for i in range(20 * $ROUNDS):
    print(r.randint(2, 40), r.choice(['recv', 'runner']))
" >"$T/plan"
: >"$T/got250"; : >"$T/resent"; : >"$T/local"
(
	i=0
	while [ $i -lt "$MSGS" ] && [ ! -e "$T/run/stop" ]; do
		# every third message stays here (FROM me TO me: straight to Maildir)
		to=pal@far.test k=kill
		[ $((i % 3)) = 2 ] && to=you@example.org k=local
		{ printf 'From: me@example.org\nTo: %s\nSubject: %s-%s\n\n' "$to" "$k" "$i"; cat "$T/body"; } |
			$SEND --via "$T/recv" "$to" 2>"$T/send.err"
		st=$?
		cat "$T/send.err" >>"$T/send.log"
		if [ $st -ne 0 ]; then
			:
		elif [ $k = local ]; then
			echo "$k-$i" >>"$T/local"
		elif grep -q '^mm-send: queued' "$T/send.err"; then
			echo "$k-$i" >>"$T/resent"     # no 250: queued at the laptop, resent later
		else
			echo "$k-$i" >>"$T/got250"
		fi
		echo "kill-$i" >>"$T/tried"
		i=$((i + 1))
	done
	touch "$T/run/sender-done"
) &
SENDER=$!
bg_pid $SENDER
ms() { sleep "$(awk "BEGIN { print $1 / 1000 }")"; }
rkills=0 kills=0 deadline=$(($(date +%s) + 60))
while read -r delay who; do
	[ -e "$T/run/sender-done" ] && break
	[ $((rkills + kills)) -ge "$ROUNDS" ] && [ "$rkills" -ge $((ROUNDS / 6)) ] &&
		[ "$kills" -ge $((ROUNDS / 6)) ] && break
	# (the loop ends as soon as the kills are made: the deadline only
	# bounds a slow run, an ASan build on a loaded machine)
	[ "$(date +%s)" -ge "$deadline" ] && break
	ms "$delay"
	if [ "$who" = recv ]; then
		r=$(cat "$T/run/recv.pid" 2>/dev/null)
		[ -n "$r" ] && alive "$r" && kill -9 "$r" 2>/dev/null && rkills=$((rkills + 1))
	else
		for p in $(live_runners); do kill -9 "$p" 2>/dev/null && kills=$((kills + 1)); done
	fi
done <"$T/plan"
touch "$T/run/stop"
wait $SENDER
accepted=$(cat "$T/got250" "$T/resent" "$T/local" | wc -l | tr -d ' ')
tried=$(wc -l <"$T/tried" | tr -d ' ')
diag "$accepted of $tried messages accepted by mm-send ($(wc -l <"$T/got250" | tr -d ' ') got their 250 at once); killed: $rkills mm-recv, $kills runners"
ok "mm-send accepted (sent or queued) every message despite the kills" test "$accepted" -eq "$tried"
ok "$ROUNDS kills or more hit a live process ($((rkills + kills)))" test $((rkills + kills)) -ge "$ROUNDS"
ok "both kinds were killed" test "$rkills" -gt 0 -a "$kills" -gt 0

# drain: laptop first (its resends start runners), then the server
wait_runners() {
	_i=0
	while [ -n "$(live_runners)" ] && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
}
for pass in 1 2 3; do
	[ -z "$(ls "$T/lq/env" 2>/dev/null)" ] && break
	mm-send -q --now --keys "$K" --queue "$T/lq" --timeout 10 --via "$T/recv" 2>>"$T/drain.err"
done
wait_runners
for pass in 1 2 3; do
	[ -z "$(ls "$T/spool/env" 2>/dev/null)" ] && break
	if [ -n "$RUSER" ]; then
		su nobody -s /bin/sh -c "HOME=$T/home $MM_BIN/mm-send -q --now --mx --mx-port $P --resolver $MM_RESOLVER --queue $T/spool --timeout 10" 2>>"$T/drain.err"
	else
		mm-send -q --now --mx --mx-port "$P" --resolver "$MM_RESOLVER" --queue "$T/spool" --timeout 10 2>>"$T/drain.err"
	fi
done
ok "the laptop's queue drained" test -z "$(ls "$T/lq/env" 2>/dev/null)"
ok "the server's queue drained" test -z "$(ls "$T/spool/env" 2>/dev/null)"

# Count each message at the far end and in the Maildir (and anything still
# queued).  Copies of one message that carry the same Received: id are one
# queued job delivered twice (a runner killed between the far end's 250 and
# its job removal: tolerable, reported); different ids would mean mm-recv
# accepted it twice (never allowed).
count() { # LIST -> "once queued dups lost twice"
	_o=0 _q=0 _d=0 _l=0 _t=0
	for s in $(cat "$1"); do
		files=$(grep -l "^Subject: $s[[:space:]]*\$" "$T"/far/*.eml "$ROOT"/example.org/you/new/* \
			"$ROOT"/example.org/you/cur/* 2>/dev/null)
		n=$(echo "$files" | grep -c .)
		q=$(grep -l "^Subject: $s[[:space:]]*\$" "$T"/spool/msg/* "$T"/lq/msg/* 2>/dev/null | wc -l | tr -d ' ')
		if [ "$n" -eq 0 ] && [ "$q" -eq 0 ]; then
			_l=$((_l + 1)); echo "# LOST: $s" >&2
		elif [ "$n" -eq 0 ]; then
			_q=$((_q + 1)); echo "# still queued: $s" >&2
		elif [ "$n" -gt 1 ]; then
			ids=$(for f in $files; do grep -m1 -o 'mm-recv) with [A-Z]* id [0-9a-f.]*' "$f"; done | sort -u | wc -l)
			if [ "$ids" -gt 1 ]; then
				_t=$((_t + 1)); echo "# ACCEPTED TWICE: $s ($n copies, $ids sessions)" >&2
			else
				_d=$((_d + n - 1)); echo "# duplicate: $s, one job delivered $n times" >&2
			fi
		else
			_o=$((_o + 1))
		fi
	done
	echo "$_o $_q $_d $_l $_t"
}
set -- $(count "$T/got250")
diag "got a 250 at once: $1 delivered exactly once, $2 still queued, $3 duplicate deliveries of one job, $4 lost, $5 accepted twice"
is "$4" 0 "no message that got its 250 was lost"
is "$5" 0 "none accepted twice"
dups=$3 stillq=$2
set -- $(count "$T/resent")
diag "no 250 at first, resent by the laptop: $1 exactly once, $2 still queued, $3 duplicate deliveries of one job, $4 lost, $5 accepted twice"
is "$4" 0 "no message resent by the laptop was lost"
is "$5" 0 "none accepted twice: the replay cache and the held job agree"
dups=$((dups + $3)) stillq=$((stillq + $2))
ok "duplicate deliveries ($dups, each a runner killed between the far end's 250 and its job removal) no more than runner kills ($kills)" test "$dups" -le "$kills"
far_all=$(cat "$T/got250" "$T/resent" | wc -l | tr -d ' ')
is "$(ls "$T"/far/*.eml | wc -l | tr -d ' ')" $((far_all + dups - stillq)) "the far end holds nothing else"
set -- $(count "$T/local")
diag "for our own domain (Maildir): $1 exactly once, $3 duplicates, $4 lost, $5 accepted twice"
is "$4" 0 "no message for our own domain was lost"
is "$(($3 + $5))" 0 "none delivered twice to the Maildir (the pending note names each copy)"
is "$(nnew example.org/you)" "$(wc -l <"$T/local" | tr -d ' ')" "the Maildir holds nothing else"
unlike "$(cat "$T/drain.err" 2>/dev/null)" 'corrupt|cannot read' "no queue file was left damaged"
done_testing
