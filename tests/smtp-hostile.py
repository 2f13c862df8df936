#!/usr/bin/python3
"""Scripted hostile SMTP servers for mm-send's bounds tests.

smtp-hostile.py MODE PORT OUTDIR [CERT KEY]
  inject   STARTTLS answered with "220 go\\r\\n250 FAKE\\r\\n" in one segment,
           then a real TLS session; records whether EHLO was repeated in TLS
  endless  EHLO answered with "250-" lines forever
  huge     EHLO answered with a 10 MB line
  greet    a 10 MB greeting made of many "220-" lines
Serves connections until killed; writes OUTDIR/ready once listening.
"""
import os, socket, ssl, sys

mode, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = None
if len(sys.argv) > 5:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])

def log(s):
    with open(os.path.join(out, "log"), "a") as f:
        f.write(s + "\n")

def readline(f):
    l = f.readline()
    log("C: " + l.decode("latin-1").rstrip())
    return l

def flood(conn, chunk, total):
    sent = 0
    try:
        while total is None or sent < total:
            conn.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    log("flood sent %d" % sent)

def serve(conn):
    if mode == "greet":
        flood(conn, b"220-" + b"g" * 60 + b"\r\n", 10 * 1024 * 1024)
        return
    conn.sendall(b"220 hostile ESMTP\r\n")
    f = conn.makefile("rb")
    readline(f)                       # EHLO
    if mode == "endless":
        flood(conn, b"250-more and more\r\n", None)
        return
    if mode == "huge":
        flood(conn, b"250-" + b"A" * 65536, 10 * 1024 * 1024)
        return
    conn.sendall(b"250-hostile\r\n250 STARTTLS\r\n")
    l = readline(f)
    if not l.upper().startswith(b"STARTTLS"):
        return
    conn.sendall(b"220 go\r\n250 FAKE\r\n")
    s = ctx.wrap_socket(conn, server_side=True)
    f = s.makefile("rb")
    l = readline(f)
    if l.upper().startswith(b"EHLO"):
        log("EHLO repeated inside TLS")
    s.sendall(b"250-hostile\r\n250 8BITMIME\r\n")
    while True:
        l = readline(f)
        if not l:
            return
        u = l.upper()
        if u.startswith(b"DATA"):
            s.sendall(b"354 go\r\n")
            data = b""
            while True:
                d = f.readline()
                if not d or d == b".\r\n":
                    break
                data += d
            open(os.path.join(out, "msg"), "wb").write(data)
            s.sendall(b"250 stored\r\n")
        elif u.startswith(b"QUIT"):
            s.sendall(b"221 bye\r\n")
            return
        else:
            s.sendall(b"250 ok\r\n")

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(5)
open(os.path.join(out, "ready"), "w").close()
while True:
    c, _ = ls.accept()
    try:
        serve(c)
    except Exception as e:
        log("error: %r" % e)
    finally:
        try:
            c.close()
        except OSError:
            pass
