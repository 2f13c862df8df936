#!/usr/bin/python3
"""Scripted peers for mm-sync's hostile-peer and fault tests.

sync_peer.py server CASE HOST CMD
    A hostile or broken server, run by mm-sync as its -e remote shell (so
    HOST and CMD are what mm-sync passes to ssh; both are ignored).  It
    answers the client's hello, then plays CASE (see SERVER_CASES).

sync_peer.py client CASE MMSYNC DIR [ARG]
    A hostile or broken client: starts `MMSYNC --server DIR` and plays CASE
    (see CLIENT_CASES) against it.  Prints one line of facts at the end
    ("files=N bytes=N quit=DELETED/FAILED rc=STATUS") for the test to check.

sync_peer.py proxy CTLDIR SIZE HOST CMD
    A transparent -e remote shell: runs CMD with sh, passes the client's
    bytes through untouched and forwards the server's frames; at the first
    file frame announcing more than SIZE bytes it stops reading from the
    server (which then blocks mid-file), writes CTLDIR/paused, waits for
    CTLDIR/go, and carries on.  The test changes the server's files while
    the server is stopped inside one.
"""
import hashlib, os, select, struct, subprocess, sys, time

MAGIC = b"MMSYNC\0\0"
VERSION = 1             # what the hostile clients speak (no acknowledgements)
WINDOW = 2 * 1024 * 1024        # SYNC_WINDOW, version 2
MAX_DATA = 256 * 1024
MAX_CTRL = 8192


def frame(t, payload=b""):
    return t + struct.pack(">I", len(payload)) + payload


def hello(version=VERSION, flags=0):
    return frame(b"H", MAGIC + struct.pack(">II", version, flags))


def u64(v):
    return struct.pack(">Q", v)


def readn(f, n):
    b = b""
    while len(b) < n:
        c = f.read(n - len(b))
        if not c:
            return None
        b += c
    return b


def read_frame(f):
    h = readn(f, 5)
    if h is None:
        return None, None
    t, n = h[:1], struct.unpack(">I", h[1:])[0]
    p = readn(f, n)
    if p is None:
        return None, None
    return t, p


def file_frames(fid, path, data, size=None, sha=None):
    """F, D..., E for one message; size and sha may lie."""
    out = frame(b"F", u64(fid) + u64(len(data) if size is None else size) + path)
    for i in range(0, len(data), MAX_DATA):
        out += frame(b"D", data[i:i + MAX_DATA])
    out += frame(b"E", u64(fid) + (hashlib.sha256(data).digest() if sha is None else sha))
    return out


# ---------- hostile servers ----------

def srv_bad_path(path):
    return lambda: file_frames(1, path, b"pwned\n") + frame(b"Z", u64(1))


