#!/bin/sh
# mm-send as sendmail: the flag sets real callers use (cronie, Debian cron,
# PHP/mutt, git send-email), the real clients themselves (git send-email,
# mutt, bsd-mailx), attached option forms, -F quoting, and the argument
# safety rules (CVE-2016-10033 style injections refused, no file made).
. "$(dirname "$0")/lib.sh"
need git mutt bsd-mailx
git send-email -h >/dev/null 2>&1; [ $? = 129 ] || git send-email -h 2>&1 | grep -q sendmail-cmd || bail "git send-email missing: install git-email (scripts/install-deps)"
perl -MMail::Address -e1 2>/dev/null || bail "git send-email needs Mail::Address: install libmailtools-perl (scripts/install-deps)"
export HOME=$T/home
mkdir -p "$HOME/.config/mm"
K=$T/keys
OUT=$T/out
mkdir -p "$OUT"
for a in me root; do mm-keygen -t ed25519 --keys "$K" "$a@example.test" >/dev/null 2>&1; done
# the config file carries the transport, so plain "mm-send" works for clients
cat >"$HOME/.config/mm/send.conf" <<C
# test config
keys $K
queue $T/q
domain example.test
via $PY $MM_TOP/tests/smtp-peer.py $OUT
C
n=0
# last: the newest stored message ($M) and its envelope ($E)
last() { n=$(ls "$OUT" | grep -c '\.eml$'); M=$OUT/$((n - 1)).eml; E=$OUT/$((n - 1)).env; }
cronmsg() { printf 'To: root\nSubject: Cron <root@host> true\n\noutput\n'; }

# cronie
cronmsg | mm-send -FCronDaemon -i -odi -oem -oi -t -f root 2>"$T/err"
is "$?" 0 "cronie flags: -FCronDaemon -i -odi -oem -oi -t -f root"
last
like "$(grep '^From:' "$M" | tr -d '\r')" '^From: CronDaemon <root@example\.test>$' "cronie: From from -F and -f, qualified"
is "$(head -1 "$E")" "<root@example.test>" "cronie: envelope sender"
is "$(sed -n 2p "$E")" "<root@example.test>" "cronie: To: root qualified with --domain"
ok "cronie: signed" grep -q '^DKIM-Signature:' "$M"

# Debian cron
printf 'From: root@example.test\nTo: root\nSubject: cron\n\nout\n' | mm-send -FCronDaemon -i -B8BITMIME -oem root 2>"$T/err"
is "$?" 0 "Debian cron flags: -FCronDaemon -i -B8BITMIME -oem root"
last
is "$(sed -n 2p "$E")" "<root@example.test>" "Debian cron: recipient root qualified"

# PHP mail() / mutt style
printf 'From: me@example.test\nTo: a@example.org\nCc: b@example.org\nSubject: php\n\nx\n' | mm-send -t -i 2>"$T/err"
is "$?" 0 "-t -i"
last
is "$(tail -n +2 "$E" | tr '\n' ' ')" "<a@example.org> <b@example.org> " "-t -i: To and Cc"

printf 'From: me@example.test\nSubject: oi\n\nx\n' | mm-send -oi -oem a@example.org 2>"$T/err"
is "$?" 0 "-oi -oem ADDR"
last

# attached forms, -r, unknown -oX, -V/-N/-R accepted
printf 'Subject: att\n\nx\n' | mm-send -fme@example.test -FMe -oXunknown -Nnever -Rhdrs -Venvid -- a@example.org 2>"$T/err"
is "$?" 0 "attached -f/-F, unknown -oX, -N, -R, -V accepted"
last
like "$(grep '^From:' "$M" | tr -d '\r')" '^From: Me <me@example\.test>$' "attached -FMe -fme@..."
# -bm delivers; -B in the separate form; a body type sendmail does not know
printf 'From: me@example.test\nSubject: bm\n\nx\n' | mm-send -bm -B 7BIT a@example.org 2>"$T/err"
is "$?" 0 "-bm -B 7BIT"
last
ok "-bm: delivered" grep -q '^Subject: bm' "$M"
printf 'From: me@example.test\nSubject: bx\n\nx\n' | mm-send -B BINARYMIME a@example.org 2>"$T/err"
is "$?" 64 "-B BINARYMIME refused: EX_USAGE"
# -odq queues without trying; -q30m (the interval is cron's) delivers it
before=$(ls "$OUT" | grep -c eml)
printf 'From: me@example.test\nSubject: odq\n\nx\n' | mm-send -odq a@example.org 2>"$T/err"
is "$?" 0 "-odq: exit 0"
like "$(cat "$T/err")" 'queued as' "-odq: says queued"
is "$(ls "$OUT" | grep -c eml)" "$before" "-odq: nothing sent yet"
mm-send -q30m --now 2>"$T/err"
is "$?" 0 "-q30m: exit 0"
last
ok "-q30m delivered the -odq message" grep -q '^Subject: odq' "$M"
ok "it was signed before it was queued" grep -q '^DKIM-Signature:' "$M"
printf 'Subject: r\n\nx\n' | mm-send -r me@example.test a@example.org 2>/dev/null
is "$?" 0 "-r is -f"
last
is "$(head -1 "$E")" "<me@example.test>" "-r sets the envelope sender"

