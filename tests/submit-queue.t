#!/bin/sh
# The server's queue: mm-send -q --mx delivering to a real aiosmtpd named as
# the recipients' MX by a real nsd.  Temporary failure then success
# (exactly once, backoff recorded), mixed 5xx/250 (DSN for the failed one
# only), DSN into our sender's Maildir (read back with mblaze and Python's
# email module), DSN for a foreign sender queued with the null sender and
# delivered by --mx, expiry after 5 days (--at), no DSN for a null sender,
# a corrupt envelope reported and kept.
. "$(dirname "$0")/lib.sh"
need nsd dig:dnsutils mlist:mblaze mshow:mblaze
$PY -c 'import aiosmtpd' 2>/dev/null || bail "python3-aiosmtpd missing (scripts/install-deps)"
export HOME=$T/home
mkdir -p "$HOME" "$T/zones"

for z in far.test other.test; do
	cat >"$T/zones/$z.zone" <<Z
\$ORIGIN $z.
\$TTL 300
@	IN SOA ns.$z. hostmaster.$z. 1 3600 600 86400 300
	IN NS ns.$z.
	IN MX 10 mx.$z.
ns	IN A 127.0.0.1
mx	IN A 127.0.0.1
Z
done
start_nsd far.test other.test

start_smtp_server "$T/s" \
	--rule t1@far.test=451,451,250 --rule m1@far.test=550 --rule p1@far.test=550 \
	--rule e1@far.test=451 --rule n1@far.test=550
P=$SMTP_PORT

