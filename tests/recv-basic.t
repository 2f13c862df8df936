#!/bin/sh
# mm-recv: ordinary deliveries seen by real peers (swaks, Python smtplib)
# and read back by an independent Maildir reader (mblaze).
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"

out=$(swaks --pipe "$RECV" --from a@other.net --to Me@Example.ORG --h-Subject "first" 2>&1)
like "$out" '<-  250 2.0.0 delivered to 1 mailbox' "swaks: 250 after delivery"
like "$out" '250-PIPELINING' "EHLO offers PIPELINING"
like "$out" '250-SIZE 52428800' "EHLO announces SIZE (50 MiB default)"
like "$out" '250-8BITMIME' "8BITMIME"
like "$out" '250-SMTPUTF8' "SMTPUTF8"
like "$out" '250-ENHANCEDSTATUSCODES' "ENHANCEDSTATUSCODES"
unlike "$out" '250-(CHUNKING|DSN|AUTH|STARTTLS)' "no CHUNKING, DSN, AUTH; no STARTTLS without a certificate"
is "$(nnew example.org/me)" 1 "uppercase address reaches the lowercase mailbox"
is "$(ntmp example.org/me)" 0 "tmp/ is empty after delivery"
f=$(find "$ROOT/example.org/me/new" -type f)
like "$(basename "$f")" '^[0-9]+\.M[0-9]{6}P[0-9]+Q[0-9]+R[0-9a-f]{16}\.mx\.example\.org,S=[0-9]+$' "unique Maildir name with ,S=size"
is "${f##*,S=}" "$(wc -c <"$f" | tr -d ' ')" "S= is the file size"
is "$(head -n 1 "$f")" "Return-Path: <a@other.net>" "Return-Path: first"
like "$(sed -n 2p "$f")" '^Delivered-To: me@example.org$' "Delivered-To: lowercase address"
like "$(cat "$f")" 'by mx.example.org \(mm-recv\) with ESMTP id' "Received: with ESMTP"
if grep -q "$(printf '\r')" "$f"; then r=1; else r=0; fi
is "$r" 0 "stored with LF line ends"
is "$(stat -c %a "$f")" 600 "message file mode 0600"
is "$(stat -c %a "$ROOT/example.org/me/new")" 700 "created Maildir folders mode 0700"
is "$(mlist "$ROOT/example.org/me" | wc -l | tr -d ' ')" 1 "mblaze mlist sees the message"
like "$(mshow -q "$f" 2>&1; mshow -H "$f" 2>/dev/null)" 'Subject: first' "mblaze reads the header"

# suffix folder, postmaster, several recipients, duplicates once
out=$(swaks --pipe "$RECV" --from '<>' --h-From 'MAILER-DAEMON@other.net' --to me+sub@example.org,POSTMASTER@example.org,you@example.org,me+sub@example.org 2>&1)
like "$out" '250 2.0.0 delivered to 3 mailboxes' "three mailboxes, duplicate recipient delivered once"
is "$(nnew example.org/me/sub)" 1 "suffix folder me/sub"
is "$(nnew example.org/postmaster)" 1 "postmaster"
is "$(nnew example.org/you)" 1 "second recipient"
like "$(cat "$ROOT"/example.org/you/new/*)" 'Return-Path: <>' "null sender kept as <>"

# 8-bit content (8BITMIME, SMTPUTF8) is stored byte for byte
printf '%s\n' '(b"EHLO c.example.net\r\n", 1)' '(b"MAIL FROM:<a@other.net> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<you@example.org>\r\n", 2)' \
	'(b"DATA\r\n", 1)' '(b"Subject: caf\xc3\xa9\r\n\r\n\xe2\x82\xac 5\r\n.\r\n", 1)' '(b"QUIT\r\n", 1)' | raw >"$T/out8"
