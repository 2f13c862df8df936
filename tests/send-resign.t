#!/bin/sh
# The laptop's offline queue against the relay's signature window: a
# message signed and queued while the relay was unreachable, sent by
# mm-send -q through --via 'mm-recv --submit ...' twenty minutes later,
# must go out with one fresh set of mm-send's signatures (checked by dkimpy
# with the key served by nsd, and by the relay's acceptance), a
# DKIM-Signature the message already carried kept byte for byte, and the
# queued file untouched.  The twenty minutes are made by signing in the
# past (mm-send --at TIME queues as if the clock said TIME), so the relay
# and libopendkim keep the real clock.  Within --resign-after the queued bytes go out
# unchanged; without re-signing the relay refuses them as stale; with the
# key gone the job stays queued and says why.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"
need nsd dig:dnsutils
$PY -c 'import dkim, nacl' 2>/dev/null || bail "python3-dkim / python3-nacl missing (scripts/install-deps)"
export HOME=$T/home
mkdir -p "$HOME" "$T/zones" "$T/spool"
chmod 755 "$HOME"
[ -n "$RUSER" ] && chown nobody "$T/spool"

K=$T/keys
printf '$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns h 1 3600 600 86400 300\n  IN NS ns\nns IN A 127.0.0.1\n' \
	>"$T/zones/example.org.zone"
mm-keygen -t ed25519 --keys "$K" me@example.org >>"$T/zones/example.org.zone" 2>/dev/null ||
	bail "mm-keygen"
chmod 755 "$K"; chmod 644 "$K"/*.pub
start_nsd example.org

Q=$T/spool
LQ=$T/lq
SUB="mm-recv --submit --root $ROOT --hostname mx.example.org --log stderr $RUSER --queue $Q --keys $K --resolver $MM_RESOLVER --mm-send none"
# a transport that is down: the command exits at once
# queue_it AGE: signed AGE seconds ago, queued (the transport is down)
queue_it() { mm-send --at $(( $(date +%s) - $1 )) --keys "$K" --queue "$LQ" --via false -t \
	2>"$T/q.err"; }
# mm-send -q through the relay, now
run() { mm-send -q --now --keys "$K" --queue "$LQ" --timeout 20 --via "$SUB" "$@" 2>"$T/run.err"; }
msg() { printf 'From: me@example.org\nTo: pal@far.test\nSubject: %s\n%s\nbody of %s\n' "$1" "${2:-}" "$1"; }
ljobs() { ls "$LQ/env" 2>/dev/null | wc -l | tr -d ' '; }
relayed() { grep -l "^Subject: $1[[:space:]]*\$" "$Q"/msg/* 2>/dev/null; }
# the DKIM-Signature fields of a file, unfolded, one a line
sigs() { $PY - "$1" <<'PY'
import email.parser, email.policy, sys
m = email.parser.BytesParser(policy=email.policy.compat32).parse(open(sys.argv[1], "rb"))
for v in m.get_all("DKIM-Signature") or []:
    print(" ".join(v.split()))
PY
}
tag() { sed -n "s/.*[; ]$1=\([^;]*\).*/\1/p"; }   # a tag's value of sigs' lines
verify() { $PY "$MM_TOP/tests/dkim-verify.py" "$1" 127.0.0.1 "$NSD_PORT"; }

# ---- queued while the relay is down: the envelope names our signature ----
msg within | queue_it 300
is "$?" 0 "relay down: exit 0"
like "$(cat "$T/q.err")" 'queued as' "the message is queued"
J=$(ls "$LQ/env")
T0=$(sed -n 's/^signed 1 //p' "$LQ/env/$J")
like "$T0" '^[0-9]+$' "the envelope records one own signature and its time"
is "$(sigs "$LQ/msg/$J" | tag t)" "$T0" "that time is the signature's t="
cp "$LQ/msg/$J" "$T/within.orig"

# ---- within the threshold: the queued bytes go out unchanged -------------
run
is "$?" 0 "5 minutes old: exit 0"
is "$(ljobs)" 0 "the relay took it"
R=$(relayed within)
ok "it is in the relay's queue" test -n "$R"
ok "the relay got the queued bytes, original signature and all" \
	$PY -c 'import sys; a=open(sys.argv[1],"rb").read(); b=open(sys.argv[2],"rb").read(); sys.exit(not a.endswith(b))' \
	"$R" "$T/within.orig"

# ---- past the window without re-signing: what the relay used to say -------
msg stale | queue_it 1200
run --resign-after 1d
like "$(cat "$T/run.err")" 'stale signature' "without re-signing, the relay refuses it as stale"
ok "and did not take it" test -z "$(relayed stale)"

# ---- a forwarded signature, and the key gone: stays queued, file intact ---
FOREIGN='DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=elsewhere.test; s=x; h=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=Zm9yZWlnbg=='
msg later "$FOREIGN" | queue_it 1200
J=$(ls -t "$LQ/env" | head -n 1)
cp "$LQ/msg/$J" "$T/later.orig"
is "$(sed -n 's/^signed \([0-9]*\) .*/\1/p' "$LQ/env/$J")" 1 "a carried DKIM-Signature is not counted as ours"
is "$(sigs "$LQ/msg/$J" | wc -l | tr -d ' ')" 2 "queued with ours on top of the carried one"
mkdir "$T/keys.away"
mv "$K"/me@example.org.* "$T/keys.away/"
run
like "$(cat "$T/run.err")" "$J: re-signing .*no DKIM key for me@example.org" "key gone: says it cannot re-sign, naming the address"
is "$(ljobs)" 1 "the job stays queued"
like "$(mm-send --queue "$LQ" -bp 2>/dev/null)" 'no DKIM key' "mailq shows why"
ok "the queued file is unchanged" cmp -s "$LQ/msg/$J" "$T/later.orig"
ok "nothing reached the relay" test -z "$(relayed later)"

# ---- key back, twenty minutes later: one fresh signature of ours ---------
mv "$T/keys.away"/* "$K/"
T1=$(date +%s)
run -v
is "$?" 0 "20 minutes old, key back: exit 0"
like "$(cat "$T/run.err")" 're-signed \(1\)' "it says it re-signed"
is "$(ljobs)" 0 "the relay took it: the queue is empty"
R=$(relayed later)
ok "it is in the relay's queue" test -n "$R"
sigs "$R" >"$T/later.sigs"
is "$(grep -c 'd=example.org' "$T/later.sigs")" 1 "exactly one signature of ours"
TS=$(grep 'd=example.org' "$T/later.sigs" | tag t)
ok "a fresh one (t= is the run's time)" test "${TS:-0}" -ge "$T1" -a "${TS:-0}" -le "$(date +%s)"
unlike "$(cat "$T/later.sigs")" "$(sigs "$T/later.orig" | grep 'd=example.org' | tag b | cut -c1-40)" \
	"the old signature is gone"
ok "the carried DKIM-Signature is kept byte for byte" grep -qF "$FOREIGN" "$R"
is "$(head -n 1 "$T/later.sigs" | tag d)" example.org "ours is on top, as at the first signing"
verify "$R" >"$T/v.out" 2>&1
like "$(cat "$T/v.out")" "0 a=ed25519-sha256 s=me pass" "dkimpy verifies the fresh signature with the key from nsd"
ok "the job is removed after delivery" test ! -e "$LQ/msg/$J"

done_testing
