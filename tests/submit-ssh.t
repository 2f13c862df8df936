#!/bin/sh
# The deployment the design names: the laptop's mm-send talks SMTP over
# ssh to a forced command "mm-recv --submit ..." in authorized_keys, with
# a real sshd.  The runner mm-recv starts for a queued job must be fully
# detached: the ssh session ends while it is still at work, and it holds
# nothing of the connection (its stdin/stdout/stderr are /dev/null).
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"
. "$MM_TOP/tests/sshd.sh"
need nsd dig:dnsutils
$PY -c 'import aiosmtpd' 2>/dev/null || bail "python3-aiosmtpd missing (scripts/install-deps)"
export HOME=$T/home
mkdir -p "$HOME" "$T/zones"
chmod 755 "$HOME"
K=$T/keys
mm-keygen -t ed25519 --keys "$K" me@example.org >/dev/null 2>&1 || bail "mm-keygen"
chmod 755 "$K"; chmod 644 "$K"/*.pub

printf '$ORIGIN far.test.\n$TTL 300\n@ IN SOA ns h 1 3600 600 86400 300\n  IN NS ns\nns IN A 127.0.0.1\n@ IN MX 10 mx\nmx IN A 127.0.0.1\n' >"$T/zones/far.test.zone"
printf '$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns h 1 3600 600 86400 300\n  IN NS ns\nns IN A 127.0.0.1\n' >"$T/zones/example.org.zone"
start_nsd far.test example.org
start_smtp_server "$T/far"
P=$SMTP_PORT
far() { ls "$T/far" | grep -c '\.eml$'; }

# The runner, slowed down so the test can see the session not wait for it.
cat >"$T/runner" <<EOF
#!/bin/sh
echo \$\$ >"$T/run/started.\$\$"
n=0; while [ ! -e "$T/run/go" ] && [ \$n -lt 600 ]; do sleep 0.05; n=\$((n + 1)); done
exec "$MM_BIN/mm-send" --mx-port $P "\$@"
EOF
chmod 755 "$T/runner"
mkdir -p "$T/run" "$T/spool"
chmod 777 "$T/run"
[ -n "$RUSER" ] && chown nobody "$T/spool"

start_sshd
SUB="$MM_BIN/mm-recv --submit --root $ROOT --hostname mx.example.org --log stderr $RUSER --queue $T/spool --keys $K --resolver $MM_RESOLVER --mm-send $T/runner"
printf 'command="%s",restrict %s\n' "$SUB" "$(cat "$SSHD_DIR/user_key.pub")" >"$SSHD_DIR/authorized_keys"
SEND="mm-send --keys $K --queue $T/lq --timeout 20 --via"
VIA="$SSH_CMD -T 127.0.0.1 anything-the-forced-command-ignores"

printf 'From: me@example.org\nTo: me@example.org\nSubject: over ssh\n\nhello\n' |
	mm-send --keys "$K" --queue "$T/lq" --timeout 20 --via "$VIA" me@example.org 2>"$T/err"
is "$?" 0 "FROM me TO me over ssh: accepted"
is "$(nnew example.org/me)" 1 "in the Maildir"
unlike "$(cat "$ROOT"/example.org/me/new/*)" 'Received: from' "no trace of the laptop in Received:"

printf 'From: me@example.org\nTo: pal@far.test\nSubject: relayed over ssh\n\nhello\n' |
	mm-send --keys "$K" --queue "$T/lq" --timeout 20 --via "$VIA" pal@far.test 2>"$T/err"
is "$?" 0 "FROM me TO someone over ssh: accepted, ssh session over"
unlike "$(cat "$T/err")" '^mm-send: queued' "not queued on the laptop"
_i=0; while [ -z "$(ls "$T/run" | grep started)" ] && [ $_i -lt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
rp=$(cat "$T"/run/started.* 2>/dev/null | head -n 1)
[ -n "$rp" ] && bg_pid "$rp"
ok "the runner was started" test -n "$rp"
ok "and is still waiting after the session ended (the session did not wait for it)" kill -0 "$rp"
is "$(readlink /proc/$rp/fd/0) $(readlink /proc/$rp/fd/1) $(readlink /proc/$rp/fd/2)" \
	"/dev/null /dev/null /dev/null" "it holds nothing of the connection"
is "$(ls -l /proc/$rp/fd/ | grep -c 'socket:\|pipe:')" 0 "no socket or pipe of the session either"
is "$(far)" 0 "nothing delivered yet"
touch "$T/run/go"
_i=0; while [ "$(far)" -lt 1 ] && [ $_i -lt 150 ]; do sleep 0.1; _i=$((_i + 1)); done
is "$(far)" 1 "the runner delivered it to far.test's MX"
is "$(sed -n 2p "$T/far/0.env")" "pal@far.test" "to the right recipient"
_i=0; while [ -n "$(ls "$T/spool/env")" ] && [ $_i -lt 50 ]; do sleep 0.1; _i=$((_i + 1)); done
is "$(ls "$T/spool/env" | wc -l | tr -d ' ')" 0 "and removed the job"

# a key of another user: sshd lets the laptop in, DKIM still says no
mm-keygen -t ed25519 --keys "$T/k2" you@example.org >/dev/null 2>&1
printf 'From: you@example.org\nTo: pal@far.test\nSubject: x\n\nx\n' |
	mm-send --keys "$T/k2" --queue "$T/lq2" --timeout 20 --via "$VIA" pal@far.test 2>"$T/err"
ok "a user without a key on the server: refused" test "$?" != 0
like "$(cat "$T/err")" '5\.7\.20 submit: bad signature' "with the reason"
done_testing
