#!/bin/sh
# mm-recv STARTTLS: a real TLS client (Python ssl), a certificate made by
# openssl at test time; the plaintext/TLS boundary is strict.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"
need openssl
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
	-subj /CN=mx.example.org >/dev/null 2>&1 || bail "openssl req failed"
chmod 600 "$T/key.pem"
TRECV="$RECV --tls-cert $T/cert.pem --tls-key $T/key.pem"

py() { $PY - "$@" $TRECV 2>"$T/py.err" <<'PY'
import socket, ssl, subprocess, sys, time
mode = sys.argv[1]
a, b = socket.socketpair()
p = subprocess.Popen(sys.argv[2:], stdin=b.fileno(), stdout=b.fileno())
b.close()
f = a.makefile("rb")
def rd():
    out = []
    while True:
        l = f.readline()
        if not l: out.append("EOF"); break
        out.append(l.decode().rstrip())
        if l[3:4] != b"-": break
    return out
def cmd(s, c):
    s.sendall(c)
    return rd()
print(rd())
print(cmd(a, b"EHLO c.example.net\r\n"))
if mode == "pipelined":
    print(cmd(a, b"STARTTLS\r\nRSET\r\n")); print(rd()); sys.exit(0)
print(cmd(a, b"STARTTLS\r\n"))
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(a, server_hostname="mx.example.org")
f = t.makefile("rb")
print(t.version())
if mode == "noehlo":
    print(cmd(t, b"MAIL FROM:<a@other.net>\r\n"))
print(cmd(t, b"EHLO c.example.net\r\n"))
print(cmd(t, b"STARTTLS\r\n"))
print(cmd(t, b"MAIL FROM:<a@other.net>\r\n"))
print(cmd(t, b"RCPT TO:<me@example.org>\r\n"))
print(cmd(t, b"DATA\r\n"))
print(cmd(t, b"Subject: tls\r\n\r\nsecret\r\n.\r\n"))
print(cmd(t, b"QUIT\r\n"))
PY
}
out=$(swaks --pipe "$TRECV" --quit-after EHLO 2>&1)
like "$out" '250-STARTTLS' "STARTTLS offered with a certificate"
out=$(py normal)
like "$out" "220 2.0.0 ready to start TLS" "STARTTLS: 220"
like "$out" "TLSv1\.[23]" "TLS 1.2 or later negotiated"
unlike "$(printf '%s\n' "$out" | sed -n '/^TLSv/,$p')" "250-STARTTLS" "STARTTLS no longer offered inside TLS"
like "$out" "503 5.5.1 TLS is already active" "second STARTTLS: 503"
like "$out" "250 2.0.0 delivered" "message delivered over TLS"
f=$(find "$ROOT/example.org/me/new" -type f)
like "$(cat "$f")" 'with ESMTPS id' "Received: says ESMTPS"
like "$(cat "$f")" 'version=TLSv1\.[23] cipher=' "Received: names TLS version and cipher"
out=$(py noehlo)
like "$out" "503 5.5.1 say HELO or EHLO first" "MAIL inside TLS without a new EHLO: 503"
out=$(py pipelined)
like "$out" "554 5.5.0 commands pipelined after STARTTLS: closing" "STARTTLS+RSET in one write: dropped"
unlike "$out" "220 2.0.0 ready" "and TLS never started"
done_testing
