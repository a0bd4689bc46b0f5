#!/usr/bin/env python3
"""The client side of bench/slow-clients: slow, idle and hostile HTTP clients against a
running slipwayd, and what they do to it.

Sub-commands (bench/slow-clients calls them; nothing here starts or stops the daemon):
  run SCENARIO --port P --pid PID --fixture F --results FILE --label L
      One scenario against the daemon listening on 127.0.0.1:P (process PID). Appends
      one JSON line to FILE and prints a few progress lines. The webhook secret comes
      from the environment (SLOW_BENCH_SECRET), never from argv.
  table FILE        The results as a markdown table, plus one detail line per scenario.
  build-kind PATH   "debug" or "release": from the path (…/debug/…, …/release/…), else
                    from the binary (SwiftPM links the module's AST, section .swift_ast,
                    into debug builds on Linux only).

A scenario: connections are opened by worker processes (each holds at most
SLOW_CONNS_PER_WORKER sockets, and raises its own RLIMIT_NOFILE to the hard limit), which
then do the scenario's thing with them and hold them. The parent samples the daemon's
VmRSS, VmHWM and open fds from /proc, probes GET /healthz and a correctly signed push
while the attack holds, asks the workers after SLOW_HOLD seconds which of their
connections the server has closed (a non-blocking recv: b'' or a reset means closed) and
matches the rest against the kernel's server-side sockets (/proc/net/tcp: accepted by
the daemon, waiting in its listen backlog, or not there at all), notes which TcpExt
counters moved (listen overflows, SYN cookies), then closes them all and looks at the
daemon again SLOW_AFTER seconds later. Every socket operation has a deadline: nothing
here waits for the daemon forever.
"""
import argparse
import collections
import errno
import hashlib
import hmac
import json
import multiprocessing
import os
import resource
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import uuid


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


HOLD = env_float("SLOW_HOLD", 20)                 # how long the attack holds before the check
AFTER = env_float("SLOW_AFTER", 5)               # wait after the clients close, then measure again
PROBE_TIMEOUT = env_float("SLOW_TIMEOUT", 5)     # whole-request deadline of the healthz/webhook probes
PROBE_DELAY = env_float("SLOW_PROBE_DELAY", 2)   # probes run this long after the attack is in place
CONNECT_TIMEOUT = env_float("SLOW_CONNECT_TIMEOUT", 5)  # room for two SYN retransmits (1 s, 3 s)
CONNS_PER_WORKER = env_int("SLOW_CONNS_PER_WORKER", 3500)
IN_FLIGHT = env_int("SLOW_IN_FLIGHT", 0)         # connects pending at once per worker; 0: all of them
# New connections per second, all workers together (0: as fast as possible). Paced, so that
# the daemon gets to accept them: an unpaced flood overflows the listen backlog and the
# kernel completes the excess handshakes with SYN cookies and then drops them (only the
# client believes they are open). The burst scenario is never paced: that is its point.
CONNECT_RATE = env_float("SLOW_CONNECT_RATE", 1000)
SEND_STALL = env_float("SLOW_SEND_STALL", 15)    # big bodies: give up when nothing moved for this long
SEND_DEADLINE = env_float("SLOW_SEND_DEADLINE", 90)
BURST_READ_TIMEOUT = env_float("SLOW_BURST_READ_TIMEOUT", 5)

# The scenarios: what each connection does, and how many by default (env var to change it).
SCENARIOS = {
    "idle-many": dict(kind="idle", count=env_int("SLOW_IDLE_MANY", 10000),
                      what="idle connections, nothing sent"),
    "idle-fds": dict(kind="idle", count=env_int("SLOW_IDLE_FDS", 1100),
                     what="idle connections, past nofile 1024 (by default)"),
    "partial": dict(kind="partial", count=env_int("SLOW_PARTIAL", 200),
                    what="request line + Host, then nothing"),
    "trickle": dict(kind="trickle", count=env_int("SLOW_TRICKLE", 200),
                    length=env_int("SLOW_TRICKLE_LENGTH", 1000000),
                    what="unsigned POST headers with a Content-Length, then the body at 1 B/s"),
    "big-unsigned": dict(kind="big", count=env_int("SLOW_BIG", 20),
                         length=env_int("SLOW_BIG_LENGTH", 24 * 1024 * 1024),
                         what="unsigned POST, all of its declared body but the last byte sent"),
    "burst": dict(kind="burst", count=env_int("SLOW_BURST", 2000),
                  what="fast connects, one keep-alive GET /healthz each, then idle"),
}

