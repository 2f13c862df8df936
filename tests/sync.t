#!/bin/sh
# mm-sync end to end: over a real sshd on loopback and over a plain pipe;
# nested folders, flags, empty and 10 MiB messages, odd names, tmp/ left
# alone, -n, -k, rerun idempotence, conflicts, two sources, mblaze reads
# the result, and the local checks that come before anything is deleted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshd.sh"
need mlist:mblaze sha256sum:coreutils

start_sshd
SYNC=$MM_BIN/mm-sync
PIPE=$T/pipe.sh
printf '#!/bin/sh\nshift\nexec sh -c "$*"\n' >"$PIPE"
chmod +x "$PIPE"

# sums DIR: "sha256  relative path" of every message (new/ and cur/ files).
sums() {
	(cd "$1" && find . -type f \( -path '*/new/*' -o -path '*/cur/*' \) -print0 |
		xargs -0r sha256sum | sort -k2)
}
count() { # messages under DIR
	find "$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l | tr -d ' '
}
maildir() { mkdir -p "$1/tmp" "$1/new" "$1/cur"; }

R=$T/remote
maildir "$R"
maildir "$R/.Lists"
maildir "$R/.Lists.Debian"
maildir "$R/Archive/2024"
printf 'From: a@b\nSubject: one\n\nbody\n' >"$R/new/1700000000.M1P1.vps"
printf 'From: a@b\nSubject: seen\n\nbody\n' >"$R/cur/1700000001.M2P1.vps:2,S"
: >"$R/cur/1700000002.empty.vps:2,"
head -c 10485760 /dev/urandom >"$R/.Lists/new/1700000003.big.vps"
printf 'From: c@d\nSubject: spaces\n\nx\n' >"$R/.Lists/cur/17 with spaces, and=odd+chars~:2,RS"
printf 'From: e@f\nSubject: deb\n\ny\n' >"$R/.Lists.Debian/new/1700000004.M4.vps"
printf 'From: g@h\nSubject: deep\n\nz\n' >"$R/Archive/2024/cur/1700000005.M5.vps:2,FS"
printf 'From: i@j\nSubject: utf8 \303\251\n\nz\n' >"$R/new/caf$(printf '\303\251').M6"
printf 'half a message' >"$R/tmp/1700000009.partial.vps"
ORIG=$(sums "$R")
NMSG=$(count "$R")
is "$NMSG" 8 "fixture has 8 messages"

L=$T/local
maildir "$L"

# -n: lists, changes nothing on either side.
out=$("$SYNC" -n -e "$SSH_CMD" --remote-path "$SYNC" "root@127.0.0.1:$R" "$L" 2>&1)
is "$?" 0 "-n exits 0"
like "$out" 'Archive/2024/cur/1700000005.M5.vps:2,FS' "-n lists a nested message"
is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" "$NMSG" "-n lists every message once"
is "$(sums "$R")" "$ORIG" "-n leaves the server alone"
is "$(count "$L")" 0 "-n writes nothing locally"

# -k over a pipe: a copy, the server keeps everything.
out=$("$SYNC" -k -e "$PIPE" --remote-path "$SYNC" "x:$R" "$L" 2>&1)
is "$?" 0 "-k exits 0"
is "$out" "" "-k is quiet"
is "$(sums "$L")" "$ORIG" "-k copied every message byte for byte, names kept"
is "$(sums "$R")" "$ORIG" "-k deleted nothing"

# -k with more messages than one batch of confirmations (2048): the
# client confirms nothing at all, so the server never sees a confirmation
# it would refuse in -k mode.
K=$T/keep
maildir "$K"
i=0
while [ $i -lt 2100 ]; do echo "$i" >"$K/new/k$i"; i=$((i + 1)); done
KL=$T/keep-local
maildir "$KL"
out=$("$SYNC" -k -e "$PIPE" --remote-path "$SYNC" "x:$K" "$KL" 2>&1)
is "$?:$out" "0:" "-k with 2100 messages: exit 0, quiet"
is "$(count "$KL"):$(count "$K")" 2100:2100 "-k with 2100 messages: all copied, none deleted"
ok "local folders are Maildirs" test -d "$L/.Lists/tmp" -a -d "$L/Archive/2024/tmp" -a -d "$L/.Lists.Debian/new"

