#!/bin/sh
# mm-send --relay against a real SMTP server (aiosmtpd) with STARTTLS and
# a CA made here: verified TLS, the offline queue, -q exactly once, two
# concurrent -q runs, 5xx, a server that does not offer STARTTLS, a
# certificate that does not verify, AUTH.
. "$(dirname "$0")/lib.sh"
need openssl
$PY -c 'import aiosmtpd' 2>/dev/null || bail "python3-aiosmtpd missing (scripts/install-deps)"
export HOME=$T/home
mkdir -p "$HOME"
K=$T/keys
mm-keygen -t ed25519 --keys "$K" me@example.test >/dev/null 2>&1

# a CA and a server certificate for "localhost"
cd "$T" || exit 1
openssl req -x509 -newkey ed25519 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=mm-test-CA 2>/dev/null
openssl req -newkey ed25519 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext 2>/dev/null
openssl req -x509 -newkey ed25519 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=other 2>/dev/null
cd - >/dev/null || exit 1

SRV_PID=
# server DIR PORT ARGS...: start aiosmtpd, wait until it listens
server() {
	_d=$1; _p=$2; shift 2
	mkdir -p "$_d"
	$PY "$MM_TOP/tests/smtp-server.py" --port "$_p" --out "$_d" "$@" >"$_d.log" 2>&1 &
	SRV_PID=$!
	bg_pid $SRV_PID
	wait_port "$_p" || bail "smtp server did not start"
}
stop() { kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; }
count() { ls "$1" 2>/dev/null | grep -c '\.eml$'; }

P=$(free_port)
Q=$T/queue
SEND="mm-send --keys $K --queue $Q --relay localhost:$P --tls-ca $T/ca.pem"
msg() { printf 'From: me@example.test\nTo: you@example.org\nSubject: %s\n\nbody %s\n' "$1" "$1"; }

# relay up: delivered over verified TLS
server "$T/s1" "$P" --tls "$T/srv.pem" "$T/srv.key"
msg one | $SEND you@example.org 2>"$T/err"
is "$?" 0 "relay up: sent"
is "$(count "$T/s1")" 1 "server stored one message"
is "$(tail -1 "$T/s1/0.env")" tls "it came over TLS"
ok "it is signed" grep -q '^DKIM-Signature: v=1; a=ed25519-sha256' "$T/s1/0.eml"
is "$(mm-send --queue "$Q" -bp)" "Mail queue is empty" "nothing queued"
stop

# relay down: queued, exit 0, says so
msg two | $SEND you@example.org 2>"$T/err"
is "$?" 0 "relay down: exit 0"
like "$(cat "$T/err")" 'queued as [0-9a-f.]+ \(1 recipient\)' "says queued"
like "$(cat "$T/err")" 'onnection refused' "with the reason"
bp=$(mm-send --queue "$Q" -bp)
like "$bp" 'you@example\.org' "-bp lists the recipient"
like "$bp" '<me@example\.test>' "-bp lists the sender"
like "$bp" '-- 1 request' "-bp counts one job"
json=$(mm-send --queue "$Q" -bp --json)
ok "-bp --json is JSON" $PY -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d)==1 and d[0]["recipients"][0]["state"]=="pending" and d[0]["from"]=="me@example.test"' "$json"
ln -s "$MM_BIN/mm-send" "$T/mailq"
noage() { sed 's/ [0-9]*s  </ </'; }
is "$("$T/mailq" --queue "$Q" | noage)" "$(printf '%s\n' "$bp" | noage)" "mailq = -bp"

# -q respects the backoff; --now ignores it; delivered exactly once
server "$T/s2" "$P" --tls "$T/srv.pem" "$T/srv.key"
$SEND -q 2>"$T/err"
is "$(count "$T/s2")" 0 "-q: job not due yet stays"
$SEND -q --now 2>"$T/err"
is "$?" 0 "-q --now: exit 0"
is "$(count "$T/s2")" 1 "-q delivered the queued message"
ok "the queued message is the signed one" grep -q 'body two' "$T/s2/0.eml"
is "$(mm-send --queue "$Q" -bp)" "Mail queue is empty" "queue empty afterwards"
$SEND -q --now 2>/dev/null
is "$(count "$T/s2")" 1 "a second -q delivers nothing again"
stop

# two concurrent -q runs deliver each job exactly once
for i in 1 2 3 4 5 6; do msg "c$i" | $SEND you@example.org 2>/dev/null; done
is "$(mm-send --queue "$Q" -bp --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" 6 "six jobs queued"
server "$T/s3" "$P" --tls "$T/srv.pem" "$T/srv.key"
$SEND -q --now 2>/dev/null & a=$!
$SEND -q --now 2>/dev/null & b=$!
wait $a; wait $b
is "$(count "$T/s3")" 6 "six messages delivered in all"
is "$(cat "$T"/s3/*.eml | grep -c '^Subject: c')" 6 "each job once"
is "$(cat "$T"/s3/*.eml | grep '^Subject: c' | sort -u | wc -l | tr -d ' ')" 6 "no duplicates"
stop

# 5xx: non-zero exit, clear message, nothing queued
server "$T/s4" "$P" --tls "$T/srv.pem" "$T/srv.key" --rcpt-code 550
msg five | $SEND nobody@example.org 2>"$T/err"
rc=$?
is "$rc" 67 "550 on RCPT: EX_NOUSER"
like "$(cat "$T/err")" 'nobody@example\.org: failed: 550 5\.1\.1 no such user' "says which address and why"
is "$(mm-send --queue "$Q" -bp)" "Mail queue is empty" "a permanent failure is not queued"
stop

