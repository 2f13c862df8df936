#!/usr/bin/python3
"""Verify every DKIM-Signature of a message with dkimpy (an independent
implementation), fetching keys from a real DNS server.

dkim-verify.py MESSAGE-FILE SERVER PORT
Prints one line per signature: "IDX a=ALG s=SELECTOR pass|fail" and
exits 0 only if there is at least one signature and all pass.
"""
import sys
import dkim
import dns.resolver

path, server, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
res = dns.resolver.Resolver(configure=False)
res.nameservers = [server]
res.port = port

def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    try:
        ans = res.resolve(name, "TXT", lifetime=timeout)
    except Exception:
        return None
    return b"".join(b"".join(r.strings) for r in ans)

msg = open(path, "rb").read()
d = dkim.DKIM(msg)
sigs = [h for h in d.headers if h[0].lower() == b"dkim-signature"]
if not sigs:
    print("no signature")
    sys.exit(1)
allok = True
for i, (_, v) in enumerate(sigs):
    tags = dict((k.strip(), val.strip()) for k, _, val in
                (t.partition(b"=") for t in v.replace(b"\r\n", b"").split(b";") if b"=" in t))
    try:
        good = d.verify(idx=i, dnsfunc=dnsfunc)
    except Exception as e:
        print("# error:", e)
        good = False
    allok = allok and good
    print("%d a=%s s=%s %s" % (i, tags.get(b"a", b"?").decode(), tags.get(b"s", b"?").decode(),
                               "pass" if good else "fail"))
sys.exit(0 if allok else 1)
