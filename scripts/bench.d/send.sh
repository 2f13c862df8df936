#!/bin/sh
# send benchmark: mm-send signs (rsa-sha256, 2048 bits) and submits
# BENCH_N messages of 4 KiB (default 1000) and one of 20 MiB to Postfix's
# smtp-sink on loopback (--mx through a real nsd); msmtp sends the same
# files unsigned to the same sink.  Wall time per message, medians of
# BENCH_RUNS runs (default 3), the two tools alternating.
# DKIM body hashing: mm-send's own measure of its signing step
# (MM_SEND_STATS) on the 20 MiB message against `openssl dgst -sha256`
# on the same bytes (its start-up, timed on an empty input, subtracted).
# With perf, where the time of a whole run goes: mm-send (its own passes
# and the canonicaliser), libcrypto (SHA-256 and RSA), libc, the kernel.
set -u
MM_TOP=${MM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MM_BIN=${MM_BIN:-$MM_TOP/build}
export MM_TOP MM_BIN
. "$MM_TOP/tests/lib.sh"
need nsd dig:dnsutils openssl msmtp smtp-sink:postfix /usr/bin/time:time
N=${BENCH_N:-1000}
RUNS=${BENCH_RUNS:-3}
export HOME=$T/home MM_SEND_SYSTEM_CONF=
mkdir -p "$HOME" "$T/zones" "$T/m"

cat >"$T/zones/bench.test.zone" <<'Z'
$ORIGIN bench.test.
$TTL 300
@	IN SOA ns hostmaster 1 3600 600 86400 300
	IN NS ns
	IN MX 10 mx
ns	IN A 127.0.0.1
mx	IN A 127.0.0.1
Z
start_nsd bench.test >/dev/null
mm-keygen --keys "$T/keys" me@bench.test >/dev/null 2>&1 || bail "mm-keygen failed"

# messages: text lines of words, CRLF already, so that mm-send and
# openssl see the same bytes
$PY - "$T/m" "$N" <<'PY'
import random, sys
d, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1)
words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9)))
         for _ in range(2000)]
def body(size):
    out, k = [], 0
    while k < size:
        l = " ".join(rnd.choice(words) for _ in range(rnd.randint(6, 14)))
        out.append(l); k += len(l) + 2
    return "\r\n".join(out) + "\r\n"
def msg(i, size):
    return ("From: Me <me@bench.test>\r\nTo: you@bench.test\r\nSubject: bench %s\r\n"
            "Message-ID: <%s@bench.test>\r\nDate: Mon, 1 Dec 2025 10:00:00 +0000\r\n\r\n"
            % (i, i)) + body(size)
for i in range(n):
    open("%s/%05d.eml" % (d, i), "w", newline="").write(msg(i, 4096 - 160))
open("%s/big.eml" % d, "w", newline="").write(msg("big", 20 * 1024 * 1024))
PY

P=$(free_port)
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"
# shellcheck disable=SC2086
smtp-sink $SINKUSER 127.0.0.1:"$P" 256 >/dev/null 2>&1 &
bg_pid $!
wait_port "$P" || bail "smtp-sink did not start"