PARTIAL_REQUEST = b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n"
UNSIGNED = "sha256=" + "0" * 64


def post_headers(length, signature):
    return ("POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "X-GitHub-Event: push\r\nX-GitHub-Delivery: %s\r\nX-Hub-Signature-256: %s\r\n"
            "Content-Length: %d\r\n\r\n" % (uuid.uuid4(), signature, length)).encode()


def error_name(exc):
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return type(exc).__name__


def raise_nofile():
    """The client's soft RLIMIT_NOFILE up to its hard limit; returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# ---------------------------------------------------------------- the daemon, from /proc

def proc_status(pid):
    """VmRSS and VmHWM of PID in KiB, or None when the process is gone."""
    try:
        fields = {}
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    fields[key] = int(value.split()[0])
        return fields
    except (FileNotFoundError, ProcessLookupError):
        return None


def proc_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except (FileNotFoundError, ProcessLookupError):
        return None


def proc_nofile(pid):
    """The daemon's own RLIMIT_NOFILE, as "soft:hard" (what it runs with, after any raise)."""
    try:
        with open("/proc/%d/limits" % pid) as limits:
            for line in limits:
                if line.startswith("Max open files"):
                    parts = line.split()
                    return "%s:%s" % (parts[3], parts[4])
    except FileNotFoundError:
        pass
    return "?"


def server_sockets(port):
    """The server side of the daemon's TCP connections, from the kernel (/proc/net/tcp):
    {client port: "accepted" (ESTABLISHED with an inode: the daemon holds an fd for it),
    "queued" (ESTABLISHED without one: complete, waiting in the listen backlog) or the
    state's name}, and the listen socket's accept queue length.
    A client socket whose handshake the kernel completed with a SYN cookie and then
    dropped (backlog full: ListenOverflows) appears nowhere here; only the client believes
    it is open, and it learns otherwise only when it sends something."""
    names = {"02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
             "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0B": "CLOSING"}
    peers, backlog = {}, None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) != port:
                continue
            state, rx, inode = fields[3], fields[4].split(":")[1], fields[9]
            if state == "0A":
                backlog = int(rx, 16)
                continue
            peer = int(fields[2].rsplit(":", 1)[1], 16)
            peers[peer] = ("accepted" if inode != "0" else "queued") if state == "01" else names.get(state, state)
    return peers, backlog


KERNEL_COUNTERS = ("ListenOverflows", "ListenDrops", "SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed",
                   "TCPReqQFullDoCookies", "TCPReqQFullDrop")


def kernel_counters():
    """TcpExt counters of this network namespace (shared with anything else running in it)."""
    lines = [line.split() for line in open("/proc/net/netstat") if line.startswith("TcpExt:")]
    values = dict(zip(lines[0][1:], lines[1][1:]))
    return {name: int(values.get(name, 0)) for name in KERNEL_COUNTERS}


class Sampler(threading.Thread):
    """Samples the daemon's VmRSS and fd count every 0.5 s; keeps the maxima, and when it
    found the daemon gone (seconds after the sampler started)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.max_rss, self.max_fds, self.died_after = pid, 0, 0, None
        self.stopping = threading.Event()

    def run(self):
        started = time.monotonic()
        while not self.stopping.is_set():
            status, fds = proc_status(self.pid), proc_fds(self.pid)
            if status is None and self.died_after is None:
                self.died_after = round(time.monotonic() - started, 1)
            if status:
                self.max_rss = max(self.max_rss, status["VmRSS"])
            if fds:
                self.max_fds = max(self.max_fds, fds)
            self.stopping.wait(0.5)


# ---------------------------------------------------------------- probes

def http_request(port, method, path, headers=None, body=b"", timeout=PROBE_TIMEOUT):
    """One request on a new connection with a deadline over all of it.
    Returns dict(status, ms) or dict(error, ms)."""
    start = time.monotonic()
    deadline = start + timeout
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1", "Connection: close",
             "Content-Length: %d" % len(body)] + ["%s: %s" % kv for kv in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def left():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        return remaining
    sock = None
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=left())
        sock.settimeout(left())
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            sock.settimeout(left())
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError(errno.ECONNRESET, "closed before a status line")
            data += chunk
        status = int(data.split(b"\r\n", 1)[0].split()[1])
        return dict(status=status, ms=round((time.monotonic() - start) * 1000, 1))
    except Exception as exc:  # noqa: BLE001 -- every failure is a result here
        return dict(error=error_name(exc), ms=round((time.monotonic() - start) * 1000, 1))
    finally:
        if sock:
            sock.close()


def probe_healthz(port):
    result = http_request(port, "GET", "/healthz")
    result["ok"] = result.get("status") == 200
    return result


def probe_webhook(port, fixture, secret):
    signature = "sha256=" + hmac.new(secret.encode(), fixture, hashlib.sha256).hexdigest()
    result = http_request(port, "POST", "/webhooks/github", {
        "Content-Type": "application/json", "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": signature}, fixture)
    result["ok"] = result.get("status") in (200, 202)
    return result


# ---------------------------------------------------------------- workers (the attack)

def die_with_parent():
    """PR_SET_PDEATHSIG: a worker is killed when the parent dies, however it dies."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:  # noqa: BLE001 -- best effort; the parent also terminates its workers
        pass


