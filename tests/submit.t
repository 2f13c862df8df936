#!/bin/sh
# mm-recv --submit: DKIM as the login.  mm-send submits over a pipe
# (--via 'mm-recv --submit ...', what ssh's forced command does); mail for
# our own domain lands in Maildir, mail for another domain is queued and
# delivered at once by the mm-send runner mm-recv starts, to a real
# aiosmtpd that nsd names as the recipient's MX.  Then the open-relay
# matrix of all eight FROM/TO cases through submit and through MX mode,
# and each way of getting the login wrong, with its own reply.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"
need nsd dig:dnsutils openssl
$PY -c 'import aiosmtpd, dkim' 2>/dev/null || bail "python3-aiosmtpd / python3-dkim missing (scripts/install-deps)"
export HOME=$T/home
mkdir -p "$HOME" "$T/zones"
chmod 755 "$HOME"
SIGN="$PY $MM_TOP/tests/submit/sign.py"

# keys: me@ has two (RSA, which dkimpy can sign with too, and Ed25519 under
# another selector: mm-send signs with both), you@ one, and a user of a
# domain that is not ours one
K=$T/keys
mm-keygen -t rsa -b 1024 --keys "$K" me@example.org >/dev/null 2>&1 || bail "mm-keygen"
mm-keygen -t ed25519 -s me-ed --keys "$K" me@example.org >/dev/null 2>&1 || bail "mm-keygen"
mm-keygen -t rsa -b 1024 --keys "$K" you@example.org >/dev/null 2>&1 || bail "mm-keygen"
mm-keygen -t rsa -b 1024 --keys "$K" me@other.test >/dev/null 2>&1 || bail "mm-keygen"
chmod 755 "$K"; chmod 644 "$K"/*.pub

soa() { printf '$ORIGIN %s.\n$TTL 300\n@ IN SOA ns.%s. h.%s. 1 3600 600 86400 300\n  IN NS ns.%s.\nns IN A 127.0.0.1\n' "$1" "$1" "$1" "$1"; }
{ soa far.test; echo '@ IN MX 10 mx.far.test.'; echo 'mx IN A 127.0.0.1'; } >"$T/zones/far.test.zone"
soa example.org >"$T/zones/example.org.zone"
soa other.test >"$T/zones/other.test.zone"
start_nsd far.test example.org other.test

start_smtp_server "$T/far"
P=$SMTP_PORT
far() { ls "$T/far" | grep -c '\.eml$'; }
# wait_far N: until the far end holds N messages (the runner is detached)
wait_far() {
	_i=0
	while [ "$(far)" -lt "$1" ] && [ $_i -lt 150 ]; do sleep 0.1; _i=$((_i + 1)); done
	[ "$(far)" -eq "$1" ]
}

Q=$T/spool
mkdir -p "$Q"
[ -n "$RUSER" ] && chown nobody "$Q"
SUB="mm-recv --submit --root $ROOT --hostname mx.example.org --log stderr $RUSER --queue $Q --keys $K --resolver $MM_RESOLVER --mm-send '$MM_BIN/mm-send --mx-port $P'"
SEND="mm-send --keys $K --queue $T/lq --timeout 20"
msg() { # FROM TO SUBJECT
	printf 'From: %s\nTo: %s\nSubject: %s\n\nbody of %s\n' "$1" "$2" "$3" "$3"
}

# ---- the happy paths over a pipe -----------------------------------------
msg me@example.org you@example.org local | $SEND --via "$SUB" you@example.org 2>"$T/err"
is "$?" 0 "FROM me TO me (case 8): mm-send exits 0"
is "$(nnew example.org/you)" 1 "delivered straight to you's Maildir"
got=$(cat "$ROOT"/example.org/you/new/*)
like "$got" 'Received: by mx.example.org \(mm-recv\) with ESMTP' "Received: names us"
unlike "$got" 'Received: from' "Received: leaves out the submitter's name and address"
unlike "$(cat "$T/err")" 'queued' "nothing queued at the laptop"
is "$(ls "$Q/env" | wc -l | tr -d ' ')" 0 "nothing queued on the server"

msg me@example.org friend@far.test remote | $SEND --via "$SUB" friend@far.test 2>"$T/err"
is "$?" 0 "FROM me TO someone (case 6): accepted"
ok "the runner mm-recv started delivered it to far.test's MX at once" wait_far 1
is "$(sed -n 1,2p "$T/far/0.env" | tr '\n' ' ')" "me@example.org friend@far.test " "envelope kept"
like "$(cat "$T/far/0.eml")" 'DKIM-Signature: v=1; a=rsa-sha256' "the user's signatures travel on: rsa-sha256"
like "$(cat "$T/far/0.eml")" 'DKIM-Signature: v=1; a=ed25519-sha256' "and ed25519-sha256"
unlike "$(cat "$T/far/0.eml")" 'Received: from' "no client address in the relayed copy either"
_i=0; while [ -n "$(ls "$Q/env")" ] && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
is "$(ls "$Q/env" "$Q/msg" | grep -vc ':$\|^$')" 0 "the job is gone from the queue"

# both at once: one copy here, one queued
msg me@example.org "you@example.org, pal@far.test" both | $SEND --via "$SUB" -t 2>"$T/err"
is "$?" 0 "mixed recipients accepted"
is "$(nnew example.org/you)" 2 "the local one in Maildir"
ok "the remote one relayed" wait_far 2

# ---- refusals, each with its own text -------------------------------------
# A signed message, kept: mm-send -odq signs and queues it locally.
mkdir -p "$T/k"
keep() { # NAME FROM TO: a message signed by mm-send into $T/k/NAME
	rm -rf "$T/kq"
	msg "$2" "$3" "$1" | mm-send --keys "$K" --queue "$T/kq" -odq "$3" 2>/dev/null
	cp "$T"/kq/msg/* "$T/k/$1"
}
# swaks speaks for a client that is not mm-send (exact bytes, own envelope)
sub() { # ENVFROM TO FILE -> the transcript
	swaks --pipe "$SUB" --from "$1" --to "$2" --data @"$3" 2>&1
}
keep replay me@example.org you@example.org
out=$(sub me@example.org you@example.org "$T/k/replay")
like "$out" '250 2.0.0 accepted' "a kept signed message: accepted once"
out=$(sub me@example.org you@example.org "$T/k/replay")
like "$out" '550 5.7.1 submit: replayed' "the same signature again: refused as replayed"
is "$(nnew example.org/you)" 3 "and not delivered twice"
ls "$Q/replay" | grep -Eq '^[0-9a-f]{64}$'
is "$?" 0 "the replay cache lives under the queue"

keep body me@example.org you@example.org
sed 's/^body of body/BODY of body/' "$T/k/body" >"$T/k/body2"
out=$(sub me@example.org you@example.org "$T/k/body2")
like "$out" '550 5.7.20 submit: bad signature' "altered body: bad signature"

keep hdr me@example.org you@example.org
sed 's/^Subject: hdr/Subject: HDR/' "$T/k/hdr" >"$T/k/hdr2"
out=$(sub me@example.org you@example.org "$T/k/hdr2")
like "$out" '550 5.7.20 submit: bad signature' "altered signed header: bad signature"

printf 'From: me@example.org\r\nTo: you@example.org\r\nSubject: k\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\n\r\nbody\r\n' |
	$SIGN "$K/you@example.org.rsa.key" you example.org >"$T/k/youkey"
out=$(sub me@example.org you@example.org "$T/k/youkey")
like "$out" "550 5.7.1 submit: signed with another user's key: s=you is not a key of me@example.org" "From: me signed with you's key: another user's key"

keep mm me@example.org friend@far.test
out=$(sub you@example.org friend@far.test "$T/k/mm")
like "$out" '550 5.7.1 submit: sender mismatch' "MAIL FROM you, From: me: sender mismatch"

msg me@example.org you@example.org unsigned | sed 's/$/\r/' >"$T/k/unsigned"
out=$(sub me@example.org you@example.org "$T/k/unsigned")
like "$out" '550 5.7.20 submit: no DKIM signature' "unsigned: no signature"

# dkimpy's signatures: exactly the bad shapes mm-send never makes
printf 'From: me@example.org\r\nTo: you@example.org\r\nSubject: py\r\nDate: Wed, 02 Dec 2026 09:00:00 +0000\r\n\r\nbody\r\n' >"$T/k/py"
$SIGN "$K/me@example.org.rsa.key" me example.org <"$T/k/py" >"$T/k/py-ok"
out=$(sub me@example.org you@example.org "$T/k/py-ok")
like "$out" '250 2.0.0 accepted' "dkimpy's rsa-sha256 signature of me: accepted"
$SIGN "$K/me@example.org.rsa.key" me example.org --alg rsa-sha1 <"$T/k/py" >"$T/k/py-sha1"
out=$(sub me@example.org you@example.org "$T/k/py-sha1")
like "$out" '550 5.7.21 submit: rsa-sha1 signatures are not accepted' "rsa-sha1: refused"
$SIGN "$K/me@example.org.rsa.key" me example.org --length <"$T/k/py" >"$T/k/py-l"
out=$(sub me@example.org you@example.org "$T/k/py-l")
like "$out" '550 5.7.21 submit: signatures with l=' "l= (even covering the whole body): refused"
$SIGN "$K/me@example.org.rsa.key" me example.org --headers from,to,subject <"$T/k/py" >"$T/k/py-h"
out=$(sub me@example.org you@example.org "$T/k/py-h")
like "$out" '550 5.7.21 submit: the signature must cover From, To, Subject and Date \(h= lacks Date\)' "h= without Date: refused"
$SIGN "$K/me@example.org.rsa.key" me example.org --time $(($(date +%s) - 1000)) <"$T/k/py" >"$T/k/py-old"
out=$(sub me@example.org you@example.org "$T/k/py-old")
like "$out" '550 5.7.1 submit: stale signature' "signed 1000 s ago (window 900 s): stale"
$SIGN "$K/me@example.org.rsa.key" me example.org --time $(($(date +%s) + 3600)) <"$T/k/py" >"$T/k/py-future"
out=$(sub me@example.org you@example.org "$T/k/py-future")
like "$out" '550 5\.7\.' "signed an hour in the future: refused"
unlike "$out" 'rsa-sha1' "signed in the future: not misreported as rsa-sha1 (libopendkim leaves no algorithm)"
$SIGN "$K/me@other.test.rsa.key" me other.test <"$T/k/py" >"$T/k/py-dom"
out=$(sub me@example.org you@example.org "$T/k/py-dom")
like "$out" '550 5.7.22 submit: signed for another domain' "From: me@example.org signed by other.test: another domain"
sed 's/^From: me@example.org/From: me@other.test/' "$T/k/py" | $SIGN "$K/me@other.test.rsa.key" me other.test >"$T/k/py-notours"
out=$(swaks --pipe "$SUB" --from me@example.org --to you@example.org --data @"$T/k/py-notours" 2>&1)
like "$out" '550 5.7.1 submit: not our domain: From: me@other.test' "From: in a domain not ours (validly signed): not our domain"
is "$(nnew example.org/you)" 4 "of all those, only the two good ones were delivered"

# ---- the open-relay matrix: eight FROM/TO cases ---------------------------
# "me" = a user of our domain, "someone" = anyone else.  MDA = submit mode.
uns() { # ENVFROM TO HEADERFROM -> unsigned message through MODE ($2 ...)
	printf 'From: %s\r\nTo: %s\r\nSubject: m\r\n\r\nx\r\n' "$3" "$2" >"$T/u"
}
MX="mm-recv --root $ROOT --hostname mx.example.org --log stderr $RUSER --resolver $MM_RESOLVER"
before=$(far)
uns x@far.test you@example.org x@far.test
out=$(swaks --pipe "$SUB" --from x@far.test --to you@example.org --data @"$T/u" 2>&1)
like "$out" '550 5.7.1 submit: not our domain: <x@far.test>' "[5] MDA FROM someone TO me: refused"
out=$(swaks --pipe "$SUB" --from x@far.test --to y@far.test --data @"$T/u" 2>&1)
like "$out" '550 5.7.1 submit: not our domain' "[7] MDA FROM someone TO someone: refused"
uns me@example.org y@far.test me@example.org
out=$(swaks --pipe "$SUB" --from me@example.org --to y@far.test --data @"$T/u" 2>&1)
like "$out" '550 5.7.20 submit: no DKIM signature' "[6] MDA FROM me TO someone unsigned: refused"
keep m6 me@example.org y@far.test
out=$(sub me@example.org y@far.test "$T/k/m6")
like "$out" '250 2.0.0 accepted: queued' "[6] MDA FROM me TO someone signed: accepted"
keep m8 me@example.org you@example.org
out=$(sub me@example.org you@example.org "$T/k/m8")
like "$out" '250 2.0.0 accepted: delivered here' "[8] MDA FROM me TO me signed: delivered"
ok "only the signed [6] reached the far end" wait_far $((before + 1))

uns x@far.test you@example.org x@far.test
out=$(swaks --pipe "$MX" --from x@far.test --to you@example.org --data @"$T/u" 2>&1)
like "$out" '250 2.0.0 delivered' "[1] MTA FROM someone TO me: delivered"
out=$(swaks --pipe "$MX" --from x@far.test --to y@far.test --data @"$T/u" 2>&1)
like "$out" '550 5.7.1 <y@far.test>: relaying denied' "[3] MTA FROM someone TO someone: relaying denied"
uns me@example.org y@far.test me@example.org
out=$(swaks --pipe "$MX" --from me@example.org --to y@far.test --data @"$T/u" 2>&1)
like "$out" '550 5.7.1 <y@far.test>: relaying denied' "[2] MTA FROM me TO someone: relaying denied"
out=$(swaks --pipe "$MX" --from x@far.test --to y@far.test --data @"$T/k/m6" 2>&1)
like "$out" '550 5.7.1 <y@far.test>: relaying denied' "[2] MTA FROM me TO someone, even signed: relaying denied"
uns me@example.org you@example.org me@example.org
out=$(swaks --pipe "$MX" --from me@example.org --to you@example.org --data @"$T/u" 2>&1)
like "$out" '550 5.7.1 mail from example.org must carry a valid DKIM signature' "[4] MTA FROM me TO me unsigned: refused as forged"
sleep 0.5
is "$(far)" $((before + 1)) "nothing else left the server"
is "$(ls "$Q/env" | wc -l | tr -d ' ')" 0 "and nothing waits in its queue"

# ---- over TCP, STARTTLS comes first ---------------------------------------
openssl req -x509 -newkey ed25519 -nodes -keyout "$T/srv.key" -out "$T/srv.pem" -days 2 -subj /CN=mx.example.org 2>/dev/null
chmod 644 "$T/srv.key"
L=$(free_port)
eval "set -- $SUB"
"$@" --listen 127.0.0.1:$L --tls-cert "$T/srv.pem" --tls-key "$T/srv.key" 2>"$T/listen.log" &
bg_pid $!
wait_port "$L" || bail "mm-recv --listen did not start"
keep tcp me@example.org you@example.org
out=$(swaks --server 127.0.0.1:$L --from me@example.org --to you@example.org --data @"$T/k/tcp" 2>&1)
like "$out" '530 5.7.0 submit: must issue a STARTTLS command first' "TCP without STARTTLS: 530 at MAIL"
out=$(swaks --server 127.0.0.1:$L -tls --from me@example.org --to you@example.org --data @"$T/k/tcp" 2>&1)
like "$out" '250 2.0.0 accepted' "TCP with STARTTLS: accepted"
done_testing
