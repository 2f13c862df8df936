#!/bin/sh
# mm-send's SMTP client against the scripted peer (tests/smtp-peer.py):
# PIPELINING used when offered and never otherwise, SIZE= and
# BODY=8BITMIME on MAIL, the server's SIZE limit, 4xx/5xx after DATA.
. "$(dirname "$0")/lib.sh"
export HOME=$T/home MM_SEND_SYSTEM_CONF=
mkdir -p "$HOME"
OUT=$T/out
mkdir -p "$OUT"
Q=$T/q
peer() { printf '%s %s %s' "$PY" "$MM_TOP/tests/smtp-peer.py" "$OUT"; for a in "$@"; do printf ' %s' "$a"; done; }
send() { # PEER-ARGS... -- then the message on stdin
	_p=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do _p="$_p $1"; shift; done
	# shellcheck disable=SC2086
	mm-send --no-sign --queue "$Q" --via "$(peer $_p)" a@example.org b@example.org 2>"$T/err"
}
last() { n=$(ls "$OUT" | grep -c '\.eml$'); I=$OUT/$((n - 1)).info; M=$OUT/$((n - 1)).eml; }

printf 'From: me@example.test\nSubject: plain\n\nseven bit\n' | send --
is "$?" 0 "PIPELINING offered: sent"
last
is "$(sed -n 2p "$I")" "pipelined yes" "MAIL, RCPTs and DATA went in one write"
is "$(head -1 "$I")" "MAIL FROM:<me@example.test> SIZE=$(wc -c <"$M" | tr -d ' ')" "SIZE= is the message size; no BODY= for 7-bit"

printf 'From: me@example.test\nSubject: plain\n\nseven bit\n' | send --no-pipelining --
is "$?" 0 "no PIPELINING: sent"
last
is "$(sed -n 2p "$I")" "pipelined no" "without PIPELINING each command waits for its reply"
is "$(ls "$OUT" | grep -c '\.eml$')" 2 "both delivered"

printf 'From: me@example.test\nSubject: 8bit\n\nK\303\266ln\n' | send --
last
like "$(head -1 "$I")" ' BODY=8BITMIME$' "8-bit body: BODY=8BITMIME"

# the server's SIZE limit: refused before sending, permanent
printf 'From: me@example.test\nSubject: big\n\n%s\n' "$(head -c 3000 /dev/zero | tr '\0' x | fold -w 70)" |
	send --size 1000 --
is "$?" 69 "over the server's SIZE: EX_UNAVAILABLE"
like "$(cat "$T/err")" "over the server's (SIZE|limit)" "says it is too big"
is "$(ls "$OUT" | grep -c '\.eml$')" 3 "nothing sent"

# 5xx after DATA: permanent, not queued; 4xx after DATA: queued
printf 'From: me@example.test\nSubject: x\n\nx\n' | send --data-code 554 --
is "$?" 69 "554 after DATA: EX_UNAVAILABLE"
like "$(cat "$T/err")" '554' "says 554"
is "$(mm-send --queue "$Q" -bp)" "Mail queue is empty" "554: not queued"
printf 'From: me@example.test\nSubject: x\n\nx\n' | send --data-code 451 --
is "$?" 0 "451 after DATA: exit 0"
like "$(cat "$T/err")" 'queued as .*\(2 recipients\).*451' "451: both recipients queued, with the reply"

# no From: and no -f: the login name at --domain, with -F as display name
me=$(id -un)
printf 'Subject: who\n\nx\n' | mm-send --no-sign --queue "$Q" --via "$(peer)" --domain example.net -F 'Cron Daemon' a@example.org 2>"$T/err"
is "$?" 0 "no From: sent"
last
is "$(grep '^From:' "$M" | tr -d '\r')" "From: Cron Daemon <$me@example.net>" "From: made of -F and the login name at --domain"
is "$(head -1 "$OUT/$((n - 1)).env")" "<$me@example.net>" "envelope sender likewise"
done_testing
