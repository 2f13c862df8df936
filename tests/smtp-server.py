#!/usr/bin/python3
"""A real SMTP server (aiosmtpd) on loopback for mm-send's transport tests.

smtp-server.py --port P [--host IP] --out DIR [--tls CERT KEY] [--smtps] [--rcpt-code N]
               [--auth USER PASS [--auth-only MECH]] [--rule ADDR=CODE[,CODE...]]...
               [--rcpt-delay SECS]
--rule answers RCPT TO:<ADDR> with the codes in turn, one per attempt (the
last one repeats); every RCPT is logged to DIR/rcpt.log as "ADDR CODE".
Stores each message as DIR/N.eml (what arrived) and DIR/N.env (MAIL FROM,
then RCPT TO lines, then "tls" or "plain").  Writes DIR/ready when listening.  With --auth, each successful AUTH
appends its mechanism to DIR/auth.log; --auth-only offers just that one
mechanism (PLAIN or LOGIN).
"""
import argparse, asyncio, os, ssl, sys, threading, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--out", required=True)
ap.add_argument("--tls", nargs=2)
ap.add_argument("--smtps", action="store_true")
ap.add_argument("--rcpt-code", default="250")
ap.add_argument("--rcpt-delay", type=float, default=0)   # a slow far end, for kill tests
ap.add_argument("--auth", nargs=2)
ap.add_argument("--rule", action="append", default=[])
ap.add_argument("--auth-only", choices=["PLAIN", "LOGIN"])
a = ap.parse_args()
lock = threading.Lock()
rules = {r.split("=", 1)[0].lower(): r.split("=", 1)[1].split(",") for r in a.rule}
seen = {}

def rcpt_code(address):
    codes = rules.get(address.lower(), [a.rcpt_code])
    n = seen.get(address.lower(), 0)
    seen[address.lower()] = n + 1
    code = codes[min(n, len(codes) - 1)]
    with open(os.path.join(a.out, "rcpt.log"), "a") as f:
        f.write("%s %s\n" % (address, code))
    return code

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if a.rcpt_delay:
            await asyncio.sleep(a.rcpt_delay)
        code = rcpt_code(address)
        if code != "250":
            return code + (" 5.1.1 no such user here" if code.startswith("5")
                           else " 4.3.0 try later")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with lock:
            n = len([f for f in os.listdir(a.out) if f.endswith(".eml")])
            with open(os.path.join(a.out, "%d.eml.tmp" % n), "wb") as f:
                f.write(envelope.original_content)
            with open(os.path.join(a.out, "%d.env" % n), "w") as f:
                f.write(envelope.mail_from + "\n")
                for r in envelope.rcpt_tos:
                    f.write(r + "\n")
                f.write(("tls" if session.ssl else "plain") + "\n")
            os.rename(os.path.join(a.out, "%d.eml.tmp" % n), os.path.join(a.out, "%d.eml" % n))
        return "250 2.0.0 stored"

def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and a.auth and \
            auth_data.login.decode() == a.auth[0] and auth_data.password.decode() == a.auth[1]:
        with lock, open(os.path.join(a.out, "auth.log"), "a") as f:
            f.write(mechanism + "\n")
        return AuthResult(success=True)
    return AuthResult(success=False, handled=False)

ctx = None
if a.tls:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.tls[0], a.tls[1])

class C(Controller):
    def factory(self):
        kw = {}
        if ctx is not None and not a.smtps:
            kw["tls_context"] = ctx
        if a.auth:
            kw["authenticator"] = authenticator
            kw["auth_require_tls"] = True
            if a.auth_only:
                kw["auth_exclude_mechanism"] = [m for m in ("PLAIN", "LOGIN") if m != a.auth_only]
        else:
            kw["auth_require_tls"] = False
        return SMTP(self.handler, hostname="testserver", **kw)

kw = {}
if a.smtps:
    kw["ssl_context"] = ctx
c = C(Handler(), hostname=a.host, port=a.port, ready_timeout=10, **kw)
c.start()
open(os.path.join(a.out, "ready"), "w").close()
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
finally:
    c.stop()
