#!/bin/sh
# mm-recv: every limit refuses with the right code and memory stays
# bounded whatever the client sends.
. "$(dirname "$0")/lib.sh"
. "$MM_TOP/tests/recv/setup.sh"

E='(b"EHLO c.example.net\r\n", 1)'
# command lines: 512 octets with CRLF pass, 513 refused
l510=$($PY -c 'print("NOOP " + "x" * 505, end="")')
l511=$($PY -c 'print("NOOP " + "x" * 506, end="")')
out=$(printf '%s\n' "$E" "(b\"$l510\r\n\", 1)" "(b\"$l511\r\n\", 1)" '(b"QUIT\r\n", 1)' | raw)
like "$(printf '%s\n' "$out" | sed -n '/^250 HELP/{n;p}')" '^250 2.0.0 OK' "512-octet command line accepted"
like "$out" '500 5.5.2 command line longer than 512 octets' "513-octet command line: 500 5.5.2"
like "$out" '221 2.0.0' "session goes on after it"

# Memory is judged by growth over the peak RSS of a session that only
# says QUIT, measured the same way: the build's own baseline (an ASan
# build starts several MiB higher, and by how much depends on the
# machine) is not what these tests are about.  Under ASan, freed memory
# is held in a quarantine (256 MB by default) that would count as ours:
# keep it small for these measurements.
QASAN="${ASAN_OPTIONS:-detect_leaks=1}:quarantine_size_mb=1"
base=$(ASAN_OPTIONS=$QASAN $PY - $RECV <<'PY'
import subprocess, sys, resource
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
p.communicate(b"QUIT\r\n")
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
)
ok "baseline peak RSS of a QUIT-only session: ${base} KiB" [ "${base:-0}" -gt 0 ]
# grown RSS LIMIT_KIB: peak RSS $rss minus the baseline is under the limit
grown() { [ "$((rss - base))" -lt "$1" ]; }

# a 1 MiB line without CRLF, then more: refused, memory bounded
$PY - "$T/big" <<'PY'
import sys
open(sys.argv[1], "wb").write(b"A" * (1 << 20) + b"\r\nQUIT\r\n")
PY
printf '%s\n("file", "%s", 2)\n' "$E" "$T/big" >"$T/steps"
out=$(SMTPRAW_TIMEOUT=20 raw <"$T/steps")
like "$out" '500 5.5.2 command line longer than 512 octets' "1 MiB line: 500"
like "$out" '221 2.0.0' "and the session survives"
$PY - "$T/big2" <<'PY'
import sys
open(sys.argv[1], "wb").write(b"A" * (8 << 20))
PY
rss=$(ASAN_OPTIONS=$QASAN $PY - "$T/big2" $RECV <<'PY'
import subprocess, sys, resource, time
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.3)
try:
    p.stdin.write(open(sys.argv[1], "rb").read()); p.stdin.close()
except BrokenPipeError:
    pass
p.wait()
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
)
ok "8 MiB without a line end: peak RSS ${rss} KiB, under 8 MiB above the baseline" grown 8192

