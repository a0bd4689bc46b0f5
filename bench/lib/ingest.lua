-- wrk script for bench/ingest: POSTs a signed GitHub push (BODY_FILE, signed as SIGNATURE)
-- with a unique X-GitHub-Delivery per request (thread id + counter), so every
-- accepted delivery is a new row, never a duplicate. Prints one RESULT line at the end.
local body_file = assert(os.getenv("BODY_FILE"), "BODY_FILE")
local handle = assert(io.open(body_file, "rb"))
wrk.method = "POST"
wrk.body = handle:read("*a")
handle:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
wrk.headers["X-Hub-Signature-256"] = assert(os.getenv("SIGNATURE"), "SIGNATURE")

local threads = {}
local next_id = 0
function setup(thread)
    next_id = next_id + 1
    thread:set("thread_id", next_id)
    table.insert(threads, thread)
end

local counter = 0
local prefix = os.getenv("RUN_ID") or "run"
function request()
    counter = counter + 1
    wrk.headers["X-GitHub-Delivery"] = string.format("%s-%d-%d", prefix, thread_id, counter)
    return wrk.format()
end

function done(summary, latency, requests)
    local seconds = summary.duration / 1e6
    io.write(string.format(
        "RESULT requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
        summary.requests, summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000, summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
        summary.errors.timeout))
end
