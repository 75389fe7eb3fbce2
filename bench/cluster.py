#!/usr/bin/env python3
"""cluster.py - small helpers of bench/cluster.sh (loopback only, bounded).

  cluster.py launch PORT N CMD [ARGS...]
      The "by hand" baseline when systemd-socket-activate is missing: bind
      one listening socket on 127.0.0.1:PORT, start N copies of CMD that
      inherit it as fd 3 with LISTEN_FDS=1, LISTEN_PID=<their pid> and
      HERD_WORKER_ID=i, and wait. SIGTERM/SIGINT are passed on to them.
      No restarts, no supervision: just the processes and the socket.

  cluster.py wait PORT [SECONDS]
      Poll GET / on 127.0.0.1:PORT (short connection attempts) until it
      answers 200, for at most SECONDS (default 20). Exit 1 on time-out.

  cluster.py restart CASE MASTER_PID PORT COUNT GAP_MS
      COUNT times: pick the master's oldest child (a worker), note every
      child pid, SIGKILL that worker, and poll GET /pid with fresh
      connections until a pid that was not a child before answers. Print
      "CASE MS" per kill: milliseconds from just before kill() to that
      answer. Sleeps GAP_MS before each kill; each attempt waits at most
      ATTEMPT_S (50 ms) for its answer, a kill at most 10 s. Checks that the answering pid is a child of MASTER_PID.

  cluster.py children PID
      The pids of PID's children, one per line.

  cluster.py busy PORT...
      Print the ports of 127.0.0.1 that cannot be bound (SO_REUSEADDR, as
      the servers do): someone listens there. Exit 1 if any.
"""
import os
import signal
import socket
import sys
import time

# One poll attempt of `restart` waits this long for its answer, then a new
# connection is tried. In herd's cases a waiting connection sits in the
# listening socket's queue and is answered as soon as the new worker
# accepts, so this costs no precision; in Node's round-robin cluster a
# connection that the primary hands to the worker just killed is never
# answered, and must not hold up the poll.
ATTEMPT_S = 0.05


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        pass
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def start_time(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    return int(st[st.rindex(")") + 2:].split()[19])


def get(port, path, timeout):
    """One request on a new connection: (status, headers, body) or None."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    try:
        s.settimeout(timeout)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                # Content-Length is all these servers send.
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length" and \
                            len(body) >= int(v):
                        return parse(data)
        return parse(data)
    except OSError:
        return None
    finally:
        s.close()


def parse(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.split(b"\r\n")
    parts = lines[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    return int(parts[1]), body


def cmd_wait(port, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        r = get(port, "/", 1.0)
        if r and r[0] == 200:
            return 0
        time.sleep(0.05)
    print(f"cluster.py: nothing answered on 127.0.0.1:{port} within {secs} s",
          file=sys.stderr)
    return 1


def cmd_restart(case, master, port, count, gap_ms):
    for _ in range(count):
        # First, so that the victim has been up GAP_MS (herd backs off a
        # worker that dies within --min-uptime, 1 s by default).
        time.sleep(gap_ms / 1000)
        kids = children(master)
        if not kids:
            print(f"cluster.py: {case}: pid {master} has no children",
                  file=sys.stderr)
            return 1
        victim = min(kids, key=start_time)
        before = set(kids)
        t0 = time.perf_counter()
        os.kill(victim, signal.SIGKILL)
        deadline = t0 + 10.0
        got = None
        while time.perf_counter() < deadline:
            r = get(port, "/pid", ATTEMPT_S)
            if not r or r[0] != 200:
                continue
            try:
                pid = int(r[1].split()[0])
            except (ValueError, IndexError):
                continue
            if pid not in before:
                got = pid
                break
        t1 = time.perf_counter()
        if got is None:
            print(f"cluster.py: {case}: no new worker answered within 10 s "
                  f"of killing {victim}", file=sys.stderr)
            return 1
        if got not in children(master):
            print(f"cluster.py: {case}: pid {got} answered but is not a "
                  f"child of {master}", file=sys.stderr)
            return 1
        print(f"{case} {(t1 - t0) * 1000:.3f}", flush=True)
    return 0


def cmd_launch(port, n, argv):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(socket.SOMAXCONN)
    pids = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:
            os.dup2(ls.fileno(), 3)  # dup2 clears close-on-exec
            env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
                       HERD_WORKER_ID=str(i))
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        pids.append(pid)
    ls.close()

    def forward(sig, _frame):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    left = len(pids)
    while left:
        try:
            os.wait()
            left -= 1
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    return 0


def cmd_busy(ports):
    busy = []
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            busy.append(p)
        finally:
            s.close()
    for p in busy:
        print(p)
    return 1 if busy else 0


def main(a):
    if len(a) >= 4 and a[0] == "launch":
        return cmd_launch(int(a[1]), int(a[2]), a[3:])
    if len(a) in (2, 3) and a[0] == "wait":
        return cmd_wait(int(a[1]), float(a[2]) if len(a) == 3 else 20.0)
    if len(a) == 6 and a[0] == "restart":
        return cmd_restart(a[1], int(a[2]), int(a[3]), int(a[4]), int(a[5]))
    if len(a) >= 2 and a[0] == "busy":
        return cmd_busy([int(x) for x in a[1:]])
    if len(a) == 2 and a[0] == "children":
        for p in children(int(a[1])):
            print(p)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
