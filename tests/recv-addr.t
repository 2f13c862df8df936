#!/bin/sh
# mm-recv: the address is a path, validated as one.  Every hostile local
# part, suffix or symlink is refused, and nothing is ever written outside
# the mail root.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"

OUT=$T/outside
mkdir -p "$OUT/tmp" "$OUT/new" "$OUT/cur" "$ROOT/example.org/etc"
[ "$(id -u)" = 0 ] && chown -R nobody "$OUT" "$ROOT"
ln -s "$OUT" "$ROOT/example.org/link"
ln -s "$OUT" "$ROOT/evil.org"
mkdir -p "$ROOT/example.org/tmplink"
ln -s "$OUT/tmp" "$ROOT/example.org/tmplink/tmp"

rcpt() { # ADDRESS-BYTES -> the RCPT reply line
	printf '%s\n%s\n%s\n' '(b"EHLO c.example.net\r\n", 1)' '(b"MAIL FROM:<a@other.net>\r\n", 1)' \
		"(b\"RCPT TO:<$1>\\r\\n\", 1)" | raw | tail -n 1
}
check() { # ADDRESS REGEX NAME
	like "$(rcpt "$1")" "$2" "$3"
}
check '..@example.org' '^501 5.1.3 ' '.. : refused'
check '../x@example.org' '^501 5.1.3 ' '../x : refused'
check 'a/../../etc@example.org' '^5(01|53) 5.1.3 ' 'a/../../etc : refused'
check 'etc/..@example.org' '^5(01|53) 5.1.3 ' 'etc/.. : refused'
check 'a//b@example.org' '^553 5.1.3 .*mailbox name refused' 'a//b : refused'
check '.hidden@example.org' '^501 5.1.3 .*starts or ends with a dot' '.hidden : refused'
check 'me+tmp@example.org' '^553 5.1.3 .*Maildir folder' 'me+tmp : refused (Maildir folder name)'
check 'me+new@example.org' '^553 5.1.3 .*Maildir folder' 'me+new : refused'
check 'me/cur@example.org' '^553 5.1.3 .*Maildir folder' 'me/cur : refused'
check 'me+..@example.org' '^501 5.1.3 ' 'me+.. : refused'
check 'me+.x@example.org' '^553 5.1.3 .*starts with a dot' 'me+.x (hidden suffix) : refused'
check '\"a b\"@example.org' '^553 5.1.3 .*quoted' '"a b" : 553 quoted local part'
check '@relay.net:me@example.org' '^553 5.1.3 .*source route' 'source route : 553'
check 'me%other.net@example.org' '^553 5.1.3 ' '% (percent hack) : 553'
check 'me@[127.0.0.1]' '^553 5.1.3 .*literal' 'address literal : 553'
check 'm\xc3\xa9@example.org' '^553 5.1.3 .*8-bit' '8-bit local part : 553'
check "$($PY -c 'print("a" * 65, end="")')@example.org" '^553 5.1.3 .*64' '65-octet local part : 553'
check "$($PY -c 'print("a" * 5000, end="")')@example.org" '^500 5.5.2 command line longer' '5,000-octet local part : 500 line too long'
check 'me@example.org.' '^501 5.1.3 .*ends with a dot' 'trailing dot in domain : refused'
check 'me@..' '^501 5.1.3 ' 'domain .. : refused'
check 'x@evil.org' '^550 5.7.1 .*relaying denied' 'symlinked domain folder: not ours'
check 'link@example.org' '^550 5.1.1 <link@example.org>: no such mailbox' 'symlinked mailbox pointing out of the root: 550'
like "$(cat "$T/raw.err")" 'not a plain directory \(symlink\?\)' "and the symlink is logged"
check 'tmp@example.org' '^553 5.1.3 .*Maildir folder' 'tmp as local part: refused'
check 'postmaster+x@example.org' '^550 5.1.1 ' 'postmaster with a missing suffix folder: 550'

# a mailbox whose tmp/ is a symlink out of the root: delivery fails, safely
out=$(swaks --pipe "$RECV" --from a@other.net --to tmplink@example.org 2>&1)
like "$out" '451 4.3.0 local error' "tmp/ symlinked out of the root: 451, not delivered"
is "$(find "$OUT" -type f | wc -l | tr -d ' ')" 0 "nothing was ever written outside the root"
is "$(find "$ROOT" -type f | wc -l | tr -d ' ')" 0 "and nothing inside either"
done_testing
