#!/bin/sh
# mm-send signs with the keys mm-keygen made; dkimpy (an independent
# implementation) verifies every signature against the records mm-keygen
# printed, served by a real nsd.  Messages go through --via to a scripted
# SMTP peer that stores exactly what it received.
. "$(dirname "$0")/lib.sh"
need nsd dig:dnsutils

export HOME=$T/home
mkdir -p "$HOME" "$T/zones"
K=$T/keys
{
	cat "$MM_TOP/tests/zones/example.test.zone"
	mm-keygen --keys "$K" rsa@example.test
	mm-keygen -t ed25519 --keys "$K" ed@example.test
	mm-keygen --keys "$K" me@example.test
	mm-keygen -t ed25519 -s me-ed --keys "$K" me@example.test
} >"$T/zones/example.test.zone" 2>/dev/null
start_nsd example.test

OUT=$T/out
mkdir -p "$OUT"
VIA="$PY $MM_TOP/tests/smtp-peer.py $OUT"
n=0
# send NAME ARGS... (message in $T/in): sends, checks exit 0, sets $M to the stored file
send() {
	_name=$1; shift
	mm-send --keys "$K" --via "$VIA" "$@" <"$T/in" 2>"$T/err"
	is "$?" 0 "$_name: sent"
	M=$OUT/$n.eml
	n=$((n + 1))
}
verify() { # NAME WANT-COUNT
	_v=$($PY "$MM_TOP/tests/dkim-verify.py" "$M" 127.0.0.1 "$NSD_PORT" 2>&1)
	_rc=$?
	is "$_rc" 0 "$1: dkimpy verifies"
	is "$(printf '%s\n' "$_v" | grep -c ' pass$')" "$2" "$1: $2 signature(s) pass"
	[ "$_rc" = 0 ] || diag "$_v"
}

printf 'From: R <rsa@example.test>\nTo: you@example.org\nSubject: rsa\n\nhello\n' >"$T/in"
send "rsa, LF input" you@example.org
verify "rsa" 1
like "$(grep -a '^DKIM-Signature' "$M")" 'a=rsa-sha256; c=relaxed/relaxed; d=example.test; s=rsa;' "rsa: algorithm, canonicalization, selector"

printf 'From: ed@example.test\r\nTo: you@example.org\r\nSubject: ed\r\n\r\nhello\r\n' >"$T/in"
send "ed25519, CRLF input" you@example.org
verify "ed25519" 1
like "$(grep -a '^DKIM-Signature' "$M")" 'a=ed25519-sha256' "ed25519 algorithm"

printf 'From: Me <me@example.test>\nTo: you@example.org\nCc: c@example.org\nSubject: both\n\nhello\n' >"$T/in"
send "both keys" you@example.org
verify "both keys" 2
hdr=$(sed -n '/^DKIM-Signature/,/^[A-Z][a-z]*-*[A-Za-z]*: /p' "$M" | tr -d '\r\n\t ')
like "$hdr" 'h=[^;]*From[^;]*from' "From over-signed (twice in h=)"
like "$hdr" 'h=[^;]*[Rr]eply-[Tt]o' "Reply-To over-signed although absent"
like "$hdr" ';t=[0-9]+;' "t= set"
unlike "$hdr" ';l=' "no l= tag"
CR=$(printf '\r')
is "$(grep -c "$CR\$" "$M")" "$(wc -l <"$M")" "every stored line ends in CRLF"

# the header is completed: Date, Message-ID at the From domain
like "$(grep -a '^Date: ' "$M")" '^Date: [A-Z][a-z]{2}, [0-9]{1,2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}' "Date added (RFC 5322)"
like "$(grep -a '^Message-ID: ' "$M")" '^Message-ID: <[0-9a-f.]+@example\.test>' "Message-ID added at the sender's domain"