# 4xx on RCPT: queued
server "$T/s4b" "$P" --tls "$T/srv.pem" "$T/srv.key" --rcpt-code 451
msg four | $SEND you@example.org 2>"$T/err"
is "$?" 0 "451: exit 0"
like "$(cat "$T/err")" 'queued.*451' "451: queued with the reply"
stop
rm -rf "$Q"

# no STARTTLS offered: stays queued, nothing sent in plaintext
server "$T/s5" "$P"
msg plain | $SEND you@example.org 2>"$T/err"
is "$?" 0 "no STARTTLS: exit 0"
like "$(cat "$T/err")" 'does not offer STARTTLS; not sending in plaintext' "says why"
is "$(count "$T/s5")" 0 "nothing arrived in plaintext"
$SEND -q --now 2>/dev/null
is "$(count "$T/s5")" 0 "-q does not send it in plaintext either"
stop
rm -rf "$Q"

# a certificate that does not verify (wrong CA): queued
server "$T/s6" "$P" --tls "$T/other.pem" "$T/other.key"
msg badcert | $SEND you@example.org 2>"$T/err"
like "$(cat "$T/err")" 'queued.*(certificate|verify)' "unverifiable certificate: queued"
is "$(count "$T/s6")" 0 "nothing sent"
stop
rm -rf "$Q"
# right CA, wrong name (127.0.0.1 is not "localhost" in the certificate)
server "$T/s7" "$P" --tls "$T/srv.pem" "$T/srv.key"
msg badname | mm-send --keys "$K" --queue "$Q" --relay "127.0.0.1:$P" --tls-ca "$T/ca.pem" you@example.org 2>"$T/err"
like "$(cat "$T/err")" 'queued' "host name mismatch: queued"
is "$(count "$T/s7")" 0 "nothing sent"
stop
rm -rf "$Q"

# implicit TLS (--smtps)
server "$T/s8" "$P" --tls "$T/srv.pem" "$T/srv.key" --smtps
msg smtps | $SEND --smtps you@example.org 2>"$T/err"
is "$?" 0 "--smtps: sent"
is "$(count "$T/s8")" 1 "--smtps: stored"
stop

# AUTH PLAIN over TLS, password from a file and from a command
server "$T/s9" "$P" --tls "$T/srv.pem" "$T/srv.key" --auth me s3cret --auth-only PLAIN
printf 's3cret\n' >"$T/pw"
msg auth | $SEND --auth-user me --auth-password-file "$T/pw" you@example.org 2>"$T/err"
is "$?" 0 "AUTH PLAIN with a password file"
msg auth2 | $SEND --auth-user me --auth-password-cmd "printf s3cret" you@example.org 2>"$T/err"
is "$?" 0 "AUTH PLAIN with a password command"
is "$(count "$T/s9")" 2 "both stored"
is "$(cat "$T/s9/auth.log" | tr '\n' ' ')" "PLAIN PLAIN " "the server saw AUTH PLAIN twice"
msg auth3 | $SEND --auth-user me --auth-password-cmd "printf wrong" you@example.org 2>"$T/err"
is "$?" 69 "wrong password: EX_UNAVAILABLE"
like "$(cat "$T/err")" 'AUTH.*535' "wrong password: says the server refused it"
is "$(count "$T/s9")" 2 "wrong password: nothing stored"
stop

# AUTH LOGIN when the server offers only that; the password file's first
# line is the password (a trailing newline is not part of it), and a
# command's first line of output likewise
server "$T/s10" "$P" --tls "$T/srv.pem" "$T/srv.key" --auth me 'pa ss:w0rd' --auth-only LOGIN
printf 'pa ss:w0rd\nsecond line ignored\n' >"$T/pw2"
msg login | $SEND -v --auth-user me --auth-password-file "$T/pw2" you@example.org 2>"$T/err"
is "$?" 0 "AUTH LOGIN with a password file"
like "$(cat "$T/err")" '^-> AUTH LOGIN \(credentials not shown\)' "-v: AUTH LOGIN used, credentials not shown"
unlike "$(cat "$T/err")" "$(printf 'pa ss:w0rd' | base64)" "-v: the password is not shown even in base64"
msg login2 | $SEND --auth-user me --auth-password-cmd "sh -c 'echo \"pa ss:w0rd\"'" you@example.org 2>"$T/err"
is "$?" 0 "AUTH LOGIN with a password command"
is "$(count "$T/s10")" 2 "both stored"
is "$(cat "$T/s10/auth.log" | tr '\n' ' ')" "LOGIN LOGIN " "the server saw AUTH LOGIN twice"
msg login3 | $SEND --auth-user me --auth-password-file "$T/pw" you@example.org 2>"$T/err"
is "$?" 69 "AUTH LOGIN, wrong password: EX_UNAVAILABLE"
msg login4 | $SEND --auth-user me --auth-password-cmd "false" you@example.org 2>"$T/err"
is "$?" 0 "a failing password command: exit 0 (queued, nothing sent)"
like "$(cat "$T/err")" 'queued.*--auth-password-cmd failed' "says the command failed"
is "$(count "$T/s10")" 2 "nothing more stored"
stop
done_testing
