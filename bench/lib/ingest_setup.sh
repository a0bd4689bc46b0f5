# What bench/ingest and bench/ingest-profile share, sourced by both.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# write_ingest_config WORK PORT CANCEL_SUPERSEDED: the daemon's config in WORK/slipway.yaml.
# The fixture's repository, its default branch built; the clone URL is a local repository
# without the pushed commit (made here), so a build that runs ends at checkout (error)
# quickly. With CANCEL_SUPERSEDED true, newer pushes supersede queued builds, as in production.
write_ingest_config() {
    git init -q --bare "$1/origin.git"
    cat > "$1/slipway.yaml" <<YAML
server: {listen: 127.0.0.1:$2, max_body_bytes: 26214400}
state_dir: $1/state
log_level: warning
queue: {workers: 2, cancel_superseded: $3}
repositories:
  - name: Codertocat/Hello-World
    webhook_secrets: [env:BENCH_WEBHOOK_SECRET]
    clone_url: file://$1/origin.git
    test: ["true"]
YAML
}

# fsync_probe DIR: fdatasync of a 4 KiB write in DIR, p50 and p99 of 200, as a `machine:` line.
fsync_probe() {
    python3 - "$1" <<'PY'
import os, sys, time, statistics
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
times = []
for _ in range(200):
    os.pwrite(fd, os.urandom(4096), 0)
    start = time.perf_counter(); os.fdatasync(fd); times.append((time.perf_counter() - start) * 1000)
os.close(fd); os.unlink(path)
times.sort()
print("machine: fdatasync of 4 KiB on state_dir's filesystem p50 %.2f ms, p99 %.2f ms (200 writes)" % (
    statistics.median(times), times[int(len(times) * 0.99) - 1]))
PY
}
