#!/usr/bin/python3
"""A scripted SMTP server on stdin/stdout, for mm-send --via tests.

smtp-peer.py OUTDIR [--no-pipelining] [--rcpt-code CODE] [--data-code CODE]
Each accepted message is written to OUTDIR/N.eml exactly as received
(dot-unstuffed, CRLF kept) and its envelope to OUTDIR/N.env.
"""
import os, sys

out = sys.argv[1]
args = sys.argv[2:]
pipelining = "--no-pipelining" not in args
rcpt_code = args[args.index("--rcpt-code") + 1] if "--rcpt-code" in args else "250"
data_code = args[args.index("--data-code") + 1] if "--data-code" in args else "250"
rin = sys.stdin.buffer
wout = sys.stdout.buffer

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
        ext.append("250 SIZE 100000000")
        wout.write(("\r\n".join(ext) + "\r\n").encode()); wout.flush()
    elif up.startswith("MAIL FROM:"):
        mail, rcpts = cmd[10:].split(" ")[0], []
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
        data = b""
        while True:
            l = rin.readline()
            if not l or l == b".\r\n":
                break
            if l.startswith(b"."):
                l = l[1:]
            data += l
        if data_code == "250":
            n = len([f for f in os.listdir(out) if f.endswith(".eml")])
            with open(os.path.join(out, "%d.eml" % n), "wb") as f:
                f.write(data)
            with open(os.path.join(out, "%d.env" % n), "w") as f:
                f.write(mail + "\n" + "\n".join(rcpts) + "\n")
        say(data_code + (" queued" if data_code == "250" else " data refused"))
    elif up == "QUIT":
        say("221 bye")
        break
    elif up == "RSET":
        mail, rcpts = None, []
        say("250 ok")
    else:
        say("500 what")