# The real thing over sshd: the local copies already match, so they are
# confirmed without a second copy and the server deletes them.
out=$("$SYNC" -e "$SSH_CMD" --remote-path "$SYNC" "root@127.0.0.1:$R" "$L" 2>&1)
is "$?" 0 "sync over sshd exits 0"
is "$out" "" "quiet on success (cron)"
is "$(sums "$L")" "$ORIG" "local holds every message, byte-identical"
is "$(count "$R")" 0 "the server holds no message any more"
ok "the partial file in the server's tmp/ is untouched" \
	test "$(cat "$R/tmp/1700000009.partial.vps")" = "half a message"
is "$(ls "$L/tmp" | wc -l | tr -d ' ')" 0 "nothing left in local tmp/"

# Rerun: nothing to do, nothing changes.
out=$("$SYNC" -e "$SSH_CMD" --remote-path "$SYNC" "root@127.0.0.1:$R" "$L" 2>&1)
is "$?:$out" "0:" "rerun with nothing to move: quiet, 0"
is "$(sums "$L")" "$ORIG" "rerun changed nothing"

# mblaze reads the result as a Maildir.
is "$(mlist "$L" | wc -l | tr -d ' ')" 4 "mlist sees the root's 4 messages"
is "$(mlist "$L/.Lists" | wc -l | tr -d ' ')" 2 "mlist sees the folder's 2 messages"
like "$(mlist -S "$L")" 'cur/1700000001.M2P1.vps:2,S' "mlist -S finds the seen flag kept"

# A fresh run straight into an empty local Maildir, -v.
L1=$T/local1
maildir "$L1"
cp -a "$L/." "$R/"
rm -f "$R/.mm-sync.lock"
out=$("$SYNC" -v -e "$SSH_CMD" --remote-path "$SYNC" "root@127.0.0.1:$R" "$L1" 2>&1)
is "$?" 0 "fresh sync exits 0"
like "$out" '8 moved' "-v says how many moved"
is "$(sums "$L1")" "$ORIG" "fresh sync: every message, byte-identical"
is "$(count "$R")" 0 "fresh sync: server emptied"

# Same name, different content: both kept, reported, flags still readable.
printf 'different\n' >"$R/cur/1700000001.M2P1.vps:2,S"
out=$("$SYNC" -e "$PIPE" --remote-path "$SYNC" "x:$R" "$L1" 2>&1)
is "$?" 0 "a name clash is not a failure"
like "$out" 'other content' "a name clash is reported"
is "$(cat "$L1/cur/1700000001.M2P1.vps:2,S" | head -1)" "From: a@b" "the local message is not overwritten"
alt=$(ls "$L1/cur" | grep 'mmsync-')
like "$alt" '^1700000001\.M2P1\.vps\.mmsync-[0-9a-f]+:2,S$' "the new one kept under a fresh name, flags last"
is "$(count "$R")" 0 "and deleted on the server"

# The file system's O_TMPFILE is used unless it has none; then each file
# goes through tmp/.  MM_SYNC_NO_TMPFILE forces that path (and
# MM_SYNC_STATS counts it): the same results, tmp/ left empty, an
# identical message not copied twice, a clash kept under a fresh name.
stats() { sed -n 's/^mm-sync-stats: .*via_tmp=\([0-9]*\).*/\1/p' "$1"; }
cp -a "$L/." "$R/"
rm -f "$R/.mm-sync.lock"
L4=$T/local4
maildir "$L4"
MM_SYNC_STATS=1 "$SYNC" -e "$PIPE" --remote-path "$SYNC" "x:$R" "$L4" 2>"$T/err4"
is "$?:$(stats "$T/err4")" 0:0 "O_TMPFILE path: exit 0, nothing through tmp/"
cp -a "$L/." "$R/"
rm -f "$R/.mm-sync.lock"
L5=$T/local5
maildir "$L5"
MM_SYNC_NO_TMPFILE=1 MM_SYNC_STATS=1 "$SYNC" -e "$PIPE" --remote-path "$SYNC" "x:$R" "$L5" \
	2>"$T/err5"
is "$?:$(stats "$T/err5")" "0:$NMSG" "tmp/ path: exit 0, every message through tmp/"
is "$(sums "$L5")" "$ORIG" "tmp/ path: every message, byte-identical"
is "$(count "$R")" 0 "tmp/ path: server emptied"
is "$(ls -A "$L5/tmp" | wc -l | tr -d ' ')" 0 "tmp/ path: nothing left in tmp/"
cp "$L/new/1700000000.M1P1.vps" "$R/new/"
printf 'different\n' >"$R/cur/1700000001.M2P1.vps:2,S"
out=$(MM_SYNC_NO_TMPFILE=1 "$SYNC" -e "$PIPE" --remote-path "$SYNC" "x:$R" "$L5" 2>&1)
is "$?" 0 "tmp/ path: a rerun with a clash exits 0"
like "$out" 'other content' "tmp/ path: the clash is reported"
is "$(count "$L5"):$(count "$R")" "$((NMSG + 1)):0" \
	"tmp/ path: the identical one not copied again, the other kept, server emptied"