SERVER_CASES = {
    # framing
    "trunc-header": lambda: b"F\0\0",
    "trunc-payload": lambda: frame(b"F", u64(1) + u64(5) + b"new/x")[:12],
    "trunc-data": lambda: frame(b"F", u64(1) + u64(100) + b"new/trunc") + frame(b"D", b"x" * 50),
    "oversize-ctrl": lambda: b"F" + struct.pack(">I", MAX_CTRL + 1) + b"\0" * (MAX_CTRL + 1),
    "oversize-data": lambda: frame(b"F", u64(1) + u64(10) + b"new/big")
        + b"D" + struct.pack(">I", MAX_DATA + 1) + b"y" * (MAX_DATA + 1),
    "huge-length": lambda: b"W" + struct.pack(">I", 0xFFFFFFFF) + b"w" * 64,
    "unknown-type": lambda: frame(b"?", b"hello"),
    "no-hello": None,                   # handled below: talks before hello
    "bad-version": None,
    "data-first": lambda: frame(b"D", b"orphan bytes"),
    "short-file-frame": lambda: frame(b"F", u64(1)),
    "huge-announced": lambda: frame(b"F", u64(1) + u64(1 << 40) + b"new/huge"),
    "end-wrong-id": lambda: frame(b"F", u64(1) + u64(2) + b"new/e") + frame(b"D", b"ab")
        + frame(b"E", u64(2) + hashlib.sha256(b"ab").digest()),
    "id-reused": lambda: file_frames(2, b"new/first", b"1\n") + file_frames(2, b"new/again", b"2\n")
        + frame(b"Z", u64(2)),
    "file-inside-file": lambda: frame(b"F", u64(1) + u64(4) + b"new/a") + frame(b"D", b"ab")
        + file_frames(2, b"new/b", b"b\n"),
    "done-inside-file": lambda: frame(b"F", u64(1) + u64(4) + b"new/a") + frame(b"D", b"ab")
        + frame(b"Z", u64(1)),
    # data
    "more-data": lambda: file_frames(1, b"new/more", b"0123456789" * 2, size=10) + frame(b"Z", u64(1)),
    "extra-frame": lambda: frame(b"F", u64(1) + u64(3) + b"new/extra") + frame(b"D", b"abc")
        + frame(b"D", b"d") + frame(b"E", u64(1) + hashlib.sha256(b"abcd").digest()),
    "less-data": lambda: frame(b"F", u64(1) + u64(10) + b"new/less") + frame(b"D", b"abc")
        + frame(b"E", u64(1) + hashlib.sha256(b"abc").digest()) + frame(b"Z", u64(1)),
    "bad-sha": lambda: file_frames(1, b"new/badsha", b"content\n", sha=b"\0" * 32) + frame(b"Z", u64(1)),
    "same-name-twice": lambda: file_frames(1, b"cur/twice:2,S", b"first\n")
        + file_frames(2, b"cur/twice:2,S", b"second\n") + file_frames(3, b"cur/twice:2,S", b"first\n")
        + frame(b"Z", u64(3)),
    "overclaim-quit": None,
    # names
    "name-dotdot": srv_bad_path(b"new/../../pwned"),
    "name-dotdot-folder": srv_bad_path(b"../outside/new/pwned"),
    "name-absolute": srv_bad_path(b"/tmp/new/pwned"),
    "name-slash-in-name": srv_bad_path(b"new/sub/pwned"),
    "name-trailing-slash": srv_bad_path(b"new/pwned/"),
    "name-double-slash": srv_bad_path(b"a//new/pwned"),
    "name-nul": srv_bad_path(b"new/pw\0ned"),
    "name-newline": srv_bad_path(b"new/pw\nned"),
    "name-escape": srv_bad_path(b"new/pw\x1b[2Jned"),
    "name-del": srv_bad_path(b"new/pw\x7fned"),
    "name-tmp": srv_bad_path(b"tmp/pwned"),
    "name-tmp-folder": srv_bad_path(b"tmp/new/pwned"),
    "name-dot": srv_bad_path(b"new/."),
    "name-no-folder": srv_bad_path(b"pwned"),
    "name-too-long": srv_bad_path(b"new/" + b"p" * 256),
    "name-too-deep": srv_bad_path(b"d/" * 40 + b"new/pwned"),
    "name-symlinked-folder": srv_bad_path(b".Evil/new/pwned"),
    "name-symlinked-sub": srv_bad_path(b".EvilSub/new/pwned"),
    "name-empty": srv_bad_path(b""),
}


def run_server(case):
    out = sys.stdout.buffer
    inp = sys.stdin.buffer
    t, p = read_frame(inp)
    if case == "no-hello":
        out.write(file_frames(1, b"new/early", b"x\n"))
        out.flush()
        return
    if case == "bad-version":
        out.write(hello(version=99))
        out.flush()
        return
    if case == "old-server":
        out.write(hello(version=1))
        out.flush()
        return
    # answer in the client's version, as mm-sync --server does
    out.write(hello(version=struct.unpack(">I", p[8:12])[0] if t == b"H" and len(p) == 16 else 2))
    if case == "overclaim-quit":
        out.write(file_frames(1, b"new/ok", b"fine\n") + frame(b"Z", u64(1)))
        out.flush()
        while True:
            t, p = read_frame(inp)
            if t is None or t == b"B":
                break
        out.write(frame(b"Q", u64(1000) + u64(0)))
        out.flush()
        return
    out.write(SERVER_CASES[case]())
    out.flush()
    if case.startswith("trunc-"):
        return                  # and the connection closes mid-frame
    # Whatever the client says next, answer a bye as a server would (every
    # confirmation "deleted"), so a client that accepted the junk would go
    # on to a clean exit 0.
    confirmed = 0
    while True:
        t, p = read_frame(inp)
        if t is None:
            return
        if t == b"C":
            confirmed += 1
        if t == b"B":
            out.write(frame(b"Q", u64(confirmed) + u64(0)))
            out.flush()
            return


# ---------- hostile clients ----------