# Date in the local zone (TZ says +05:30 here), Message-ID new each time
printf 'From: me@example.test\nTo: you@example.org\nSubject: tz\n\nx\n' >"$T/in"
TZ=XYZ-5:30 send "Date in the local zone" you@example.org
like "$(grep -a '^Date: ' "$M")" ' \+0530.$' "Date: carries the local offset +0530"
id1=$(grep -a '^Message-ID: ' "$M")
send "a second message" you@example.org
id2=$(grep -a '^Message-ID: ' "$M")
ok "Message-ID differs between two messages" test -n "$id1" -a "$id1" != "$id2"
# a message's own Date and Message-ID are kept
printf 'From: me@example.test\nDate: Mon, 1 Dec 2025 10:00:00 +0000\nMessage-ID: <mine@example.test>\n\nx\n' >"$T/in"
send "own Date and Message-ID" you@example.org
is "$(grep -ac '^Date: Mon, 1 Dec 2025 10:00:00 +0000' "$M")$(grep -ac '^Date: ' "$M")" 11 "own Date kept, none added"
is "$(grep -ac '^Message-ID: <mine@example.test>' "$M")$(grep -ac '^Message-ID: ' "$M")" 11 "own Message-ID kept, none added"

# 8-bit body, long folded header, dot lines, bare CR
{
	printf 'From: me@example.test\nTo: you@example.org,\n  other@example.org\n'
	printf 'Subject: a long header that goes on and on and on and on and on and on and on\n and continues on a folded line\n'
	printf 'Content-Type: text/plain; charset=utf-8\n\n'
	printf 'gr\303\274\303\237e aus K\303\266ln\n.leading dot\n..two dots\n.\r\nbare\rCR here\n'
} >"$T/in"
send "8-bit, folded, dots, bare CR" -i you@example.org
verify "8-bit etc." 2
ok "8-bit bytes kept" grep -aq "$(printf 'gr\303\274\303\237e')" "$M"
ok "dot lines arrive unstuffed as written" grep -aq '^\.\.two dots' "$M"
ok "bare CR became a line end" grep -aq "^CR here" "$M"

# -t: recipients from To/Cc/Bcc; Bcc removed before signing
printf 'From: me@example.test\nTo: a@example.org\nCc: B <b@example.org>\nBcc: hidden@example.org\nSubject: t\n\nbody\n' >"$T/in"
send "-t" -t
verify "-t" 2
unlike "$(cat "$M")" 'Bcc|hidden' "Bcc removed from what is sent"
is "$(tail -n +2 "$OUT/$((n - 1)).env" | sort | tr '\n' ' ')" "<a@example.org> <b@example.org> <hidden@example.org> " "-t: To, Cc and Bcc recipients"

# lone dot ends the message unless -i
printf 'From: me@example.test\nTo: a@example.org\nSubject: dot\n\nbefore\n.\nafter\n' >"$T/in"
send "lone dot" a@example.org
ok "text after a lone dot is dropped" sh -c "! grep -q after '$M'"
verify "lone dot" 2

# no line end after the last line: completed before signing
printf 'From: me@example.test\nTo: a@example.org\nSubject: eol\n\nno newline at the end' >"$T/in"
send "no final newline" a@example.org
verify "no final newline" 2
ok "last line ends in CRLF" sh -c "tail -c 2 '$M' | od -c | grep -q '\\\\r  *\\\\n'"

