#!/usr/bin/env python3
"""Play the primary of Node's cluster module against the real `node`.

Each scenario spawns `node APP` with a socketpair channel
(NODE_CHANNEL_FD, NODE_CHANNEL_SERIALIZATION_MODE=json, NODE_UNIQUE_ID=1),
answers the worker the way a C primary would, and prints a transcript:
every line on the channel, byte for byte, with the direction, the recvmsg
call that carried it (rN: lines sharing an N came in one read) and any fd
passed with SCM_RIGHTS.  Stdlib only; loopback and unix sockets only; every
step has a deadline; only processes this script started are killed.

usage: cluster-probe.py [-v] [SCENARIO ...]   (no name: all; -l: list)
exit: 0 all checks passed, 1 a check failed, 2 bad usage
"""

import array
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

NODE = os.environ.get("NODE", "node")
STEP = 5.0          # seconds any one expectation may take
SCENARIO_MAX = 20.0  # seconds a whole scenario may take


class ProbeError(Exception):
    pass


def enc(obj):
    """Serialize as Node's JSON.stringify does (no spaces) plus '\\n'."""
    return (json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
            + "\n").encode()


def describe_fd(fd):
    s = socket.socket(fileno=os.dup(fd))
    try:
        fam = {socket.AF_INET: "TCP4", socket.AF_INET6: "TCP6",
               socket.AF_UNIX: "UNIX"}.get(s.family, str(s.family))
        if s.type == socket.SOCK_DGRAM:
            fam = fam.replace("TCP", "UDP")
        name = s.getsockname()
        if isinstance(name, tuple):
            name = "%s:%d" % (name[0], name[1])
        listening = s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        if s.type == socket.SOCK_DGRAM:
            state = "bound"
        elif listening:
            state = "listening"
        else:
            try:
                s.getpeername()
                state = "connected"
            except OSError:
                state = "bound, not listening"
        return "%s %s %s" % (fam, name or "(unbound)", state)
    finally:
        s.close()