# header continuation lines by the hundred thousand: bounded by --max-size
$PY - "$T/cont" <<'PY'
import sys
body = b"Subject: x\r\n" + b" y\r\n" * 200000 + b"\r\nbody\r\n.\r\n"
open(sys.argv[1], "wb").write(body)
PY
printf '%s\n(b"MAIL FROM:<a@other.net>\\r\\nRCPT TO:<me@example.org>\\r\\n", 2)\n(b"DATA\\r\\n", 1)\n("file", "%s", 1)\n' "$E" "$T/cont" >"$T/steps"
out=$(raw --max-size 256k <"$T/steps")
like "$out" '552 5.3.4 message larger than the limit of 262144 octets' "200,000 continuation lines over --max-size: 552"
out=$(raw <"$T/steps")
like "$out" '550 5.6.0 message header cannot be parsed' "200,000 continuation lines within --max-size: one 800 KB field refused (header limits)"
rm -f "$ROOT"/example.org/me/new/*

# recipients: 452 past the limit
$PY - "$T/rcpts" <<'PY'
import sys
r = b"RCPT TO:<me@example.org>\r\n" * 150
open(sys.argv[1], "w").write('(b"EHLO c.example.net\\r\\n", 1)\n(b"MAIL FROM:<a@other.net>\\r\\n", 1)\n(%r, 150)\n(b"QUIT\\r\\n", 1)\n' % r)
PY
out=$(raw --max-errors 1000 <"$T/rcpts")
is "$(printf '%s\n' "$out" | grep -c '^452 4.5.3 too many recipients')" 50 "recipient 101..150: 452 4.5.3"
is "$(printf '%s\n' "$out" | grep -c '^250 2.1.5')" 100 "the first 100 accepted"

# 100,000 RCPTs in one stream (replies read as they come): 452 past the
# limit for every one of them, memory bounded, the session goes on.
out=$(ASAN_OPTIONS=$QASAN $PY - $RECV <<'PY'
import resource, subprocess, sys, threading, time
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
got = []
def reader():
    for l in p.stdout: got.append(l[:4])
p.stdout.readline(); p.stdin.write(b"EHLO c.example.net\r\n"); p.stdin.flush()
while not p.stdout.readline().startswith(b"250 "): pass
t = threading.Thread(target=reader); t.start()
p.stdin.write(b"MAIL FROM:<a@other.net>\r\n" + b"RCPT TO:<me@example.org>\r\n" * 100000 + b"QUIT\r\n")
p.stdin.close(); t.join(); p.wait()
print("250=%d 452=%d 221=%d" % (got.count(b"250 "), got.count(b"452 "), got.count(b"221 ")))
print("rss=%d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
)
like "$out" '250=101 452=99900 221=1' "100,000 RCPTs: MAIL and 100 accepted, 99,900 get 452, QUIT answered"
rss=${out##*rss=}
# (keeping the refused recipients, ~330 octets each, would add 32 MiB)
ok "100,000 RCPTs: peak RSS ${rss} KiB, under 24 MiB above the baseline" grown 24576
# a client that pipelines a million NOOPs in writes that each end in the
# middle of a line (so the server never sees its input drained) and reads
# no reply for a while: unsent replies are flushed at
# SMTPD_REPLY_BACKLOG_MAX, so the server waits for the reader instead of
# buffering 14 MB of replies
out=$(ASAN_OPTIONS=$QASAN $PY - $RECV <<'PY'
import resource, subprocess, sys, threading, time
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
p.stdout.readline(); p.stdin.write(b"EHLO c.example.net\r\n")
while not p.stdout.readline().startswith(b"250 "): pass
def writer():
    data = b"NOOP\r\n" * 1000000 + b"QUIT\r\n"
    p.stdin.write(data[:1])                  # from here on every write ends mid-line
    for i in range(1, len(data), 600 * 6):
        p.stdin.write(data[i:i + 600 * 6])
        time.sleep(0.0002)
    p.stdin.close()
t = threading.Thread(target=writer); t.start()
time.sleep(2)              # not reading: the server must not buffer for us
n = sum(1 for l in p.stdout if l.startswith(b"250 2.0.0 OK"))
t.join(); p.wait()
print("noops=%d rss=%d" % (n, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
PY
)
like "$out" 'noops=1000000 ' "a million pipelined NOOPs, read late: every one answered"
rss=${out##*rss=}
# (buffering every reply would add 14 MB)
ok "and unsent replies stay bounded: peak RSS ${rss} KiB, under 8 MiB above the baseline" grown 8192
out=$(printf '%s\n' "$E" '(b"MAIL FROM:<a@other.net>\r\n", 1)' '(b"RCPT TO:<me@example.org>\r\nRCPT TO:<you@example.org>\r\nRCPT TO:<him@example.org>\r\n", 3)' '(b"DATA\r\n", 1)' '(b"Subject: r\r\n\r\nx\r\n.\r\n", 1)' | raw --max-rcpt 2)
like "$out" '452 4.5.3 too many recipients \(at most 2 per message\)' "--max-rcpt 2: the third gets 452 4.5.3"
like "$out" '250 2.0.0 delivered to 2 mailboxes' "and the message goes to the first two"
is "$(nnew example.org/him)" 0 "not to the third"
rm -f "$ROOT"/example.org/me/new/* "$ROOT"/example.org/you/new/*

# SIZE
out=$(printf '%s\n' "$E" '(b"MAIL FROM:<a@other.net> SIZE=99999999999999999999\r\n", 1)' '(b"MAIL FROM:<a@other.net> SIZE=-1\r\n", 1)' \
	'(b"MAIL FROM:<a@other.net> SIZE=52428801\r\n", 1)' '(b"MAIL FROM:<a@other.net> SIZE=52428800 BODY=8BITMIME\r\n", 1)' '(b"QUIT\r\n", 1)' | raw)
like "$out" '552 5.3.4 message size exceeds the limit' "SIZE=99999999999999999999: 552"
like "$out" '501 5.5.4 SIZE must be a decimal number' "SIZE=-1: 501"
is "$(printf '%s\n' "$out" | grep -c '^552 5.3.4')" 2 "SIZE one over the limit: 552"
like "$out" '250 2.1.0 <a@other.net>: sender ok' "SIZE at the limit: 250"
# the limit is exact: a message of N octets passes --max-size N, N+1 does not
m=$($PY -c 'print("Subject: x\\r\\n\\r\\n" + "y" * 84 + "\\r\\n", end="")')   # 100 octets
printf '%s\n(b"MAIL FROM:<a@other.net>\\r\\nRCPT TO:<me@example.org>\\r\\n", 2)\n(b"DATA\\r\\n", 1)\n(b"%s.\\r\\n", 1)\n' "$E" "$m" >"$T/steps"
like "$(raw --max-size 100 <"$T/steps")" '250 2.0.0 delivered' "message of exactly --max-size octets: delivered"
like "$(raw --max-size 99 <"$T/steps")" '552 5.3.4 message larger than the limit of 99 octets' "one octet over: 552"

# text lines: 998 octets pass, 999 refused
l998=$($PY -c 'print("x" * 998, end="")')
printf '%s\n(b"MAIL FROM:<a@other.net>\\r\\nRCPT TO:<me@example.org>\\r\\n", 2)\n(b"DATA\\r\\n", 1)\n(b"Subject: l\\r\\n\\r\\n%s\\r\\n.\\r\\n", 1)\n(b"MAIL FROM:<a@other.net>\\r\\nRCPT TO:<me@example.org>\\r\\n", 2)\n(b"DATA\\r\\n", 1)\n(b"Subject: l\\r\\n\\r\\nx%s\\r\\n.\\r\\n", 1)\n' "$E" "$l998" "$l998" >"$T/steps"
out=$(raw <"$T/steps")
like "$out" '250 2.0.0 delivered' "998-octet text line: delivered"
like "$out" '554 5.6.0 message has a line longer than 998 octets' "999-octet text line: 554 5.6.0"

# errors before disconnect
out=$(printf '%s\n' "$E" '(b"FOO\r\nFOO\r\nFOO\r\n", 3)' '(b"NOOP\r\n", 1)' | raw --max-errors 3)
like "$out" '421 4.7.0 too many errors: closing' "--max-errors 3: 421 after the third"
unlike "$out" '250 2.0.0 OK' "nothing more is served"

# a client that stops sending: timeout, clean close
out=$($PY - $RECV --timeout 1 <<'PY'
import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
p.stdout.readline()
t = time.time()
p.stdin.write(b"EHLO c.example.net\r\n"); p.stdin.flush()
out = p.stdout.read()          # until mm-recv closes; our side stays open
print(out.decode(), "took=%d" % round(time.time() - t))
p.stdin.close(); p.wait()
PY
)
took=${out##*took=}
like "$out" '421 4.4.2 timeout: closing' "--timeout 1: 421 4.4.2"
ok "closed after about a second, not when the client gave up (${took}s)" [ "$took" -le 4 ]
# a client that connects and never greets: --greeting-timeout, not --timeout
out=$(printf '%s\n' '(b"", 1)' | SMTPRAW_TIMEOUT=8 raw --greeting-timeout 1 --timeout 60)
like "$out" '421 4.4.2 timeout: closing' "--greeting-timeout 1 (--timeout 60): silent client gets 421 4.4.2"
# a client that stops in the middle of DATA: --data-timeout
rm -f "$ROOT"/example.org/me/new/*
out=$(printf '%s\n' "$E" '(b"MAIL FROM:<a@other.net>\r\nRCPT TO:<me@example.org>\r\n", 2)' '(b"DATA\r\n", 1)' \
	'(b"Subject: slow\r\n", 1)' | SMTPRAW_TIMEOUT=8 raw --data-timeout 1 --timeout 60)
like "$out" '421 4.4.2 timeout waiting for data: closing' "--data-timeout 1 (--timeout 60): 421 4.4.2 in DATA"
is "$(nnew example.org/me)$(ntmp example.org/me)" 00 "and nothing stored or left in tmp/"
like "$(cat "$T/raw.err")" 'disconnected \(timeout\)' "logged as a timeout"
out=$(mm-recv --greeting-timeout 0 2>&1); rc=$?
is "$rc" 64 "--greeting-timeout 0: usage error"
done_testing
