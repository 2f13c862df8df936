"""smtpraw — drive an SMTP server with exact bytes, for mm-recv's tests.

  smtpraw.py [--tcp HOST:PORT] [--tls-after N] -- CMD ARGS...  < steps

Steps come on stdin as Python literals, one per line: (b"bytes", n) sends
the bytes and then waits for n final replies (lines "ddd "); ("sleep", s)
pauses; ("close",) closes our writing side; ("file", PATH, n) sends a file's bytes.  Before the first step the
banner is read.  Everything received is printed (decoded latin-1), and
the exit status is 0 unless the server could not be started.
"""
import ast, os, select, socket, ssl, subprocess, sys, time

args = sys.argv[1:]
tcp = None
if args and args[0] == "--tcp":
    tcp = args[1]; args = args[2:]
if args and args[0] == "--":
    args = args[1:]
steps = [ast.literal_eval(l) for l in sys.stdin.read().splitlines() if l.strip()]
TIMEOUT = float(os.environ.get("SMTPRAW_TIMEOUT", "10"))

class Pipe:
    def __init__(self, cmd):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.rfd = self.p.stdout.fileno()
    def send(self, b):
        try:
            self.p.stdin.write(b); self.p.stdin.flush()
        except BrokenPipeError:
            pass
    def recv(self):
        return os.read(self.rfd, 65536)
    def close_w(self):
        try: self.p.stdin.close()
        except BrokenPipeError: pass
    def fileno(self): return self.rfd
    def done(self):
        self.close_w()
        try: self.p.wait(TIMEOUT)
        except subprocess.TimeoutExpired: self.p.kill()

class Tcp:
    def __init__(self, hp):
        h, p = hp.rsplit(":", 1)
        self.s = socket.create_connection((h, int(p)), 5)
    def send(self, b):
        try: self.s.sendall(b)
        except OSError: pass
    def recv(self):
        try: return self.s.recv(65536)
        except OSError: return b""
    def close_w(self):
        try: self.s.shutdown(socket.SHUT_WR)
        except OSError: pass
    def fileno(self): return self.s.fileno()
    def done(self): self.s.close()

c = Tcp(tcp) if tcp else Pipe(args)
out = bytearray()
eof = False

def finals(buf):
    return sum(1 for l in bytes(buf).split(b"\n") if len(l) >= 4 and l[:3].isdigit() and l[3:4] == b" ")

def wait_for(n):
    global eof
    end = time.time() + TIMEOUT
    while not eof and finals(out) < n and time.time() < end:
        r, _, _ = select.select([c], [], [], 0.2)
        if r:
            b = c.recv()
            if not b:
                eof = True
            out.extend(b)

want = 1
wait_for(want)
for st in steps:
    if st[0] == "sleep":
        time.sleep(st[1]); continue
    if st[0] == "close":
        c.close_w(); continue
    if st[0] == "file":
        st = (open(st[1], "rb").read(), st[2])
    c.send(st[0])
    want += st[1]
    wait_for(want)
c.close_w()
end = time.time() + TIMEOUT
while not eof and time.time() < end:
    r, _, _ = select.select([c], [], [], 0.2)
    if r:
        b = c.recv()
        if not b: break
        out.extend(b)
c.done()
sys.stdout.write(out.decode("latin-1"))