is "$(head -1 "$L5/cur/1700000001.M2P1.vps:2,S")" "From: a@b" "tmp/ path: nothing overwritten"
is "$(ls -A "$L5/tmp" | wc -l | tr -d ' ')" 0 "tmp/ path: still nothing left in tmp/"

# Two sources into one local Maildir.
A=$T/srcA B=$T/srcB L2=$T/local2
maildir "$A"; maildir "$B"; maildir "$L2"
for i in 1 2 3; do echo "a$i" >"$A/new/a$i"; echo "b$i" >"$B/cur/b$i:2,S"; done
"$SYNC" -e "$PIPE" --remote-path "$SYNC" "x:$A" "y:$B" "$L2"
is "$?" 0 "two sources: exit 0"
is "$(count "$L2")" 6 "two sources: all six messages"
is "$(count "$A")$(count "$B")" 00 "two sources: both emptied"

# A forced command in authorized_keys pins the key to one Maildir.
F=$T/forced
maildir "$F"
echo forced >"$F/new/f1"
ssh-keygen -q -t ed25519 -N '' -f "$T/forced_key"
printf 'command="%s --server %s",restrict %s\n' "$SYNC" "$F" "$(cat "$T/forced_key.pub")" \
	>>"$SSHD_DIR/authorized_keys"
FCMD="ssh -p $SSHD_PORT -i $T/forced_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
L3=$T/local3
maildir "$L3"
"$SYNC" -e "$FCMD" --remote-path /nonexistent "root@127.0.0.1:/etc" "$L3"
is "$?" 0 "forced command: exit 0"
is "$(cat "$L3/new/f1")" forced "forced command: the key only reaches its own Maildir"

# Local problems stop everything before the server is asked to delete.
echo keep >"$A/new/k1"
"$SYNC" -e "$PIPE" --remote-path "$SYNC" "x:$A" "$T/nonexistent" 2>/dev/null
is "$?" 2 "missing local root: exit 2"
ok "missing local root: nothing deleted" test -f "$A/new/k1"
"$SYNC" -e "$PIPE" --remote-path "$SYNC" "-oProxyCommand=x:$A" "$L2" 2>/dev/null
is "$?" 2 "a host starting with '-' is a usage error"
"$SYNC" -e "$PIPE" "x" "$L2" 2>/dev/null
is "$?" 2 "a source without ':' is a usage error"
"$SYNC" 2>/dev/null
is "$?" 2 "no arguments: usage error"
"$SYNC" -e "ssh -p $(free_port) -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=QUIET" \
	--remote-path "$SYNC" "root@127.0.0.1:$A" "$L2" 2>/dev/null
is "$?" 3 "nobody listening: exit 3"
"$SYNC" -e "$PIPE" --remote-path /bin/true "x:$A" "$L2" 2>/dev/null
is "$?" 3 "no mm-sync on the other end: exit 3"
ok "still not deleted" test -f "$A/new/k1"
"$SYNC" -e "$PIPE" --remote-path "$SYNC" "x:$T/nope" "$L2" 2>/dev/null
is "$?" 3 "the server's Maildir is missing: exit 3"
like "$("$SYNC" --version)" '^mm-sync [0-9]' "--version"
like "$("$SYNC" --help)" 'usage: mm-sync' "--help"

# Only regular files are moved; a symlink on the server is reported, kept.
ln -s /etc/passwd "$A/new/link"
out=$("$SYNC" -e "$PIPE" --remote-path "$SYNC" "x:$A" "$L2" 2>&1)
is "$?" 1 "a symlink on the server makes the run partial"
like "$out" 'link: not a regular file' "and is reported"
ok "the symlink was not followed" test ! -e "$L2/new/link"
ok "the regular file next to it moved" test -f "$L2/new/k1"

# The lock: a second run waits for the first.
exec 9>"$L2/.mm-sync.lock"
flock 9
echo late >"$A/new/late"
"$SYNC" -e "$PIPE" --remote-path "$SYNC" "x:$A" "$L2" 2>/dev/null &
p=$!
sleep 0.5
ok "a second run waits while the lock is held" kill -0 $p
ok "and has not moved anything yet" test -f "$A/new/late"
flock -u 9
exec 9>&-
wait $p
ok "then runs" test -f "$L2/new/late"

done_testing