class Worker:
    """One node process and the primary's end of its channel."""

    def __init__(self, sc, app, env=None, name="W"):
        self.sc = sc
        self.name = name
        self.seq = 0            # the primary's own NODE_CLUSTER counter
        self.chunks = 0
        self.buf = b""
        self.inbox = []         # parsed (obj, raw) not yet consumed
        self.eof = False
        path = os.path.join(sc.dir, "app-%s.js" % name)
        with open(path, "w") as f:
            f.write(app)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.chan = ours
        cfd = theirs.fileno()
        os.set_inheritable(cfd, True)
        e = dict(os.environ)
        for k in ("NODE_OPTIONS", "NODE_CLUSTER_SCHED_POLICY"):
            e.pop(k, None)
        e.update(NODE_CHANNEL_FD=str(cfd),
                 NODE_CHANNEL_SERIALIZATION_MODE="json",
                 NODE_UNIQUE_ID="1")
        e.update(env or {})
        self.errpath = os.path.join(sc.dir, "stderr-%s" % name)
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen(
                [NODE, path], env=e, cwd=sc.dir, pass_fds=[cfd],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        theirs.close()
        sc.workers.append(self)
        for l in app.strip("\n").splitlines():
            sc.note("app-%s.js| %s" % (name, l))
        sc.note("spawn node app-%s.js  NODE_CHANNEL_FD=%d "
                "NODE_CHANNEL_SERIALIZATION_MODE=json NODE_UNIQUE_ID=%s"
                % (name, cfd, e["NODE_UNIQUE_ID"]))

    # -- sending ---------------------------------------------------------
    def send_raw(self, data, fd=None, what=None):
        anc = []
        if fd is not None:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                    array.array("i", [fd]))]
        self.chan.sendmsg([data], anc)
        tag = ""
        if fd is not None:
            tag = "   +fd (SCM_RIGHTS on this sendmsg: %s)" % (
                what or describe_fd(fd))
        self.sc.line("P→%s" % self.name, data, tag)

    def send(self, obj, fd=None, what=None):
        self.send_raw(enc(obj), fd, what)

    def cluster(self, **fields):
        """Build a NODE_CLUSTER message with the next primary seq."""
        m = {"cmd": "NODE_CLUSTER"}
        m.update(fields)
        m["seq"] = self.seq
        self.seq += 1
        return m

    def reply_shared(self, q, sock, key, errno=0, type_="net.Native",
                     data=None):
        msg = self.cluster(errno=errno, key=key, ack=q["seq"], data=data)
        self.send({"cmd": "NODE_HANDLE", "type": type_, "msg": msg},
                  fd=sock.fileno())

    def reply_rr(self, q, key, sockname=None, errno=None, data=None):
        f = dict(errno=errno, key=key, ack=q["seq"], data=data)
        if sockname is not None:
            f["sockname"] = sockname
        self.send(self.cluster(**f))

    def newconn(self, conn, key):
        msg = self.cluster(act="newconn", key=key)
        self.send({"cmd": "NODE_HANDLE", "type": "net.Native", "msg": msg},
                  fd=conn.fileno())
        return msg["seq"]

    # -- receiving -------------------------------------------------------
    def _read(self, timeout):
        r, _, _ = select.select([self.chan], [], [], timeout)
        if not r:
            return False
        data, anc, flags, _ = self.chan.recvmsg(
            65536, socket.CMSG_SPACE(16 * 4), socket.MSG_CMSG_CLOEXEC)
        fds = []
        for lvl, typ, d in anc:
            if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(d[:len(d) - len(d) % a.itemsize])
                fds.extend(a)
        for fd in fds:
            os.close(fd)
        if not data:
            self.eof = True
            self.sc.note("%s→P EOF (recvmsg returned 0)" % self.name)
            return True
        self.chunks += 1
        self.buf += data
        while b"\n" in self.buf:
            raw, self.buf = self.buf.split(b"\n", 1)
            raw += b"\n"
            tag = "r%d" % self.chunks
            if fds:
                tag += " +%d fd" % len(fds)
            self.sc.line("%s→P" % self.name, raw, "   [%s]" % tag)
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = None
            self.inbox.append((obj, raw))
        return True

    def expect(self, pred, what, timeout=STEP):
        """Return the first message (in order) matching pred."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (obj, raw) in enumerate(self.inbox):
                if pred(obj):
                    del self.inbox[i]
                    return obj
            left = deadline - time.monotonic()
            if left <= 0 or self.eof:
                raise ProbeError("%s: no %s within %.1fs" %
                                 (self.name, what, timeout))
            self._read(left)

    def expect_act(self, act, timeout=STEP):
        return self.expect(lambda m: isinstance(m, dict)
                           and m.get("cmd") == "NODE_CLUSTER"
                           and m.get("act") == act, act, timeout)

    def expect_user(self, pred=lambda m: True, what="user message",
                    timeout=STEP):
        return self.expect(lambda m: not _internal(m) and pred(m), what,
                           timeout)

    def quiet(self, seconds):
        """Read whatever comes for `seconds` (nothing is consumed)."""
        deadline = time.monotonic() + seconds
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._read(left)

    def wait_eof(self, timeout=STEP):
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProbeError("%s: channel not closed within %.1fs"
                                 % (self.name, timeout))
            self._read(left)

    def wait_exit(self, timeout=STEP):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ProbeError("%s: still running after %.1fs"
                             % (self.name, timeout))
        self.sc.note("%s exit: %s" % (self.name, _status(rc)))
        return rc

    def alive_after(self, seconds):
        try:
            rc = self.proc.wait(seconds)
            self.sc.note("%s exit: %s" % (self.name, _status(rc)))
            return False
        except subprocess.TimeoutExpired:
            self.sc.note("%s still running after %.1fs"
                         % (self.name, seconds))
            return True

    def stderr_tail(self, n=3):
        try:
            with open(self.errpath, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except OSError:
            return []
        errs = [l for l in lines if "Error" in l and not l.startswith(" ")]
        return errs[:1] or [l for l in lines if l.strip()][:n]

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()        # only the node we spawned, by its pid
            try:
                self.proc.wait(STEP)
            except subprocess.TimeoutExpired:
                pass
        self.chan.close()


def _internal(m):
    return (isinstance(m, dict) and isinstance(m.get("cmd"), str)
            and len(m["cmd"]) > 5 and m["cmd"].startswith("NODE_"))


def _status(rc):
    return "signal %d" % -rc if rc < 0 else "code %d" % rc


class Scenario:
    def __init__(self, name, verbose):
        self.name = name
        self.verbose = verbose
        self.dir = tempfile.mkdtemp(prefix="herd-cluster-probe-")
        self.workers = []
        self.socks = []
        self.out = []
        self.failed = []
        self.t0 = time.monotonic()

    def line(self, who, raw, tag=""):
        text = raw.decode(errors="replace").rstrip("\n")
        if any(b >= 0x80 for b in raw) or "\n" in text:
            tag += "   (bytes: %s)" % ascii(raw)[1:]
            text = text.replace("\n", "\\n")
        self.out.append("%-5s %s%s" % (who, text, tag))
        if self.verbose:
            print(self.out[-1], flush=True)

    def note(self, text):
        self.out.append("      # " + text)
        if self.verbose:
            print(self.out[-1], flush=True)

    def check(self, cond, text):
        self.note(("ok: " if cond else "FAIL: ") + text)
        if not cond:
            self.failed.append(text)

    def sock(self, family=socket.AF_INET, type_=socket.SOCK_STREAM):
        s = socket.socket(family, type_ | socket.SOCK_CLOEXEC)
        self.socks.append(s)
        return s

    def tcp_bound(self, port=0, listen=False):
        s = self.sock()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        if listen:
            s.listen(511)
        return s

    def unix_bound(self, path, listen=False):
        s = self.sock(socket.AF_UNIX)
        s.bind(path)
        if listen:
            s.listen(511)
        return s

    def http_get(self, addr, family=socket.AF_INET):
        c = self.sock(family)
        c.settimeout(STEP)
        c.connect(addr)
        c.sendall(b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n")
        return c

    def read_all(self, c):
        data = b""
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    break
                data += d
        except socket.timeout:
            pass
        return data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")

    def cleanup(self):
        for w in self.workers:
            w.cleanup()
        for s in self.socks:
            s.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Apps.  Each reports what it saw with process.send so the transcript shows it.

APP_HTTP = r"""
const http = require('http'), cluster = require('cluster');
process.on('message', (m) => process.send({ echo: m }));
const s = http.createServer((q, r) => r.end('hello from worker ' + cluster.worker.id + '\n'));
s.on('error', (e) => process.send({ error: e.code, errno: e.errno, syscall: e.syscall }));
s.listen(LISTEN_ARGS, () => process.send({ listening: s.address() }));
"""


def app_http(args):
    return APP_HTTP.replace("LISTEN_ARGS", args)


def sc_shared_port(sc):
    """listen(PORT), shared: the fd is a bound, not listening socket."""
    lsock = sc.tcp_bound()
    port = lsock.getsockname()[1]
    w = Worker(sc, app_http("+process.env.PORT"), {"PORT": str(port)})
    w.expect_act("online")
    q = w.expect_act("queryServer")
    w.reply_shared(q, lsock, "k1")
    w.expect(lambda m: isinstance(m, dict)
             and m.get("cmd") == "NODE_HANDLE_ACK", "NODE_HANDLE_ACK")
    w.expect_act("listening")
    rep = w.expect_user(lambda m: "listening" in m)
    sc.check(rep["listening"]["port"] == port, "address() is the fd's name")
    body = sc.read_all(sc.http_get(("127.0.0.1", port)))
    sc.check(body.startswith("hello from worker 1"),
             "GET answered by the worker: %r" % body)
    w.send({"hello": "from primary"})
    e = w.expect_user(lambda m: "echo" in m)
    sc.check(e["echo"] == {"hello": "from primary"},
             "primary's user message reached process.on('message')")
    w.send(w.cluster(act="disconnect"))
    c = w.expect_act("close")
    sc.check(c["key"] == "k1", "close carries the primary's key")
    w.wait_eof()
    sc.check(w.wait_exit() == 0, "worker exits 0 after disconnect")


def sc_shared_listening(sc):
    """listen(PORT), shared, the fd already listening (herd -l)."""
    lsock = sc.tcp_bound(listen=True)
    port = lsock.getsockname()[1]
    w = Worker(sc, app_http("+process.env.PORT"), {"PORT": str(port)})
    w.expect_act("online")
    q = w.expect_act("queryServer")
    w.reply_shared(q, lsock, "k1")
    w.expect_act("listening")
    w.expect_user(lambda m: "listening" in m)
    body = sc.read_all(sc.http_get(("127.0.0.1", port)))
    sc.check(body.startswith("hello from worker 1"),
             "GET answered via a pre-listening fd: %r" % body)
    w.send(w.cluster(act="disconnect"))
    w.expect_act("close")
    w.wait_eof()
    w.wait_exit()


def rr_serve_one(sc, w, lsock, key, family=socket.AF_INET):
    """Connect a client, accept it here, hand it over as newconn."""
    c = sc.http_get(lsock.getsockname(), family)
    conn, _ = lsock.accept()
    sc.socks.append(conn)
    seq = w.newconn(conn, key)
    w.expect(lambda m: isinstance(m, dict)
             and m.get("cmd") == "NODE_HANDLE_ACK", "NODE_HANDLE_ACK")
    a = w.expect(lambda m: isinstance(m, dict) and m.get("ack") == seq
                 and "accepted" in m, "newconn answer")
    conn.close()            # the worker holds its own copy now
    sc.socks.remove(conn)
    return a, c


def sc_rr_port(sc):
    """listen(PORT), round-robin: reply without fd, then newconn."""
    lsock = sc.tcp_bound(listen=True)
    port = lsock.getsockname()[1]
    w = Worker(sc, app_http("+process.env.PORT"), {"PORT": str(port)})
    w.expect_act("online")
    q = w.expect_act("queryServer")
    w.reply_rr(q, "k1", {"address": "127.0.0.1", "family": "IPv4",
                         "port": port})
    w.expect_act("listening")
    rep = w.expect_user(lambda m: "listening" in m)
    sc.check(rep["listening"] == {"address": "127.0.0.1", "family": "IPv4",
                                  "port": port},
             "address() returns the sockname sent")
    a, c = rr_serve_one(sc, w, lsock, "k1")
    sc.check(a["accepted"] is True, "accepted:true")
    body = sc.read_all(c)
    sc.check(body.startswith("hello from worker 1"), "GET served: %r" % body)
    w.send(w.cluster(act="disconnect"))
    w.expect_act("close")
    w.wait_eof()
    sc.check(w.wait_exit() == 0, "exit 0")


def sc_rr_no_sockname(sc):
    """RR reply without sockname: address() is null, listening port=PORT."""
    lsock = sc.tcp_bound(listen=True)
    port = lsock.getsockname()[1]
    w = Worker(sc, app_http("+process.env.PORT"), {"PORT": str(port)})
    w.expect_act("online")
    q = w.expect_act("queryServer")
    w.reply_rr(q, "k1")
    lm = w.expect_act("listening")
    rep = w.expect_user(lambda m: "listening" in m)
    sc.check(rep["listening"] is None, "address() is null without sockname")
    sc.check(lm["port"] == port, "listening carries the requested port")
    a, c = rr_serve_one(sc, w, lsock, "k1")
    sc.check(a["accepted"] is True and
             sc.read_all(c).startswith("hello"), "still serves")


def sc_rr_sockname_mismatch(sc):
    """RR reply whose sockname.port differs from the requested port."""
    w = Worker(sc, app_http("8123"))
    w.expect_act("online")
    q = w.expect_act("queryServer")
    w.reply_rr(q, "k1", {"address": "127.0.0.1", "family": "IPv4",
                         "port": 8124})
    e = w.expect_user(lambda m: "error" in m)
    sc.check(e["error"] == "EADDRINUSE",
             "sockname port != requested port gives %s" % e["error"])
    w.quiet(0.3)


def sc_listen0(sc):
    """listen(0) twice in one worker, shared then RR."""
    app = r"""
