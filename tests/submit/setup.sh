# tests/submit/setup.sh — shared set-up of the relay's tests and benchmark,
# sourced after tests/recv/setup.sh: HOME, the server's spool $T/spool
# (owned by the account mm-recv runs as), me@example.org's key in $K with
# its public half readable by that account, and far.test, whose MX is
# 127.0.0.1, served by a real nsd ($MM_RESOLVER).
need nsd dig:dnsutils
$PY -c 'import aiosmtpd' 2>/dev/null || bail "python3-aiosmtpd missing (scripts/install-deps)"
export HOME=$T/home
mkdir -p "$HOME" "$T/zones" "$T/spool"
chmod 755 "$HOME"
[ -n "$RUSER" ] && chown nobody "$T/spool"
K=$T/keys
mm-keygen -t ed25519 --keys "$K" me@example.org >/dev/null 2>&1 || bail "mm-keygen"
chmod 755 "$K"; chmod 644 "$K"/*.pub
printf '$ORIGIN far.test.\n$TTL 300\n@ IN SOA ns h 1 3600 600 86400 300\n  IN NS ns\nns IN A 127.0.0.1\n@ IN MX 10 mx\nmx IN A 127.0.0.1\n' >"$T/zones/far.test.zone"
start_nsd far.test
