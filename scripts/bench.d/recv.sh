#!/bin/sh
# recv benchmark: mm-recv delivering BENCH_N (default 2,000) messages of
# 4 KiB into one Maildir on this machine's disk, fsync on, over loopback.
#   1. the machine's serial limit: write+fsync+close+rename+fsync(dir) of
#      4 KiB files, one after the other (the goal is at least half of it);
#   2. mm-recv --listen, 8 concurrent connections kept open, load from
#      Postfix's smtp-source; then a small pipelining Python client (8
#      processes), without and with STARTTLS (smtp-source speaks no TLS); messages per
#      second and peak RSS of one connection's process;
#   3. a fresh process per connection: one message per connection, 8 at a
#      time, through systemd-socket-activate --inetd --accept (or, without
#      systemd, a small Python stand-in that does the same; what inetd
#      and systemd Accept=yes do: fork+exec per connection), against the
#      --listen loop (fork, no exec) with the same one-message connections;
#   4. Postfix itself (smtpd -> cleanup -> qmgr -> virtual(8) into a
#      Maildir, run as root from a private config) with the same load, its
#      time counted until the last message is in new/.
# CPU ms/msg is the server's (user+system of its per-connection processes).
set -u
MM_TOP=${MM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MM_BIN=${MM_BIN:-$MM_TOP/build}
export MM_TOP MM_BIN
. "$MM_TOP/tests/lib.sh"
need smtp-source:postfix openssl nsd
N=${BENCH_N:-2000}
RUNS=${BENCH_RUNS:-3}
SESS=8
SIZE=4096
# the bench needs a real disk: $T is under TMPDIR (a tmpfs would make
# fsync free and every figure meaningless)
case "$(stat -f -c %T "$T")" in tmpfs|ramfs) bail "TMPDIR is $(stat -f -c %T "$T"): fsync would be free; point TMPDIR at a disk";; esac

ROOT=$T/mail
mkdir -p "$ROOT/bench.example/me"
chmod 755 "$T"
if [ "$(id -u)" = 0 ]; then RUSER="--user nobody"; chown -R nobody "$ROOT"; else RUSER=""; fi
RECV="mm-recv --root $ROOT --hostname mx.bench.example --log none $RUSER --spf off --dkim off --dmarc off"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
	-subj /CN=mx.bench.example >/dev/null 2>&1 || bail "openssl req failed"

now_ms() { date +%s%3N; }
# median LINES-FILE: the line with the median first field
median() { sort -n "$1" | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'; }
# CPU of the server's finished children (cutime+cstime of the process
# that reaps them), in jiffies: the server's own cost, whatever else runs
kids_cpu() { awk '{ print $16 + $17 }' "/proc/$1/stat"; }
# wait (bounded) until PID has no children left, so their CPU is counted
kids_gone() {
	for _i in $(seq 100); do
		grep -qs "^PPid:[[:space:]]*$1\$" /proc/[0-9]*/status || return 0
		sleep 0.05
	done
}
HZ=$(getconf CLK_TCK)
nnew() { find "$1" -type f | wc -l | tr -d ' '; }
row() { # NAME MS BUSY_JIFFIES RSS_KIB DELIVERED
	printf '%-50s %7s %8s %8s %9s\n' "$1" \
		"$(awk -v n="$N" -v ms="$2" 'BEGIN { printf "%.0f", n * 1000 / (ms > 0 ? ms : 1) }')" \
		"$(awk -v n="$N" -v j="$3" -v hz="$HZ" 'BEGIN { printf "%.2f", j * 1000 / hz / n }')" \
		"$4" "$5/$N"
}

# 1. the serial limit, on the same file system (median of BENCH_RUNS)
serial() {
	: >"$T/runs"
	for _r in $(seq "$RUNS"); do
		$PY - "$T/serial" "$N" "$SIZE" >>"$T/runs" <<'PY'
import os, shutil, sys, time
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d + "/tmp"); os.makedirs(d + "/new")
nd = os.open(d + "/new", os.O_RDONLY | os.O_DIRECTORY)
data = b"x" * size
t = time.time()
for i in range(n):
    p = "%s/tmp/%d" % (d, i)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, data); os.fsync(fd); os.close(fd)
    os.rename(p, "%s/new/%d" % (d, i)); os.fsync(nd)
print("%.0f" % (n / (time.time() - t)))
shutil.rmtree(d)
PY
	done
	median "$T/runs"
}
LIMIT=$(serial)

