#!/bin/sh
# mm-send --via 'ssh -F CONFIG host ...' through a real sshd on loopback.
# The key is pinned by a forced command in authorized_keys to a scripted
# SMTP peer (tests/smtp-peer.py), the way a VPS pins it to
# "mm-recv --submit".  The message must arrive signed (dkimpy verifies it
# against the record mm-keygen printed, served by nsd) and byte for byte
# as mm-send signed it; an ssh that cannot log in or cannot connect must
# leave the message queued (exit 0, "queued"), and -q then delivers it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshd.sh"
need nsd dig:dnsutils
export HOME=$T/home
mkdir -p "$HOME" "$T/zones"
K=$T/keys
{
	cat "$MM_TOP/tests/zones/example.test.zone"
	mm-keygen --keys "$K" me@example.test
	mm-keygen -t ed25519 -s me-ed --keys "$K" me@example.test
} >"$T/zones/example.test.zone" 2>/dev/null
start_nsd example.test
start_sshd

# The forced command is the SMTP peer; whatever command the client asks
# for ("mm-recv --submit") is ignored by sshd, as on the real VPS.
OUT=$T/out
mkdir -p "$OUT"
ssh-keygen -q -t ed25519 -N '' -f "$T/send_key"
printf 'command="%s %s %s",restrict %s\n' "$PY" "$MM_TOP/tests/smtp-peer.py" "$OUT" \
	"$(cat "$T/send_key.pub")" >>"$SSHD_DIR/authorized_keys"
ssh-keygen -q -t ed25519 -N '' -f "$T/stranger_key"   # not authorized

# ssh_config FILE PORT KEY: a client config for the host alias "vps"
ssh_config() {
	cat >"$1" <<CONF
Host vps
	HostName 127.0.0.1
	Port $2
	IdentityFile $3
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	BatchMode yes
	LogLevel ERROR
	ConnectTimeout 10
CONF
}
# a directory with a space: the --via command is split without a shell,
# and '...' keeps a word together
mkdir -p "$T/ssh dir"
GOOD="$T/ssh dir/good"
ssh_config "$GOOD" "$SSHD_PORT" "$T/send_key"
ssh_config "$T/wrongkey" "$SSHD_PORT" "$T/stranger_key"
ssh_config "$T/down" "$(free_port)" "$T/send_key"

Q=$T/queue
count() { ls "$OUT" | grep -c '\.eml$'; }
msg() { printf 'From: Me <me@example.test>\nTo: you@example.org\nSubject: %s\n\nline one\n.dot line\n\303\274ber 8-bit\n' "$1"; }

msg "over ssh" | mm-send --keys "$K" --queue "$Q" --via "ssh -F '$GOOD' vps mm-recv --submit" \
	you@example.org 2>"$T/err"
is "$?" 0 "--via ssh -F CONFIG vps: exit 0"
is "$(cat "$T/err")" "" "nothing on stderr"
is "$(count)" 1 "the peer behind sshd stored one message"
M=$OUT/0.eml
is "$(head -2 "$OUT/0.env" | tr '\n' ' ')" "<me@example.test> <you@example.org> " "envelope sender and recipient"
v=$($PY "$MM_TOP/tests/dkim-verify.py" "$M" 127.0.0.1 "$NSD_PORT" 2>&1)
is "$?" 0 "dkimpy verifies what came through ssh"
is "$(printf '%s\n' "$v" | grep -c ' pass$')" 2 "both signatures (rsa, ed25519) pass"
# intact: the body as written, CRLF, dot line unstuffed, 8-bit kept
printf 'line one\r\n.dot line\r\n\303\274ber 8-bit\r\n' >"$T/want-body"
sed '1,/^\r$/d' "$M" >"$T/got-body"
ok "body arrived byte for byte" cmp -s "$T/want-body" "$T/got-body"
is "$(mm-send --queue "$Q" -bp)" "Mail queue is empty" "nothing queued"

# ssh cannot log in (a key the server does not know): queued, exit 0
msg "wrong key" | mm-send --keys "$K" --queue "$Q" --via "ssh -F $T/wrongkey vps mm-recv --submit" \
	you@example.org 2>"$T/err"
is "$?" 0 "wrong ssh key: exit 0"
like "$(cat "$T/err")" 'queued as [0-9a-f.]+ \(1 recipient\)' "wrong ssh key: says queued"
is "$(count)" 1 "wrong ssh key: nothing arrived"

# the host is down (nothing listens): queued, exit 0
msg "host down" | mm-send --keys "$K" --queue "$Q" --via "ssh -F $T/down vps mm-recv --submit" \
	you@example.org 2>"$T/err"
is "$?" 0 "host down: exit 0"
like "$(cat "$T/err")" 'queued as [0-9a-f.]+ \(1 recipient\)' "host down: says queued"
is "$(mm-send --queue "$Q" -bp --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" 2 "two jobs queued"

# the ssh path works again: -q delivers both, signed once before queueing
mm-send --keys "$K" --queue "$Q" --via "ssh -F '$GOOD' vps mm-recv --submit" -q --now 2>"$T/err"
is "$?" 0 "-q over ssh: exit 0"
is "$(count)" 3 "-q delivered both queued messages"
for i in 1 2; do
	v=$($PY "$MM_TOP/tests/dkim-verify.py" "$OUT/$i.eml" 127.0.0.1 "$NSD_PORT" 2>&1)
	is "$?" 0 "queued message $i still verifies after the queue"
	is "$(grep -c '^DKIM-Signature:' "$OUT/$i.eml")" 2 "queued message $i: signed once (two signatures, not four)"
done
is "$(mm-send --queue "$Q" -bp)" "Mail queue is empty" "queue empty afterwards"

# an unterminated quote in --via is a configuration error, not a shell's guess
msg "bad quote" | mm-send --keys "$K" --queue "$Q" --via "ssh -F '$GOOD vps" you@example.org 2>"$T/err"
is "$?" 78 "unterminated quote in --via: EX_CONFIG"
like "$(cat "$T/err")" "^mm-send: --via .*: .*quote" "says what is wrong with it"
is "$(count)" 3 "unterminated quote: nothing sent"
done_testing
