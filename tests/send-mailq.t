#!/bin/sh
# The queue listing: `make install DESTDIR=…` makes the mailq symlink,
# mailq called by that name lists the queue as -bp does, and -bp --json
# parses (python json) with exactly the keys man/mm-send.8 documents.
. "$(dirname "$0")/lib.sh"
need make
export HOME=$T/home MM_SEND_SYSTEM_CONF=
mkdir -p "$HOME"

# install into a scratch root, with the same build (SAN=1 or not) as the
# binaries under test, so nothing is rebuilt
case "$MM_BIN" in */build-san) san=1 ;; *) san= ;; esac
env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "$MM_TOP" install SAN="$san" \
	DESTDIR="$T/inst" PREFIX=/usr >"$T/make.log" 2>&1
is "$?" 0 "make install DESTDIR=… PREFIX=/usr"
[ -s "$T/make.log" ] && sed 's/^/# make: /' "$T/make.log"
B=$T/inst/usr/bin
ok "mailq is a symbolic link" test -L "$B/mailq"
is "$(readlink "$B/mailq")" mm-send "it points at mm-send (relative, so DESTDIR does not leak into it)"
ok "mm-send installed next to it" test -x "$B/mm-send"

Q=$T/queue
# two jobs that cannot be delivered now: the --via command exits at once
# (job 1 signed with two keys, job 2 not: -bp --json tells them apart)
"$B/mm-keygen" --keys "$T/keys" me@example.test >/dev/null 2>&1 &&
	"$B/mm-keygen" -t ed25519 -s me-ed --keys "$T/keys" me@example.test >/dev/null 2>&1 ||
	bail "mm-keygen"
printf 'From: me@example.test\nSubject: one\n\nbody one\n' |
	"$B/mm-send" --keys "$T/keys" --queue "$Q" --via false a@example.org b@example.org 2>"$T/err"
is "$?" 0 "job 1 queued (exit 0)"
printf 'From: Other <other@example.test>\nSubject: two\n\nbody two, a bit longer\n' |
	"$B/mm-send" --no-sign --queue "$Q" --via false -f bounce@example.test c@example.org 2>"$T/err"
is "$?" 0 "job 2 queued (exit 0)"

bp=$("$B/mm-send" --queue "$Q" -bp)
mq=$("$B/mailq" --queue "$Q")
noage() { sed 's/ [0-9]*s  </ </'; }
is "$(printf '%s\n' "$mq" | noage)" "$(printf '%s\n' "$bp" | noage)" "mailq lists what -bp lists"
like "$mq" '-- 2 requests' "mailq: two jobs"
like "$mq" '<bounce@example\.test>' "mailq: the envelope sender"
like "$mq" 'c@example\.org' "mailq: a recipient"
like "$mq" '\(.+\)' "mailq: the last error in parentheses"
"$B/mailq" --queue "$Q" extra 2>/dev/null
is "$?" 64 "mailq takes no arguments: EX_USAGE"

"$B/mailq" --queue "$Q" --json >"$T/q.json"
is "$?" 0 "mailq --json: exit 0"
"$B/mm-send" --queue "$Q" -bp --json >"$T/bp.json"
$PY - "$T/q.json" "$T/bp.json" "$Q" >"$T/py.out" 2>&1 <<'PY'
import json, os, sys, time
q, bp, qdir = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
keys = {"id", "created", "age", "size", "from", "attempts", "next_try",
        "last_try", "last_error", "signatures", "signed_at", "recipients"}
def check(cond, what):
    print(("ok " if cond else "FAIL ") + what)
check(isinstance(q, list) and len(q) == 2, "an array of two jobs")
check(all(set(j) == keys for j in q), "every job has exactly the documented keys")
check(all(set(r) == {"address", "state", "text", "mta", "last_try", "notified"}
          for j in q for r in j["recipients"]),
      "every recipient has exactly address, state, text, mta, last_try, notified")
now = time.time()
check(all(isinstance(j["id"], str) and j["id"] for j in q), "id: a non-empty string")
check(all(isinstance(j[k], int) for j in q for k in ("created", "age", "size", "attempts", "next_try")),
      "created, age, size, attempts, next_try: integers")
check(all(now - 600 < j["created"] <= now + 1 and 0 <= j["age"] < 600 for j in q), "created/age: just now")
check(all(j["attempts"] == 1 and j["next_try"] > j["created"] for j in q), "one attempt, next try later")
check(all(j["last_error"] for j in q), "last_error says why")
by = {j["from"]: j for j in q}
check(set(by) == {"me@example.test", "bounce@example.test"}, "from: the envelope senders")
check([r["address"] for r in by["me@example.test"]["recipients"]] == ["a@example.org", "b@example.org"],
      "job 1: both recipients in order")
check(all(r["state"] == "pending" for j in q for r in j["recipients"]), "state: pending")
me, other = by["me@example.test"], by["bounce@example.test"]
check(me["signatures"] == 2 and abs(me["signed_at"] - me["created"]) <= 1,
      "signed job: 2 signatures, signed when queued")
check(other["signatures"] == 0 and other["signed_at"] == 0, "unsigned job: 0 and 0")
sizes = {os.path.getsize(os.path.join(qdir, "msg", j["id"])) for j in q}
check(sizes == {j["size"] for j in q}, "size: the queued message's octets")
check([{k: v for k, v in j.items() if k != "age"} for j in q] ==
      [{k: v for k, v in j.items() if k != "age"} for j in bp], "mailq --json = -bp --json")
PY
while read -r res what; do
	is "$res" ok "-bp --json: $what"
done <"$T/py.out"
is "$(grep -c . "$T/py.out")" 15 "every JSON check ran"

rm -rf "$Q"
is "$("$B/mailq" --queue "$Q")" "Mail queue is empty" "empty queue"
is "$("$B/mailq" --queue "$Q" --json)" "[]" "empty queue as JSON"
done_testing
