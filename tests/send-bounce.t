#!/bin/sh
# A bounce on the laptop: with a client transport (--via, --relay) the
# queue run cannot send a DSN back out (mm-recv --submit refuses the null
# sender), so the user learns here: into --bounce-maildir when set (read
# back with mblaze and Python's email module), else on stderr with exit
# 69; a report that cannot be written keeps the job, listed by -bp as
# failed and not reported, until a later run reports it.  The peer is the
# scripted SMTP server on a pipe, answering 550 to every recipient.
. "$(dirname "$0")/lib.sh"
need mlist:mblaze mshow:mblaze
export HOME=$T/home MM_SEND_SYSTEM_CONF=
mkdir -p "$HOME"
K=$T/keys
mm-keygen -t ed25519 --keys "$K" me@example.test >/dev/null 2>&1 || bail "mm-keygen"
Q=$T/q
PEER="$PY $MM_TOP/tests/smtp-peer.py"
RUN="mm-send -q --keys $K --queue $Q --via"
# queue SUBJECT: a signed message for you@example.org, kept in the queue
queue() {
	printf 'From: me@example.test\nTo: you@example.org\nSubject: %s\n\nbody of %s\n' "$1" "$1" |
		mm-send --keys "$K" --queue "$Q" -odq you@example.org 2>/dev/null
}
jobs() { ls "$Q/env" 2>/dev/null | wc -l | tr -d ' '; }
sent() { ls "$1" 2>/dev/null | grep -c '\.eml$'; }

# ---- no --bounce-maildir: stderr and exit 69 -------------------------------
queue first
is "$(jobs)" 1 "a message waits in the laptop's queue"
$RUN "$PEER $T/o1 --rcpt-code 550" 2>"$T/err"
is "$?" 69 "the queue run exits 69 (EX_UNAVAILABLE): cron mails what it said"
like "$(cat "$T/err")" 'BOUNCED: your message to <you@example.org> \(Subject: first; queued [A-Z][a-z][a-z], [0-9]' \
	"stderr names the recipient, the Subject and when it was queued"
like "$(cat "$T/err")" 'was not delivered: 550 rcpt refused' "and the relay's answer"
is "$(jobs)" 0 "reported: the job is gone, no DSN job queued to the relay"
is "$(sent "$T/o1")" 0 "nothing was sent back through the transport"
$RUN "$PEER $T/o1 --rcpt-code 550" 2>"$T/err"
is "$?" 0 "the next run has nothing to say"

# ---- the report cannot be written: the job stays until it can --------------
queue second
$RUN "$PEER $T/o2 --rcpt-code 550" 2>/dev/full
is "$?" 74 "stderr full: the run fails (74)"
is "$(jobs)" 1 "the job stays"
like "$(mm-send --queue "$Q" -bp 2>/dev/null)" 'you@example.org \(failed, not reported yet\)' \
	"-bp lists it as failed and not reported"
$RUN "$PEER $T/o2 --rcpt-code 550" 2>"$T/err"
is "$?" 69 "the next run reports it"
like "$(cat "$T/err")" 'BOUNCED: your message to <you@example.org> \(Subject: second;' "with its Subject"
is "$(jobs)" 0 "and then the job is gone"
is "$(sent "$T/o2")" 0 "the relay was asked once, not again for the report"

# ---- --bounce-maildir (in send.conf, as a user sets it): the DSN as mail ----
mkdir -p "$HOME/.config/mm" "$T/Maildir"
printf 'bounce-maildir %s\n' "$T/Maildir" >"$HOME/.config/mm/send.conf"
queue third
$RUN "$PEER $T/o3 --rcpt-code 550" 2>"$T/err"
is "$?" 0 "with a Maildir for bounces the run exits 0"
like "$(cat "$T/err")" "DSN delivered to $T/Maildir" "and says where the report went"
unlike "$(cat "$T/err")" 'BOUNCED' "nothing to shout about on stderr"
is "$(jobs)" 0 "the job is gone"
is "$(mlist "$T/Maildir" 2>/dev/null | wc -l | tr -d ' ')" 1 "one report in the Maildir (tmp/ new/ cur/ made)"
F=$(ls "$T"/Maildir/new/*)
like "$(mshow -q -h subject "$F" 2>/dev/null)" 'Subject: .*Undelivered|Subject: .*[Ff]ailure|Subject: .*[Dd]elivery' "mblaze reads a delivery report"
out=$($PY - "$F" <<'PY'
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
parts = [p.get_content_type() for p in m.walk()]
st = [p for p in m.walk() if p.get_content_type() == "message/delivery-status"][0]
hdrs = [p for p in m.walk() if p.get_content_type() == "text/rfc822-headers"][0]
blocks = st.get_payload()
print(m.get_content_type(), m["Return-Path"], m["To"])
print(" ".join(b.get("Final-Recipient", "") + "|" + b.get("Status", "") for b in blocks))
print("subject-kept" if b"Subject: third" in hdrs.get_payload(decode=True) else "subject-lost")
PY
)
like "$out" '^multipart/report <> <me@example.test>' "a multipart/report, null Return-Path, to the sender"
like "$out" 'rfc822; ?you@example.org\|5\.0\.0' "the failed recipient with its status"
like "$out" 'subject-kept' "the original header attached"

# ---- the Maildir cannot take it: stderr instead ------------------------------
queue fourth
$RUN "$PEER $T/o4 --rcpt-code 550" --bounce-maildir "$T/none" 2>"$T/err"
is "$?" 69 "a missing bounce Maildir: exit 69"
like "$(cat "$T/err")" "DSN not delivered to $T/none" "says why the Maildir did not take it"
like "$(cat "$T/err")" 'BOUNCED: your message to <you@example.org> \(Subject: fourth;' "and reports the bounce on stderr"
is "$(jobs)" 0 "reported: the job is gone"
done_testing
