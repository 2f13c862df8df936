#!/bin/sh
# mm-sync over a slow round trip: protocol 2 keeps at most SYNC_WINDOW
# (2 MiB) unacknowledged, so one stream is bound by the round trip.  The
# remote shell here is a local relay that holds the client's bytes (its
# acknowledgements and confirmations) for DELAY seconds each way it
# matters; 20 messages of 5 MB, with and without the delay.  No ssh: this
# measures the protocol, not the cipher.
set -u
MM_TOP=${MM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MM_BIN=${MM_BIN:-$MM_TOP/build}
export MM_TOP MM_BIN
. "$MM_TOP/tests/lib.sh"
DELAY=${BENCH_DELAY:-0.05}
cat >"$T/relay" <<'PY'
import collections, os, subprocess, sys, threading, time
delay = float(os.environ["DELAY"])
p = subprocess.Popen(["sh", "-c", sys.argv[-1]], stdin=subprocess.PIPE)
q, cv = collections.deque(), threading.Condition()
def reader():
    while True:
        b = os.read(0, 65536)
        with cv:
            q.append((time.monotonic() + delay, b))
            cv.notify()
        if not b:
            return
def writer():
    while True:
        with cv:
            while not q:
                cv.wait()
            t, b = q.popleft()
        if t > time.monotonic():
            time.sleep(t - time.monotonic())
        if not b:
            p.stdin.close()
            return
        p.stdin.write(b)
        p.stdin.flush()
threading.Thread(target=reader, daemon=True).start()
threading.Thread(target=writer).start()
sys.exit(p.wait())
PY
run() { # DELAY -> prints "ms"
	R=$T/r$1 L=$T/l$1
	mkdir -p "$R/new" "$R/cur" "$R/tmp" "$L"
	i=0
	while [ $i -lt 20 ]; do head -c 5000000 /dev/urandom >"$R/new/$i.x"; i=$((i + 1)); done
	S=$(date +%s%3N)
	DELAY=$1 "$MM_BIN/mm-sync" -e "$PY $T/relay" --remote-path "$MM_BIN/mm-sync" "x:$R" "$L" ||
		bail "mm-sync failed"
	[ "$(ls "$L/new" | wc -l)" = 20 ] || bail "not all moved"
	echo $(($(date +%s%3N) - S))
}
a=$(run 0)
b=$(run "$DELAY")
printf '%-40s %8s %8s\n' "100 MB, 20 messages, no ssh" "ms" "MB/s"
printf '%-40s %8s %8s\n' "no delay" "$a" "$((100000 / a))"
printf '%-40s %8s %8s\n' "client's bytes delayed ${DELAY}s" "$b" "$((100000 / b))"
