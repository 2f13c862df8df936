#!/bin/sh
# mm-recv: a 250 means every copy is on disk; any failure is a 4xx and
# leaves nothing behind, in tmp/ or new/.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"

files() { find "$ROOT" -type f | wc -l | tr -d ' '; }

# client disconnects in the middle of DATA
out=$(printf '%s\n' '(b"EHLO c.example.net\r\n", 1)' '(b"MAIL FROM:<a@other.net>\r\nRCPT TO:<me@example.org>\r\n", 2)' \
	'(b"DATA\r\n", 1)' '(b"Subject: cut\r\n\r\nhalf a mess", 0)' '("close",)' | raw)
like "$out" '354 ' "DATA started"
unlike "$out" '250 2.0.0' "no 250 for a cut message"
is "$(files)" 0 "disconnect mid-DATA: nothing in new/ or tmp/"
like "$(cat "$T/raw.err")" 'connection closed during DATA' "and it is logged"

# the third of three recipients cannot be written: no 250, no copy anywhere
mkdir -p "$ROOT/example.org/him/tmp"
chmod 0500 "$ROOT/example.org/him/tmp"
out=$(swaks --pipe "$RECV" --from a@other.net --to me@example.org,you@example.org,him@example.org 2>&1)
like "$out" '<\*\* 451 4.3.0 local error while storing the message' "third copy fails: 451"
unlike "$out" '250 2.0.0 delivered' "no 250"
is "$(files)" 0 "no copy left for the first two recipients"
like "$out" 'delivery failed, nothing delivered: .*Permission denied' "the reason is logged"
chmod 0700 "$ROOT/example.org/him/tmp"

# a mailbox that cannot be written at all (read-only folder)
chmod 0500 "$ROOT/example.org/you"
rm -rf "$ROOT/example.org/you/tmp" "$ROOT/example.org/you/new" "$ROOT/example.org/you/cur"
out=$(swaks --pipe "$RECV" --from a@other.net --to you@example.org 2>&1)
like "$out" '451 4.3.0' "read-only mailbox: 451"
is "$(files)" 0 "nothing written"
chmod 0700 "$ROOT/example.org/you"

# disk full: a 64 KiB tmpfs (needs mount, i.e. root as in CI)
if [ "$(id -u)" = 0 ] && mkdir -p "$ROOT/example.org/full" && mount -t tmpfs -o size=64k,mode=0700 tmpfs "$ROOT/example.org/full" 2>/dev/null; then
	chown nobody "$ROOT/example.org/full"
	$PY -c 'print("x" * 70 + "\r\n", end="")' >"$T/line"
	for i in $(seq 1500); do cat "$T/line"; done >"$T/body"
	out=$(swaks --pipe "$RECV" --from a@other.net --to full@example.org --body @"$T/body" 2>&1)
	like "$out" '452 4.3.1 insufficient storage' "disk full: 452 4.3.1"
	is "$(find "$ROOT/example.org/full" -type f | wc -l | tr -d ' ')" 0 "disk full: no half-written file left"
	umount "$ROOT/example.org/full"
else
	diag "not root or mount not permitted: the disk-full case is covered by the read-only case only"
fi
done_testing