const net = require('net');
const a = net.createServer(), b = net.createServer();
a.listen(0, () => { process.send({ a: a.address() });
  b.listen(0, () => process.send({ b: b.address() })); });
"""
    for mode in ("shared", "rr"):
        sc.note("--- %s" % mode)
        w = Worker(sc, app, name="W" if mode == "shared" else "V")
        w.expect_act("online")
        for n, label in ((1, "a"), (2, "b")):
            q = w.expect_act("queryServer")
            s = sc.tcp_bound(listen=(mode == "rr"))
            port = s.getsockname()[1]
            if mode == "shared":
                w.reply_shared(q, s, "k%d" % n)
            else:
                w.reply_rr(q, "k%d" % n, {"address": "127.0.0.1",
                                          "family": "IPv4", "port": port})
            lm = w.expect_act("listening")
            rep = w.expect_user(lambda m, label=label: label in m)
            sc.check(rep[label]["port"] == port and lm["port"] == port,
                     "%s: index %d, address() and listening.port = %d"
                     % (label, q["index"], port))
        w.send(w.cluster(act="disconnect"))
        w.expect_act("close")
        w.expect_act("close")
        w.wait_eof()
        w.wait_exit()


def sc_unix(sc):
    """listen('p.sock') relative to the worker's cwd, shared then RR."""
    for mode in ("shared", "rr"):
        sc.note("--- %s" % mode)
        path = os.path.join(sc.dir, "p.sock")
        w = Worker(sc, app_http("'p.sock'"), name="W" if mode == "shared"
                   else "V")
        w.expect_act("online")
        q = w.expect_act("queryServer")
        sc.check(q["address"] == path and q["port"] == -1
                 and q["addressType"] == -1, "absolute path, port/type -1")
        s = sc.unix_bound(path, listen=(mode == "rr"))
        if mode == "shared":
            w.reply_shared(q, s, "u1")
            w.expect_act("listening")
            rep = w.expect_user(lambda m: "listening" in m)
            body = sc.read_all(sc.http_get(path, socket.AF_UNIX))
        else:
            w.reply_rr(q, "u1")
            w.expect_act("listening")
            rep = w.expect_user(lambda m: "listening" in m)
            a, c = rr_serve_one(sc, w, s, "u1", socket.AF_UNIX)
            body = sc.read_all(c)
        sc.check(body.startswith("hello"), "GET over the unix socket")
        sc.note("address() = %r" % (rep["listening"],))
        w.send(w.cluster(act="disconnect"))
        w.expect_act("close")
        w.wait_eof()
        w.wait_exit()
        sc.check(os.path.exists(path), "worker did not unlink the path")
        os.unlink(path)


