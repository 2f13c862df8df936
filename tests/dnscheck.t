#!/bin/sh
# mm-dnscheck against a real nsd serving tests/zones: a domain with
# everything right, then one domain per fault; each check's exact status
# and the exit code are asserted.  DKIM keys are generated here.
. "$(dirname "$0")/lib.sh"
need openssl

# --- keys and the good.test zone with its DKIM selectors ---
mkdir -p "$T/keys" "$T/zones"
genrsa() { openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$1" -out "$2" 2>/dev/null; }
genrsa 2048 "$T/keys/a.pem" || bail "openssl genpkey failed"
genrsa 2048 "$T/keys/b.pem"
genrsa 1024 "$T/keys/weak.pem"
genrsa 512 "$T/keys/tiny.pem" || bail "openssl cannot make a 512-bit key"
openssl genpkey -algorithm ED25519 -out "$T/keys/ed.pem" 2>/dev/null
# TXT record data for a key, split into quoted 200-octet strings
pub_b64() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | base64 -w0; }
ed_b64() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0; }
quoted() { printf '%s' "$1" | fold -w 200 | sed 's/.*/"&"/' | tr '\n' ' '; }
{
	cat "$MM_TOP/tests/zones/good.test.zone"
	echo "sel._domainkey IN TXT $(quoted "v=DKIM1; k=rsa; p=$(pub_b64 "$T/keys/a.pem")")"
	echo "weak._domainkey IN TXT $(quoted "v=DKIM1; k=rsa; p=$(pub_b64 "$T/keys/weak.pem")")"
	echo "tiny._domainkey IN TXT $(quoted "v=DKIM1; k=rsa; p=$(pub_b64 "$T/keys/tiny.pem")")"
	echo "testing._domainkey IN TXT $(quoted "v=DKIM1; t=y; k=rsa; p=$(pub_b64 "$T/keys/b.pem")")"
	echo "revoked._domainkey IN TXT \"v=DKIM1; k=rsa; p=\""
	echo "ed._domainkey IN TXT \"v=DKIM1; k=ed25519; p=$(ed_b64 "$T/keys/ed.pem")\""
	echo "garbled._domainkey IN TXT \"v=DKIM1; k=rsa; p=AAAAnotakey\""
} >"$T/zones/good.test.zone"

start_nsd good.test reports.test 2.0.192.in-addr.arpa bl.test fault.test broken.test

