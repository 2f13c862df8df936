#!/bin/sh
# An mm-recv --submit session that dies inside its commit (submit.h,
# "Crash ordering") leaves a held job and a pending note.  The server's
# timer run alone (mm-send -q --mx, no new submission) must decide it:
# release the job when the commit was made, remove it when it was not, and
# the laptop's resend must then be counted as sent, or accepted anew,
# so the message arrives exactly once.  The session is killed by the
# test-only MM_SUBMIT_TEST_KILL hook (SIGKILL at a named point of the
# commit), which leaves exactly what a crash there leaves.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"
. "$MM_TOP/tests/submit/setup.sh"
start_smtp_server "$T/far"
P=$SMTP_PORT

Q=$T/spool
# no runner per job: only the timer's run delivers here
SUB="mm-recv --submit --root $ROOT --hostname mx.example.org --log stderr $RUSER --queue $Q --keys $K --resolver $MM_RESOLVER --mm-send none"
SEND="mm-send --keys $K --queue $T/lq --timeout 20"
# the timer's run, as the account mm-recv runs as
timer_run() {
	_c="$MM_BIN/mm-send -q --mx --mx-port $P --resolver $MM_RESOLVER --queue $Q --root $ROOT --timeout 10"
	if [ -n "$RUSER" ]; then
		su nobody -s /bin/sh -c "HOME=$T/home $_c" 2>"$T/run.err"
	else
		$_c 2>"$T/run.err"
	fi
}
resend() { mm-send -q --now --keys "$K" --queue "$T/lq" --timeout 20 --via "$SUB" 2>"$T/resend.err"; }
msg() { printf 'From: me@example.org\nTo: %s\nSubject: %s\n\nbody of %s\n' "$1" "$2" "$2"; }
far() { grep -l "^Subject: $1[[:space:]]*\$" "$T"/far/*.eml 2>/dev/null | wc -l | tr -d ' '; }
here() { grep -l "^Subject: $1\$" "$ROOT"/example.org/you/new/* 2>/dev/null | wc -l | tr -d ' '; }
jobs() { ls "$Q/env" 2>/dev/null | wc -l | tr -d ' '; }
pending() { ls "$Q/replay/pending" 2>/dev/null | wc -l | tr -d ' '; }
held() { mm-send --queue "$Q" -bp --json 2>/dev/null | $PY -c 'import json,sys; print(sum(j["next_try"] == 253402300799 for j in json.load(sys.stdin)))'; }

# ---- killed after the Maildir copy, before the replay entry: taken --------
msg "you@example.org, pal@far.test" a1 |
	$SEND --via "env MM_SUBMIT_TEST_KILL=delivered $SUB" -t 2>"$T/err"
is "$?" 0 "the session died: mm-send keeps the message (exit 0)"
like "$(cat "$T/err")" 'queued as' "queued at the laptop for a resend"
is "$(held)" 1 "the dead session left its job held on the server"
is "$(pending)" 1 "and its pending note"
is "$(here a1)" 1 "the local copy was made"
is "$(far a1)" 0 "nothing relayed yet"
timer_run
is "$?" 0 "the timer's run exits 0"
like "$(cat "$T/run.err")" 'finished the commit.*job released' "it finished the dead session's commit"
is "$(far a1)" 1 "and delivered the released job at once"
is "$(pending)" 0 "the pending note is gone"
is "$(jobs)" 0 "the server's queue is empty"
resend
is "$?" 0 "the laptop's resend exits 0"
like "$(cat "$T/resend.err")" 'taken this message before.*counted as sent' "the resend is refused as a replay and counted as sent"
unlike "$(cat "$T/resend.err")" 'failed|BOUNCED' "no bounce for it"
is "$(ls "$T/lq/env" | wc -l | tr -d ' ')" 0 "the laptop's queue is empty"
timer_run
is "$(far a1)" 1 "relayed exactly once"
is "$(here a1)" 1 "delivered here exactly once"

# ---- killed right after queueing the held job: the job proves the commit --
msg pal@far.test a2 | $SEND --via "env MM_SUBMIT_TEST_KILL=queued $SUB" pal@far.test 2>"$T/err"
like "$(cat "$T/err")" 'queued as' "second session died after queueing: queued at the laptop"
is "$(held)" 1 "its job is held"
timer_run
is "$(far a2)" 1 "the timer's run released and delivered it"
resend
like "$(cat "$T/resend.err")" 'counted as sent' "the resend counted as sent"
is "$(ls "$T/lq/env" | wc -l | tr -d ' ')" 0 "the laptop's queue is empty"
timer_run
is "$(far a2)" 1 "exactly once"

# ---- killed after queueing, before the Maildir copy that was due too: the
# commit is not complete, the job goes, and the resend brings both copies
msg "you@example.org, pal@far.test" a4 |
	$SEND --via "env MM_SUBMIT_TEST_KILL=queued $SUB" -t 2>"$T/err"
like "$(cat "$T/err")" 'queued as' "a session died between its held job and its Maildir copy"
is "$(held)" 1 "its job is held"
is "$(here a4)" 0 "no local copy"
timer_run
like "$(cat "$T/run.err")" 'copies here were never made: job removed' "the timer's run withdraws the job"
is "$(jobs)" 0 "the server's queue is empty"
is "$(far a4)" 0 "nothing relayed"
resend
unlike "$(cat "$T/resend.err")" 'taken this message before' "the resend is accepted anew"
is "$(here a4)" 1 "the local copy made once"
timer_run
is "$(far a4)" 1 "relayed once"

# ---- a held job nothing proves (its pending note gone, no replay entry:
# what a session leaves that could not withdraw its job after a failure
# before its 250): removed, and the resend is accepted anew
msg pal@far.test a3 | $SEND --via "env MM_SUBMIT_TEST_KILL=queued $SUB" pal@far.test 2>"$T/err"
is "$(held)" 1 "third session died: a held job"
if [ -n "$RUSER" ]; then
	su nobody -s /bin/sh -c "rm -f '$Q'/replay/pending/*"
else
	rm -f "$Q"/replay/pending/*
fi
is "$(pending)" 0 "no pending note speaks for it"
timer_run
like "$(cat "$T/run.err")" 'held job .* never recorded .* removed' "the timer's run removes the orphan"
is "$(jobs)" 0 "the server's queue is empty"
is "$(far a3)" 0 "nothing was relayed"
resend
is "$?" 0 "the laptop's resend exits 0"
unlike "$(cat "$T/resend.err")" 'taken this message before' "the resend is accepted, not a replay"
is "$(jobs)" 1 "the server queued it again"
timer_run
is "$(far a3)" 1 "delivered exactly once"
is "$(jobs)" 0 "nothing left"

# ---- a queue without a replay cache is left as it was ----------------------
mkdir -p "$T/plain"
printf 'From: me@example.org\nSubject: p\n\nx\n' | mm-send -odq --no-sign --queue "$T/plain" -f me@example.org pal@far.test 2>/dev/null
mm-send -q --mx --mx-port "$P" --resolver "$MM_RESOLVER" --queue "$T/plain" --timeout 10 2>/dev/null
ok "no replay/ appears in a queue mm-recv --submit does not feed" test ! -e "$T/plain/replay"
done_testing
