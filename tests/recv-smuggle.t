#!/bin/sh
# mm-recv: SMTP smuggling and input hygiene, byte for byte.  Only CRLF.CRLF
# ends DATA; a second "message" hidden behind any other line end is never
# a second message and never gets a second 250.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"

HEAD='(b"EHLO c.example.net\r\n", 1)
(b"MAIL FROM:<a@other.net>\r\nRCPT TO:<me@example.org>\r\n", 2)
(b"DATA\r\n", 1)'
i=0
# the ends: 1 \n.\n  2 \n.\r\n  3 \r.\r  4 \r\n.\n  5 \r\n.\r  6 \r.\r\n
for end in '\n.\n' '\n.\r\n' '\r.\r' '\r\n.\n' '\r\n.\r' '\r.\r\n'; do
	i=$((i + 1))
	rm -f "$ROOT"/example.org/me/new/* "$ROOT"/example.org/you/new/*
	out=$(printf '%s\n%s\n%s\n' "$HEAD" \
	"(b\"Subject: s$i\r\n\r\nhello$end\", 0)" \
	'(b"MAIL FROM:<evil@other.net>\r\nRCPT TO:<you@example.org>\r\nDATA\r\n\r\nsmuggled\r\n.\r\n", 1)' | raw)
	n250=$(printf '%s\n' "$out" | grep -c '^250 2.0.0 delivered')
	ok "smuggling end #$i: at most one 250 for a message ($n250)" [ "$n250" -le 1 ]
	is "$(nnew example.org/you)" 0 "smuggling end #$i: nothing for the smuggled recipient"
	ok "smuggling end #$i: never two messages" [ "$(($(nnew example.org/me) + $(nnew example.org/you)))" -le 1 ]
done
# the bare-LF body is refused (default) rather than stored
like "$out" '554 5.6.0 message contains a bare (CR|LF)' "the smuggling body is refused: bare CR/LF"

# Bare LF / CR and NUL in commands
out=$(printf '%s\n' '(b"EHLO c.example.net\n", 1)' '(b"NOOP\rRSET\r\n", 1)' '(b"NO\0OP\r\n", 1)' '(b"QUIT\r\n", 1)' | raw)
like "$out" '500 5.5.2 command must end in CRLF, not a bare LF' "bare LF ending a command: 500"
like "$out" '500 5.5.2 bare CR in command' "bare CR inside a command: 500"
like "$out" '500 5.5.2 NUL byte in command' "NUL in a command: 500"
# Bare LF in a header, bare CR in the body, NUL in DATA
j=0
for body in 'Subject: x\nX: y\r\n\r\nb\r\n' 'Subject: x\r\n\r\nb\rc\r\n' 'Subject: x\r\n\r\nb\0c\r\n'; do
	out=$(printf '%s\n%s\n%s\n' "$HEAD" "(b\"$body.\r\n\", 1)" '(b"QUIT\r\n", 1)' | raw)
	j=$((j + 1))
	like "$out" '554 5.6.0 message contains a (bare LF|bare CR|NUL byte)' "DATA case $j (bare LF, bare CR, NUL) refused with 554 5.6.0"
done
is "$(nnew example.org/me)" 0 "none of them stored"
# --bare-eol normalise stores them with proper line ends, still only one message
out=$(printf '%s\n%s\n%s\n' "$HEAD" '(b"Subject: n\nX: y\r\n\r\nb\n.\nc\r\n.\r\n", 1)' '(b"QUIT\r\n", 1)' | raw --bare-eol normalise)
like "$out" '250 2.0.0 delivered' "--bare-eol normalise: accepted"
f=$(find "$ROOT/example.org/me/new" -type f)
is "$(tail -n 3 "$f" | tr '\n' '|')" 'b|.|c|' "normalised: the bare-LF dot line is content"

# Dot-stuffing is undone
rm -f "$ROOT"/example.org/me/new/*
out=$(printf '%s\n%s\n' "$HEAD" '(b"Subject: d\r\n\r\n..one\r\n.\r\n", 1)' | raw)
f=$(find "$ROOT/example.org/me/new" -type f)
is "$(tail -n 1 "$f")" ".one" "dot-stuffing removed"

# Sequence errors
out=$(printf '%s\n' '(b"MAIL FROM:<a@other.net>\r\n", 1)' '(b"EHLO c.example.net\r\n", 1)' '(b"RCPT TO:<me@example.org>\r\n", 1)' \
	'(b"DATA\r\n", 1)' '(b"MAIL FROM:<a@other.net>\r\n", 1)' '(b"MAIL FROM:<b@other.net>\r\n", 1)' '(b"DATA\r\n", 1)' '(b"QUIT\r\n", 1)' | raw)
like "$out" '503 5.5.1 say HELO or EHLO first' "MAIL before EHLO: 503"
like "$out" '503 5.5.1 RCPT needs MAIL first' "RCPT before MAIL: 503"
like "$out" '503 5.5.1 DATA needs MAIL and RCPT first' "DATA before MAIL: 503"
like "$out" '503 5.5.1 nested MAIL command' "two MAILs: 503"
like "$out" '554 5.5.1 no valid recipients' "DATA before any RCPT: 554"

# pipelining without PIPELINING offered (HELO) is dropped; pregreet dropped
out=$(printf '%s\n' '(b"HELO c.example.net\r\nMAIL FROM:<a@other.net>\r\nRCPT TO:<me@example.org>\r\n", 3)' | raw)
like "$out" '554 5.5.0 pipelining was not offered: closing' "pipelining after HELO: dropped"
out=$( (printf 'EHLO early\r\n'; sleep 2) | $RECV --greet-delay 1 2>/dev/null)
like "$out" '^554 5.5.0 you talked before the banner' "pregreet: dropped"
unlike "$out" '^220' "pregreet: no banner"
out=$(swaks --pipe "$RECV --greet-delay 1" --from a@other.net --to me@example.org 2>&1)
like "$out" '250 2.0.0 delivered' "--greet-delay 1: a client that waits for the banner is served"
rm -f "$ROOT"/example.org/me/new/*
# data sent before the 354
out=$(printf '%s\n' '(b"EHLO c.example.net\r\n", 1)' '(b"MAIL FROM:<a@other.net>\r\nRCPT TO:<me@example.org>\r\nDATA\r\nSubject: x\r\n\r\n.\r\n", 4)' | raw)
like "$out" '554 5.5.0 data sent before the 354' "DATA pipelined with its content: dropped"
unlike "$out" '250 2.0.0 delivered' "and nothing delivered"

# Shell metacharacters are data, never commands
rm -f "$T/pwned"
out=$(printf '%s\n' '(b"EHLO c.example.net\r\n", 1)' "(b\"MAIL FROM:<;touch $T/pwned;>\r\n\", 1)" '(b"MAIL FROM:<a@other.net>\r\nRCPT TO:<`id`@example.org>\r\nRCPT TO:<$(id)@example.org>\r\n", 3)' | raw)
like "$out" '501 5.1.7 sender address refused' "MAIL FROM:<;sleep 5;>: refused"
like "$out" '553 5.1.3 <`id`@example.org>: mailbox name refused' "RCPT with backticks: 553"
like "$out" '5[05][13] 5.1.3 ' "RCPT with \$(...): refused"
nok "nothing executed" test -e "$T/pwned"
done_testing