# run ARGS...: mm-dnscheck --json; sets OUT and RC
run() {
	OUT=$(mm-dnscheck --json "$@" 2>"$T/err")
	RC=$?
}
# st CHECK SUBJECT: the distinct statuses of that check's findings
st() {
	printf '%s\n' "$OUT" | grep -F "{\"check\":\"$1\",\"subject\":\"$2\"," |
		sed 's/.*"status":"\([A-Z]*\)".*/\1/' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# --- the good domain ---
run --ip 192.0.2.10 --selector sel --key "$T/keys/a.pem" --dnsbl bl.test good.test
is "$RC" 0 "good.test: exit 0"
is "$(st mx good.test)" PASS "good.test: mx"
is "$(st address mx1.good.test)" PASS "good.test: MX target mx1 has an address"
is "$(st address mx2.good.test)" PASS "good.test: MX target mx2 has an address"
is "$(st ptr 192.0.2.11)" PASS "good.test: MX address PTR forward-confirmed"
is "$(st ptr 192.0.2.10)" PASS "good.test: --ip PTR forward-confirmed"
is "$(st spf good.test)" PASS "good.test: spf record"
is "$(st spf 'good.test 192.0.2.10')" PASS "good.test: --ip permitted by SPF"
is "$(st spf 'good.test 192.0.2.12')" PASS "good.test: MX address permitted by SPF (mx)"
is "$(st dkim sel._domainkey.good.test)" PASS "good.test: dkim 2048-bit key that matches --key"
like "$OUT" '"subject":"sel._domainkey.good.test","status":"PASS","message":"published key matches' "--key compared"
is "$(st dmarc _dmarc.good.test)" PASS "good.test: dmarc, external rua authorised"
like "$OUT" 'external report destination reports.test has authorised' "external rua authorisation looked up"
is "$(st dnsbl '192.0.2.10 bl.test')" PASS "good.test: not listed"
is "$(st mta-sts _mta-sts.good.test)" INFO "good.test: MTA-STS present (INFO)"
is "$(st tls-rpt _smtp._tls.good.test)" INFO "good.test: TLS-RPT present (INFO)"
unlike "$OUT" '"status":"(WARN|FAIL)"' "good.test: no warning, no failure"

# human output: no colour when not a TTY, one line per finding
HUMAN=$(mm-dnscheck good.test)
like "$HUMAN" '^PASS mx +good.test: 2 MX: 10 mx1.good.test, 20 mx2.good.test$' "human line format"
unlike "$HUMAN" "$(printf '\033')" "no colour codes when stdout is not a TTY"
need script:bsdutils
TTYOUT=$(script -qc "mm-dnscheck good.test" /dev/null)
like "$TTYOUT" "$(printf '\033')\\[32mPASS" "colour on a TTY"
TTYOUT=$(NO_COLOR=1 script -qc "mm-dnscheck good.test" /dev/null)
unlike "$TTYOUT" "$(printf '\033')" "no colour on a TTY with NO_COLOR"

# a subdomain inherits its organisational domain's DMARC record
run sub.good.test
is "$(st dmarc _dmarc.sub.good.test)" PASS "subdomain: organisational domain's DMARC applies"

# --- PTR, SPF per address, DNSBL ---
run --ip 192.0.2.20 --ip 192.0.2.21 --ip 192.0.2.66 --dnsbl bl.test --dnsbl refused.bl.test --dnsbl odd.bl.test good.test
is "$RC" 2 "bad addresses: exit 2"
is "$(st ptr 192.0.2.20)" FAIL "PTR that does not resolve back"
is "$(st ptr 192.0.2.21)" FAIL "no PTR"
like "$OUT" '"fix":"21.2.0.192.in-addr.arpa. IN PTR ' "PTR fix is a zone line"
is "$(st spf 'good.test 192.0.2.20')" FAIL "--ip not permitted by SPF"
like "$OUT" '"fix":"good.test. IN TXT \\"v=spf1 mx ip4:192.0.2.10 ip4:192.0.2.20 ip4:192.0.2.21 ip4:192.0.2.66 -all\\""' "SPF fix: the published record admitting every failing --ip"
is "$(st dnsbl '192.0.2.66 bl.test')" FAIL "listed on the DNSBL"
like "$OUT" 'listed \(127.0.0.2\): Listed: spam trap hits' "listing code and TXT reason"
is "$(st dnsbl '192.0.2.20 bl.test')" PASS "NXDOMAIN on the DNSBL: clean"
is "$(st dnsbl '192.0.2.20 refused.bl.test')" WARN "127.255.255.x: the list refused this resolver"
like "$OUT" 'refused to answer this resolver' "refusal explained"
is "$(st dnsbl '192.0.2.20 odd.bl.test')" WARN "answer outside 127.0.0.2-255: not a listing"

# --- DKIM ---
run --selector weak --selector tiny --selector testing --selector revoked --selector missing --selector garbled good.test
is "$RC" 2 "dkim faults: exit 2"
is "$(st dkim weak._domainkey.good.test)" WARN "RSA 1024: WARN"
is "$(st dkim tiny._domainkey.good.test)" FAIL "RSA 512: FAIL"
is "$(st dkim testing._domainkey.good.test)" "PASS WARN" "t=y: WARN"
is "$(st dkim revoked._domainkey.good.test)" WARN "revoked key reported"
like "$OUT" 'key revoked' "revocation said"
is "$(st dkim missing._domainkey.good.test)" FAIL "no key published: FAIL"
is "$(st dkim garbled._domainkey.good.test)" FAIL "key record that does not load: FAIL"

run --selector ed --key "$T/keys/ed.pem" good.test
is "$(st dkim ed._domainkey.good.test)" PASS "ed25519 key, matches its private key"
is "$RC" 0 "ed25519: exit 0"

run --selector sel --key "$T/keys/b.pem" good.test
is "$(st dkim sel._domainkey.good.test)" "FAIL PASS" "published key does not match --key"
like "$OUT" 'does not match the private key' "mismatch said"

# the fix for a missing key is the record for --key, in <=255-octet strings
HUMAN=$(mm-dnscheck --selector missing --key "$T/keys/a.pem" good.test)
FIXLINE=$(printf '%s\n' "$HUMAN" | grep '^ *missing._domainkey.good.test. IN TXT "v=DKIM1; k=rsa; p=')
ok "missing selector: fix is the zone line for --key" test -n "$FIXLINE"
NSTR=$(printf '%s\n' "$FIXLINE" | grep -o '"[^"]*"' | wc -l)
ok "fix TXT split into several strings ($NSTR)" test "$NSTR" -ge 2
LONGEST=$(printf '%s\n' "$FIXLINE" | grep -o '"[^"]*"' | awk '{ if (length($0) - 2 > m) m = length($0) - 2 } END { print m }')
ok "each string at most 255 octets ($LONGEST)" test "$LONGEST" -le 255

# --root: selectors from ROOT/domain/user/
mkdir -p "$T/root/good.test/sel/new" "$T/root/good.test/nokey" "$T/root/good.test/.hidden"
run --root "$T/root" good.test
is "$(st dkim sel._domainkey.good.test)" PASS "--root: user sel's key checked"
is "$(st dkim nokey._domainkey.good.test)" FAIL "--root: user without a key"
unlike "$OUT" 'hidden._domainkey' "--root: dot directories skipped"
# past the per-domain limit (DNSCHECK_ROOT_USERS_MAX, 4096) the rest is said, not dropped
mkdir -p "$T/big/good.test"
(cd "$T/big/good.test" && seq -f 'u%g' 1 4097 | xargs mkdir)
run --root "$T/big" good.test
like "$OUT" 'has more than 4096 mailboxes; only 4096 were checked' "--root: over the limit is a WARN"
is "$(printf '%s\n' "$OUT" | grep -c '"subject":"u[0-9]*\._domainkey\.good\.test"')" 4096 "--root: 4096 selectors checked, not one more"

# --- MX faults ---
run nomx.fault.test
is "$(st mx nomx.fault.test)" WARN "no MX but an address: implicit MX is a WARN"
run nothing.fault.test
is "$(st mx nothing.fault.test)" FAIL "no MX, no address: FAIL"
run nullmx.fault.test
is "$(st mx nullmx.fault.test)" PASS "null MX (RFC 7505)"
run mixnull.fault.test
is "$(st mx mixnull.fault.test)" FAIL "null MX mixed with others"
run ipmx.fault.test
is "$(st mx 192.0.2.31)" FAIL "MX target that is an IP literal"
run cnamemx.fault.test
is "$(st address alias.fault.test)" FAIL "MX target that is a CNAME"
run noaddr.fault.test
is "$(st address ghost.fault.test)" FAIL "MX target without address"
run loop.fault.test
is "$(st address l1.fault.test)" FAIL "MX target in a CNAME loop"
like "$OUT" 'CNAME loop' "loop named"
is "$RC" 2 "CNAME loop: exit 2, no hang"
run xl.fault.test
is "$(st address xloop.fault.test)" FAIL "CNAME loop across zones (followed query by query, bounded)"
like "$OUT" 'CNAME loop' "cross-zone loop named"

# --- SPF faults ---
run nospf.fault.test
is "$(st spf nospf.fault.test)" FAIL "no SPF record"
like "$OUT" '"fix":"nospf.fault.test. IN TXT \\"v=spf1 mx -all\\""' "SPF fix as a zone line"
run twospf.fault.test
like "$(st spf twospf.fault.test)" FAIL "two SPF records"
run badspf.fault.test
like "$(st spf badspf.fault.test)" FAIL "SPF syntax error (libspf2)"
like "$OUT" "Invalid IPv4 address literal near '300.1.2.3'" "libspf2's message"
is "$(st spf 'badspf.fault.test 192.0.2.31')" WARN "evaluation of a broken record: permerror, MX address WARN"
run plusall.fault.test
is "$(st spf plusall.fault.test)" FAIL "+all"
run qall.fault.test
is "$(st spf qall.fault.test)" WARN "?all"
run toomany.fault.test
is "$(st spf toomany.fault.test)" FAIL "more than 10 lookups"
like "$OUT" '14 DNS lookups.*breaks at toomany.fault.test -> include:i2.fault.test \(lookup 11\)' "the include that breaks the limit is named"
run voids.fault.test
is "$(st spf voids.fault.test)" FAIL "more than 2 void lookups"
like "$OUT" '3 void lookups' "voids counted"
run spfloop.fault.test
is "$(st spf spfloop.fault.test)" FAIL "include loop"
like "$OUT" 'loop, not followed' "loop bounded and shown"
run noinc.fault.test
is "$(st spf noinc.fault.test)" FAIL "include of a name without SPF"
run split.fault.test
is "$(st spf split.fault.test)" PASS "TXT split into many strings is concatenated"
run huge.fault.test
is "$(st spf huge.fault.test)" PASS "record too big for UDP: fetched over TCP"
mm-dnscheck --stats huge.fault.test >/dev/null 2>"$T/stats"
like "$(cat "$T/stats")" 'tcp=[1-9]' "truncated answer retried over TCP"

# --- DMARC faults ---
run nodmarc.fault.test
is "$(st dmarc _dmarc.nodmarc.fault.test)" FAIL "no DMARC record"
run baddmarc.fault.test
is "$(st dmarc _dmarc.baddmarc.fault.test)" FAIL "invalid p="
run twodmarc.fault.test
is "$(st dmarc _dmarc.twodmarc.fault.test)" FAIL "two DMARC records"
run nonedmarc.fault.test
is "$(st dmarc _dmarc.nonedmarc.fault.test)" WARN "p=none"
is "$RC" 1 "warnings only: exit 1"
run extrua.fault.test
is "$(st dmarc _dmarc.extrua.fault.test)" "FAIL PASS" "external rua not authorised"
like "$OUT" 'extrua.fault.test._report._dmarc.reports.test. IN TXT' "authorisation fix"
run nonascii.fault.test
is "$(st dmarc _dmarc.nonascii.fault.test)" FAIL "non-ASCII in a record"
like "$OUT" 'p=r\\\\195\\\\169ject' "non-ASCII shown escaped"

# --- MTA-STS / TLS-RPT ---
run badsts.fault.test
is "$(st mta-sts _mta-sts.badsts.fault.test)" WARN "MTA-STS record without id="
is "$(st tls-rpt _smtp._tls.badsts.fault.test)" WARN "TLS-RPT record without rua="
run nospf.fault.test
is "$(st mta-sts _mta-sts.nospf.fault.test)" INFO "no MTA-STS: INFO"

# --json: every line is a JSON object with exactly the documented keys
run --ip 192.0.2.21 --ip 192.0.2.66 --dnsbl bl.test --selector missing --selector garbled nonascii.fault.test huge.fault.test \
	spfloop.fault.test noinc.fault.test loop.fault.test cnamemx.fault.test broken.test extrua.fault.test 'exämple.test'
ok "JSON lines parse, keys as documented, every FAIL has a fix" sh -c 'printf "%s\n" "$1" | $2 -c "
import json, sys
keys = {\"check\", \"subject\", \"status\", \"message\", \"fix\"}
checks = {\"mx\", \"address\", \"ptr\", \"spf\", \"dkim\", \"dmarc\", \"dnsbl\", \"mta-sts\", \"tls-rpt\"}
n = 0
for l in sys.stdin:
    o = json.loads(l)
    assert set(o) == keys, o
    assert o[\"check\"] in checks, o
    assert o[\"status\"] in (\"PASS\", \"INFO\", \"WARN\", \"FAIL\"), o
    assert o[\"fix\"] is None or isinstance(o[\"fix\"], str), o
    if o[\"status\"] == \"FAIL\" and not o[\"message\"].startswith((\"not a usable domain\", \"could not check\")):
        assert o[\"fix\"], o
    n += 1
assert n > 10, n
"' sh "$OUT" "$PY"

# --- DNS failures and bad input ---
run broken.test
is "$(st mx broken.test)" FAIL "SERVFAIL is a finding"
like "$OUT" 'SERVFAIL' "SERVFAIL named"
is "$RC" 2 "SERVFAIL: exit 2"
LONG=$(printf 'a%.0s' $(seq 1 70)).test
run 'bad..name' "$LONG" 'exämple.test' nodot
is "$RC" 2 "bad names: exit 2"
is "$(st mx bad..name)" FAIL "empty label"
is "$(st mx "$LONG")" FAIL "label over 63 octets"
like "$OUT" 'non-ASCII domain name' "non-ASCII name"
is "$(st mx nodot)" FAIL "name without a dot"

# case and a trailing dot do not matter
run GOOD.Test.
is "$RC" 0 "upper case and trailing dot: exit 0"
is "$(st mx good.test)" PASS "...checked as good.test"

# several domains in one call: the worst status wins
run good.test nothing.fault.test
is "$RC" 2 "several domains: exit from the worst"
like "$OUT" '"subject":"good.test"' "first domain checked"
like "$OUT" '"subject":"nothing.fault.test"' "second domain checked"

# unreachable resolver: exit 3, clear message, bounded time
DEAD=$(free_port)
run --resolver "127.0.0.1:$DEAD" good.test
is "$RC" 3 "refused resolver: exit 3"
like "$(cat "$T/err")" "resolver 127.0.0.1:$DEAD does not answer" "clear message"
SILENT=$(free_port)
$PY -c 'import socket,sys,time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
time.sleep(60)' "$SILENT" >"$T/silent.out" &
bg_pid $!
i=0; while [ ! -s "$T/silent.out" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
START=$(date +%s)
run --timeout 1 --resolver "127.0.0.1:$SILENT" good.test
END=$(date +%s)
is "$RC" 3 "silent resolver: exit 3"
like "$(cat "$T/err")" 'does not answer: .*no answer' "timeout said"
ok "bounded time ($((END - START))s)" test $((END - START)) -le 4

# usage
mm-dnscheck >/dev/null 2>&1; is "$?" 64 "no domain: exit 64"
mm-dnscheck --ip nonsense good.test >/dev/null 2>&1; is "$?" 64 "bad --ip: exit 64"
mm-dnscheck --key /nonexistent --selector s good.test >/dev/null 2>&1; is "$?" 64 "unreadable --key: exit 64"
mm-dnscheck --bogus >/dev/null 2>&1; is "$?" 64 "unknown option: exit 64"
ok "--help" sh -c 'mm-dnscheck --help >/dev/null'
like "$(mm-dnscheck --version)" '^mm-dnscheck [0-9]' "--version"

# -q: only problems
Q=$(mm-dnscheck -q --ip 192.0.2.21 good.test)
unlike "$Q" '^(PASS|INFO)' "-q hides PASS and INFO"
like "$Q" '^FAIL ptr' "-q shows failures"

done_testing
