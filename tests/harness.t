#!/bin/sh
# The test harness itself: nsd starts on a free port and answers, and is
# gone after the test's cleanup.
. "$(dirname "$0")/lib.sh"

start_nsd example.test
is "$(dig_t A ns.example.test)" "127.0.0.1" "nsd serves the fixture zone"
like "$MM_RESOLVER" '^127\.0\.0\.1:[0-9]+$' "MM_RESOLVER points at it"
ok "nsd is running" kill -0 "$NSD_PID"
nok "a name not in the zone has no address" test -n "$(dig_t A nothere.example.test)"
done_testing
