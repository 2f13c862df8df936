#!/bin/sh
# relay benchmark: BENCH_N messages (default 1000), each signed by mm-send
# and submitted over a pipe to mm-recv --submit (DKIM check, replay cache,
# queue, fsync), which starts its runner (mm-send -q --mx -qIID) to deliver
# to a local aiosmtpd that nsd names as the recipient's MX.  Two submitters
# run side by side (2 cores).  Printed: messages per second accepted and
# delivered, and the accepted-to-delivered latency (from mm-send's exit
# after the 250 to the sink's receipt of the message).
set -u
MM_TOP=${MM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MM_BIN=${MM_BIN:-$MM_TOP/build}
export MM_TOP MM_BIN
. "$MM_TOP/tests/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"
. "$MM_TOP/tests/submit/setup.sh"
N=${BENCH_N:-1000}

P=$(free_port)
cat >"$T/sink.py" <<'PY'
import asyncio, sys, time
from aiosmtpd.controller import Controller
log = open(sys.argv[2], "a", buffering=1)
class H:
    async def handle_DATA(self, server, session, envelope):
        for line in envelope.original_content.split(b"\r\n"):
            if line.startswith(b"Subject: "):
                log.write("%s %.6f\n" % (line[9:].decode(), time.time()))
                break
        return "250 2.0.0 ok"
c = Controller(H(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
while True:
    time.sleep(3600)
PY
: >"$T/sink.log"
$PY "$T/sink.py" "$P" "$T/sink.log" >"$T/sink.err" 2>&1 &
bg_pid $!
wait_port "$P" || bail "sink did not start"
chmod 755 "$T"
SUB="$MM_BIN/mm-recv --submit --root $ROOT --hostname mx.example.org --log none $RUSER --queue $T/spool --keys $K --resolver $MM_RESOLVER --mm-send '$MM_BIN/mm-send --mx-port $P'"

submitter() { # FIRST STEP -> "subject time" lines of accepted messages
	i=$1
	while [ "$i" -lt "$N" ]; do
		printf 'From: me@example.org\nTo: pal@far.test\nSubject: b%s\n\nbenchmark message %s\n' "$i" "$i" |
			mm-send --keys "$K" --queue "$T/lq" --via "$SUB" pal@far.test 2>>"$T/send.err" &&
			echo "b$i $(date +%s.%N)"
		i=$((i + $2))
	done
}
start=$($PY -c 'import time; print("%.6f" % time.time())')
submitter 0 2 >"$T/acc.0" &
a=$!
submitter 1 2 >"$T/acc.1"
wait $a
done_sub=$($PY -c 'import time; print("%.6f" % time.time())')
_i=0
while [ "$(wc -l <"$T/sink.log")" -lt "$N" ] && [ $_i -lt 600 ]; do sleep 0.1; _i=$((_i + 1)); done
cat "$T/acc.0" "$T/acc.1" >"$T/acc"
$PY - "$T/acc" "$T/sink.log" "$start" "$done_sub" "$N" <<'PY'
import sys
acc = dict(l.split() for l in open(sys.argv[1]))
got = dict(l.split() for l in open(sys.argv[2]))
start, done, n = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
lat = sorted((float(got[k]) - float(acc[k])) * 1000 for k in acc if k in got)
last = max(float(v) for v in got.values()) if got else start
def pct(p):
    return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print("| messages | accepted | delivered | accepted/s | delivered/s | latency median ms | p95 ms | max ms |")
print("|---------:|---------:|----------:|-----------:|------------:|------------------:|-------:|-------:|")
print("| %8d | %8d | %9d | %10.0f | %11.0f | %17.0f | %6.0f | %6.0f |" % (
    n, len(acc), len(got), len(acc) / (done - start), len(got) / (last - start),
    pct(0.5), pct(0.95), lat[-1] if lat else float("nan")))
PY
