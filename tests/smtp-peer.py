#!/usr/bin/python3
"""A scripted SMTP server on stdin/stdout, for mm-send --via tests.

smtp-peer.py OUTDIR [--no-pipelining] [--rcpt-code CODE] [--data-code CODE]
             [--size N]
Each accepted message is written to OUTDIR/N.eml exactly as received
(dot-unstuffed, CRLF kept), its envelope to OUTDIR/N.env, and to
OUTDIR/N.info the MAIL command as sent and "pipelined yes|no": whether
more commands had already arrived when MAIL was read (RFC 2920).  Without
PIPELINING offered, a client that sends ahead is answered 554 and the
session ends.
"""
import os, sys

out = sys.argv[1]
args = sys.argv[2:]
pipelining = "--no-pipelining" not in args
rcpt_code = args[args.index("--rcpt-code") + 1] if "--rcpt-code" in args else "250"
data_code = args[args.index("--data-code") + 1] if "--data-code" in args else "250"
size_max = args[args.index("--size") + 1] if "--size" in args else "100000000"
wout = sys.stdout.buffer

class Reader:
    """Lines from fd 0, and whether more bytes already wait behind them."""
    def __init__(self):
        self.data, self.off = bytearray(), 0
    def readline(self):
        while True:
            i = self.data.find(b"\n", self.off)
            if i >= 0:
                l = bytes(self.data[self.off:i + 1])
                self.off = i + 1
                return l
            del self.data[:self.off]
            self.off = 0
            chunk = os.read(0, 1 << 16)
            if not chunk:
                l = bytes(self.data)
                self.data = bytearray()
                return l
            self.data += chunk
    def pending(self):
        return len(self.data) > self.off

rin = Reader()

def say(s):
    wout.write(s.encode() + b"\r\n")
    wout.flush()

say("220 peer ESMTP")
mail, rcpts = None, []
while True:
    line = rin.readline()
    if not line:
        break
    cmd = line.rstrip(b"\r\n").decode("latin-1")
    up = cmd.upper()
    if up.startswith("EHLO"):
        ext = ["250-peer", "250-8BITMIME"]
        if pipelining:
            ext.append("250-PIPELINING")
        ext.append("250 SIZE " + size_max)
        wout.write(("\r\n".join(ext) + "\r\n").encode()); wout.flush()
    elif up.startswith("MAIL FROM:"):
        mail, rcpts = cmd[10:].split(" ")[0], []
        mailcmd, ahead = cmd, rin.pending()
        if ahead and not pipelining:
            say("554 5.5.0 commands sent ahead without PIPELINING")
            break
        say("250 ok")
    elif up.startswith("RCPT TO:"):
        if rcpt_code == "250":
            rcpts.append(cmd[8:].split(" ")[0])
        say(rcpt_code + (" ok" if rcpt_code == "250" else " rcpt refused"))
    elif up == "DATA":
        if not rcpts:
            say("554 no valid recipients")
            continue
        say("354 go")
        parts = []
        while True:
            l = rin.readline()
            if not l or l == b".\r\n":
                break
            if l.startswith(b"."):
                l = l[1:]
            parts.append(l)
        data = b"".join(parts)
        if data_code == "250":
            n = len([f for f in os.listdir(out) if f.endswith(".eml")])
            with open(os.path.join(out, "%d.eml" % n), "wb") as f:
                f.write(data)
            with open(os.path.join(out, "%d.env" % n), "w") as f:
                f.write(mail + "\n" + "\n".join(rcpts) + "\n")
            with open(os.path.join(out, "%d.info" % n), "w") as f:
                f.write(mailcmd + "\npipelined " + ("yes" if ahead else "no") + "\n")
        say(data_code + (" queued" if data_code == "250" else " data refused"))
    elif up == "QUIT":
        say("221 bye")
        break
    elif up == "RSET":
        mail, rcpts = None, []
        say("250 ok")
    else:
        say("500 what")