def open_connections(count, port, rate):
    """Non-blocking connects, each with CONNECT_TIMEOUT, at most RATE new ones per second
    (0: no limit). Returns (sockets, failure counts)."""
    selector = selectors.DefaultSelector()
    opened, failures = [], collections.Counter()
    pending = collections.OrderedDict()  # socket -> deadline, oldest first
    in_flight = IN_FLIGHT or count
    remaining, started = count, time.monotonic()
    while remaining or pending:
        allowed = count if not rate else int((time.monotonic() - started) * rate) + 1
        while remaining and len(pending) < in_flight and count - remaining < allowed:
            remaining -= 1
            try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as exc:
                failures["client " + error_name(exc)] += 1
                continue
            sock.setblocking(False)
            code = sock.connect_ex(("127.0.0.1", port))
            if code == 0:
                opened.append(sock)
            elif code == errno.EINPROGRESS:
                pending[sock] = time.monotonic() + CONNECT_TIMEOUT
                selector.register(sock, selectors.EVENT_WRITE)
            else:
                failures["connect " + errno.errorcode.get(code, str(code))] += 1
                sock.close()
        for key, _ in selector.select(timeout=0.01 if remaining else 0.05):
            sock = key.fileobj
            selector.unregister(sock)
            del pending[sock]
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                opened.append(sock)
            else:
                failures["connect " + errno.errorcode.get(code, str(code))] += 1
                sock.close()
        now = time.monotonic()
        while pending:
            sock, deadline = next(iter(pending.items()))
            if deadline > now:
                break
            del pending[sock]
            selector.unregister(sock)
            sock.close()
            failures["connect timeout"] += 1
    selector.close()
    return opened, failures


def send_now(sock, data):
    """Sends small data on a non-blocking socket; returns None or the error's name."""
    try:
        sent = sock.send(data)
        return None if sent == len(data) else "short send"
    except OSError as exc:
        return error_name(exc)


def stream_bodies(socks, length, notes):
    """Big: headers declaring LENGTH, then LENGTH-1 bytes of body on every socket, all at
    once through one selector; stops when done, or when nothing moved for SEND_STALL."""
    header = post_headers(length, UNSIGNED)
    chunk = memoryview(b" " * (1 << 20))
    left = {sock: len(header) + length - 1 for sock in socks}
    head = {sock: header for sock in socks}
    dead = {}
    selector = selectors.DefaultSelector()
    for sock in socks:
        selector.register(sock, selectors.EVENT_WRITE)
    start = last_progress = time.monotonic()
    while left:
        now = time.monotonic()
        if now - last_progress > SEND_STALL or now - start > SEND_DEADLINE:
            notes["body send stalled"] += len(left)
            break
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            data = head[sock] or chunk[:min(len(chunk), left[sock])]
            try:
                sent = sock.send(data)
            except BlockingIOError:
                continue
            except OSError as exc:
                dead[sock] = error_name(exc)
                notes["body send " + dead[sock]] += 1
                selector.unregister(sock)
                del left[sock]
                continue
            last_progress = time.monotonic()
            if head[sock]:
                head[sock] = head[sock][sent:]
            left[sock] -= sent
            notes["bytes sent"] += sent
            if left[sock] == 0:
                selector.unregister(sock)
                del left[sock]
                notes["bodies sent to the last byte but one"] += 1
    selector.close()
    notes["send s"] = round(time.monotonic() - start, 1)
    return dead


