#!/bin/sh
# mm-keygen: keys on disk under the shared names, the printed record loads
# into a real nsd unchanged and serves the same public key, and nothing is
# ever overwritten.
. "$(dirname "$0")/lib.sh"
need openssl

K=$T/keys
out=$(mm-keygen --keys "$K" Me@Mail.Example.test 2>"$T/err")
is "$?" 0 "rsa key made"
ok "private key file, lowercase name" test -f "$K/me@mail.example.test.rsa.key"
is "$(stat -c %a "$K/me@mail.example.test.rsa.key")" 600 "private key mode 0600"
is "$(stat -c %a "$K")" 700 "key directory mode 0700"
is "$(cat "$K/me@mail.example.test.rsa.selector")" me "selector defaults to the local part"
ok "openssl reads a 2048-bit RSA key" sh -c "openssl pkey -in '$K/me@mail.example.test.rsa.key' -text -noout | grep -q '2048 bit'"
like "$out" '^me\._domainkey IN TXT "v=DKIM1; k=rsa; p=' "zone line relative to the domain"

out2=$(mm-keygen -t ed25519 -s me-ed --keys "$K" me@mail.example.test 2>/dev/null)
is "$?" 0 "ed25519 key made with -s"
like "$out2" '^me-ed\._domainkey IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="$' "ed25519 zone line"

mm-keygen -t ed25519 --keys "$K" x@mail.example.test >/dev/null 2>&1
mm-keygen --keys "$K" x@mail.example.test >/dev/null 2>"$T/err"
is "$?" 64 "same selector for the other type refused"
like "$(cat "$T/err")" 'selector x is already used' "says why"

before=$(sha256sum <"$K/me@mail.example.test.rsa.key")
mm-keygen --keys "$K" me@mail.example.test >/dev/null 2>"$T/err"
is "$?" 73 "existing key: EX_CANTCREAT"
is "$(sha256sum <"$K/me@mail.example.test.rsa.key")" "$before" "key not overwritten"
like "$(cat "$T/err")" 'exists' "says it exists"

mm-keygen -b 512 --keys "$K" y@mail.example.test 2>/dev/null
is "$?" 64 "512 bits refused"
mm-keygen -b 1023 --keys "$K" y@mail.example.test 2>/dev/null
is "$?" 64 "1023 bits refused (1024 is the least)"
mm-keygen -b 4097 --keys "$K" y@mail.example.test 2>/dev/null
is "$?" 64 "4097 bits refused (4096 is the most)"
mm-keygen -b 1024 -s small --keys "$K" small@mail.example.test >/dev/null 2>&1
is "$?" 0 "1024 bits accepted"
ok "a 1024-bit key" sh -c "openssl pkey -in '$K/small@mail.example.test.rsa.key' -text -noout | grep -q '1024 bit'"
mm-keygen -t ed25519 -b 2048 --keys "$K" y@mail.example.test 2>"$T/err"
is "$?" 64 "-b with ed25519 refused"
like "$(cat "$T/err")" 'RSA' "says -b is for RSA"
mm-keygen -t dsa --keys "$K" y@mail.example.test 2>/dev/null
is "$?" 64 "unknown type refused"
mm-keygen --keys "$K" -- -oQ/tmp@x.example.test 2>/dev/null
is "$?" 64 "address starting with - refused"
mm-keygen --keys "$K" 'a/../b@example.test' 2>/dev/null
is "$?" 64 "path-like address refused"
ok "nothing made for refused addresses" test ! -e "$K/y@mail.example.test.rsa.key"

out3=$(mm-keygen -b 4096 -s big --keys "$K" big@mail.example.test 2>/dev/null)
like "$out3" '" "' "4096-bit record split into several strings"
len=$(printf '%s\n' "$out3" | tail -1 | grep -o '"[^"]*"' | awk '{ if (length($0) - 2 > m) m = length($0) - 2 } END { print m }')
is "$len" 255 "strings at most 255 octets"

# The printed lines, pasted into a zone, served by nsd.
mkdir -p "$T/zones"
{
	cat "$MM_TOP/tests/zones/example.test.zone"
	echo '$ORIGIN mail.example.test.'
	printf '%s\n' "$out" "$out2" "$out3"
} >"$T/zones/example.test.zone"
start_nsd example.test
served=$(dig +short @127.0.0.1 -p "$NSD_PORT" TXT me._domainkey.mail.example.test | sed 's/" "//g; s/"//g')
is "$served" "$(cat "$K/me@mail.example.test.rsa.pub")" "nsd serves exactly the .pub record (rsa)"
served=$(dig +short @127.0.0.1 -p "$NSD_PORT" TXT me-ed._domainkey.mail.example.test | sed 's/"//g')
is "$served" "$(cat "$K/me@mail.example.test.ed25519.pub")" "nsd serves the ed25519 record"
served=$(dig +short @127.0.0.1 -p "$NSD_PORT" TXT big._domainkey.mail.example.test | sed 's/" "//g; s/"//g')
is "$served" "$(cat "$K/big@mail.example.test.rsa.pub")" "4096-bit record reassembles"
# and the public half matches the private key
pub=$(openssl pkey -in "$K/me@mail.example.test.rsa.key" -pubout -outform DER | base64 -w0)
is "v=DKIM1; k=rsa; p=$pub" "$(cat "$K/me@mail.example.test.rsa.pub")" "record matches the private key"

mm-keygen --version | grep -q '^mm-keygen ' ; is "$?" 0 "--version"
mm-keygen --help | grep -q 'usage' ; is "$?" 0 "--help"
done_testing