# Peak RSS (VmHWM) of the listener's children, sampled until told to stop.
rss_watch() { # PARENT-PID OUTFILE [PROCESS-NAME]
	$PY - "$1" "$2" "${3:-}" <<'PY' &
import os, sys, time
parent, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
peak = 0
while not os.path.exists(out + ".stop"):
    for p in os.listdir("/proc"):
        if not p.isdigit(): continue
        try:
            st = open("/proc/%s/status" % p).read()
        except OSError:
            continue
        f = dict(l.split(":", 1) for l in st.splitlines() if ":" in l)
        if f.get("PPid", "").strip() == parent and "VmHWM" in f and (not name or f["Name"].strip() == name):
            peak = max(peak, int(f["VmHWM"].split()[0]))
    time.sleep(0.05)
open(out, "w").write(str(peak))
PY
	bg_pid $!
	WATCH=$!
}
rss_stop() { touch "$1.stop"; wait "$WATCH" 2>/dev/null; RSS=$(cat "$1"); rm -f "$1" "$1.stop"; }

# Python load with hand-made pipelining (MAIL+RCPT+DATA in one write, the
# message after the 354: two round trips a message, as smtp-source would
# with PIPELINING), so the client is not what is measured; SESS processes,
# N messages in all, optional STARTTLS.
pyload() { # PORT tls|plain
	$PY - "$1" "$2" "$N" "$SESS" "$SIZE" <<'PY'
import multiprocessing, socket, ssl, sys
port, mode, n, sess, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
body = b"Subject: bench\r\n\r\n" + (b"x" * 78 + b"\r\n") * (size // 80) + b".\r\n"
env = b"MAIL FROM:<a@src.example>\r\nRCPT TO:<me@bench.example>\r\nDATA\r\n"
def replies(f, k):
    for i in range(k):
        while True:
            l = f.readline()
            if not l: raise SystemExit("connection closed")
            if l[3:4] != b"-": break
        if l[:1] not in (b"2", b"3"): raise SystemExit(l.decode())
def work(k):
    s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
    replies(f, 1); s.sendall(b"EHLO client.bench.example\r\n"); replies(f, 1)
    if mode == "tls":
        s.sendall(b"STARTTLS\r\n"); replies(f, 1)
        ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="mx.bench.example"); f = s.makefile("rb")
        s.sendall(b"EHLO client.bench.example\r\n"); replies(f, 1)
    for i in range(k):
        s.sendall(env); replies(f, 3); s.sendall(body); replies(f, 1)
    s.sendall(b"QUIT\r\n"); replies(f, 1)
shares = [n // sess + (1 if i < n % sess else 0) for i in range(sess)]
with multiprocessing.Pool(sess) as p:
    p.map(work, shares)
PY
}

# One measured run: START-CMD (starts the server on $PORT, sets SRV),
# LOAD-CMD; prints a row.
# measure NAME LOAD...: BENCH_RUNS runs against the server listening on
# $PORT (pid $SRV); prints the run with the median time.
measure() {
	_name=$1; shift
	: >"$T/runs"
	for _r in $(seq "$RUNS"); do
		rm -rf "$ROOT/bench.example/me/new" "$ROOT/bench.example/me/tmp"
		kids_gone "$SRV"
		[ -n "${WATCHRSS:-}" ] && rss_watch "$SRV" "$T/rss"
		b0=$(kids_cpu "$SRV"); t0=$(now_ms)
		"$@" >"$T/load.out" 2>&1 || { cat "$T/load.out" >&2; }
		t1=$(now_ms)
		kids_gone "$SRV"
		b1=$(kids_cpu "$SRV")
		RSS=-
		[ -n "${WATCHRSS:-}" ] && rss_stop "$T/rss"
		echo "$((t1 - t0)) $((b1 - b0)) $RSS $(nnew "$ROOT/bench.example/me/new")" >>"$T/runs"
	done
	row "$_name" $(median "$T/runs")
}

start_listen() { # extra mm-recv options
	PORT=$(free_port)
	$RECV --listen 127.0.0.1:"$PORT" --max-conn 64 --max-per-ip 64 "$@" &
	SRV=$!
	bg_pid $SRV
	wait_port "$PORT" || bail "mm-recv --listen did not start"
	sleep 0.3    # wait_port's probe session ends
}
stop_srv() { kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null; }
SRC="smtp-source -s $SESS -m $N -l $SIZE -f a@src.example -t me@bench.example -M client.bench.example"

echo "serial write+fsync+rename+fsync(dir), 4 KiB: $LIMIT files/s (goal: mm-recv >= $((LIMIT / 2)) msg/s)"
echo "$N messages of $SIZE octets, $SESS concurrent connections, loopback; median of $RUNS runs"
printf '%-50s %7s %8s %8s %9s\n' "" "msg/s" "CPU ms" "RSS KiB" delivered
start_listen
WATCHRSS=1 measure "mm-recv --listen, smtp-source -d" $SRC -d 127.0.0.1:"$PORT"
WATCHRSS=1 measure "mm-recv --listen, python client" pyload "$PORT" plain
stop_srv
start_listen --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
WATCHRSS=1 measure "mm-recv --listen, python client, STARTTLS" pyload "$PORT" tls
stop_srv
start_listen
measure "mm-recv --listen, 1 msg/connection" $SRC 127.0.0.1:"$PORT"
stop_srv
# authentication on (the defaults: SPF and DKIM tag, DMARC enforce) with
# the sender's SPF and DMARC records served by nsd on loopback: an SPF
# child per MAIL FROM (and one per HELO name), a DKIM pass over the
# message, a DMARC lookup per message.  (libspf2 passes 127.0.0.1 without
# a lookup, so SPF costs its sandboxed child here, not DNS round trips.)
mkdir -p "$T/zones"
{
	printf '$ORIGIN src.example.\n$TTL 300\n@ IN SOA ns h 1 3600 600 86400 300\n  IN NS ns\nns IN A 127.0.0.1\n'
	echo '@ IN TXT "v=spf1 ip4:127.0.0.1 -all"'
	echo '_dmarc IN TXT "v=DMARC1; p=reject"'
} >"$T/zones/src.example.zone"
start_nsd src.example
RECV="mm-recv --root $ROOT --hostname mx.bench.example --log none $RUSER --resolver $MM_RESOLVER"
start_listen
WATCHRSS=1 measure "mm-recv --listen, smtp-source -d, SPF/DKIM/DMARC" $SRC -d 127.0.0.1:"$PORT"
stop_srv
RECV="$RECV --spf off --dkim off --dmarc off"
PORT=$(free_port)
if command -v systemd-socket-activate >/dev/null; then
	systemd-socket-activate --inetd --accept -l 127.0.0.1:"$PORT" $RECV 2>/dev/null &
else	# no systemd: the same fork+exec per connection, as inetd does it
	$PY - "$PORT" $RECV <<'PY' &
import os, signal, socket, sys
signal.signal(signal.SIGCHLD, signal.SIG_DFL)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
while True:
    c, _ = s.accept()
    if os.fork() == 0:
        os.dup2(c.fileno(), 0); os.dup2(c.fileno(), 1); s.close(); c.close()
        os.execvp(sys.argv[2], sys.argv[2:])
    c.close()
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0: break
        except ChildProcessError:
            break
PY
fi
SRV=$!
bg_pid $SRV
wait_port "$PORT" || bail "the inetd stand-in did not listen"
sleep 0.3
measure "mm-recv inetd-style (exec), 1 msg/connection" $SRC 127.0.0.1:"$PORT"
stop_srv

# 4. Postfix, the same load, counted until the last message is in new/
PF=$T/pf
if [ "$(id -u)" != 0 ]; then
	echo "Postfix: needs root to start (not compared in this run)"
	echo "serial limit again, after the runs: $(serial) files/s"
	exit 0
fi
mkdir -p "$PF/etc" "$PF/spool" "$PF/data" "$PF/vmail"
chown postfix "$PF/data"; chown nobody "$PF/vmail"
PORT=$(free_port)
{
	echo "127.0.0.1:$PORT inet n - n - - smtpd"
	# Debian's services, without chroot (the spool is ours) and without tlsmgr
	grep -v '^#' /etc/postfix/master.cf | sed -n '/^pickup/,/^postlog/p' | grep -v '^tlsmgr' |
		sed -E 's/^([a-z]+ +unix(-dgram)? +[-n] +[-n] +)y /\1n /'
} >"$PF/etc/master.cf"
cat >"$PF/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
myhostname = mx.bench.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = bench.example
virtual_mailbox_base = $PF/vmail
virtual_mailbox_maps = static:bench.example/me/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
maillog_file = /dev/stdout
CF
pf_stop() { postfix -c "$PF/etc" stop >/dev/null 2>&1; }
postfix -c "$PF/etc" start >/dev/null 2>&1 || bail "postfix did not start"
trap 'pf_stop; _cleanup' EXIT
wait_port "$PORT" || bail "postfix smtpd did not listen"
MASTER=$(tr -d ' ' <"$PF/spool/pid/master.pid")
pf_run() { # NAME smtp-source-options...
	_name=$1; shift
	: >"$T/runs"
	for _r in $(seq "$RUNS"); do
		rm -rf "$PF/vmail/bench.example"
		rss_watch "$MASTER" "$T/rss" smtpd
		t0=$(now_ms)
		$SRC "$@" 127.0.0.1:"$PORT" >"$T/load.out" 2>&1 || cat "$T/load.out" >&2
		for _i in $(seq 1200); do     # at most a minute for the queue to drain
			[ "$(nnew "$PF/vmail/bench.example/me/new" 2>/dev/null)" -ge "$N" ] && break
			sleep 0.05
		done
		t1=$(now_ms)
		rss_stop "$T/rss"
		echo "$((t1 - t0)) 0 $RSS $(nnew "$PF/vmail/bench.example/me/new" 2>/dev/null)" >>"$T/runs"
	done
	row "$_name" $(median "$T/runs") | sed 's/  0\.00 /     - /'
}
pf_run "Postfix 3.7 (to Maildir), smtp-source -d" -d
pf_run "Postfix 3.7 (to Maildir), 1 msg/connection"
pf_stop
echo "serial limit again, after the runs: $(serial) files/s"
