#!/bin/sh
# mm-recv inbound authentication against real DNS (nsd) and real DKIM
# signatures (dkimpy, keys made now): SPF, DKIM tightened, DMARC, the
# anti-forgery rule for our own domains, Authentication-Results:.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"
need openssl
K=$T/keys; mkdir -p "$K" "$T/zones"
DK="$PY $MM_TOP/tests/recv/dkimtool.py"
rsa=$($DK keygen rsa 2048 "$K" rsa) || bail "keygen"
ed=$($DK keygen ed25519 "$K" ed) || bail "keygen"
small=$($DK keygen rsa 512 "$K" small) || bail "keygen"
mine=$($DK keygen rsa 2048 "$K" me) || bail "keygen"
soa() { printf '$ORIGIN %s.\n$TTL 300\n@ IN SOA ns.%s. h.%s. 1 3600 600 86400 300\n  IN NS ns.%s.\nns IN A 127.0.0.1\n' "$1" "$1" "$1" "$1"; }
{
	soa other.net
	echo '@ IN TXT "v=spf1 ip4:192.0.2.1 -all"'
	echo '_dmarc IN TXT "v=DMARC1; p=reject"'
	echo "rsa._domainkey IN TXT $rsa"
	echo "ed._domainkey IN TXT $ed"
	echo "small._domainkey IN TXT $small"
	echo 'loop IN TXT "v=spf1 include:loop.other.net -all"'
	echo 'mail IN TXT "v=spf1 ip4:192.0.2.1 -all"'
	echo '_dmarc.q IN TXT "v=DMARC1; p=quarantine"'
	echo '_dmarc.strict IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"'
	echo '_dmarc.q0 IN TXT "v=DMARC1; p=quarantine; pct=0"'
	echo '_dmarc.r0 IN TXT "v=DMARC1; p=reject; pct=0"'
	printf 'many IN TXT "v=spf1"'; for i in $(seq 20); do printf ' " include:i%d.other.net"' "$i"; done; echo ' " -all"'
	for i in $(seq 20); do echo "i$i IN TXT \"v=spf1 -all\""; done
	echo '50.2.0.192.bl IN A 127.0.0.2'
	echo '50.2.0.192.bl IN TXT "spam source, see https://bl.example/50"'
	echo '51.2.0.192.bl IN A 127.255.255.254'
	echo 'exp IN TXT "v=spf1 -all exp=why.other.net"'
	printf 'why IN TXT'; for i in $(seq 30); do printf ' "%%{l}-%%{d}-%%{i}-%%{h} "'; done; echo
} >"$T/zones/other.net.zone"
{
	soa example.org
	echo '@ IN TXT "v=spf1 -all"'
	echo "me._domainkey IN TXT $mine"
} >"$T/zones/example.org.zone"
start_nsd other.net example.org
A="mm-recv --root $ROOT --hostname mx.example.org --log stderr $RUSER --resolver $MM_RESOLVER"