class Server:
    def __init__(self, mmsync, d, stderr=None):
        # unbuffered: read_for's select() must see every byte not yet read
        self.p = subprocess.Popen([mmsync, "--server", d], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=stderr, bufsize=0)
        self.files = {}         # id -> [path, size, bytes, sha]
        self.order = []
        self.quit = None
        self.bytes = 0
        self.wire = 0           # stream bytes read, for acknowledgements

    def send(self, b):
        try:
            self.p.stdin.write(b)
            self.p.stdin.flush()
        except BrokenPipeError:
            pass

    def next(self):
        """One frame from the server, recorded; (type, payload) or (None, None)."""
        t, p = read_frame(self.p.stdout)
        if t is not None:
            self.wire += 5 + len(p)
        if t == b"F":
            fid, size = struct.unpack(">QQ", p[:16])
            self.files[fid] = [p[16:], size, b"", None]
            self.order.append(fid)
            self.cur = fid
        elif t == b"D":
            self.files[self.cur][2] += p
            self.bytes += len(p)
        elif t == b"E":
            self.files[struct.unpack(">Q", p[:8])[0]][3] = p[8:]
        elif t == b"Q":
            self.quit = struct.unpack(">QQ", p)
        return t, p

    def drain(self, ack=False):
        """Read up to the end of the stream (Z); with ack, acknowledge as a
        version 2 client does."""
        while True:
            t, p = self.next()
            if ack and t is not None:
                self.send(ack_frame(self.wire))
            if t is None or t == b"Z":
                return t

    def read_for(self, seconds):
        """Read whole frames for a while (the server may be blocked);
        returns when nothing came for that long."""
        while True:
            r, _, _ = select.select([self.p.stdout], [], [], seconds)
            if not r:
                return
            t, p = self.next()
            if t is None or t == b"Z":
                return

    def finish(self, bye=True):
        if bye:
            self.send(frame(b"B"))
        while True:
            t, p = self.next()
            if t is None:
                break
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        rc = self.p.wait()
        q = "%d/%d" % self.quit if self.quit else "none"
        allbytes = b"".join(f[2] for f in self.files.values())
        print("files=%d bytes=%d quit=%s rc=%d" % (len(self.files), self.bytes, q, rc))
        sys.stdout.flush()
        return allbytes


def ack_frame(n):
    return frame(b"A", u64(n))


def confirm(fid, size, sha, path):
    return frame(b"C", u64(fid) + u64(size) + sha + path)


def good_confirm(s, fid):
    path, size, data, sha = s.files[fid]
    return confirm(fid, size, sha or hashlib.sha256(data).digest(), path)


def wait_stderr(s, text, seconds=30):
    """Read the server's stderr until a line holds text (or time is up)."""
    end = time.time() + seconds
    while time.time() < end:
        r, _, _ = select.select([s.p.stderr], [], [], end - time.time())
        if not r:
            break
        line = s.p.stderr.readline()
        if not line:
            break
        sys.stderr.buffer.write(line)
        if text in line:
            return True
    return False


