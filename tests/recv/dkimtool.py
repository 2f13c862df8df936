"""dkimtool — keys and signatures for mm-recv's tests, with dkimpy.

  dkimtool.py keygen rsa BITS DIR NAME   -> DIR/NAME.key (PEM), prints the TXT value
  dkimtool.py keygen ed25519 DIR NAME    -> DIR/NAME.key (dkimpy's base64 seed)
  dkimtool.py sign KEYFILE ALG SELECTOR DOMAIN [--length] < msg > signed
      ALG: rsa-sha256 | rsa-sha1 | ed25519-sha256
"""
import base64, subprocess, sys
import dkim

def txt_chunks(s):
    return " ".join('"%s"' % s[i:i + 250] for i in range(0, len(s), 250))

cmd = sys.argv[1]
if cmd == "keygen":
    kind = sys.argv[2]
    if kind == "rsa":
        bits, d, name = sys.argv[3], sys.argv[4], sys.argv[5]
        key = "%s/%s.key" % (d, name)
        subprocess.run(["openssl", "genrsa", "-out", key, bits], check=True, capture_output=True)
        der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        print(txt_chunks("v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()))
    else:
        d, name = sys.argv[3], sys.argv[4]
        import nacl.signing
        sk = nacl.signing.SigningKey.generate()
        open("%s/%s.key" % (d, name), "wb").write(base64.b64encode(bytes(sk)))
        print(txt_chunks("v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(sk.verify_key)).decode()))
elif cmd == "sign":
    keyfile, alg, sel, dom = sys.argv[2:6]
    msg = sys.stdin.buffer.read()
    sig = dkim.sign(msg, sel.encode(), dom.encode(), open(keyfile, "rb").read(),
                    include_headers=[b"from", b"to", b"subject", b"date"],
                    signature_algorithm=alg.encode(), length="--length" in sys.argv,
                    canonicalize=(b"relaxed", b"relaxed"))
    sys.stdout.buffer.write(sig + msg)
