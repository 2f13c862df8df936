#!/bin/sh
# mm-send's config files without root: MM_SEND_SYSTEM_CONF moves the
# system file (/etc/mm/send.conf); precedence is system file, then
# ~/.config/mm/send.conf, then the command line, option by option.
. "$(dirname "$0")/lib.sh"
export HOME=$T/home
mkdir -p "$HOME/.config/mm" "$T/sys" "$T/o-sys" "$T/o-user" "$T/o-cli"
SYS=$T/sys/send.conf
USR=$HOME/.config/mm/send.conf
export MM_SEND_SYSTEM_CONF="$SYS"
peer() { printf '%s %s %s' "$PY" "$MM_TOP/tests/smtp-peer.py" "$T/o-$1"; }
count() { ls "$T/o-$1" | grep -c '\.eml$'; }
send() { printf 'Subject: conf\n\nbody\n' | mm-send "$@" 2>"$T/err"; }

# system file alone: its transport, domain and --no-sign apply
cat >"$SYS" <<EOF
# the system's defaults
via $(peer sys)
domain sys.example
no-sign
queue $T/q
EOF
send root
is "$?" 0 "system file alone: sent"
is "$(count sys)" 1 "the system file's --via was used"
is "$(sed -n 2p "$T/o-sys/0.env")" "<root@sys.example>" "the system file's --domain qualified 'root'"

# a user file replaces the options it sets; the others stay the system's
printf 'via %s\n' "$(peer user)" >"$USR"
send root
is "$?" 0 "system + user file: sent"
is "$(count user)" 1 "the user file's --via replaced the system's"
is "$(count sys)" 1 "the system's --via was not used"
is "$(sed -n 2p "$T/o-user/0.env")" "<root@sys.example>" "the system file's --domain still applies"
printf 'domain user.example\n' >>"$USR"
send root
is "$(sed -n 2p "$T/o-user/1.env")" "<root@user.example>" "the user file's --domain replaces the system's"

# the command line wins over both
send --via "$(peer cli)" --domain cli.example root
is "$?" 0 "command line: sent"
is "$(count cli)" 1 "the command line's --via won"
is "$(count user)$(count sys)" 21 "neither file's --via was used"
is "$(sed -n 2p "$T/o-cli/0.env")" "<root@cli.example>" "the command line's --domain won"
# choosing another kind of transport on the command line replaces the
# configured one (nothing listens on that port: the message is queued)
send --relay "127.0.0.1:$(free_port)" --tls-ca /dev/null root
is "$?" 0 "--relay on the command line: exit 0"
like "$(cat "$T/err")" 'queued' "--relay replaced the configured --via (queued: relay down)"
is "$(count user)" 2 "the configured --via was not used"

# empty MM_SEND_SYSTEM_CONF: no system file, so its --no-sign is gone
MM_SEND_SYSTEM_CONF= send --keys "$T/nokeys" root
is "$?" 77 "empty MM_SEND_SYSTEM_CONF: the system's --no-sign is not read (no key: EX_NOPERM)"
like "$(cat "$T/err")" 'no DKIM key for root@user\.example' "and says which key is missing"
send --keys "$T/nokeys" root
is "$?" 0 "with the system file, --no-sign applies again"
# no file at that path: no error
rm "$SYS"
send --no-sign root
is "$?" 0 "missing system file: no error"
is "$(count user)" 4 "the user file still applies"

# a bad line in the system file: EX_CONFIG naming file and line
printf 'via x\n--relay y\n' >"$SYS"
send root
is "$?" 78 "bad system file: EX_CONFIG"
like "$(cat "$T/err")" "$SYS:2: write the option without dashes" "names the file and line"
# an unknown option in the user file, and a stray word
printf 'no-such-option 1\n' >"$SYS"
send root
is "$?" 78 "unknown option in a config file: EX_CONFIG"
like "$(cat "$T/err")" "no-such-option" "names the option"
like "$(cat "$T/err")" "$SYS: not a valid option line" "and the file"
rm "$SYS"
printf 'via %s\nrecipient@example.org\n' "$(peer user)" >"$USR"
send root
is "$?" 78 "a word that is no option: EX_CONFIG"
is "$(count user)" 4 "nothing sent with a broken config"
done_testing
