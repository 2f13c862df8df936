#!/bin/sh
# spf_eval (the API mm-recv uses) against a real nsd, through
# $MM_RESOLVER: each verdict, the Received-SPF value, and that a broken
# record or a failing server gives permerror/temperror, not a crash.
# build/t/spf.t doubles as the helper: "spf.t eval IP HELO FROM".
. "$(dirname "$0")/lib.sh"
start_nsd good.test fault.test broken.test

H=$MM_BIN/t/spf.t
[ -x "$H" ] || bail "$H not built"
ev() { "$H" eval "$@"; }

R=$(ev 192.0.2.10 mail.good.test user@good.test)
is "$(echo "$R" | head -1)" "pass 0" "listed ip4: pass"
like "$(echo "$R" | sed -n 2p)" '^pass .*client-ip=192.0.2.10; envelope-from=user@good.test; helo=mail.good.test;' "Received-SPF value"
R=$(ev 192.0.2.11 mx1.good.test user@good.test)
is "$(echo "$R" | head -1)" "pass 0" "mx mechanism: pass (through lib/dns and nsd)"
is "$(ev 192.0.2.99 x.good.test user@good.test | head -1)" "fail 0" "-all: fail"
is "$(ev 192.0.2.99 x.good.test user@qall.fault.test | head -1)" "neutral 0" "?all: neutral"
is "$(ev 192.0.2.31 x.good.test user@nospf.fault.test | head -1)" "none 0" "no record: none"
is "$(ev 192.0.2.31 x.good.test user@badspf.fault.test | head -1)" "permerror 0" "syntax error: permerror"
is "$(ev 192.0.2.31 x.good.test user@twospf.fault.test | head -1)" "permerror 0" "two records: permerror"
is "$(ev 192.0.2.31 x.good.test user@broken.test | head -1)" "temperror 0" "SERVFAIL: temperror"
is "$(ev 192.0.2.99 x.good.test user@spfloop.fault.test | head -1)" "permerror 0" "include loop: permerror, no hang"
R=$(ev 192.0.2.10 mail.good.test "")
is "$(echo "$R" | head -1)" "none 0" "null sender: the HELO name is checked (mail.good.test has none)"
like "$(echo "$R" | sed -n 2p)" 'envelope-from=postmaster@mail.good.test' "null sender: postmaster@HELO"
is "$(ev 192.0.2.10 good.test "" | head -1)" "pass 0" "null sender, HELO with a record: pass"
R=$(ev 192.0.2.10 mail.good.test "x@$(printf 'a%.0s' $(seq 1 300)).test")
like "$(echo "$R" | head -1)" '^(permerror|none|temperror) ' "over-long domain: a verdict, no crash"
done_testing
