#!/bin/sh
# lib/dns against a real nsd: statuses stay distinct, a batch is one wave,
# truncated answers come over TCP, CNAME chains are followed (also across
# zones) and loops cut.  build/t/dns.t doubles as the helper:
# "dns.t query TYPE NAME...".
. "$(dirname "$0")/lib.sh"
start_nsd good.test fault.test reports.test 2.0.192.in-addr.arpa broken.test
H=$MM_BIN/t/dns.t
[ -x "$H" ] || bail "$H not built"

R=$("$H" query A mx1.good.test MX good.test TXT nothere.good.test AAAA mx1.good.test \
	A broken.test A example.org PTR 11.2.0.192.in-addr.arpa TXT huge.fault.test \
	A alias.fault.test A l1.fault.test A xloop.fault.test TXT split.fault.test)
line() { printf '%s\n' "$R" | sed -n "$1p"; }
is "$(line 1)" "ok 1 tcp=0 cnames=0 192.0.2.11" "A: ok with the address"
is "$(line 2)" "ok 2 tcp=0 cnames=0 mx1.good.test" "MX: ok, exchange names"
is "$(line 3)" "nxdomain 0 tcp=0 cnames=0 -" "missing name: nxdomain"
is "$(line 4)" "nodata 0 tcp=0 cnames=0 -" "name without that type: nodata"
is "$(line 5)" "servfail 0 tcp=0 cnames=0 -" "zone that failed to load: servfail"
is "$(line 6)" "servfail 0 tcp=0 cnames=0 -" "zone not served (REFUSED): servfail class"
is "$(line 7)" "ok 1 tcp=0 cnames=0 mx1.good.test" "PTR"
is "$(line 8)" "ok 1 tcp=1 cnames=0 txt" "answer over 512 octets: truncated, asked again over TCP"
is "$(line 9)" "ok 1 tcp=0 cnames=1 192.0.2.31" "CNAME followed"
is "$(line 10)" "error 0 tcp=0 cnames=2 -" "CNAME loop cut"
like "$(line 11)" '^error 0 tcp=0 cnames=[0-9]+ -$' "CNAME loop across zones cut"
is "$(line 12)" "ok 1 tcp=0 cnames=0 txt" "TXT of many strings"
like "$(line 13)" '^waves=[12] ' "twelve questions, one wave (plus one for a chain leaving its zone)"

# timeout vs. refused
DEAD=$(free_port)
R=$(MM_RESOLVER=127.0.0.1:$DEAD "$H" query A good.test)
is "$(line 1)" "error 0 tcp=0 cnames=0 -" "nobody on the port: error at once"
done_testing
