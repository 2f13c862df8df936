# tests/recv/setup.sh — shared set-up for mm-recv's integration tests.
# A mail root $ROOT with domain example.org and a few mailboxes, owned by
# the account mm-recv runs as.  Tests run as root in CI, and mm-recv
# refuses to run as root, so they run it with --user nobody and hand the
# root to nobody; run as a normal user, no --user is needed.
need swaks mlist:mblaze
ROOT=$T/mail
mkdir -p "$ROOT/example.org/me/sub" "$ROOT/example.org/postmaster" "$ROOT/example.org/you" \
	"$ROOT/example.org/him"
chmod 755 "$T"
if [ "$(id -u)" = 0 ]; then
	RUSER="--user nobody"
	chown -R nobody "$ROOT"
else
	RUSER=""
fi
# Authentication is tested in recv-auth.t against nsd; elsewhere it is off
# so no test waits for a resolver it does not have.
NOAUTH="--spf off --dkim off --dmarc off"
RECV="mm-recv --root $ROOT --hostname mx.example.org --log stderr $RUSER $NOAUTH"

# raw ARGS... < steps: exact bytes to mm-recv on a pipe, transcript on stdout
raw() { $PY "$MM_TOP/tests/recv/smtpraw.py" -- $RECV "$@" 2>"$T/raw.err"; }
# count of messages in a folder's new/
nnew() { find "$ROOT/$1/new" -type f 2>/dev/null | wc -l | tr -d ' '; }
ntmp() { find "$ROOT/$1/tmp" -type f 2>/dev/null | wc -l | tr -d ' '; }
