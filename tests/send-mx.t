#!/bin/sh
# mm-send --mx: MX lookup through a real nsd, preference order with
# fallback to the next host, A fallback without MX, null MX, no such
# domain, opportunistic STARTTLS; the far end is a real aiosmtpd.
. "$(dirname "$0")/lib.sh"
need nsd dig:dnsutils openssl
$PY -c 'import aiosmtpd' 2>/dev/null || bail "python3-aiosmtpd missing (scripts/install-deps)"
export HOME=$T/home
mkdir -p "$HOME" "$T/zones"
K=$T/keys
mm-keygen -t ed25519 --keys "$K" me@example.test >/dev/null 2>&1
cat >"$T/zones/example.test.zone" <<'Z'
$ORIGIN example.test.
$TTL 300
@	IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
	IN NS ns.example.test.
ns	IN A 127.0.0.1
; preference 10 points where nothing listens, 20 at the server
pref	IN MX 20 good.example.test.
pref	IN MX 10 dead.example.test.
dead	IN A 127.0.0.2
good	IN A 127.0.0.1
; no MX: the domain's own address
amx	IN A 127.0.0.1
; two equal preferences (one choice at random each time), and an order
; in which the better preference is the second server
eq	IN MX 10 eqa.example.test.
eq	IN MX 10 eqb.example.test.
eqa	IN A 127.0.0.1
eqb	IN A 127.0.0.3
ord	IN MX 20 eqa.example.test.
ord	IN MX 10 eqb.example.test.
; RFC 7505 null MX
null	IN MX 0 .
; an MX host without any address, then a good one
noaddr	IN MX 5 nowhere.example.test.
noaddr	IN MX 10 good.example.test.
Z
start_nsd example.test

openssl req -x509 -newkey ed25519 -nodes -keyout "$T/srv.key" -out "$T/srv.pem" -days 2 -subj /CN=mx.test 2>/dev/null
P=$(free_port)
mkdir -p "$T/s"
$PY "$MM_TOP/tests/smtp-server.py" --port "$P" --out "$T/s" --tls "$T/srv.pem" "$T/srv.key" >"$T/s.log" 2>&1 &
bg_pid $!
wait_port "$P" || bail "smtp server did not start"
count() { ls "$T/s" | grep -c '\.eml$'; }
SEND="mm-send --keys $K --queue $T/q --mx --mx-port $P --resolver 127.0.0.1:$NSD_PORT"
msg() { printf 'From: me@example.test\nTo: %s\nSubject: mx\n\nbody\n' "$1"; }

msg a@pref.example.test | $SEND a@pref.example.test 2>"$T/err"
is "$?" 0 "preference 10 unreachable, 20 takes it"
is "$(count)" 1 "delivered once"
is "$(tail -1 "$T/s/0.env")" tls "opportunistic STARTTLS used"
unlike "$(cat "$T/err")" queued "not queued"

msg b@amx.example.test | $SEND b@amx.example.test 2>"$T/err"
is "$?" 0 "no MX: A record used"
is "$(count)" 2 "delivered"

msg c@noaddr.example.test | $SEND c@noaddr.example.test 2>"$T/err"
is "$?" 0 "MX host without address passed over"
is "$(count)" 3 "delivered"

msg d@null.example.test | $SEND d@null.example.test 2>"$T/err"
is "$?" 69 "null MX: EX_UNAVAILABLE"
like "$(cat "$T/err")" 'null MX' "says null MX"

msg e@nxdomain.example.test | $SEND e@nxdomain.example.test 2>"$T/err"
is "$?" 69 "no such domain: permanent"
like "$(cat "$T/err")" 'no such domain' "says so"

# two domains in one message: one delivered, one refused
msg x | $SEND f@pref.example.test g@null.example.test 2>"$T/err"
is "$?" 69 "mixed: non-zero for the refused one"
is "$(count)" 4 "the good domain got it"
is "$(sed -n 2p "$T/s/3.env")" "f@pref.example.test" "only its own recipient"

# a second real server on 127.0.0.3, same port
mkdir -p "$T/s3"
$PY "$MM_TOP/tests/smtp-server.py" --host 127.0.0.3 --port "$P" --out "$T/s3" --tls "$T/srv.pem" "$T/srv.key" >"$T/s3.log" 2>&1 &
bg_pid $!
i=0; while [ ! -e "$T/s3/ready" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$T/s3/ready" ] || bail "second smtp server did not start"
count3() { ls "$T/s3" | grep -c '\.eml$'; }

# preference order: MX 10 (127.0.0.3) gets every message while it answers
before=$(count)
for i in 1 2 3 4 5; do msg o@ord.example.test | $SEND o@ord.example.test 2>>"$T/err"; done
is "$(count3)" 5 "preference 10 took all five"
is "$(count)" "$before" "preference 20 got none"

# equal preferences: a random choice each time, so over 20 messages both
# servers get some (all 20 to one: p = 2^-19)
for i in $(seq 20); do msg q@eq.example.test | $SEND q@eq.example.test 2>>"$T/err"; done
a=$(($(count) - before)); b=$(($(count3) - 5))
is "$((a + b))" 20 "equal preferences: all 20 delivered"
ok "equal preferences: both hosts chosen ($a and $b)" test "$a" -gt 0 -a "$b" -gt 0

# a resolver that does not answer: temporary, queued
Z=$(free_port)
msg h@pref.example.test | mm-send --keys "$K" --queue "$T/q2" --mx --mx-port "$P" --resolver "127.0.0.1:$Z" h@pref.example.test 2>"$T/err"
is "$?" 0 "DNS failure: exit 0"
like "$(cat "$T/err")" 'queued' "DNS failure: queued"
done_testing