ROOT=$T/mail
mkdir -p "$ROOT/example.test/me"
MD=$ROOT/example.test/me
Q=$T/q
RUN="mm-send -q --mx --queue $Q --mx-port $P --root $ROOT --helo mx.example.test"
enqueue() { # FROM SUBJECT RCPT...
	_f=$1 _s=$2; shift 2
	printf 'From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s@example.test>\n\nbody of %s\n' \
		"$_f" "$1" "$_s" "$_s" "$_s" |
		mm-send -odq --no-sign --queue "$Q" -f "$_f" -- "$@" 2>>"$T/enq.err"
}
# jq-like: evaluate a Python expression over the -bp --json list (as d)
bp() { mm-send --queue "$Q" -bp --json 2>/dev/null | $PY -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
tries() { grep -c "^$1 " "$T/s/rcpt.log" 2>/dev/null || echo 0; }
arrived() { grep -lx "$1" "$T"/s/*.env 2>/dev/null | wc -l | tr -d ' '; }
dsns() { mlist "$MD" 2>/dev/null | wc -l | tr -d ' '; }

# ---- a temporary failure, then success: exactly once, backoff recorded
enqueue me@example.test temp t1@far.test
is "$(bp 'len(d)')" 1 "job queued"
$RUN 2>"$T/err"
is "$?" 0 "-q: exit 0 after a 4xx"
is "$(tries t1@far.test)" 1 "first attempt made"
like "$(cat "$T/err")" 'deferred, next try in 300s: 451' "says deferred, when and why"
is "$(bp 'd[0]["attempts"]')" 1 "attempts recorded"
is "$(bp 'd[0]["next_try"] - d[0]["last_try"]')" 300 "first backoff: 5 minutes"
is "$(bp 'd[0]["recipients"][0]["state"]')" pending "recipient pending"
like "$(bp 'd[0]["recipients"][0]["text"]')" '^451 4\.3\.0' "recipient's last error kept"
is "$(bp 'd[0]["recipients"][0]["mta"]')" mx.far.test "recipient's MTA kept"
T1=$(bp 'd[0]["last_try"]')
$RUN 2>/dev/null
is "$(tries t1@far.test)" 1 "not due yet: no attempt"
$RUN --at $((T1 + 300)) 2>/dev/null
is "$(tries t1@far.test)" 2 "due at +5 min: second attempt"
is "$(bp 'd[0]["next_try"] - d[0]["last_try"]')" 600 "backoff doubled"
is "$(bp 'd[0]["last_try"]')" $((T1 + 300)) "the attempt is recorded at --at time"
$RUN --at $((T1 + 900)) 2>/dev/null
is "$?" 0 "third run: exit 0"
is "$(arrived t1@far.test)" 1 "delivered"
is "$(bp 'len(d)')" 0 "job removed"
$RUN --now --at $((T1 + 99999)) 2>/dev/null
is "$(arrived t1@far.test)" 1 "delivered exactly once"
is "$(tries t1@far.test)" 3 "three RCPTs in all"
is "$(dsns)" 0 "no DSN for a delivered message"

# ---- mixed: one 550, one 250: DSN for the failed one only, job removed
enqueue me@example.test mixed m1@far.test m2@far.test
$RUN 2>"$T/err"
is "$?" 0 "mixed: exit 0 (the failure went into a DSN)"
is "$(arrived m2@far.test)" 1 "the good recipient got it"
is "$(arrived m1@far.test)" 0 "the refused one did not"
like "$(cat "$T/err")" 'm1@far\.test: failed: 550 5\.1\.1' "says who failed and why"
like "$(cat "$T/err")" 'DSN delivered to the Maildir of <me@example\.test>' "says where the DSN went"
is "$(bp 'len(d)')" 0 "job removed"
is "$(dsns)" 1 "one DSN in the sender's Maildir"
F=$(mlist "$MD")
like "$(mshow -q "$F" 2>&1; mshow -H "$F")" 'Subject: Undelivered Mail Returned to Sender' "mblaze reads its header"
like "$(mshow -t "$F")" 'message/delivery-status' "mblaze sees the delivery-status part"
like "$(mshow -t "$F")" 'text/rfc822-headers' "mblaze sees the attached header"
head -1 "$F" >"$T/rp"
is "$(cat "$T/rp")" "Return-Path: <>" "stored with the null sender"
cat >"$T/parse.py" <<'PY'
import email, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.compat32)
out = []
out.append("type=" + m.get_content_type())
out.append("report-type=" + str(m.get_param("report-type")))
parts = m.get_payload()
out.append("parts=" + ",".join(p.get_content_type() for p in parts))
ds = parts[1].get_payload()          # message/delivery-status: a list of header blocks
out.append("blocks=%d" % len(ds))
for b in ds[1:]:
    for k in ("Final-Recipient", "Action", "Status", "Remote-MTA", "Diagnostic-Code",
              "Last-Attempt-Date"):
        out.append("%s=%s" % (k, " ".join(str(b.get(k, "")).split())))
out.append("reporting=" + str(ds[0].get("Reporting-MTA")))
orig = parts[2].get_payload()
out.append("orig-subject=" + ("yes" if "Subject: " + sys.argv[2] in orig else "no"))
out.append("orig-body=" + ("yes" if "body of" in orig else "no"))
out.append("defects=%d" % len(m.defects))
print("\n".join(out))
PY
R=$($PY "$T/parse.py" "$F" mixed)
like "$R" '^type=multipart/report$' "Python: multipart/report"
like "$R" '^report-type=delivery-status$' "Python: report-type=delivery-status"
like "$R" '^parts=text/plain,message/delivery-status,text/rfc822-headers$' "Python: the three parts"
like "$R" '^blocks=2$' "Python: one per-message block and one recipient block"
like "$R" '^Final-Recipient=rfc822; m1@far.test$' "Final-Recipient is the failed one"
unlike "$R" 'm2@far\.test' "the delivered one is not reported"
like "$R" '^Action=failed$' "Action: failed"
like "$R" '^Status=5\.1\.1$' "Status from the enhanced code"
like "$R" '^Remote-MTA=dns; mx\.far\.test$' "Remote-MTA"
like "$R" '^Diagnostic-Code=smtp; 550 5\.1\.1 no such user here$' "Diagnostic-Code"
like "$R" '^Last-Attempt-Date=[A-Z][a-z][a-z], [0-9]+ [A-Z][a-z][a-z] 20[0-9][0-9] ' "Last-Attempt-Date"
like "$R" '^reporting=dns; mx\.example\.test$' "Reporting-MTA"
like "$R" '^orig-subject=yes$' "original header attached"
like "$R" '^orig-body=no$' "original body not attached"
like "$R" '^defects=0$' "no MIME defects"

# ---- permanent failure of a foreign sender: DSN queued with <> and sent by --mx
enqueue you@other.test perm p1@far.test
$RUN 2>"$T/err"
like "$(cat "$T/err")" 'DSN to <you@other\.test> queued as' "DSN queued for a foreign sender"
is "$(arrived you@other.test)" 1 "the DSN went out in the same run"
E=$(grep -lx you@other.test "$T"/s/*.env)
is "$(head -1 "$E")" "<>" "sent with the null sender (MAIL FROM:<>)"
like "$(cat "${E%.env}.eml")" 'report-type=delivery-status' "it is the report"
is "$(bp 'len(d)')" 0 "both jobs removed"
is "$(dsns)" 1 "nothing in our Maildir for a foreign sender"

# ---- expiry after 5 days: one last attempt, then a DSN (4.4.7)
enqueue me@example.test expire e1@far.test
$RUN 2>/dev/null
is "$(bp 'd[0]["recipients"][0]["state"]')" pending "expiring job: deferred"
$RUN --at +4d 2>/dev/null
is "$(tries e1@far.test)" 2 "retried at +4 days"
is "$(bp 'len(d)')" 1 "still queued at +4 days"
is "$(dsns)" 1 "no DSN yet"
$RUN --at +121h 2>"$T/err"
is "$?" 0 "expiry: exit 0"
is "$(tries e1@far.test)" 3 "one last attempt before giving up"
like "$(cat "$T/err")" 'e1@far\.test>: expired after 5 days: 451' "says expired and the last error"
is "$(bp 'len(d)')" 0 "expired job removed"
is "$(dsns)" 2 "DSN for the expired message"
F=$(grep -l 'Subject: expire' $(mlist "$MD"))
R=$($PY "$T/parse.py" "$F" expire)
like "$R" '^Final-Recipient=rfc822; e1@far.test$' "expired: its recipient"
like "$R" '^Action=failed$' "expired: Action failed"
like "$R" '^Status=4\.4\.7$' "expired: Status 4.4.7"
like "$R" '^Diagnostic-Code=smtp; 451 4\.3\.0 try later$' "expired: the last answer"

# ---- a null-sender message failing: no DSN
mm-send -odq --no-sign --queue "$Q" -f '<>' -- n1@far.test 2>/dev/null <<'M'
From: MAILER-DAEMON@example.test
To: n1@far.test
Subject: a bounce

bounce
M
is "$(bp 'd[0]["from"]')" "" "queued with the null sender"
n_before=$(ls "$T"/s/*.env | wc -l)
$RUN 2>"$T/err"
like "$(cat "$T/err")" 'null sender: no DSN' "says no DSN"
is "$(bp 'len(d)')" 0 "job removed"
is "$(dsns)" 2 "no DSN in the Maildir"
is "$(ls "$T"/s/*.env | wc -l)" "$n_before" "no DSN sent anywhere"

# ---- -qIID runs that job only
enqueue me@example.test only1 o1@far.test
enqueue me@example.test only2 o2@far.test
ID2=$(bp '[j["id"] for j in d if j["recipients"][0]["address"] == "o2@far.test"][0]')
$RUN -qI"$ID2" 2>/dev/null
is "$(arrived o2@far.test) $(arrived o1@far.test)" "1 0" "-qI: only the named job ran"
$RUN 2>/dev/null
is "$(arrived o1@far.test) $(bp 'len(d)')" "1 0" "the other one on the next run"

# ---- a corrupt envelope: reported, kept; the other jobs still run
enqueue me@example.test bad g0@far.test
enqueue me@example.test good g1@far.test
ID=$(bp 'd[0]["id"]')
printf 'mm-queue 1\nid %s\nrcpt pending g0@far.test\nrcpt-mta bad\rhost\n' "$ID" >"$Q/env/$ID"
cp "$Q/env/$ID" "$T/corrupt"
$RUN 2>"$T/err"
is "$?" 65 "corrupt envelope: EX_DATAERR"
like "$(cat "$T/err")" "$ID: corrupt envelope, job left in place" "reported with its id"
ok "envelope kept as it was" cmp -s "$Q/env/$ID" "$T/corrupt"
ok "message kept" test -s "$Q/msg/$ID"
is "$(arrived g1@far.test)" 1 "the good job was delivered anyway"
is "$(arrived g0@far.test)" 0 "the corrupt one was not"
like "$(mm-send --queue "$Q" -bp 2>/dev/null)" "$ID +\(unreadable: " "-bp lists it as unreadable"
is "$(bp 'd[0]["id"] + " " + str("error" in d[0])')" "$ID True" "-bp --json gives its error"
$RUN 2>/dev/null
is "$?" 65 "still reported on the next run"
ok "and still kept" cmp -s "$Q/env/$ID" "$T/corrupt"
# an envelope whose message is gone
enqueue me@example.test lost l1@far.test
LID=$(bp '[j["id"] for j in d if "error" not in j][0]')
rm "$Q/msg/$LID"
$RUN 2>"$T/err"
is "$?" 65 "envelope without message: EX_DATAERR"
like "$(cat "$T/err")" "$LID: envelope without a message, left in place" "reported"
ok "its envelope kept" test -s "$Q/env/$LID"
done_testing
