#!/bin/sh
# mm-sync: the local side and the files that move under the server.
#  - a local root that cannot take mail is an error (exit 2) before the
#    server is asked to delete anything: missing pieces, files where
#    directories belong, a read-only mount, tmp/ on another file system;
#  - a folder that cannot be stored is reported and left on the server,
#    the rest still moves; a folder on another file system works;
#  - files that vanish or change while the server reads them are reported
#    and left where they are; a FIFO is not opened;
#  - --progress draws on a terminal only.
# Mounts happen in a private mount namespace (unshare -rm): nothing of the
# system is touched and no root is needed.
. "$(dirname "$0")/lib.sh"
need sha256sum:coreutils unshare:util-linux script:bsdutils mkfifo:coreutils
unshare -rm true 2>/dev/null || bail "unshare -rm fails: this test needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
SYNC=$MM_BIN/mm-sync
PEER=$MM_TOP/tests/sync_peer.py
PIPE=$T/pipe.sh
printf '#!/bin/sh\nshift\nexec sh -c "$*"\n' >"$PIPE"
chmod +x "$PIPE"
maildir() { mkdir -p "$1/tmp" "$1/new" "$1/cur"; }
count() { find "$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l | tr -d ' '; }
R=$T/remote
fill() { # a fresh server Maildir with 3 messages
	rm -rf "$R"
	maildir "$R"
	echo one >"$R/new/1.one"
	echo two >"$R/cur/2.two:2,S"
	maildir "$R/.Folder"
	echo three >"$R/.Folder/new/3.three"
}
sync_to() { "$SYNC" -e "$PIPE" --remote-path "$SYNC" "x:$R" "$@"; }
# in_ns L MOUNT [AFTER]: in a private mount namespace, run the shell
# commands MOUNT (with $L as "$1"), then mm-sync from $R into L, then AFTER
# (with the exit status in $rc).
in_ns() {
	unshare -rm sh -c "$2"' && { "$2" -e "$3" --remote-path "$2" "x:$4" "$1"; rc=$?; }; '"${3:-}"'
		exit $rc' sh "$1" "$SYNC" "$PIPE" "$R"
}

# ---------- the local root must be able to take mail ----------
fill
: >"$T/afile"
sync_to "$T/afile" 2>"$T/err"
is "$?:$(count "$R")" 2:3 "local root is a file: exit 2, nothing deleted"
L=$T/l1
mkdir -p "$L/new" "$L/cur"
: >"$L/tmp"
sync_to "$L" 2>"$T/err"
is "$?:$(count "$R")" 2:3 "local tmp is a file: exit 2, nothing deleted"
like "$(cat "$T/err")" 'mm-sync: .*tmp' "and it says so"

L=$T/l2
maildir "$L"
in_ns "$L" 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"' 2>"$T/err"
is "$?:$(count "$R")" 2:3 "local root on a read-only mount: exit 2, nothing deleted"
like "$(cat "$T/err")" 'tmp: not writable: Read-only' "and it says why"

L=$T/l3
maildir "$L"
in_ns "$L" 'mount -t tmpfs none "$1/tmp"' 2>"$T/err"
is "$?:$(count "$R")" 2:3 "local tmp/ on another file system: exit 2, nothing deleted"
like "$(cat "$T/err")" 'not on one file system' "and it says why"

L=$T/l4
maildir "$L"
sync_to -n "$L" >/dev/null 2>&1
rm -rf "$L/tmp"
sync_to -n "$L" >"$T/out" 2>&1
is "$?:$(count "$R")" 0:3 "-n works without tmp/ and deletes nothing"
ok "-n does not make tmp/" test ! -e "$L/tmp"

# ---------- folders ----------
# A folder on another file system: the messages land there, made durable
# by fsync (syncfs of the root would not cover them).
fill
L=$T/l5
maildir "$L"
mkdir "$L/.Folder"
res=$(in_ns "$L" 'mount -t tmpfs none "$1/.Folder"' 'echo "rc=$rc"; cat "$1/.Folder/new/3.three"' 2>"$T/err")
is "$(echo $res):$(count "$R")" "rc=0 three:0" "a folder on another file system: moved there, exit 0"

# A folder whose tmp/ is on another file system cannot be stored; the
# rest moves.
fill
L=$T/l6
maildir "$L"
maildir "$L/.Folder"
in_ns "$L" 'mount -t tmpfs none "$1/.Folder/tmp"' 2>"$T/err"
is "$?:$(count "$R"):$(count "$L")" 1:1:2 "a folder with tmp/ on another fs: exit 1, its message stays, the others move"
like "$(cat "$T/err")" '\.Folder/new/3\.three: .*not on one file system; not moved' "and it is reported"

# A folder whose new/ takes no new file (a read-only bind mount over it,
# while tmp/ beside it is writable and on the same file system): that
# message is reported with the reason and stays on the server; nothing is
# left in tmp/; the rest moves; once new/ is writable a rerun moves it.
fill
L=$T/l6b
maildir "$L"
maildir "$L/.Folder"
in_ns "$L" 'mount --bind "$1/.Folder/new" "$1/.Folder/new" &&
	mount -o remount,bind,ro "$1/.Folder/new"' 'find "$1/.Folder/tmp" "$1/tmp" -mindepth 1 >"$1.tmp-left"' 2>"$T/err"
is "$?:$(count "$R"):$(count "$L")" 1:1:2 "new/ read-only: exit 1, its message stays, the others move"
like "$(cat "$T/err")" 'mm-sync: \.Folder/new/3\.three: .*Read-only file system; not moved' "and it is reported with the reason"
is "$(cat "$L.tmp-left")" "" "nothing was left in tmp/ (looked while the mount stood)"
is "$(cat "$R/.Folder/new/3.three")" three "the message is intact on the server"
sync_to "$L"
is "$?:$(count "$R"):$(count "$L")" 0:0:3 "with new/ writable again, a rerun moves it"
is "$(cat "$L/.Folder/new/3.three")" three "byte-identical"

# A folder that cannot be made locally (a file is in the way).
fill
L=$T/l7
maildir "$L"
echo in the way >"$L/.Folder"
sync_to "$L" 2>"$T/err"
is "$?:$(count "$R"):$(count "$L")" 1:1:2 "a folder that cannot be made: exit 1, its message stays, the others move"
like "$(cat "$T/err")" '\.Folder/new/3\.three: folder \.Folder: .*; not moved' "and it is reported"
ok "nothing left in tmp/" test -z "$(ls -A "$L/tmp")"
rm "$L/.Folder"
sync_to "$L"
is "$?:$(count "$R"):$(count "$L")" 0:0:3 "once the way is clear, a rerun moves it"

# ---------- files that move under the server ----------
# The proxy stops the server inside the 4 MiB file; meanwhile one file
# grows, one is rewritten in place, one disappears.
fill
rm -rf "$R/.Folder"
head -c 4194304 /dev/urandom >"$R/new/5.big"
echo later >"$R/new/6.vanishes"
echo later >"$R/new/7.stays"
L=$T/l8
maildir "$L"
CTL=$T/ctl
mkdir "$CTL"
"$SYNC" -e "$PY $PEER proxy $CTL 1048576" --remote-path "$SYNC" "x:$R" "$L" 2>"$T/err" &
p=$!
bg_pid $p
i=0
while [ ! -e "$CTL/paused" ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
ok "the proxy stopped the server inside the big file" test -e "$CTL/paused"
echo appended >>"$R/new/5.big"
rm "$R/new/6.vanishes"
: >"$CTL/go"
wait $p
is "$?" 1 "files that changed or vanished: exit 1"
like "$(cat "$T/err")" 'new/5\.big: .*changed while read' "a file that grew while read is reported"
like "$(cat "$T/err")" 'new/6\.vanishes: vanished' "a file that vanished is reported"
ok "the changed file stays on the server" test -f "$R/new/5.big"
ok "and is not stored locally" test ! -e "$L/new/5.big"
ok "nothing left in local tmp/" test -z "$(ls -A "$L/tmp")"
is "$(cat "$L/new/7.stays")" later "the other files moved"
sync_to "$L"
is "$?:$(count "$R")" 0:0 "a rerun moves the changed file"
is "$(tail -c 9 "$L/new/5.big")" appended "with its new content"

# Rewritten in place (same size, new mtime).
fill
head -c 4194304 /dev/urandom >"$R/new/5.big"
rm -f "$CTL/paused" "$CTL/go"
"$SYNC" -e "$PY $PEER proxy $CTL 1048576" --remote-path "$SYNC" "x:$R" "$L" 2>"$T/err" &
p=$!
bg_pid $p
i=0
while [ ! -e "$CTL/paused" ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i + 1)); done
printf 'X' | dd of="$R/new/5.big" bs=1 seek=4000000 conv=notrunc 2>/dev/null
: >"$CTL/go"
wait $p
is "$?" 1 "a file rewritten in place while read: exit 1"
like "$(cat "$T/err")" 'new/5\.big: .*changed while read' "and it is reported"
ok "it stays on the server" test -f "$R/new/5.big"

# Only regular files: a FIFO in new/ is reported, never opened.
fill
mkfifo "$R/new/0.fifo"
L=$T/l9
maildir "$L"
sync_to "$L" 2>"$T/err"
is "$?:$(count "$L")" 1:3 "a FIFO on the server: exit 1, the messages move"
like "$(cat "$T/err")" '0\.fifo: not a regular file' "the FIFO is reported"
ok "and left alone" test -p "$R/new/0.fifo"
rm "$R/new/0.fifo"

# ---------- a reader moves mail between two runs ----------
# A run that died after storing but before the server deleted leaves the
# message on both sides; if the reader then moves it new/ -> cur/ or
# changes its flags, the next run must not store it a second time.
fill
L=$T/lr
maildir "$L"
sync_to -k "$L"
mv "$L/new/1.one" "$L/cur/1.one:2,S"
mv "$L/cur/2.two:2,S" "$L/cur/2.two:2,RS"
echo other >"$L/.Folder/cur/3.three:2,S"   # same base name, other bytes
sync_to -v "$L" >"$T/out" 2>&1
is "$?:$(count "$R")" 0:0 "after the reader moved them: exit 0, the server emptied"
is "$(cd "$L" && find . -path './*/*' -type f ! -path './tmp/*' ! -path './*/tmp/*' | LC_ALL=C sort | tr '\n' ' ')" \
	"./.Folder/cur/3.three:2,S ./.Folder/new/3.three ./cur/1.one:2,S ./cur/2.two:2,RS " \
	"moved to cur/ or re-flagged: no second copy; other bytes under the base name: stored"
like "$(cat "$T/out")" 'new/1\.one \(already here, read since\)' "-v says it was already here"

# ---------- --progress ----------
fill
L=$T/l10
maildir "$L"
sync_to --progress "$L" 2>"$T/err"
is "$?:$(cat "$T/err")" 0: "--progress without a terminal: quiet"
fill
maildir "$T/l11"
SHELL=/bin/sh script -qec "$SYNC --progress -e $PIPE --remote-path $SYNC x:$R $T/l11" "$T/typescript" >/dev/null 2>&1
like "$(cat "$T/typescript")" 'mm-sync: 3 messages, [0-9.]+ MiB, [0-9.]+ MiB/s' "--progress on a terminal: messages, bytes, rate"
is "$(count "$R")" 0 "and the run moved everything"

done_testing