Q=$T/queue
MMSEND="mm-send --keys $T/keys --queue $Q --mx --mx-port $P --resolver 127.0.0.1:$NSD_PORT"
MSMTP="msmtp -C /dev/null --host=127.0.0.1 --port=$P --tls=off --auth=off --domain=localhost --from=me@bench.test"
now() { date +%s%N; }
# run_all OUT TOOLCMD FILES...: appends "wall user sys" (seconds) of the
# whole loop to OUT, or FAIL at the first failed send
export ERRS=$T/errors
run_all() {
	_out=$1 _cmd=$2; shift 2
	/usr/bin/time -f '%e %U %S' -a -o "$_out" sh -c '
		c=$1; shift
		for f; do $c you@bench.test <"$f" 2>>"$ERRS" || exit 1; done' run "$_cmd" "$@" ||
		echo FAIL >>"$_out"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
wall() { awk '{print $1}' "$1" | median; }
cpu() { awk '{print $2 + $3}' "$1" | median; }

: >"$ERRS"
for r in $(seq "$RUNS"); do
	run_all "$T/mm.small" "$MMSEND" "$T"/m/0*.eml
	run_all "$T/ms.small" "$MSMTP" "$T"/m/0*.eml
	run_all "$T/mm.big" "$MMSEND" "$T/m/big.eml"
	run_all "$T/ms.big" "$MSMTP" "$T/m/big.eml"
done
if grep -q FAIL "$T"/mm.* "$T"/ms.* || [ -s "$ERRS" ]; then
	sed 's/^/# /' "$ERRS" | head -20
	bail "a send failed (see above)"
fi
[ "$(mm-send --queue "$Q" -bp)" = "Mail queue is empty" ] || bail "mm-send queued something: not a delivery benchmark"

# body hashing: mm-send's signing step against openssl dgst, same bytes
BIG=$T/m/big.eml
BYTES=$(wc -c <"$BIG")
for r in 1 2 3 4 5; do
	MM_SEND_STATS=1 mm-send --keys "$T/keys" --queue "$T/q2" -odq you@bench.test <"$BIG" 2>&1 |
		sed -n 's/.*sign_us=\([0-9]*\).*/\1/p' >>"$T/sign.us"
	t0=$(now); openssl dgst -sha256 "$BIG" >/dev/null; t1=$(now)
	openssl dgst -sha256 /dev/null >/dev/null; t2=$(now)
	echo $(((t1 - t0) - (t2 - t1))) >>"$T/dgst.ns"
done

per() { awk -v s="$1" -v n="$2" 'BEGIN {printf "%.2f", s * 1000 / n}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
mm_w=$(wall "$T/mm.small"); ms_w=$(wall "$T/ms.small"); mm_c=$(cpu "$T/mm.small"); ms_c=$(cpu "$T/ms.small")
mb_w=$(wall "$T/mm.big"); msb_w=$(wall "$T/ms.big"); mb_c=$(cpu "$T/mm.big"); msb_c=$(cpu "$T/ms.big")
sign_us=$(median <"$T/sign.us"); dgst_ns=$(median <"$T/dgst.ns")
mbs() { awk -v b="$BYTES" -v ns="$1" 'BEGIN {printf "%.0f", b / (ns / 1e9) / 1e6}'; }
sign_mbs=$(mbs $((sign_us * 1000))); dgst_mbs=$(mbs "$dgst_ns")

echo "messages: $N x 4 KiB and 1 x $(awk -v b="$BYTES" 'BEGIN {printf "%.1f", b / 1048576}') MiB, medians of $RUNS runs; smtp-sink on loopback"
echo
echo "| ms per message               | 4 KiB wall | 4 KiB CPU | 20 MiB wall | 20 MiB CPU |"
echo "|------------------------------|-----------:|----------:|------------:|-----------:|"
printf '| mm-send (rsa-sha256, --mx)   | %10s | %9s | %11s | %10s |\n' \
	"$(per "$mm_w" "$N")" "$(per "$mm_c" "$N")" "$(per "$mb_w" 1)" "$(per "$mb_c" 1)"
printf '| msmtp (unsigned)             | %10s | %9s | %11s | %10s |\n' \
	"$(per "$ms_w" "$N")" "$(per "$ms_c" "$N")" "$(per "$msb_w" 1)" "$(per "$msb_c" 1)"
printf '| ratio mm-send / msmtp        | %10s | %9s | %11s | %10s |\n' \
	"$(ratio "$mm_w" "$ms_w")" "$(ratio "$mm_c" "$ms_c")" "$(ratio "$mb_w" "$msb_w")" "$(ratio "$mb_c" "$msb_c")"
echo
echo "| 20 MiB body                                | MB/s |"
echo "|--------------------------------------------|-----:|"
printf '| mm-send signing (relaxed body, rsa-sha256) | %4s |\n' "$sign_mbs"
printf '| openssl dgst -sha256                       | %4s |\n' "$dgst_mbs"
printf '| ratio                                      | %3s%% |\n' \
	"$(awk -v a="$sign_mbs" -v b="$dgst_mbs" 'BEGIN {printf "%.0f", 100 * a / b}')"

# where the signing time goes (perf, when it may sample)
if command -v perf >/dev/null 2>&1 &&
	perf record -q -o "$T/perf.data" -- "$MM_BIN/mm-send" --keys "$T/keys" --queue "$T/q3" -odq \
		you@bench.test <"$BIG" >/dev/null 2>&1; then
	perf report -i "$T/perf.data" --sort dso --stdio 2>/dev/null |
		awk '/libcrypto|mm-send|libc\.so|kernel/ && $1 ~ /%$/ {printf "%s %s\n", $1, $2}' >"$T/perf.txt"
	echo
	echo "perf, whole mm-send -odq run on the 20 MiB message (share of samples):"
	sed 's/^/  /' "$T/perf.txt"
fi