def run_client(case, mmsync, d, arg):
    s = Server(mmsync, d, stderr=subprocess.PIPE if case == "early-confirm" else None)
    if case == "garbage-hello":
        s.send(b"GET / HTTP/1.0\r\n\r\n")
        s.finish(bye=False)
        return
    if case == "oversize-hello":
        s.send(b"H" + struct.pack(">I", 0xFFFFFFF0) + b"\0" * 64)
        s.finish(bye=False)
        return
    flags = {"dry-then-confirm": 1, "keep-then-confirm": 2}.get(case, 0)
    version = 2 if case.startswith("v2-") else 3 if case == "future-version" else VERSION
    s.send(hello(version=version, flags=flags))
    t, p = s.next()
    if t != b"H":
        s.finish(bye=False)
        return
    if struct.unpack(">I", p[8:12])[0] != version:
        sys.exit("sync_peer.py: the server answered in version %d" % struct.unpack(">I", p[8:12])[0])
    if case == "v2-window":
        # Read without acknowledging: the server must stop within its
        # window (plus the one buffer it was flushing); then acknowledge,
        # and everything comes.
        s.read_for(1.0)
        print("unacked=%d" % s.wire)
        s.send(ack_frame(s.wire))
        s.drain(ack=True)
        for fid in s.order:
            s.send(good_confirm(s, fid))
        s.finish()
        return
    if case == "vanish":
        # Gone mid-stream, as when killed: the server's writes fail first
        # (it is blocked on a full pipe), and only ARG seconds later does
        # its reader see the end of the input.  It must stop, delete
        # nothing, and not leave its reader running on freed state.
        s.p.stdout.close()
        time.sleep(float(arg or 0))
        s.p.stdin.close()
        print("files=%d bytes=%d quit=none rc=%d" % (len(s.files), s.bytes, s.p.wait()))
        return
    if case == "v2-overack":
        s.read_for(0.5)
        s.send(ack_frame(s.wire + 1))
        s.finish(bye=False)
        return
    if case == "v2-short-ack":
        s.read_for(0.5)
        s.send(frame(b"A", b"\0\0\0\1"))
        s.finish(bye=False)
        return
    if case == "early-confirm":
        # Confirm the big file with its true hash (ARG) while the server is
        # still reading it: not yet verified by the server, so not deleted.
        while True:
            t, p = s.next()
            if t == b"F" and struct.unpack(">Q", p[8:16])[0] > 1 << 20:
                break
        fid = s.cur
        path, size = s.files[fid][0], s.files[fid][1]
        s.send(confirm(fid, size, bytes.fromhex(arg), path))
        # The server is stuck mid-file (we stopped reading); its reader
        # thread refuses the confirmation and says so on stderr.
        wait_stderr(s, b"does not match")
        s.drain()
        s.finish()
        return
    if case == "replaced-before-confirm":
        # The file is replaced on the server (new inode, new content) after
        # it was sent; a confirmation of what was sent must not delete the
        # new one.
        s.drain()
        for fid in s.order:
            path = s.files[fid][0].decode()
            tmp = os.path.join(d, "tmp", "replacement")
            with open(tmp, "wb") as f:
                f.write(b"arrived after the copy\n")
            os.rename(tmp, os.path.join(d, path))
            s.send(good_confirm(s, fid))
        s.finish()
        return
    s.drain(ack=version >= 2)
    ids = list(s.order)
    if case in ("confirm-all", "v2-confirm-all"):
        for fid in ids:
            s.send(good_confirm(s, fid))
    elif case == "bad-sha":
        for fid in ids:
            path, size, data, sha = s.files[fid]
            s.send(confirm(fid, size, bytes(32), path))
    elif case == "flipped-sha":
        for fid in ids:
            path, size, data, sha = s.files[fid]
            s.send(confirm(fid, size, bytes([sha[0] ^ 1]) + sha[1:], path))
    elif case == "wrong-size":
        for fid in ids:
            path, size, data, sha = s.files[fid]
            s.send(confirm(fid, size + 1, sha, path))
    elif case == "swapped-path":
        # id of one file, path of the other (hash of the first)
        a, b = ids[0], ids[1]
        pa, sa, da, ha = s.files[a]
        s.send(confirm(a, sa, ha, s.files[b][0]))
    elif case == "unknown-id":
        path, size, data, sha = s.files[ids[0]]
        s.send(confirm(10 ** 6, size, sha, path))
        s.send(confirm(0, size, sha, path))
    elif case == "twice":
        s.send(good_confirm(s, ids[0]))
        s.send(good_confirm(s, ids[0]))
    elif case == "dotdot-path":
        path, size, data, sha = s.files[ids[0]]
        s.send(confirm(ids[0], size, sha, b"new/../../outside/new/secret"))
        s.send(good_confirm(s, ids[1]))
    elif case == "absolute-path":
        path, size, data, sha = s.files[ids[0]]
        s.send(confirm(ids[0], size, sha, arg.encode()))
    elif case == "short-confirm":
        s.send(frame(b"C", u64(ids[0]) + u64(1)))
    elif case == "oversize-confirm":
        s.send(b"C" + struct.pack(">I", 0xFFFFFFFF) + b"\0" * 128)
    elif case == "unknown-frame":
        s.send(frame(b"F", u64(1) + u64(1) + b"new/x"))
    elif case == "truncated":
        s.send(good_confirm(s, ids[0])[:20])
        s.p.stdin.close()
    elif case == "hangup":
        s.p.stdin.close()
    elif case in ("dry-then-confirm", "keep-then-confirm"):
        for fid in ids:
            s.send(good_confirm(s, fid))
    elif case == "listing":
        pass
    else:
        sys.exit("sync_peer.py: unknown client case " + case)
    allbytes = s.finish(bye=case not in ("truncated", "hangup"))
    if case == "listing":
        for fid in s.order:
            sys.stdout.buffer.write(b"path " + s.files[fid][0] + b"\n")
        if arg:
            print("leak" if arg.encode() in allbytes else "noleak")


# ---------- pausing proxy ----------

def run_proxy(ctl, size, cmd):
    p = subprocess.Popen(["sh", "-c", cmd], stdin=sys.stdin.buffer, stdout=subprocess.PIPE)
    out = sys.stdout.buffer
    paused = False
    seen = []
    while True:
        t, pl = read_frame(p.stdout)
        if t is None:
            break
        if t == b"F":
            seen.append(pl[16:])
            if not paused and struct.unpack(">Q", pl[8:16])[0] > size:
                paused = True
                out.flush()
                with open(os.path.join(ctl, "paused.tmp"), "wb") as f:
                    f.write(b"\n".join(seen) + b"\n")
                os.rename(os.path.join(ctl, "paused.tmp"), os.path.join(ctl, "paused"))
                while not os.path.exists(os.path.join(ctl, "go")):
                    time.sleep(0.02)
        out.write(t + struct.pack(">I", len(pl)) + pl)
        out.flush()
    sys.exit(p.wait())


def main():
    mode = sys.argv[1]
    if mode == "server":
        run_server(sys.argv[2])
    elif mode == "client":
        run_client(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else "")
    elif mode == "proxy":
        run_proxy(sys.argv[2], int(sys.argv[3]), sys.argv[5])
    else:
        sys.exit("sync_peer.py: unknown mode " + mode)


if __name__ == "__main__":
    main()