like "$(cat "$T/out8")" '250 2.0.0 delivered' "BODY=8BITMIME SMTPUTF8: delivered"
f=$(ls -t "$ROOT"/example.org/you/new/* | head -n 1)
is "$(grep '^Subject' "$f" | od -An -tx1 | tr -d ' \n')" "5375626a6563743a20636166c3a90a" "UTF-8 header stored byte for byte"
is "$(tail -n 1 "$f" | od -An -tx1 | tr -d ' \n')" "e282ac20350a" "UTF-8 body stored byte for byte"
like "$(cat "$f")" 'with UTF8SMTP id' "Received: says UTF8SMTP"
rm -f "$f"

# suffix separators: "/" is a default one too; --suffix-sep replaces the set
swaks --pipe "$RECV" --from a@other.net --to me/sub@example.org >/dev/null 2>&1
is "$(nnew example.org/me/sub)" 2 "me/sub@ (a default separator) reaches me/sub/"
swaks --pipe "$RECV --suffix-sep -" --from a@other.net --to me-sub@example.org >/dev/null 2>&1
is "$(nnew example.org/me/sub)" 3 "--suffix-sep -: me-sub@ reaches me/sub/"
out=$(swaks --pipe "$RECV --suffix-sep -" --from a@other.net --to me+sub@example.org --quit-after RCPT 2>&1)
like "$out" '553 5.1.3 <me\+sub@example.org>' "--suffix-sep -: + is no longer a separator (and not a mailbox character)"
out=$(mm-recv --suffix-sep x 2>&1); rc=$?
is "$rc" 64 "--suffix-sep with a letter: usage error"

# refusals say why
out=$(swaks --pipe "$RECV" --from a@other.net --to nobody@example.org --quit-after RCPT 2>&1)
like "$out" '550 5.1.1 <nobody@example.org>: no such mailbox' "unknown mailbox: 550 5.1.1 with the reason"
out=$(swaks --pipe "$RECV" --from a@other.net --to me+nope@example.org --quit-after RCPT 2>&1)
like "$out" '550 5.1.1 <me\+nope@example.org>: no such mailbox' "missing suffix folder: 550"
out=$(swaks --pipe "$RECV" --from a@other.net --to me@elsewhere.net --quit-after RCPT 2>&1)
like "$out" '550 5.7.1 <me@elsewhere.net>: relaying denied' "not our domain: relaying denied"
rm -r "$ROOT/example.org/postmaster"
out=$(swaks --pipe "$RECV" --from a@other.net --to postmaster@example.org --quit-after RCPT 2>&1)
like "$out" '451 4.3.0 <postmaster@example.org>: postmaster mailbox not set up' "postmaster folder missing: 451, never lost"
like "$out" 'postmaster/ is missing: create it' "and logged loudly"

# Python smtplib: two messages on one connection, VRFY, HELP, NOOP
out=$($PY - "$RECV" 2>/dev/null <<'PY'
import smtplib, subprocess, sys, socket
class P(smtplib.SMTP):
    def _get_socket(self, host, port, timeout):
        a, b = socket.socketpair()
        self.proc = subprocess.Popen(sys.argv[1].split(), stdin=b.fileno(), stdout=b.fileno())
        b.close()
        return a
s = P()
s.connect("x", 25)
s.ehlo("client.example.net")
print(s.verify("me@example.org"))
print(s.docmd("HELP"))
print(s.noop())
for i in range(2):
    print(s.sendmail("a@other.net", ["him@example.org"], "Subject: py %d\r\n\r\nbody\r\n" % i))
print(s.quit())
PY
)
like "$out" "252, b'2.5.0" "VRFY: 252"
like "$out" "214, b'2.0.0 commands" "HELP: 214"
is "$(nnew example.org/him)" 2 "smtplib: two messages on one connection"
like "$out" "221, b'2.0.0" "QUIT: 221"
# --umask 007 with a setgid group folder: the group can read (several users)
mkdir -p "$ROOT/example.org/grp"
[ "$(id -u)" = 0 ] && chown nobody "$ROOT/example.org/grp"
chmod 2770 "$ROOT/example.org/grp"
swaks --pipe "$RECV --umask 007" --from a@other.net --to grp@example.org >/dev/null 2>&1
f=$(find "$ROOT/example.org/grp/new" -type f)
is "$(stat -c %a "$f")" 660 "--umask 007: message 0660"
is "$(stat -c %a "$ROOT/example.org/grp/new")" 2770 "--umask 007: new/ 2770, group inherited"
done_testing
