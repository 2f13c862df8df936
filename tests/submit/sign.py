"""sign — DKIM signatures for mm-recv --submit's tests, with dkimpy (an
independent signer, so the server is not only tested against mm-send).

  sign.py KEYFILE SELECTOR DOMAIN [--alg rsa-sha256|rsa-sha1] [--headers from,to,...]
          [--length] [--time UNIXTIME] < msg > signed

KEYFILE is a PEM RSA key (mm-keygen -t rsa writes one).  --time fixes t=
(dkimpy reads the clock once per signature).
"""
import argparse, sys, time
import dkim

ap = argparse.ArgumentParser()
ap.add_argument("key")
ap.add_argument("selector")
ap.add_argument("domain")
ap.add_argument("--alg", default="rsa-sha256")
ap.add_argument("--headers", default="from,to,subject,date")
ap.add_argument("--length", action="store_true")
ap.add_argument("--time", type=int)
a = ap.parse_args()
if a.time is not None:
    fixed = float(a.time)
    time.time = lambda: fixed
msg = sys.stdin.buffer.read()
sig = dkim.sign(msg, a.selector.encode(), a.domain.encode(), open(a.key, "rb").read(),
                include_headers=[h.encode() for h in a.headers.split(",")],
                signature_algorithm=a.alg.encode(), length=a.length,
                canonicalize=(b"relaxed", b"relaxed"))
sys.stdout.buffer.write(sig + msg)