# -F with a comma and quotes is quoted properly
printf 'Subject: q\n\nx\n' | mm-send -f me@example.test -F 'Doe, "J" Jr' a@example.org 2>/dev/null
last
is "$(grep '^From:' "$M" | tr -d '\r')" 'From: "Doe, \"J\" Jr" <me@example.test>' "-F quoted"
ok "-F quoted display name parses (python email)" $PY -c '
import email.utils, sys
n, a = email.utils.parseaddr(open(sys.argv[1], newline="").read().split("\nFrom: ")[1].split("\r\n")[0])
assert n == "Doe, \"J\" Jr" and a == "me@example.test", (n, a)' "$M"

# -t plus arguments: as sendmail, argument addresses are left out
printf 'From: me@example.test\nTo: a@example.org, b@example.org\n\nx\n' | mm-send -t b@example.org 2>/dev/null
last
is "$(tail -n +2 "$E" | tr '\n' ' ')" "<a@example.org> " "-t with arguments: those are excluded (sendmail)"

# -v shows the dialogue
printf 'From: me@example.test\n\nx\n' | mm-send -v a@example.org 2>"$T/err"
last
like "$(cat "$T/err")" '^-> RCPT TO:<a@example\.org>' "-v shows the SMTP dialogue"

# the command line wins over the config file
mkdir -p "$T/out2"
printf 'From: me@example.test\n\nx\n' | mm-send --via "$PY $MM_TOP/tests/smtp-peer.py $T/out2" a@example.org 2>/dev/null
is "$(ls "$T/out2" | grep -c eml)" 1 "--via on the command line overrides the config"

before=$(ls "$OUT" | grep -c eml)
# safety: nothing that looks like an option becomes an address
printf 'Subject: x\n\nx\n' | mm-send -f '-X/tmp/x' a@example.org 2>"$T/err"
is "$?" 64 "-f '-X...' refused"
printf 'Subject: x\n\nx\n' | mm-send -f "-X$T/x1" a@example.org 2>/dev/null
printf 'From: me@example.test\n\nx\n' | mm-send a@example.org "-oQ$T/x2" 2>"$T/err"
is "$?" 64 "recipient -oQ... refused"
like "$(cat "$T/err")" "may not start with '-'" "says why"
printf 'From: me@example.test\n\nx\n' | mm-send -- "-oQ$T/x3" 2>/dev/null
is "$?" 64 "after --, -oQ... still refused"
printf 'From: me@example.test\nTo: -oQ/tmp/x@example.org\n\nx\n' | mm-send -t 2>/dev/null
is "$?" 65 "an option-like address in To: refused"
ok "no file was created" test ! -e "$T/x1" -a ! -e "$T/x2" -a ! -e "$T/x3"
printf 'x\n' | mm-send -bs 2>/dev/null
is "$?" 64 "-bs (SMTP on stdin) not supported: EX_USAGE"
printf 'From: me@example.test\n\nx\n' | mm-send 2>/dev/null
is "$?" 64 "no recipients: EX_USAGE"
printf 'From: me@example.test\n\nx\n' | mm-send -Z a@example.org 2>/dev/null
is "$?" 64 "unknown option: EX_USAGE"
last
is "$n" "$before" "nothing was sent by the refused calls"

# git send-email
G=$T/repo
git init -q "$G"
echo hello >"$G/file"
git -C "$G" add file
git -C "$G" -c user.name=Me -c user.email=me@example.test commit -q -m 'a patch'
git -C "$G" format-patch -q -1 -o "$T/patches" >/dev/null
git -C "$G" -c user.name=Me -c user.email=me@example.test send-email --quiet --confirm=never \
	--suppress-cc=all --sendmail-cmd="mm-send" --from="Me <me@example.test>" \
	--to=list@example.org "$T"/patches/*.patch >"$T/git.out" 2>&1
is "$?" 0 "git send-email --sendmail-cmd=mm-send"
last
is "$(sed -n 2p "$E")" "<list@example.org>" "git send-email: recipient"
ok "git send-email: signed" grep -q '^DKIM-Signature:' "$M"
ok "git send-email: patch subject" grep -q '^Subject: \[PATCH\] a patch' "$M"

# mutt in batch mode
cat >"$T/muttrc" <<R
set sendmail="$MM_BIN/mm-send"
set from="me@example.test"
set use_from=yes
set record=""
set folder="$T"
set spoolfile="$T/spool"
R
echo "hello from mutt" | mutt -n -F "$T/muttrc" -s "mutt test" m@example.org >/dev/null 2>&1
is "$?" 0 "mutt -s ... (batch)"
last
is "$(sed -n 2p "$E")" "<m@example.org>" "mutt: recipient"
ok "mutt: subject" grep -q '^Subject: mutt test' "$M"
ok "mutt: signed" grep -q '^DKIM-Signature:' "$M"

# bsd-mailx with sendmail set in its rc file
printf 'set sendmail=%s/mm-send\n' "$MM_BIN" >"$T/mailrc"
echo "hello from mailx" | MAILRC=$T/mailrc bsd-mailx -s "mailx test" -a "From: me@example.test" x@example.org >/dev/null 2>&1
is "$?" 0 "bsd-mailx -s"
last
is "$(sed -n 2p "$E")" "<x@example.org>" "mailx: recipient"
ok "mailx: signed" grep -q '^DKIM-Signature:' "$M"
done_testing
