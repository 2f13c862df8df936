# tests/sshd.sh — a private sshd on loopback for tests (source after lib.sh).
#
#   start_sshd     # sets SSHD_PORT, SSHD_DIR, SSH_KEY and SSH_CMD (a -e/--rsh
#                  # value for mm-sync); $SSHD_DIR/authorized_keys may be
#                  # appended to (sshd reads it at each login)
#
# Own host key and user key, made now; nothing of the system's is touched
# except that /run/sshd must exist (sshd insists on it as root).

start_sshd() {
	need /usr/sbin/sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client
	SSHD_DIR=$T/sshd
	mkdir -p "$SSHD_DIR" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/host_key" || bail "ssh-keygen failed"
	ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/user_key" || bail "ssh-keygen failed"
	cp "$SSHD_DIR/user_key.pub" "$SSHD_DIR/authorized_keys"
	SSH_KEY=$SSHD_DIR/user_key
	SSHD_PORT=$(free_port)
	cat >"$SSHD_DIR/sshd_config" <<CONF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/host_key
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PidFile $SSHD_DIR/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin yes
PermitUserEnvironment no
MaxStartups 100:30:200
CONF
	/usr/sbin/sshd -D -e -f "$SSHD_DIR/sshd_config" 2>"$SSHD_DIR/log" &
	SSHD_PID=$!
	bg_pid $SSHD_PID
	wait_port "$SSHD_PORT" 10 || {
		sed 's/^/# sshd: /' "$SSHD_DIR/log"
		bail "sshd did not start"
	}
	SSH_CMD="ssh -p $SSHD_PORT -i $SSH_KEY -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
	export SSHD_PORT SSHD_DIR SSH_KEY SSH_CMD
}
