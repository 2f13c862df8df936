#!/bin/sh
# mm-send against hostile servers (scripted python sockets): bytes injected
# after the STARTTLS reply are discarded and EHLO is repeated inside TLS;
# endless "250-" lines, a 10 MB line and a 10 MB greeting end the session
# with an error (the message is queued) instead of a hang or unbounded
# memory.
. "$(dirname "$0")/lib.sh"
need openssl timeout:coreutils
export HOME=$T/home
mkdir -p "$HOME"
cd "$T" || exit 1
openssl req -x509 -newkey ed25519 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=mm-test-CA 2>/dev/null
openssl req -newkey ed25519 -nodes -keyout srv.key -out srv.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext 2>/dev/null
cd - >/dev/null || exit 1

hostile() { # MODE -> sets P, D
	P=$(free_port)
	D=$T/$1
	mkdir -p "$D"
	$PY "$MM_TOP/tests/smtp-hostile.py" "$1" "$P" "$D" "$T/srv.pem" "$T/srv.key" >"$D.out" 2>&1 &
	bg_pid $!
	wait_port "$P" || bail "hostile server $1 did not start"
}
send() {
	printf 'From: me@example.test\nTo: a@example.org\nSubject: h\n\nbody\n' |
		timeout 60 mm-send --no-sign --queue "$T/q" --timeout 20 --relay "localhost:$P" --tls-ca "$T/ca.pem" "$@" a@example.org 2>"$T/err"
}

hostile inject
send
is "$?" 0 "STARTTLS reply with injected bytes: delivered"
ok "message arrived through TLS" grep -q '^body' "$D/msg"
ok "EHLO repeated inside TLS" grep -q 'EHLO repeated inside TLS' "$D/log"
unlike "$(cat "$T/err")" 'FAKE|queued' "the injected reply was not taken for anything"

hostile endless
send
is "$?" 0 "endless 250- lines: exit 0 (queued), no hang"
like "$(cat "$T/err")" 'queued.*more than 100 lines' "says the reply had too many lines"

hostile huge
send
is "$?" 0 "10 MB reply line: exit 0 (queued)"
like "$(cat "$T/err")" 'queued.*longer than 2048' "says the line was too long"

hostile greet
send
is "$?" 0 "10 MB greeting: exit 0 (queued)"
like "$(cat "$T/err")" 'queued.*more than 100 lines' "bounded greeting"
is "$(mm-send --queue "$T/q" -bp --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" 3 "three jobs queued"
done_testing
