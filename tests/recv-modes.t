#!/bin/sh
# mm-recv: every way of being started (pipe, inetd socket on fd 0,
# tcpserver's TCPREMOTEIP, systemd LISTEN_FDS, --listen), connection
# limits, --test, and the refusal to run as root.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"

rcvd() { cat "$ROOT"/example.org/me/new/* 2>/dev/null; rm -f "$ROOT"/example.org/me/new/*; }

# a plain pipe: peer "local"
swaks --pipe "$RECV" --from a@other.net --to me@example.org >/dev/null 2>&1
like "$(rcvd)" 'Received: from [^ ]+ \(\[local\]\)' "pipe: peer is local"
# tcpserver
swaks --pipe "env TCPREMOTEIP=192.0.2.7 $RECV" --from a@other.net --to me@example.org >/dev/null 2>&1
like "$(rcvd)" 'Received: from [^ ]+ \(\[192\.0\.2\.7\]\)' "tcpserver: TCPREMOTEIP is the peer"
swaks --pipe "env TCPREMOTEIP=1.2.3.4x $RECV" --from a@other.net --to me@example.org >/dev/null 2>&1
like "$(rcvd)" '\(\[local\]\)' "a TCPREMOTEIP that is not an address is ignored"
# inetd / systemd Accept=yes: the TCP socket is fd 0 and 1
PORT=$(free_port)
$PY - "$PORT" $RECV >"$T/inetd.out" 2>&1 <<'PY' &
import socket, subprocess, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
for i in range(2):   # wait_port's probe, then the real client
    c, _ = s.accept()
    subprocess.run(sys.argv[2:], stdin=c.fileno(), stdout=c.fileno())
    c.close()
PY
bg_pid $!
wait_port "$PORT" || bail "inetd stand-in did not listen"
out=$(swaks --server 127.0.0.1:"$PORT" --from a@other.net --to me@example.org 2>&1)
like "$out" '250 2.0.0 delivered' "inetd-style socket on fd 0/1: delivered"
like "$(rcvd)" 'Received: from [^ ]+ \(\[127\.0\.0\.1\]\)' "inetd: the socket's peer address"

# --listen: own accept loop, per-address limit
PORT=$(free_port)
$RECV --listen 127.0.0.1:"$PORT" --max-per-ip 1 2>"$T/listen.err" &
LPID=$!
bg_pid $LPID
wait_port "$PORT" || bail "mm-recv --listen did not listen"
out=$(swaks --server 127.0.0.1:"$PORT" --from a@other.net --to me@example.org 2>&1)
like "$out" '250 2.0.0 delivered' "--listen: delivered"
out=$($PY - "$PORT" <<'PY'
import socket, sys, time
a = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(a.recv(200).decode().strip())
b = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(b.recv(200).decode().strip())
a.sendall(b"QUIT\r\n"); print(a.recv(200).decode().strip())
PY
)
like "$out" '421 4.7.0 too many connections from your address' "--max-per-ip 1: second connection 421"
like "$out" '221 2.0.0' "the first one is served"
kill "$LPID"; wait "$LPID" 2>/dev/null

# --max-conn: the N+1th concurrent connection gets 421 4.7.0 and is closed
# at once; a slot frees when a session ends.  slots.py opens HOLD
# connections (banner read, kept open), opens one more, then ends one
# session and connects again until served (a freed slot is reaped on the
# next accept, after the child has exited: polled, bounded).
cat >"$T/slots.py" <<'PY'
import socket, sys, time
port, hold = int(sys.argv[1]), int(sys.argv[2])
def conn():
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(10)
    return s, s.recv(200).decode().strip()
def served():   # a session still ending may hold a slot for a moment
    for i in range(100):
        s, b = conn()
        if b.startswith("220"): return s, b
        s.close(); time.sleep(0.1)
    return s, b
held = []
for i in range(hold):
    s, b = served(); held.append(s); print("held%d: %s" % (i, b))
s, b = conn(); print("extra: %s" % b)
print("extra closed: %s" % (s.recv(200) == b""))
held[0].sendall(b"QUIT\r\n"); held[0].recv(200); held[0].recv(200); held[0].close()
s, b = served()
print("after close: %s" % b)
s.sendall(b"QUIT\r\n"); print("served: %s" % s.recv(200).decode().strip())
PY
PORT=$(free_port)
$RECV --listen 127.0.0.1:"$PORT" --max-conn 2 --max-per-ip 5 2>"$T/maxconn.err" &
LPID=$!
bg_pid $LPID
wait_port "$PORT" || bail "mm-recv --listen did not listen"
out=$($PY "$T/slots.py" "$PORT" 2)
like "$out" 'held1: 220 ' "--max-conn 2: two sessions served"
like "$out" 'extra: 421 4\.7\.0 too many connections: try again later' "--max-conn 2: the third gets 421 4.7.0"
like "$out" 'extra closed: True' "and is closed at once"
like "$out" 'after close: 220 ' "a slot frees when a session ends"
like "$out" 'served: 221 ' "and the new session is served"
like "$(cat "$T/maxconn.err")" 'refused: 2 connections already' "the refusal is logged"
kill "$LPID"; wait "$LPID" 2>/dev/null

# systemd Accept=no: a listening socket at fd 3, LISTEN_PID/LISTEN_FDS
PORT=$(free_port)
$PY - "$PORT" $RECV <<'PY' 2>"$T/sd.err" &
import os, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = "1"
os.execvp(sys.argv[2], sys.argv[2:] + ["--max-per-ip", "1"])
PY
SPID=$!
bg_pid $SPID
wait_port "$PORT" || bail "LISTEN_FDS stand-in did not listen"
out=$(swaks --server 127.0.0.1:"$PORT" --from a@other.net --to me@example.org 2>&1)
like "$out" '250 2.0.0 delivered' "systemd socket activation (LISTEN_FDS): delivered"
out=$(swaks --server 127.0.0.1:"$PORT" --from a@other.net --to me@example.org 2>&1)
like "$out" '250 2.0.0 delivered' "and again: the loop keeps accepting"
out=$($PY "$T/slots.py" "$PORT" 1)
like "$out" 'extra: 421 4\.7\.0 too many connections from your address' "LISTEN_FDS: --max-per-ip 1 applies"
like "$out" 'after close: 220 ' "LISTEN_FDS: the address's slot frees after close"
kill "$SPID"; wait "$SPID" 2>/dev/null

# --test: decisions beside the replies
out=$(printf 'EHLO c.example.net\r\nMAIL FROM:<a@other.net>\r\nRCPT TO:<Me+Sub@example.org>\r\nRCPT TO:<x@nowhere.net>\r\nQUIT\r\n' |
	{ sleep 0.3; cat; } | mm-recv --root "$ROOT" --hostname mx.example.org $RUSER --test 198.51.100.9 --log none $NOAUTH)
like "$out" "Hello \[198\.51\.100\.9\]" "--test: the given client address"
like "$out" ">>> recipient <me\+sub@example.org>: maildir $ROOT/example.org/me/sub" "--test: the Maildir path chosen"
like "$out" ">>> domain nowhere.net: no folder" "--test: why a domain is not ours"
# a --test script is typed ahead: DATA and its message in one write are served
out=$(printf 'EHLO c.example.net\r\nMAIL FROM:<a@other.net>\r\nRCPT TO:<me@example.org>\r\nDATA\r\nSubject: t\r\n\r\nx\r\n.\r\nQUIT\r\n' |
	{ sleep 0.3; cat; } | mm-recv --root "$ROOT" --hostname mx.example.org $RUSER --test 198.51.100.9 --log none $NOAUTH)
like "$out" ">>> data sent before the 354 reply: dropped unless --test" "--test: data before the 354 noted"
like "$out" "250 2.0.0 delivered" "--test: and the scripted message delivered"
rcvd >/dev/null

# logging: one line per connection, recipient decision, delivery (with the
# file name), refusal (with its reason), end; never on fd 2 unless asked
# (smtpraw waits for mm-recv to exit, so the last line is written)
printf '%s\n' '(b"EHLO c.example.net\r\n", 1)' '(b"MAIL FROM:<a@other.net>\r\nRCPT TO:<me@example.org>\r\nRCPT TO:<nobody@example.org>\r\n", 3)' \
	'(b"DATA\r\n", 1)' '(b"Subject: log\r\n\r\nx\r\n.\r\n", 1)' '(b"QUIT\r\n", 1)' | raw >/dev/null
log=$(cat "$T/raw.err")
like "$log" 'mm-recv: [0-9a-f]+: connection from local' "log: the connection"
like "$log" '<me@example.org>: accepted for example.org/me' "log: a recipient accepted"
like "$log" 'local: 550 5.1.1 <nobody@example.org>: no such mailbox' "log: a refusal with its reason"
like "$log" 'delivered <me@example.org> to example.org/me/new/[0-9]+\.M[^ ]+ \([0-9]+ octets\)' "log: the delivery with the file name"
like "$log" 'disconnected \(quit\), 1 message, [0-9]+ octets in' "log: the end of the session"
rcvd >/dev/null
err=$(printf 'QUIT\r\n' | { sleep 0.3; cat; } | mm-recv --root "$ROOT" --hostname mx.example.org $RUSER $NOAUTH 2>&1 >/dev/null)
is "$err" "" "default --log syslog: nothing on fd 2 (under inetd it is the socket)"
# LISTEN_FDS meant for another process: ignored, the session is on stdin
out=$(printf 'QUIT\r\n' | { sleep 0.3; cat; } | env LISTEN_PID=1 LISTEN_FDS=1 $RECV 2>/dev/null)
like "$out" '221 2.0.0' "LISTEN_PID of another process: not socket activation"

# privilege
if [ "$(id -u)" = 0 ]; then
	out=$(mm-recv --root "$ROOT" </dev/null 2>&1); rc=$?
	is "$rc" 64 "started as root without --user: refuses (exit 64)"
	like "$out" 'refusing to run as root' "and says why"
	out=$(mm-recv --root "$ROOT" --user root </dev/null 2>&1)
	like "$out" 'is root; use an unprivileged account' "--user root refused"
	out=$(printf 'QUIT\r\n' | { sleep 0.3; cat; } | mm-recv --root "$ROOT" --user nobody --log stderr 2>&1)
	like "$out" '221 2.0.0' "--user nobody: serves"
	PORT=$(free_port)
	$RECV --listen 127.0.0.1:"$PORT" 2>/dev/null &
	LPID=$!; bg_pid $LPID
	wait_port "$PORT"
	is "$(ps -o user= -p $LPID | tr -d ' ')" nobody "--listen binds, then runs as nobody"
	is "$(awk '/^Groups:/ { $1 = ""; print }' /proc/$LPID/status | tr -d ' ')" "$(id -g nobody)" \
		"supplementary groups dropped: only nobody's group"
	is "$(awk '/^Gid:/ { print $2 $3 }' /proc/$LPID/status)" "$(id -g nobody)$(id -g nobody)" "real and effective group: nobody's"
	kill $LPID; wait $LPID 2>/dev/null
else
	out=$(mm-recv --root "$ROOT" --user root </dev/null 2>&1)
	like "$out" 'is root; use an unprivileged account' "--user root refused"
fi
out=$(mm-recv --nonsense 2>&1); rc=$?
is "$rc" 64 "unknown option: exit 64"
like "$(mm-recv --version)" '^mm-recv [0-9]' "--version"
like "$(mm-recv --help)" '--listen ADDR:PORT' "--help"
done_testing