def burst_requests(socks, notes):
    """Burst: GET /healthz (keep-alive) on every socket, then read each response's head
    (BURST_READ_TIMEOUT in all). Counts 200s, 503s, other statuses, closes and resets."""
    dead = {}
    for sock in socks:
        error = send_now(sock, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        if error:
            notes["send " + error] += 1  # may still have an answer waiting: read it
    selector = selectors.DefaultSelector()
    got = {}
    for sock in socks:
        selector.register(sock, selectors.EVENT_READ)
        got[sock] = b""
    deadline = time.monotonic() + BURST_READ_TIMEOUT
    while got and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            sock = key.fileobj
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                chunk, outcome = None, "reset (" + error_name(exc) + ")"
            if chunk:
                got[sock] += chunk
                if b"\r\n\r\n" not in got[sock]:
                    continue
                outcome = "status " + got[sock].split(b"\r\n", 1)[0].split()[1].decode()
            elif chunk == b"":
                outcome = "closed before an answer"
            notes[outcome] += 1
            if not outcome.startswith("status 2"):
                dead[sock] = outcome
            selector.unregister(sock)
            del got[sock]
    if got:
        notes["no answer in %gs" % BURST_READ_TIMEOUT] += len(got)
    selector.close()
    return dead


def still_open(sock):
    """What the server did with a connection: "open" (nothing to read, no EOF), "closed"
    (EOF, after reading whatever it sent first) or "reset". Also the first line it sent."""
    first = b""
    try:
        while True:
            chunk = sock.recv(65536, socket.MSG_DONTWAIT)
            if not chunk:
                return "closed", first
            first = first or chunk.split(b"\r\n", 1)[0][:60]
    except BlockingIOError:
        return "open", first
    except OSError as exc:
        return "reset" if exc.errno == errno.ECONNRESET else error_name(exc), first


def worker_main(conn, kind, count, port, params):
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        raise_nofile()
        conn.recv()  # "go": the parent has started its sampler
        socks, failures = open_connections(count, port, 0 if kind == "burst" else params["rate"])
        notes = collections.Counter()
        dead = {}  # sockets the server has already closed during the scenario
        if kind == "partial":
            for sock in socks:
                error = send_now(sock, PARTIAL_REQUEST)
                if error:
                    dead[sock] = error
        elif kind == "trickle":
            for sock in socks:
                error = send_now(sock, post_headers(params["length"], UNSIGNED))
                if error:
                    dead[sock] = error
        elif kind == "big":
            dead = stream_bodies(socks, params["length"], notes)
        elif kind == "burst":
            dead = burst_requests(socks, notes)
        conn.send(dict(opened=len(socks), failures=dict(failures), notes=dict(notes)))
        # Hold: wait for the parent's commands; trickle a byte per live socket per second.
        next_tick = time.monotonic() + 1
        while True:
            if not conn.poll(max(0.0, next_tick - time.monotonic()) if kind == "trickle" else 1.0):
                if kind == "trickle" and time.monotonic() >= next_tick:
                    next_tick += 1
                    for sock in socks:
                        if sock in dead:
                            continue
                        try:
                            sock.send(b" ", socket.MSG_DONTWAIT)
                        except BlockingIOError:
                            pass  # the server does not read fast enough: still open
                        except OSError as exc:
                            dead[sock] = error_name(exc)
                continue
            command = conn.recv()
            if command == "check":
                states, firsts, open_ports = collections.Counter(), collections.Counter(), []
                for sock in socks:
                    state, first = ("closed", b"") if sock in dead else still_open(sock)
                    states[state] += 1
                    if first:
                        firsts[first.decode(errors="replace")] += 1
                    if state == "open":
                        open_ports.append(sock.getsockname()[1])
                conn.send(dict(states=dict(states), server_sent=dict(firsts), open_ports=open_ports))
            elif command == "close":
                for sock in socks:
                    sock.close()
                conn.send("closed")
                return
    except Exception as exc:  # noqa: BLE001 -- reported to the parent, which prints it
        import traceback
        conn.send(dict(error="%s\n%s" % (exc, traceback.format_exc())))


def receive(conns, timeout, what):
    """One message from each worker, within TIMEOUT in all."""
    deadline = time.monotonic() + timeout
    replies = []
    for conn in conns:
        if not conn.poll(max(0.0, deadline - time.monotonic())):
            raise SystemExit("slow_clients: workers did not report %s within %gs" % (what, timeout))
        reply = conn.recv()
        if isinstance(reply, dict) and "error" in reply:
            raise SystemExit("slow_clients: a worker failed: " + reply["error"])
        replies.append(reply)
    return replies


def merge(dicts, key):
    total = collections.Counter()
    for d in dicts:
        total.update(d.get(key, {}))
    return dict(total)


def run(args):
    scenario = SCENARIOS[args.scenario]
    secret = os.environ["SLOW_BENCH_SECRET"]
    fixture = open(args.fixture, "rb").read()
    pid, port, count = args.pid, args.port, scenario["count"]
    soft, _ = raise_nofile()
    per_worker = max(1, min(CONNS_PER_WORKER, soft - 64))
    nworkers = max(1, -(-count // per_worker))
    say = lambda text: print("  [%s] %s" % (args.label, text), flush=True)  # noqa: E731
    nofile = proc_nofile(pid)  # as the daemon runs with it (it may have raised its soft limit)

    # Warm-up, so that "before" includes what the first requests allocate.
    warm = dict(healthz=probe_healthz(port), webhook=probe_webhook(port, fixture, secret))
    time.sleep(1)
    before = dict(proc_status(pid) or {}, fds=proc_fds(pid))
    say("before: %s; warm-up healthz %s, webhook %s" % (before, warm["healthz"], warm["webhook"]))

    workers, conns = [], []
    shares = [count // nworkers + (1 if i < count % nworkers else 0) for i in range(nworkers)]
    for share in shares:
        parent_end, child_end = multiprocessing.Pipe()
        params = dict(scenario, rate=CONNECT_RATE / nworkers)
        process = multiprocessing.Process(target=worker_main, args=(child_end, scenario["kind"], share, port, params),
                                          daemon=True)
        process.start()
        workers.append(process)
        conns.append(parent_end)
    try:
        counters_before = kernel_counters()
        sampler = Sampler(pid)
        sampler.start()
        started = time.monotonic()
        for conn in conns:
            conn.send("go")
        opening = receive(conns, CONNECT_TIMEOUT + SEND_DEADLINE + BURST_READ_TIMEOUT + 30, "their connections")
        opened = sum(r["opened"] for r in opening)
        in_place = time.monotonic()
        say("%d of %d connections opened in %.1fs by %d worker(s); failures %s; %s" % (
            opened, count, in_place - started, nworkers, merge(opening, "failures"), merge(opening, "notes")))

        time.sleep(PROBE_DELAY)
        during_probes = dict(healthz=probe_healthz(port), webhook=probe_webhook(port, fixture, secret))
        say("during: healthz %s, webhook %s" % (during_probes["healthz"], during_probes["webhook"]))
        time.sleep(max(0.0, in_place + HOLD - time.monotonic()))

        during = dict(proc_status(pid) or {}, fds=proc_fds(pid))
        peers, backlog = server_sockets(port)
        counters = {k: v - counters_before[k] for k, v in kernel_counters().items() if v != counters_before[k]}
        for conn in conns:
            conn.send("check")
        checks = receive(conns, 60, "the check")
        states = merge(checks, "states")
        # The client's "open" ones, as the server's kernel sees them.
        server = collections.Counter(peers.get(p, "client-only") for c in checks for p in c["open_ports"])
        server = dict(server, backlog=backlog, server_sockets=len(peers))
        say("after %gs hold: client view %s; server side %s; daemon %s; server sent %s; kernel %s" % (
            HOLD, states, server, during, merge(checks, "server_sent"), counters))

        for conn in conns:
            conn.send("close")
        receive(conns, 60, "closing")
        sampler.stopping.set()
        sampler.join()
    finally:
        for process in workers:
            if process.is_alive():
                process.terminate()
        for process in workers:
            process.join(5)

    time.sleep(AFTER)
    after = dict(proc_status(pid) or {}, fds=proc_fds(pid))
    after_healthz = probe_healthz(port) if after.get("VmRSS") else dict(ok=False, error="daemon gone", ms=0)
    say("%gs after closing: %s; healthz %s" % (AFTER, after, after_healthz))

    result = dict(
        label=args.label, scenario=args.scenario, what=scenario["what"], nofile=nofile, died_after=sampler.died_after,
        nofile_note=args.nofile_note, attempted=count, opened=opened, failures=merge(opening, "failures"),
        notes=merge(opening, "notes"), states=states, server=server, kernel=counters, server_sent=merge(checks, "server_sent"), hold=HOLD,
        before=before, during=dict(during, max_rss=sampler.max_rss, max_fds=sampler.max_fds), after=after,
        warm=warm, probes=during_probes, after_healthz=after_healthz, after_wait=AFTER, daemon_alive=bool(after.get("VmRSS")))
    with open(args.results, "a") as results:
        results.write(json.dumps(result) + "\n")


# ---------------------------------------------------------------- the table

def mb(kib):
    return "%.0f" % (kib / 1024) if kib else "-"


def probe_text(probe):
    if "status" in probe:
        return "%s %d %.0f ms" % ("ok" if probe["ok"] else "FAIL", probe["status"], probe["ms"])
    return "FAIL %s %.0f ms" % (probe["error"], probe.get("ms", 0))


def table(args):
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    print("| scenario | daemon nofile | attempted | opened | open after hold: accepted+backlog | client-only | "
          "daemon fds peak | healthz | webhook push | VmRSS MB before/peak/after | VmHWM MB before/after |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        label = r["label"] + ("" if r["daemon_alive"] else " **DIED**")
        print("| %s | %s | %d | %d | %d+%d | %d | %s | %s | %s | %s/%s/%s | %s/%s |" % (
            label, r["nofile"], r["attempted"], r["opened"], r["server"].get("accepted", 0),
            r["server"].get("queued", 0), r["server"].get("client-only", 0), r["during"]["max_fds"],
            probe_text(r["probes"]["healthz"]), probe_text(r["probes"]["webhook"]),
            mb(r["before"].get("VmRSS")), mb(r["during"]["max_rss"]), mb(r["after"].get("VmRSS")),
            mb(r["before"].get("VmHWM")), mb(r["after"].get("VmHWM") or r["during"].get("VmHWM"))))
    print()
    for r in rows:
        extra = []
        if r["failures"]:
            extra.append("connect failures " + ", ".join("%s %d" % kv for kv in sorted(r["failures"].items())))
        if r["notes"]:
            extra.append(", ".join("%s %s" % kv for kv in sorted(r["notes"].items())))
        closed = {k: v for k, v in r["states"].items() if k != "open"}
        if closed:
            extra.append("closed or reset by the end of the hold (by the daemon, or by the kernel: SyncookiesFailed): " + ", ".join("%s %d" % kv for kv in closed.items()))
        if r["states"].get("open"):
            extra.append("the %d the client still had open, server side: %s" % (r["states"]["open"], ", ".join(
                "%s %s" % kv for kv in sorted(r["server"].items()) if kv[0] not in ("backlog", "server_sockets"))))
        if r["kernel"]:
            extra.append("kernel TcpExt during the attack: " + ", ".join("%s +%d" % kv for kv in r["kernel"].items()))
        if r["server_sent"]:
            extra.append("server sent " + ", ".join("%r x%d" % kv for kv in r["server_sent"].items()))
        extra.append("healthz %gs after close: %s" % (r.get("after_wait", AFTER), probe_text(r["after_healthz"])))
        if not r["daemon_alive"]:
            extra.append("THE DAEMON DIED %s s into the attack (its exit status and log are in the lines above the table)"
                          % r.get("died_after", "?"))
        if r.get("nofile_note"):
            extra.append(r["nofile_note"])
        print("- %s (%s): %s" % (r["label"], r["what"], "; ".join(extra)))


# ---------------------------------------------------------------- debug or release

def build_kind(args):
    path = os.path.realpath(args.path)
    for kind in ("debug", "release"):
        if "/%s/" % kind in path:
            return print(kind + " (by path)")
    with open(path, "rb") as elf:
        data = elf.read(64)
        if data[:4] != b"\x7fELF" or data[4] != 2:
            return print("unknown")
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        elf.seek(shoff)
        headers = [struct.unpack_from("<IIQQQQ", elf.read(shentsize)) for _ in range(shnum)]
        _, _, _, _, strings_offset, strings_size = headers[shstrndx]
        elf.seek(strings_offset)
        strings = elf.read(strings_size)
        names = {strings[h[0]:strings.index(b"\0", h[0])].decode() for h in headers}
    print("debug (.swift_ast)" if ".swift_ast" in names else "release (no .swift_ast)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run")
    run_parser.add_argument("scenario", choices=sorted(SCENARIOS))
    run_parser.add_argument("--port", type=int, required=True)
    run_parser.add_argument("--pid", type=int, required=True)
    run_parser.add_argument("--fixture", required=True)
    run_parser.add_argument("--results", required=True)
    run_parser.add_argument("--label", required=True)
    run_parser.add_argument("--nofile-note", default="")
    table_parser = commands.add_parser("table")
    table_parser.add_argument("results")
    kind_parser = commands.add_parser("build-kind")
    kind_parser.add_argument("path")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally: blocks (workers)
    {"run": run, "table": table, "build-kind": build_kind}[args.command](args)


if __name__ == "__main__":
    main()
