#!/bin/sh
# dnscheck benchmark: mm-dnscheck's concurrent waves against the same
# checks asked one query at a time with dig, both through a UDP relay that
# delays every query by 20 ms (a nearby resolver) in front of a real nsd.
# The domain: 3 MX hosts, 4 addresses (3 MX + --ip), SPF with 3 nested
# includes, 2 DKIM selectors, DMARC.
set -u
MM_TOP=${MM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
MM_BIN=${MM_BIN:-$MM_TOP/build}
export MM_TOP MM_BIN
. "$MM_TOP/tests/lib.sh"
need openssl dig:dnsutils
DELAY_MS=20

mkdir -p "$T/zones"
key() {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/$1.pem" 2>/dev/null
	printf '%s._domainkey IN TXT ' "$1"
	printf 'v=DKIM1; k=rsa; p=%s' "$(openssl pkey -in "$T/$1.pem" -pubout -outform DER 2>/dev/null | base64 -w0)" |
		fold -w 200 | sed 's/.*/"&"/' | tr '\n' ' '
	echo
}
{
	cat <<'Z'
$ORIGIN bench.test.
$TTL 300
@	IN SOA ns hostmaster 1 3600 600 86400 300
	IN NS ns
	IN MX 10 mx1
	IN MX 20 mx2
	IN MX 30 mx3
	IN TXT "v=spf1 mx include:s1.bench.test -all"
ns	IN A 192.0.2.1
mx1	IN A 192.0.2.51
mx2	IN A 192.0.2.52
mx3	IN A 192.0.2.53
out	IN A 192.0.2.50
s1	IN TXT "v=spf1 ip4:192.0.2.50 include:s2.bench.test"
s2	IN TXT "v=spf1 include:s3.bench.test"
s3	IN TXT "v=spf1 a:mx1.bench.test"
_dmarc	IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@bench.test"
_mta-sts	IN TXT "v=STSv1; id=1"
_smtp._tls	IN TXT "v=TLSRPTv1; rua=mailto:tls@bench.test"
Z
	key k1
	key k2
} >"$T/zones/bench.test.zone"
cat >"$T/zones/2.0.192.in-addr.arpa.zone" <<'Z'
$ORIGIN 2.0.192.in-addr.arpa.
$TTL 300
@	IN SOA ns.bench.test. hostmaster.bench.test. 1 3600 600 86400 300
	IN NS ns.bench.test.
50	IN PTR out.bench.test.
51	IN PTR mx1.bench.test.
52	IN PTR mx2.bench.test.
53	IN PTR mx3.bench.test.
Z
start_nsd bench.test 2.0.192.in-addr.arpa >/dev/null

# the delaying relay
RELAY=$(free_port)
$PY - "$RELAY" "$NSD_PORT" "$DELAY_MS" >"$T/relay.out" 2>&1 <<'PY' &
import asyncio, socket, sys
lport, uport, delay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1000.0

class Relay(asyncio.DatagramProtocol):
    def connection_made(self, t):
        self.t = t
        print("ready", flush=True)
    def datagram_received(self, data, addr):
        asyncio.get_running_loop().create_task(self.forward(data, addr))
    async def forward(self, data, addr):
        await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        try:
            await loop.sock_connect(s, ("127.0.0.1", uport))
            await loop.sock_sendall(s, data)
            resp = await asyncio.wait_for(loop.sock_recv(s, 65535), 5)
            self.t.sendto(resp, addr)
        except Exception:
            pass
        finally:
            s.close()

async def main():
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Relay, local_addr=("127.0.0.1", lport))
    await asyncio.sleep(3600)
asyncio.run(main())
PY
bg_pid $!
i=0; while ! grep -q ready "$T/relay.out" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done

ms() { date +%s%3N; }

# mm-dnscheck
S=$(ms)
mm-dnscheck --resolver "127.0.0.1:$RELAY" --stats --ip 192.0.2.50 --selector k1 --selector k2 bench.test >"$T/mm.out" 2>"$T/mm.err"
RC=$?
E=$(ms)
MM_MS=$((E - S))
MM_Q=$(sed -n 's/.*queries=\([0-9]*\).*/\1/p' "$T/mm.err")
MM_W=$(sed -n 's/.*waves=\([0-9]*\).*/\1/p' "$T/mm.err")

# the same questions, one at a time
set -- \
	MX bench.test  A bench.test  AAAA bench.test  TXT bench.test \
	A mx1.bench.test  AAAA mx1.bench.test  A mx2.bench.test  AAAA mx2.bench.test \
	A mx3.bench.test  AAAA mx3.bench.test \
	PTR 50.2.0.192.in-addr.arpa  PTR 51.2.0.192.in-addr.arpa \
	PTR 52.2.0.192.in-addr.arpa  PTR 53.2.0.192.in-addr.arpa \
	A out.bench.test \
	TXT s1.bench.test  TXT s2.bench.test  TXT s3.bench.test  A mx1.bench.test  MX bench.test \
	TXT k1._domainkey.bench.test  TXT k2._domainkey.bench.test \
	TXT _dmarc.bench.test  TXT _mta-sts.bench.test  TXT _smtp._tls.bench.test
DIG_Q=$(($# / 2))
S=$(ms)
while [ $# -gt 0 ]; do
	dig +short +tries=1 +time=2 @127.0.0.1 -p "$RELAY" "$1" "$2" >/dev/null
	shift 2
done
E=$(ms)
DIG_MS=$((E - S))

printf '%-28s %8s %6s %9s\n' "" queries waves "wall ms"
printf '%-28s %8s %6s %9s\n' "mm-dnscheck (exit $RC)" "$MM_Q" "$MM_W" "$MM_MS"
printf '%-28s %8s %6s %9s\n' "dig, one at a time" "$DIG_Q" "$DIG_Q" "$DIG_MS"
printf 'relay delay %d ms per query; speed-up %s x\n' "$DELAY_MS" \
	"$(awk -v a="$DIG_MS" -v b="$MM_MS" 'BEGIN { printf "%.1f", a / (b > 0 ? b : 1) }')"
