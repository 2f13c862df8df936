# tests/lib.sh — shared helpers for the integration tests (POSIX sh, TAP).
#
#   . "$(dirname "$0")/lib.sh"
#   need nsd swaks              # a missing peer fails the run loudly
#   start_nsd zone1 zone2...    # real nsd on 127.0.0.1:$NSD_PORT serving
#                               # tests/zones/<zone>.zone; sets MM_RESOLVER
#   ok CMD... / is GOT WANT NAME / like GOT REGEX NAME / done_testing
#
# Every test gets its own scratch directory $T; everything started through
# these helpers is stopped and $T removed on exit, also when a test fails
# or is interrupted.

set -u

MM_TOP=${MM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
MM_BIN=${MM_BIN:-$MM_TOP/build}
PATH=$MM_BIN:$PATH
export MM_TOP MM_BIN PATH
# Debian's python modules (dkim, aiosmtpd) belong to this interpreter.
PY=/usr/bin/python3

T=$(mktemp -d "${TMPDIR:-/tmp}/mm-test.XXXXXX")
_tap_n=0
_tap_fail=0
_pids=""

_cleanup() {
	for p in $_pids; do
		kill "$p" 2>/dev/null
	done
	for p in $_pids; do
		wait "$p" 2>/dev/null
	done
	[ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM HUP

# Register a background process to be killed on exit.
bg_pid() { _pids="$_pids $1"; }

_result() { # status name
	_tap_n=$((_tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2"
		_tap_fail=$((_tap_fail + 1))
	fi
}

# ok NAME CMD...: passes if CMD exits 0
ok() {
	_name=$1; shift
	if "$@"; then _result 0 "$_name"; else _result 1 "$_name"; fi
}

# nok NAME CMD...: passes if CMD exits non-zero
nok() {
	_name=$1; shift
	if "$@"; then _result 1 "$_name"; else _result 0 "$_name"; fi
}

# is GOT WANT NAME
is() {
	if [ "$1" = "$2" ]; then
		_result 0 "$3"
	else
		_result 1 "$3"
		printf '#   got: %s\n#  want: %s\n' "$1" "$2"
	fi
}

# like GOT EXTENDED-REGEX NAME
like() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		_result 0 "$3"
	else
		_result 1 "$3"
		printf '#   got: %s\n#  want match: %s\n' "$(printf '%s' "$1" | head -c 2000)" "$2"
	fi
}

# unlike GOT EXTENDED-REGEX NAME
unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		_result 1 "$3"
		printf '#   got: %s\n#  must not match: %s\n' "$(printf '%s' "$1" | head -c 2000)" "$2"
	else
		_result 0 "$3"
	fi
}

diag() { printf '# %s\n' "$*"; }

done_testing() {
	echo "1..$_tap_n"
	[ "$_tap_fail" = 0 ]
}

bail() {
	echo "Bail out! $*"
	exit 1
}

# need PROG[:PACKAGE]...: a missing peer fails the test run, naming the
# package to install; a missing peer never passes quietly.
need() {
	for _n in "$@"; do
		_prog=${_n%%:*}
		_pkg=${_n#*:}
		[ "$_pkg" = "$_n" ] && _pkg=$_prog
		command -v "$_prog" >/dev/null 2>&1 ||
			bail "$_prog not found: install the Debian package '$_pkg' (scripts/install-deps)"
	done
}

# free_port: an unused TCP+UDP port on 127.0.0.1 (asked from the kernel).
free_port() {
	$PY - <<'PY'
import socket
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        continue
    print(port)
    break
PY
}

# wait_port PORT [SECONDS]: until something accepts TCP connections.
# start_smtp_server DIR [smtp-server.py options]: a real aiosmtpd on a free
# port (SMTP_PORT) storing what arrives in DIR, its log in DIR.log; it is
# stopped on exit like every bg_pid.
start_smtp_server() {
	_sd=$1
	shift
	SMTP_PORT=$(free_port)
	mkdir -p "$_sd"
	$PY "$MM_TOP/tests/smtp-server.py" --port "$SMTP_PORT" --out "$_sd" "$@" >"$_sd.log" 2>&1 &
	bg_pid $!
	wait_port "$SMTP_PORT" || bail "smtp server (tests/smtp-server.py) did not start"
}

wait_port() {
	$PY - "$1" "${2:-10}" <<'PY'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + limit
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# start_nsd ZONE...: serve tests/zones/ZONE.zone (or a file already in
# $T/zones/ZONE.zone, for zones a test generates) on 127.0.0.1:$NSD_PORT.
start_nsd() {
	need nsd dig:dnsutils
	NSD_DIR=$T/nsd
	mkdir -p "$NSD_DIR" "$T/zones"
	NSD_PORT=$(free_port)
	{
		echo "server:"
		echo "  ip-address: 127.0.0.1@$NSD_PORT"
		echo "  port: $NSD_PORT"
		echo "  username: \"\""
		echo "  database: \"\""
		echo "  zonesdir: \"$T/zones\""
		echo "  pidfile: \"$NSD_DIR/nsd.pid\""
		echo "  xfrdfile: \"$NSD_DIR/xfrd.state\""
		echo "  zonelistfile: \"$NSD_DIR/zone.list\""
		echo "  logfile: \"$NSD_DIR/nsd.log\""
		echo "  verbosity: 1"
		echo "  server-count: 1"
		echo "  tcp-count: 64"
		echo "  rrl-ratelimit: 0          # the tests ask fast; no response rate limiting"
		echo "remote-control:"
		echo "  control-enable: no"
		for z in "$@"; do
			[ -f "$T/zones/$z.zone" ] || cp "$MM_TOP/tests/zones/$z.zone" "$T/zones/$z.zone" ||
				bail "no zone file for $z"
			echo "zone:"
			echo "  name: \"$z\""
			echo "  zonefile: \"$z.zone\""
		done
	} >"$NSD_DIR/nsd.conf"
	nsd -d -c "$NSD_DIR/nsd.conf" >"$NSD_DIR/out" 2>&1 &
	NSD_PID=$!
	bg_pid $NSD_PID
	_i=0
	while :; do
		_soa=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$NSD_PORT" SOA "$1" 2>/dev/null)
		[ -n "$_soa" ] && break
		_i=$((_i + 1))
		if [ $_i -gt 100 ] || ! kill -0 $NSD_PID 2>/dev/null; then
			cat "$NSD_DIR/out" "$NSD_DIR/nsd.log" 2>/dev/null | sed 's/^/# nsd: /'
			bail "nsd did not start serving $1"
		fi
		sleep 0.1
	done
	MM_RESOLVER=127.0.0.1:$NSD_PORT
	export MM_RESOLVER NSD_PORT
}

# dig_t TYPE NAME: a query to the test nsd
dig_t() { dig +short @127.0.0.1 -p "$NSD_PORT" "$1" "$2"; }
