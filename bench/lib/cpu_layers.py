"""slipwayd's CPU time per stored delivery, by layer, from a `perf record -g` profile.

Usage: cpu_layers.py PERF_DATA MICROSECONDS_PER_REQUEST

Each sample is given to the first layer whose marker appears anywhere in its call
stack (so a layer counts what it calls, unless an earlier layer claims it), and the
shares are turned into microseconds with the process's measured CPU per request.
Symbols are Swift-mangled; markers are substrings of them.
"""
import collections
import subprocess
import sys

LAYERS = [
    ("store: log sync (fdatasync, kernel)", ["WALSyncer", "fdatasync", "ext4_sync_file"]),
    ("store: group write (SQLite, on the writer)", ["DeliveryGroupCommit", "SQLiteBuildStore", "sqlite3", "GRDB"]),
    ("route: payload read (JSON fields, classify)", ["JSONFieldReader", "PushEvent", "DeliveryClassifier", "PayloadRepository"]),
    ("route: signature (HMAC-SHA256)", ["WebhookSignature", "HMAC", "sha256_block"]),
    ("route: the rest (headers, intake, reply)", ["WebhookRoute", "BuildIntake", "BuildQueue", "DeliveryHeaders", "JSONReply"]),
    ("http: read and parse (NIO, llhttp, kernel)",
     ["readFromSocket", "HTTPDecoder", "llhttp", "BaseSocketChannel9readable", "RawBytesHandler", "HTTP1RequestChecks",
      "ToHTTPServerCodec", "tcp_recvmsg", "sock_read"]),
    ("http: write reply (NIO, kernel, loopback)",
     ["_doOutboundWrites", "flushNow", "writev", "tcp_sendmsg", "HTTPResponseEncoder", "HTTPConnectionStateHandler5write"]),
    ("hummingbird: request/response async glue", ["Hummingbird", "NIOAsyncChannel", "NIOAsyncSequenceProducer", "NIOAsyncWriter"]),
    ("scheduling: task switches, thread wake-ups",
     ["swift_task_switch", "swift_job_run", "futex", "schedule", "_dispatch", "swift_continuation", "epoll_wait", "whenReady",
      "try_to_wake_up"]),
]

data, per_request = sys.argv[1], float(sys.argv[2])
script = subprocess.run(["perf", "script", "-i", data, "-F", "ip,sym"], capture_output=True, text=True).stdout
counts, total, stack = collections.Counter(), 0, []


def close(stack):
    global total
    if not stack:
        return
    total += 1
    joined = " ".join(stack)
    for name, markers in LAYERS:
        if any(marker in joined for marker in markers):
            counts[name] += 1
            return
    counts["other (allocator, runtime, unresolved frames)"] += 1


for line in script.splitlines():
    parts = line.strip().split(None, 1)
    if not parts:
        close(stack)
        stack = []
    elif len(parts) == 2:
        stack.append(parts[1])
close(stack)

print("CPU per stored delivery by layer (%d samples, %.0f us per request in all):" % (total, per_request))
for name, _ in LAYERS + [("other (allocator, runtime, unresolved frames)", None)]:
    share = counts[name] / total if total else 0
    print("  %-48s %5.1f %%  %6.1f us" % (name, 100 * share, share * per_request))