msg() { # FROM SUBJECT -> a message on stdout (CRLF)
	printf 'From: %s\r\nTo: me@example.org\r\nSubject: %s\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\nbody line\r\n' "$1" "$2"
}
send() { # IP ENVFROM FILE [mm-recv options]
	_ip=$1 _from=$2 _f=$3; shift 3
	swaks --pipe "env TCPREMOTEIP=$_ip $A $*" --from "$_from" --to me@example.org --data @"$_f" 2>&1
}
last() { f=$(ls -t "$ROOT"/example.org/me/new/* 2>/dev/null | head -n 1); [ -n "$f" ] && cat "$f"; rm -f "$ROOT"/example.org/me/new/*; }

# SPF
msg a@other.net spf >"$T/m"
$DK sign "$K/rsa.key" rsa-sha256 rsa other.net <"$T/m" >"$T/signed"
out=$(send 192.0.2.1 a@other.net "$T/signed")
like "$out" '250 2.0.0 delivered' "signed mail from an SPF-permitted address: delivered"
got=$(last)
like "$got" 'Received-SPF: pass' "Received-SPF: pass"
like "$got" 'Authentication-Results: mx.example.org;' "one Authentication-Results: with our authserv-id"
like "$got" 'spf=pass smtp.mailfrom=a@other.net' "A-R: spf=pass"
like "$got" 'dkim=pass header.d=other.net header.s=rsa header.a=rsa-sha256' "A-R: rsa-sha256 dkim=pass"
like "$got" 'dmarc=pass header.from=other.net' "A-R: dmarc=pass"
out=$(send 192.0.2.99 a@other.net "$T/signed" --spf enforce)
like "$out" '550 5.7.23 <a@other.net>: SPF of other.net does not allow 192.0.2.99' "--spf enforce: SPF fail refused at MAIL"
out=$(send 192.0.2.99 a@other.net "$T/signed")
like "$out" '250 2.0.0 delivered' "--spf tag (default): SPF fail recorded, DKIM keeps DMARC passing"
like "$(last)" 'spf=fail' "A-R: spf=fail"
for d in loop many; do
	out=$(send 192.0.2.1 "a@$d.other.net" "$T/signed" --dmarc off)
	like "$out" '250 2.0.0 delivered' "SPF $d: session survives"
	like "$(last)" 'spf=permerror' "SPF $d: permerror"
done
out=$(send 192.0.2.1 a@exp.other.net "$T/signed" --dmarc off)
like "$(last)" 'spf=(fail|temperror) smtp.mailfrom=a@exp.other.net' "SPF with a long macro exp=: fail or temperror (libspf2 dies on it in its sandbox), session fine"
# a resolver that never answers: temperror within --spf-timeout
BH=$(free_port)
$PY -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', $BH))
while True: s.recv(4096)
" &
bg_pid $!
start=$(date +%s)
out=$(swaks --pipe "env TCPREMOTEIP=192.0.2.1 mm-recv --root $ROOT --hostname mx.example.org --log stderr $RUSER --resolver 127.0.0.1:$BH --spf-timeout 2 --dkim off --dmarc off" --from a@other.net --to me@example.org --data @"$T/m" 2>&1)
like "$out" '250 2.0.0 delivered' "DNS server that never answers: session survives"
like "$(last)" 'spf=temperror' "and SPF is a temperror"
ok "within the SPF deadline ($(($(date +%s) - start))s)" [ $(($(date +%s) - start)) -le 8 ]

# SPF of the HELO name (RFC 7208 2.3): checked too, recorded, enforced
helo() { # IP HELO ENVFROM FILE [mm-recv options]
	_ip=$1 _h=$2 _from=$3 _f=$4; shift 4
	swaks --pipe "env TCPREMOTEIP=$_ip $A $*" --helo "$_h" --from "$_from" --to me@example.org --data @"$_f" 2>&1
}
out=$(helo 192.0.2.1 mail.other.net a@other.net "$T/signed")
like "$out" '250 2.0.0 delivered' "HELO name with SPF, permitted client: delivered"
got=$(last)
like "$got" 'spf=pass smtp.helo=mail.other.net;' "A-R: spf=pass smtp.helo"
like "$got" 'spf=pass smtp.mailfrom=a@other.net' "A-R: and spf=pass smtp.mailfrom"
is "$(printf '%s\n' "$got" | grep -c '^Received-SPF: pass')" 2 "two Received-SPF: fields, one per identity"
like "$got" 'Received-SPF: pass .*helo=mail\.other\.net' "the HELO one names the HELO identity"
out=$(helo 192.0.2.99 mail.other.net b@elsewhere.example "$T/signed" --spf enforce)
like "$out" '550 5.7.23 HELO mail.other.net: its SPF does not allow 192.0.2.99' "--spf enforce: HELO SPF fail refused at MAIL"
unlike "$out" '250 2.1.0' "and the sender is not accepted"
out=$(helo 192.0.2.99 mail.other.net b@elsewhere.example "$T/signed" --dmarc off)
like "$out" '250 2.0.0 delivered' "--spf tag: HELO SPF fail only recorded"
got=$(last)
like "$got" 'spf=fail smtp.helo=mail.other.net' "A-R: spf=fail smtp.helo"
like "$got" 'spf=(none|temperror) smtp.mailfrom=b@elsewhere.example' "A-R: MAIL FROM judged on its own"
out=$(helo 192.0.2.1 mail.other.net '<>' "$T/signed" --dmarc off)
got=$(last)
is "$(printf '%s\n' "$got" | grep -c 'spf=')" 1 "null sender: the HELO identity is the only SPF result"
like "$got" 'spf=pass smtp.helo=mail.other.net' "null sender: spf=pass smtp.helo"
is "$(printf '%s\n' "$got" | grep -c '^Received-SPF:')" 1 "null sender: one Received-SPF:"
# the null sender's SPF identity is the HELO name, and DMARC aligns it
out=$(helo 192.0.2.1 mail.other.net '<>' "$T/m")
like "$out" '250 2.0.0 delivered' "null sender, unsigned, HELO mail.other.net passes SPF: DMARC of other.net passes (relaxed)"
like "$(last)" 'dmarc=pass header.from=other.net' "recorded as dmarc=pass"
out=$(helo 192.0.2.99 mail.other.net '<>' "$T/m")
like "$out" '550 5.7.1 DMARC policy of other.net says reject' "the same from an address the HELO name's SPF does not allow: p=reject applies"
out=$(helo 192.0.2.99 '[192.0.2.99]' a@other.net "$T/signed" --spf enforce --dmarc off)
like "$out" '550 5.7.23 <a@other.net>: SPF of other.net' "an address literal HELO has no SPF identity; MAIL FROM still checked"
unlike "$out" 'smtp.helo|HELO \[' "and no HELO verdict"
out=$( { sleep 0.3; printf 'EHLO mail.other.net\r\nMAIL FROM:<a@other.net>\r\nQUIT\r\n'; } |
	mm-recv --root "$ROOT" --hostname mx.example.org $RUSER --resolver "$MM_RESOLVER" --test 192.0.2.1 --log none)
like "$out" '>>> SPF for HELO mail.other.net from 192.0.2.1: pass' "--test: the HELO SPF decision"

# DKIM, tightened
$DK sign "$K/ed.key" ed25519-sha256 ed other.net <"$T/m" >"$T/s-ed"
send 192.0.2.1 a@other.net "$T/s-ed" >/dev/null
like "$(last)" 'dkim=pass header.d=other.net header.s=ed header.a=ed25519-sha256' "ed25519-sha256: pass"
$DK sign "$K/rsa.key" rsa-sha1 rsa other.net <"$T/m" >"$T/s-sha1"
out=$(send 192.0.2.1 a@other.net "$T/s-sha1" --dmarc tag)
like "$(last)" 'dkim=fail header.d=other.net header.s=rsa header.a=rsa-sha1' "rsa-sha1: fail (RFC 8301)"
$DK sign "$K/rsa.key" rsa-sha256 rsa other.net --length <"$T/m" >"$T/s-l"
printf 'appended by someone else\r\n' >>"$T/s-l"
send 192.0.2.1 a@other.net "$T/s-l" --dmarc tag >/dev/null
like "$(last)" 'dkim=policy header.d=other.net' "l= with text appended: counts as no signature (policy)"
{ printf 'From: boss@other.net\r\n'; cat "$T/signed"; } >"$T/s-2from"
out=$(send 192.0.2.1 a@other.net "$T/s-2from")
like "$out" '550 5.6.0 more than one From: field' "a prepended second From:: refused"
$DK sign "$K/small.key" rsa-sha256 small other.net <"$T/m" >"$T/s-small"
send 192.0.2.1 a@other.net "$T/s-small" --dmarc tag >/dev/null
like "$(last)" 'dkim=(fail|permerror) header.d=other.net header.s=small' "512-bit key: not a pass"
sed 's/s=rsa;/s=nokey;/' "$T/signed" >"$T/s-nokey"
send 192.0.2.1 a@other.net "$T/s-nokey" --dmarc tag >/dev/null
like "$(last)" 'dkim=permerror header.d=other.net header.s=nokey' "key that does not exist: permerror"
sed 's/^body line/body line, altered/' "$T/signed" >"$T/s-alt"
send 192.0.2.1 a@other.net "$T/s-alt" --dmarc tag >/dev/null
like "$(last)" 'dkim=fail header.d=other.net header.s=rsa' "body altered after signing: fail"

# DMARC p=reject
out=$(send 192.0.2.99 a@other.net "$T/m")
like "$out" '550 5.7.1 DMARC policy of other.net says reject' "DMARC p=reject, no aligned pass: 550"
out=$(send 192.0.2.99 a@other.net "$T/m" --dmarc tag)
like "$(last)" 'dmarc=fail \(p=reject dis=none\) header.from=other.net' "--dmarc tag: recorded as fail, the policy not applied"

# DMARC alignment: relaxed (default) by organisational domain from the
# public suffix list, strict (adkim=s, aspf=s) by exact name
msg a@sub.other.net relaxed >"$T/m-sub"
$DK sign "$K/rsa.key" rsa-sha256 rsa other.net <"$T/m-sub" >"$T/s-sub"
out=$(send 192.0.2.99 a@elsewhere.example "$T/s-sub")
like "$out" '250 2.0.0 delivered' "relaxed DKIM alignment: d=other.net covers From: sub.other.net"
like "$(last)" 'dmarc=pass header.from=sub.other.net' "recorded as dmarc=pass (policy found at the organisational domain)"
out=$(send 192.0.2.1 a@other.net "$T/m-sub")
like "$out" '250 2.0.0 delivered' "relaxed SPF alignment: MAIL FROM other.net (SPF pass) covers From: sub.other.net"
like "$(last)" 'dmarc=pass header.from=sub.other.net' "recorded as dmarc=pass"
msg a@strict.other.net strict >"$T/m-strict"
$DK sign "$K/rsa.key" rsa-sha256 rsa other.net <"$T/m-strict" >"$T/s-strict"
out=$(send 192.0.2.99 a@elsewhere.example "$T/s-strict")
like "$out" '550 5.7.1 DMARC policy of strict.other.net says reject' "adkim=s: d=other.net does not align with strict.other.net"
out=$(send 192.0.2.1 a@other.net "$T/m-strict")
like "$out" '550 5.7.1 DMARC policy of strict.other.net says reject' "aspf=s: SPF pass of other.net does not align either"

# --dkim enforce: signatures present and none passing is refused; no
# signature at all is not (DMARC decides that)
out=$(send 192.0.2.1 a@other.net "$T/s-alt" --dkim enforce --dmarc off)
like "$out" '550 5.7.20 no valid DKIM signature' "--dkim enforce: a failing signature is refused (550 5.7.20)"
out=$(send 192.0.2.1 a@other.net "$T/m" --dkim enforce --dmarc off)
like "$out" '250 2.0.0 delivered' "--dkim enforce: an unsigned message is accepted"
out=$(send 192.0.2.1 a@other.net "$T/signed" --dkim enforce)
like "$out" '250 2.0.0 delivered' "--dkim enforce: a passing signature is accepted"
last >/dev/null

# DMARC p=quarantine under --dmarc enforce: the junk folder if the mailbox
# has one, else the usual folder tagged; pct= honoured (0 and 100 exact)
qsend() { # FROM-DOMAIN RCPTS [mm-recv options]
	_d=$1 _r=$2; shift 2
	msg "a@$_d" quarantine >"$T/q"
	swaks --pipe "env TCPREMOTEIP=192.0.2.99 $A $*" --from "a@$_d" --to "$_r" --data @"$T/q" 2>&1
}
n() { find "$ROOT/example.org/$1/new" -type f 2>/dev/null | wc -l | tr -d ' '; }
out=$(qsend q.other.net me@example.org)
like "$out" '250 2.0.0 delivered' "p=quarantine, no junk folder: accepted"
got=$(last)
like "$got" 'dmarc=fail \(p=quarantine dis=quarantine\) header.from=q.other.net' "A-R: the policy and the disposition"
like "$got" 'X-Spam-Flag: YES' "no junk folder: tagged X-Spam-Flag: YES"
mkdir "$ROOT/example.org/me/junk"
[ "$(id -u)" = 0 ] && chown nobody "$ROOT/example.org/me/junk"
out=$(qsend q.other.net me@example.org,me+sub@example.org,you@example.org)
like "$out" '250 2.0.0 delivered to 2 mailboxes' "me and me+sub share me/junk: one copy there, one for you"
like "$out" 'delivered <me@example.org> to example.org/me/junk/new/.* \(quarantined\)' "logged as quarantined"
is "$(n me/junk)" 1 "quarantined into me/junk/"
is "$(n me)$(n me/sub)" 00 "nothing in me/ or me/sub/"
f=$(find "$ROOT/example.org/me/junk/new" -type f)
unlike "$(cat "$f")" 'X-Spam-Flag' "the junk copy needs no tag"
f=$(find "$ROOT/example.org/you/new" -type f)
like "$(cat "$f")" 'X-Spam-Flag: YES' "you has no junk folder: tagged copy in you/"
rm -f "$f" "$ROOT"/example.org/me/junk/new/*
out=$(qsend q0.other.net me@example.org)
got=$(last)
like "$got" 'dmarc=fail \(p=quarantine dis=none\) header.from=q0.other.net' "pct=0: sampled out, the next milder policy (none)"
is "$(n me/junk)" 0 "pct=0: not quarantined"
unlike "$got" 'X-Spam-Flag' "pct=0: not tagged"
out=$(qsend r0.other.net me@example.org)
like "$out" '250 2.0.0 delivered' "p=reject with pct=0: not refused"
like "$(cat "$ROOT"/example.org/me/junk/new/*)" 'dmarc=fail \(p=reject dis=quarantine\)' "p=reject with pct=0: quarantined instead (RFC 7489 6.6.4)"
rm -f "$ROOT"/example.org/me/junk/new/*
out=$(qsend q.other.net me@example.org --dmarc tag)
got=$(last)
like "$got" 'dmarc=fail \(p=quarantine dis=none\)' "--dmarc tag: recorded, not applied"
is "$(n me/junk)" 0 "--dmarc tag: not quarantined"
out=$( { sleep 0.3; printf 'EHLO c.example.net\r\nMAIL FROM:<a@q.other.net>\r\nRCPT TO:<me@example.org>\r\nDATA\r\n'; cat "$T/q"; printf '.\r\nQUIT\r\n'; } |
	mm-recv --root "$ROOT" --hostname mx.example.org $RUSER --resolver "$MM_RESOLVER" --test 192.0.2.99 --log none)
like "$out" '>>> DMARC for q.other.net: fail \(policy quarantine, pct 100, disposition quarantine\)' "--test: the DMARC disposition"
like "$out" ">>> delivered: $ROOT/example.org/me/junk/new/" "--test: the junk folder path"
rm -f "$ROOT"/example.org/me/junk/new/*
rm -r "$ROOT/example.org/me/junk"

# anti-forgery for our own domain
msg me@example.org own >"$T/own"
out=$(send 192.0.2.1 me@example.org "$T/own")
like "$out" '550 5.7.1 mail from example.org must carry a valid DKIM signature of example.org' "MAIL FROM of our domain from outside, unsigned: 550"
$DK sign "$K/me.key" rsa-sha256 me example.org <"$T/own" >"$T/own-signed"
out=$(send 192.0.2.1 me@example.org "$T/own-signed")
like "$out" '250 2.0.0 delivered' "the same with a valid DKIM signature of ours: accepted"
like "$(last)" 'dkim=pass header.d=example.org' "and recorded"
$DK sign "$K/rsa.key" rsa-sha256 rsa other.net <"$T/own" >"$T/own-other"
out=$(send 192.0.2.1 a@other.net "$T/own-other")
like "$out" '550 5.7.1 From: example.org needs a valid DKIM signature of example.org' "forged From: of ours with an outside envelope sender: 550"
out=$(send 192.0.2.1 me@example.org "$T/own" --dkim off --dmarc off --spf off)
like "$out" '550 5.7.1 mail from example.org must carry' "anti-forgery holds with every check off"

# forged Authentication-Results: with our authserv-id removed, others kept
{ printf 'Authentication-Results: mx.example.org; dkim=pass header.d=example.org\r\nAuthentication-Results: other.example; spf=pass\r\n'; cat "$T/signed"; } >"$T/s-ar"
send 192.0.2.1 a@other.net "$T/s-ar" >/dev/null
got=$(last)
is "$(printf '%s\n' "$got" | grep -c '^Authentication-Results: mx.example.org')" 1 "only our own A-R remains under our id"
like "$got" 'Authentication-Results: other.example; spf=pass' "foreign A-R kept"
unlike "$got" 'dkim=pass header.d=example.org' "forged result gone"

# DNSBL
out=$(send 192.0.2.50 a@other.net "$T/signed" --dnsbl bl.other.net)
like "$out" '554 5.7.1 192.0.2.50 is listed by bl.other.net: spam source, see https://bl.example/50' "DNSBL listing: refused at connect with the list's reason"
unlike "$out" '^<-  220' "no banner for a listed client"
out=$(send 192.0.2.51 a@other.net "$T/signed" --dnsbl bl.other.net --spf off --dmarc off)
like "$out" '250 2.0.0 delivered' "127.255.255.254 (list refused the query) is not a listing"
like "$out" 'DNSBL bl.other.net refused our query' "and it is logged"
last >/dev/null
out=$(send 192.0.2.1 a@other.net "$T/signed" --dnsbl bl.other.net)
like "$out" '250 2.0.0 delivered' "an unlisted client passes"
last >/dev/null

# --test shows the decisions
out=$( { sleep 0.3; printf 'EHLO c.example.net\r\nMAIL FROM:<a@other.net>\r\nRCPT TO:<me@example.org>\r\nDATA\r\n'; cat "$T/signed"; printf '.\r\nQUIT\r\n'; } |
	mm-recv --root "$ROOT" --hostname mx.example.org $RUSER --resolver "$MM_RESOLVER" --test 192.0.2.1 --log none)
like "$out" '>>> SPF for a@other.net from 192.0.2.1: pass' "--test: SPF decision"
like "$out" '>>> DKIM d=other.net s=rsa a=rsa-sha256 \(2048 bits\): pass' "--test: DKIM decision"
like "$out" '>>> DMARC for other.net: pass' "--test: DMARC decision"
like "$out" ">>> delivered: $ROOT/example.org/me/new/" "--test: the exact Maildir path"
done_testing