APP_DGRAM = r"""
const dgram = require('dgram');
const s = dgram.createSocket('udp4');
s.on('error', (e) => process.send({ error: e.code, errno: e.errno }));
s.on('message', (m, r) => { process.send({ dgram: m.toString() }); s.send('pong', r.port, r.address); });
s.bind(+process.env.PORT, '127.0.0.1', () => process.send({ bound: s.address() }));
"""


def sc_dgram(sc):
    """dgram bind: dgram.Native handle; then variants."""
    for variant in ("dgram.Native", "net.Native", "no-fd"):
        sc.note("--- reply: %s" % variant)
        u = sc.sock(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        w = Worker(sc, APP_DGRAM, {"PORT": str(port)},
                   name={"dgram.Native": "W", "net.Native": "V",
                         "no-fd": "X"}[variant])
        w.expect_act("online")
        q = w.expect_act("queryServer")
        if variant == "no-fd":
            w.reply_rr(q, "d1")
            w.quiet(1.0)
            rc = w.wait_exit()
            sc.check(rc != 0, "a UDP query answered without fd kills "
                     "the worker: %s" % w.stderr_tail(5))
            continue
        w.reply_shared(q, u, "d1", type_=variant)
        w.expect_act("listening")
        w.expect_user(lambda m: "bound" in m)
        c = sc.sock(socket.AF_INET, socket.SOCK_DGRAM)
        c.settimeout(STEP)
        c.sendto(b"ping", ("127.0.0.1", port))
        w.expect_user(lambda m: "dgram" in m)
        sc.check(c.recv(100) == b"pong", "UDP round trip via %s" % variant)
        w.send(w.cluster(act="disconnect"))
        w.expect_act("close")
        w.wait_eof()
        w.wait_exit()


def sc_exclusive(sc):
    """listen({port:0, exclusive:true}): no query at all."""
    app = r"""
const net = require('net');
const s = net.createServer((c) => c.end('exclusive\n'));
s.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => process.send({ listening: s.address() }));
process.on('message', (m) => { if (m === 'close') s.close(() => process.send('closed')); });
"""
    for variant in ("close, then disconnect", "disconnect only"):
        sc.note("--- %s" % variant)
        w = Worker(sc, app, name="W" if variant[0] == "c" else "V")
        w.expect_act("online")
        w.expect_user(lambda m: "listening" in m)
        if variant[0] == "c":
            w.send("close")
            w.expect_user(lambda m: m == "closed")
        w.quiet(0.3)
        sc.check(all(not (_internal(m) and m.get("act") in
                          ("queryServer", "listening", "close"))
                     for m, _ in w.inbox),
                 "no queryServer, listening or close for an exclusive server")
        w.send(w.cluster(act="disconnect"))
        w.wait_eof()
        if variant[0] == "c":
            sc.check(w.wait_exit() == 0, "exit 0")
        else:
            sc.check(w.alive_after(1.0), "the exclusive server keeps the "
                     "disconnected worker alive: the primary must kill it")


def sc_two_servers_close(sc):
    """Two servers, the second after a delay; server.close() of one."""
    app = r"""
const http = require('http');
const h = (q, r) => r.end('ok\n');
const a = http.createServer(h).listen(+process.env.P1, () => process.send('a up'));
let b;
setTimeout(() => { b = http.createServer(h).listen(+process.env.P2, () => process.send('b up')); }, 200);
process.on('message', (m) => { if (m === 'close a') a.close(() => process.send('a closed')); });
"""
    s1, s2 = sc.tcp_bound(), sc.tcp_bound()
    p1, p2 = s1.getsockname()[1], s2.getsockname()[1]
    w = Worker(sc, app, {"P1": str(p1), "P2": str(p2)})
    w.expect_act("online")
    q1 = w.expect_act("queryServer")
    w.reply_shared(q1, s1, "kA")
    w.expect_user(lambda m: m == "a up")
    q2 = w.expect_act("queryServer")
    w.reply_shared(q2, s2, "kB")
    w.expect_user(lambda m: m == "b up")
    sc.check(q1["index"] == 0 and q2["index"] == 0,
             "index counts per address:port:type:fd, both 0")
    w.send("close a")
    c = w.expect_act("close")
    w.expect_user(lambda m: m == "a closed")
    sc.check(c["key"] == "kA", "server.close() sends close with its key")
    sc.check(w.alive_after(0.5), "worker stays alive with one server left")
    w.send(w.cluster(act="disconnect"))
    c = w.expect_act("close")
    sc.check(c["key"] == "kB", "disconnect closes the remaining server")
    w.wait_eof()
    w.wait_exit()


def sc_dup_key(sc):
    """Two servers in one worker answered with the same key."""
    app = r"""
const net = require('net');
net.createServer().listen(0, () => { process.send('a up'); net.createServer().listen(0); });
"""
    w = Worker(sc, app)
    w.expect_act("online")
    for n in (1, 2):
        q = w.expect_act("queryServer")
        s = sc.tcp_bound(listen=True)
        w.reply_rr(q, "same", {"address": "127.0.0.1", "family": "IPv4",
                               "port": s.getsockname()[1]})
    rc = w.wait_exit()
    sc.check(rc != 0, "a key reused within one worker kills it: %s"
             % w.stderr_tail())


def sc_messages(sc):
    """process.send of user values; which NODE_ commands are internal."""
    app = r"""
process.send('ready');
process.send({ any: [1, 'two', { three: 3 }], u: 'é\u2028' });
process.send(42);
process.send({ cmd: 'NODE_FOO', x: 1 });
process.send({ cmd: 'NODE_', x: 2 });
process.on('message', (m) => process.send({ echo: m }));
"""
    w = Worker(sc, app)
    w.expect_act("online")
    w.expect_user(lambda m: m == "ready")
    w.expect_user(lambda m: isinstance(m, dict) and "any" in m)
    w.expect_user(lambda m: m == 42)
    w.expect(lambda m: isinstance(m, dict) and m.get("cmd") == "NODE_FOO",
             "NODE_FOO (internal, sent anyway)")
    w.expect_user(lambda m: isinstance(m, dict) and m.get("cmd") == "NODE_")
    for m in ({"cmd": "NODE_X", "x": 1}, {"cmd": "NODE_", "x": 2},
              "str", [1, 2], None, {"cmd": "NODE_CLUSTER", "act": "bogus",
                                    "seq": 99}):
        w.send(m)
    w.send({"last": True})
    w.expect_user(lambda m: isinstance(m, dict) and m.get("echo") ==
                  {"last": True}, "echo of last")
    echoed = [m["echo"] for m, _ in [(o, r) for o, r in w.inbox]
              if isinstance(m, dict) and "echo" in m]
    # echoes already consumed are in the transcript; list what we saw
    sc.note("echoes not yet consumed: %s" % json.dumps(echoed))
    w.send_raw(b'{"split":')
    time.sleep(0.1)
    w.send_raw(b'"across writes"}\n{"two":"in one"}\n')
    w.expect_user(lambda m: isinstance(m, dict) and m.get("echo") ==
                  {"two": "in one"}, "echo of coalesced line")
    w.send_raw(b"not json\n")
    rc = w.wait_exit()
    sc.check(rc != 0, "a non-JSON line kills the worker: %s"
             % w.stderr_tail(6)[-2:])


def sc_primary_eof(sc):
    """The primary closes its end: the worker exits 0."""
    app = r"""
require('http').createServer().listen(0);
process.on('exit', (c) => require('fs').writeSync(2, 'exit handler ' + c + '\n'));
"""
    w = Worker(sc, app)
    w.expect_act("online")
    q = w.expect_act("queryServer")
    w.reply_rr(q, "k1", {"address": "127.0.0.1", "family": "IPv4",
                         "port": 1})
    w.expect_act("listening")
    w.chan.shutdown(socket.SHUT_RDWR)
    sc.note("primary: shutdown(SHUT_RDWR) of its channel end")
    rc = w.wait_exit()
    sc.check(rc == 0, "exit 0 on EOF; stderr %s" % w.stderr_tail())


def worker_disconnect(sc, call, answer):
    app = r"""
const cluster = require('cluster');
const s = require('http').createServer().listen(0, () => process.send('up'));
process.on('message', (m) => { if (m === 'go') cluster.worker.CALL(); });
""".replace("CALL", call)
    w = Worker(sc, app)
    w.expect_act("online")
    q = w.expect_act("queryServer")
    lsock = sc.tcp_bound(listen=True)
    w.reply_rr(q, "k1", {"address": "127.0.0.1", "family": "IPv4",
                         "port": lsock.getsockname()[1]})
    w.expect_user(lambda m: m == "up")
    w.send("go")
    m = w.expect_act("exitedAfterDisconnect")
    if not answer:
        sc.check(w.alive_after(1.5), "unanswered: worker waits")
        sc.check(not w.eof, "unanswered: channel stays open")
        return
    w.send(w.cluster(ack=m["seq"]))
    w.wait_eof()
    sc.check(w.wait_exit() == 0, "exit 0 after the ack")


def sc_worker_disconnect(sc):
    """cluster.worker.disconnect() in the worker."""
    worker_disconnect(sc, "disconnect", True)


def sc_worker_disconnect_noack(sc):
    """cluster.worker.disconnect(), the primary never answers."""
    worker_disconnect(sc, "disconnect", False)


def sc_worker_kill(sc):
    """cluster.worker.kill() in the worker."""
    worker_disconnect(sc, "kill", True)


APP_MAXCONN = r"""
const http = require('http');
const held = [];
const s = http.createServer((q, r) => { held.push(r); process.send('holding ' + held.length); });
s.maxConnections = 1;
s.listen(+process.env.PORT, () => process.send('up'));
process.on('message', (m) => { if (m === 'release') { held.forEach((r) => r.end('released\n')); held.length = 0; } });
"""


def sc_maxconn(sc):
    """RR: maxConnections reached -> accepted:false; unknown key too."""
    lsock = sc.tcp_bound(listen=True)
    port = lsock.getsockname()[1]
    w = Worker(sc, APP_MAXCONN, {"PORT": str(port)})
    w.expect_act("online")
    q = w.expect_act("queryServer")
    w.reply_rr(q, "k1", {"address": "127.0.0.1", "family": "IPv4",
                         "port": port})
    w.expect_user(lambda m: m == "up")
    a1, c1 = rr_serve_one(sc, w, lsock, "k1")
    w.expect_user(lambda m: m == "holding 1")
    a2, c2 = rr_serve_one(sc, w, lsock, "k1")
    sc.check(a1["accepted"] is True and a2["accepted"] is False,
             "second connection refused at maxConnections=1")
    c2.settimeout(1.0)
    try:
        got = c2.recv(10)
        sc.check(got == b"", "refused connection closed by the worker")
    except OSError as e:
        sc.check(True, "refused connection reset by the worker (%s)" % e)
    a3, c3 = rr_serve_one(sc, w, lsock, "no-such-key")
    sc.check(a3["accepted"] is False, "unknown key -> accepted:false")
    w.send("release")
    sc.check(sc.read_all(c1).startswith("released"), "held one answered")
    w.send(w.cluster(act="disconnect"))
    w.wait_eof()
    w.wait_exit()


def sc_pipelined(sc):
    """RR: two newconn handles sent without waiting for the ACK."""
    lsock = sc.tcp_bound(listen=True)
    port = lsock.getsockname()[1]
    w = Worker(sc, app_http("+process.env.PORT"), {"PORT": str(port)})
    w.expect_act("online")
    q = w.expect_act("queryServer")
    w.reply_rr(q, "k1", {"address": "127.0.0.1", "family": "IPv4",
                         "port": port})
    w.expect_user(lambda m: "listening" in m)
    clients, seqs = [], []
    for _ in range(2):
        clients.append(sc.http_get(("127.0.0.1", port)))
        conn, _ = lsock.accept()
        sc.socks.append(conn)
        seqs.append(w.newconn(conn, "k1"))
    for s in seqs:
        a = w.expect(lambda m, s=s: isinstance(m, dict) and m.get("ack") == s
                     and "accepted" in m, "answer to %d" % s)
        sc.check(a["accepted"] is True, "newconn seq %d accepted" % s)
    bodies = [sc.read_all(c) for c in clients]
    sc.check(all(b.startswith("hello") for b in bodies),
             "both pipelined connections served")
    acks = sum(1 for raw in sc.out if "NODE_HANDLE_ACK" in raw)
    sc.check(acks == 2, "two NODE_HANDLE_ACK lines")


def sc_nack(sc):
    """A NODE_HANDLE line without an fd, then an unknown type with one."""
    lsock = sc.tcp_bound(listen=True)
    port = lsock.getsockname()[1]
    w = Worker(sc, app_http("+process.env.PORT"), {"PORT": str(port)})
    w.expect_act("online")
    q = w.expect_act("queryServer")
    w.reply_rr(q, "k1", {"address": "127.0.0.1", "family": "IPv4",
                         "port": port})
    w.expect_user(lambda m: "listening" in m)
    w.send({"cmd": "NODE_HANDLE", "type": "net.Native",
            "msg": w.cluster(act="newconn", key="k1")})
    w.expect(lambda m: isinstance(m, dict)
             and m.get("cmd") == "NODE_HANDLE_NACK", "NODE_HANDLE_NACK")
    w.quiet(0.3)
    sc.check(not any(isinstance(m, dict) and "accepted" in m
                     for m, _ in w.inbox), "no newconn answer after a NACK")
    sc.note("fd on an earlier sendmsg (a user line), NODE_HANDLE line after")
    c0 = sc.http_get(("127.0.0.1", port))
    conn, _ = lsock.accept()
    sc.socks.append(conn)
    w.send({"carrier": True}, fd=conn.fileno())
    time.sleep(0.2)
    w.send({"cmd": "NODE_HANDLE", "type": "net.Native",
            "msg": w.cluster(act="newconn", key="k1")})
    a = w.expect(lambda m: isinstance(m, dict) and "accepted" in m,
                 "newconn answer")
    sc.check(a["accepted"] is True and sc.read_all(c0).startswith("hello"),
             "an fd waits in the worker for the next NODE_HANDLE line")
    c = sc.http_get(("127.0.0.1", port))
    conn, _ = lsock.accept()
    sc.socks.append(conn)
    w.send({"cmd": "NODE_HANDLE", "type": "net.Bogus",
            "msg": w.cluster(act="newconn", key="k1")}, fd=conn.fileno())
    rc = w.wait_exit()
    sc.check(rc != 0, "unknown handle type with an fd kills the worker: %s"
             % w.stderr_tail(6)[-2:])


def sc_errno(sc):
    """Replies carrying errno, and a shared fd bound to another port."""
    for variant in ("rr -98", "rr -13", "shared fd + -98", "shared wrong port"):
        sc.note("--- %s" % variant)
        w = Worker(sc, app_http("8123"), name="W" + variant.split()[0][0]
                   + str(len(sc.workers)))
        w.expect_act("online")
        q = w.expect_act("queryServer")
        if variant.startswith("rr"):
            w.reply_rr(q, "k1", errno=int(variant.split()[1]))
        elif variant == "shared fd + -98":
            w.reply_shared(q, sc.tcp_bound(), "k1", errno=-98)
        else:
            w.reply_shared(q, sc.tcp_bound(), "k1")
        e = w.expect_user(lambda m: "error" in m)
        sc.note("worker's server 'error': %s" % json.dumps(e))
        w.quiet(0.3)
        sc.check(not any(isinstance(m, dict) and m.get("act") == "listening"
                         for m, _ in w.inbox), "no listening message")
        sc.check(w.alive_after(0.3), "worker alive after the error")


def sc_tls_data(sc):
    """tls server: data carries ticketKeys; data:null kills the worker."""
    app = r"""
const tls = require('tls');
const s = tls.createServer({});
s.on('error', (e) => process.send({ error: e.code }));
s.listen(0, '127.0.0.1', () => process.send({ keys: s.getTicketKeys().toString('hex') }));
"""
    keys = "ab" * 48
    for variant in ("primary data", "data:null"):
        sc.note("--- %s" % variant)
        w = Worker(sc, app, name="W" if variant == "primary data" else "V")
        w.expect_act("online")
        q = w.expect_act("queryServer")
        sc.check(len(q["data"]["ticketKeys"]) == 96, "query has 96 hex")
        if variant == "primary data":
            w.reply_rr(q, "t1", {"address": "127.0.0.1", "family": "IPv4",
                                 "port": 0}, data={"ticketKeys": keys})
            m = w.expect_user(lambda m: "keys" in m)
            sc.check(m["keys"] == keys, "worker adopted the primary's keys")
        else:
            w.reply_rr(q, "t1", {"address": "127.0.0.1", "family": "IPv4",
                                 "port": 0})
            rc = w.wait_exit()
            sc.check(rc != 0, "data:null to a TLS server: %s"
                     % w.stderr_tail(8)[-3:])


def sc_env(sc):
    """What the worker sees: isPrimary, worker.id, the NODE_ variables."""
    app = r"""
const cluster = require('cluster');
process.send({ isPrimary: cluster.isPrimary, isWorker: cluster.isWorker,
  id: cluster.worker && cluster.worker.id, state: cluster.worker && cluster.worker.state,
  env: ['NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'NODE_UNIQUE_ID'].filter((k) => k in process.env),
  connected: process.connected });
"""
    w = Worker(sc, app, {"NODE_UNIQUE_ID": "7"})
    w.expect_act("online")
    m = w.expect_user()
    sc.check(m["isPrimary"] is False and m["id"] == 7 and m["env"] == [],
             "a worker with id 7; NODE_CHANNEL_FD, NODE_CHANNEL_SERIALIZATION"
             "_MODE and NODE_UNIQUE_ID are gone from process.env")
    sc.check(w.alive_after(0.5), "nothing to do, yet the channel keeps it up")
    w.send(w.cluster(act="disconnect"))
    w.wait_eof()
    sc.check(w.wait_exit() == 0, "disconnect with no servers: exit 0")


def sc_unanswered(sc):
    """queryServer never answered."""
    w = Worker(sc, app_http("0"))
    w.expect_act("online")
    w.expect_act("queryServer")
    sc.check(w.alive_after(1.5), "worker waits with no timeout")


SCENARIOS = [
    ("shared-port", sc_shared_port),
    ("shared-listening", sc_shared_listening),
    ("rr-port", sc_rr_port),
    ("rr-no-sockname", sc_rr_no_sockname),
    ("rr-sockname-mismatch", sc_rr_sockname_mismatch),
    ("listen0", sc_listen0),
    ("unix", sc_unix),
    ("dgram", sc_dgram),
    ("exclusive", sc_exclusive),
    ("two-servers-close", sc_two_servers_close),
    ("dup-key", sc_dup_key),
    ("messages", sc_messages),
    ("primary-eof", sc_primary_eof),
    ("worker-disconnect", sc_worker_disconnect),
    ("worker-disconnect-noack", sc_worker_disconnect_noack),
    ("worker-kill", sc_worker_kill),
    ("maxconn", sc_maxconn),
    ("pipelined", sc_pipelined),
    ("nack", sc_nack),
    ("errno", sc_errno),
    ("tls-data", sc_tls_data),
    ("env", sc_env),
    ("unanswered", sc_unanswered),
]


def main(argv):
    verbose = "-v" in argv
    names = [a for a in argv if not a.startswith("-")]
    if "-l" in argv:
        for n, f in SCENARIOS:
            print("%-24s %s" % (n, f.__doc__.strip().splitlines()[0]))
        return 0
    known = dict(SCENARIOS)
    bad = [n for n in names if n not in known]
    if bad:
        print("cluster-probe: unknown scenario: %s" % " ".join(bad),
              file=sys.stderr)
        return 2
    run = [(n, f) for n, f in SCENARIOS if not names or n in names]
    ver = subprocess.run([NODE, "--version"], capture_output=True,
                         text=True, timeout=STEP).stdout.strip()
    print("# cluster-probe: node %s, python %s" % (ver, sys.version.split()[0]))
    failures = 0
    for name, fn in run:
        sc = Scenario(name, verbose)
        print("\n## %s: %s" % (name, fn.__doc__.strip().splitlines()[0]))
        try:
            import signal

            def alarm(*_):
                raise ProbeError("scenario over %.0fs" % SCENARIO_MAX)
            signal.signal(signal.SIGALRM, alarm)
            signal.setitimer(signal.ITIMER_REAL, SCENARIO_MAX)
            fn(sc)
        except (ProbeError, OSError, KeyError, TypeError) as e:
            sc.failed.append("%s: %s" % (type(e).__name__, e))
            sc.note("ABORT %s: %s" % (type(e).__name__, e))
            for w in sc.workers:
                for l in w.stderr_tail(4):
                    sc.note("%s stderr: %s" % (w.name, l))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sc.cleanup()
        if not verbose:
            print("\n".join(sc.out))
        print("result: %s" % ("FAIL (%s)" % "; ".join(sc.failed)
                              if sc.failed else "ok"))
        failures += bool(sc.failed)
    print("\n# %d of %d scenarios failed" % (failures, len(run)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