# relaxed canonicalization at work (mm-send's own canonicaliser, checked
# by dkimpy): tabs, runs of spaces, white space at line ends, blank and
# white-space-only lines at the end of the body
printf 'From: me@example.test\nTo: a@example.org\nSubject:  spaced\t out \n\n a\t b  c \n\t\n\nd\t\n \n\n\t\n' >"$T/in"
send "white space everywhere" a@example.org
verify "white space everywhere" 2
printf 'From: me@example.test\nTo: a@example.org\nSubject: empty\n\n' >"$T/in"
send "empty body" a@example.org
verify "empty body" 2
printf 'From: me@example.test\nTo: a@example.org\nSubject: no body\n' >"$T/in"
send "header only, no empty line" a@example.org
verify "header only" 2
# a DKIM-Signature the message carries, and one that is not even a tag
# list: kept as they are, and ours still made and valid
printf 'DKIM-Signature: this is not a tag list\nFrom: me@example.test\nTo: a@example.org\nSubject: carried\n\nx\n' >"$T/in"
send "a broken carried DKIM-Signature" a@example.org
_v=$($PY "$MM_TOP/tests/dkim-verify.py" "$M" 127.0.0.1 "$NSD_PORT" 2>&1)
is "$(printf '%s\n' "$_v" | grep -c ' pass$')" 2 "carried broken signature: our two pass"
ok "carried broken signature: kept" grep -aq '^DKIM-Signature: this is not a tag list' "$M"
# fields of one name several times, in any case: h= names each, and the
# verifier takes them from the bottom up
printf 'From: me@example.test\nTo: a@example.org\nX-Dup: 1\nX-Other: o\nx-dup: 2\nX-DUP: 3\nSubject: dups\n\nx\n' >"$T/in"
send "repeated fields" a@example.org
verify "repeated fields" 2

# trace fields are not signed (RFC 6376 5.4.1): a relay may rewrite them
printf 'Return-Path: <x@example.test>\nReceived: from a by b\nFrom: me@example.test\nTo: a@example.org\n\nx\n' >"$T/in"
send "trace fields" a@example.org
verify "trace fields" 2
hdr=$(sed -n '/^DKIM-Signature/,/^[A-Z][a-z]*-*[A-Za-z]*: /p' "$M" | tr -d '\r\n\t ')
unlike "$hdr" 'h=[^;]*([Rr]eceived|[Rr]eturn-[Pp]ath)' "Received and Return-Path are not in h="
# a selector is checked before it is written into the field
printf 'From: me@example.test\nTo: a@example.org\n\nx\n' |
	mm-send --keys "$K" --via "$VIA" --selector 'me; h=to' a@example.org 2>"$T/err"
is "$?" 64 "--selector with '; h=': EX_USAGE"
like "$(cat "$T/err")" 'bad selector' "says why"

# no key: EX_NOPERM naming the path; --no-sign sends unsigned
printf 'From: nokey@example.test\nTo: a@example.org\n\nx\n' |
	mm-send --keys "$K" --via "$VIA" a@example.org 2>"$T/err"
is "$?" 77 "no key: EX_NOPERM"
like "$(cat "$T/err")" "$K/nokey@example.test.rsa.key" "names the key path looked for"
printf 'From: nokey@example.test\nTo: a@example.org\n\nx\n' >"$T/in"
send "--no-sign" --no-sign a@example.org
unlike "$(cat "$M")" 'DKIM-Signature' "--no-sign: no signature"

# a line over 998 octets
{ printf 'From: me@example.test\nTo: a@example.org\n\nshort\n'; head -c 999 /dev/zero | tr '\0' x; echo; } |
	mm-send --keys "$K" --via "$VIA" a@example.org 2>"$T/err"
is "$?" 65 "line over 998 octets: EX_DATAERR"
like "$(cat "$T/err")" 'line 5' "names the line"

# dot-stuffing across the 256 KiB chunks the message is written in: a
# body of lone-dot lines (-i), three header lengths so that a chunk
# boundary falls before a dot, a CR and a LF in turn
for pad in a aa aaa; do
	{ printf 'From: me@example.test\nTo: a@example.org\nSubject: %s\n\n' "$pad"; yes . | head -n 120000; } >"$T/in"
	send "dots across chunks ($pad)" -i a@example.org
	verify "dots across chunks ($pad)" 2
	is "$(sed '1,/^\r$/d' "$M" | tr -d '\r' | sort | uniq -c | tr -s ' ')" " 120000 ." "dots across chunks ($pad): every lone dot arrived as itself"
done

# a message altered after signing fails (the verifier is not blind)
sed 's/^hello/hellO/' "$OUT/0.eml" >"$T/tampered"
M=$T/tampered
nok "tampered body fails verification" sh -c "$PY '$MM_TOP/tests/dkim-verify.py' '$M' 127.0.0.1 $NSD_PORT >/dev/null 2>&1"
done_testing
