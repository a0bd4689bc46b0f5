#!/usr/bin/env python3
"""Smoke test, run inside the built image (Slipway's smoke step):

starts gunicorn with the app on 127.0.0.1 (a free port), waits until /healthz answers
(at most --timeout seconds), posts the known sample (smoke_sample.json, written by
training/train.py), compares the predictions with the expected classes, stops gunicorn.

The exit status carries the verdict (0: right answer; 1: wrong answer or no service):
buildah's chroot isolation can drop the last lines a command prints just before it
exits, so the log line is only for people. It waits a moment before exiting so that
line is usually kept.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    # The chroot shares the host's network: never assume a fixed port is free.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)


def wait_until_up(base, server, deadline):
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return f"gunicorn exited with status {server.returncode} before answering"
        try:
            call(base + "/healthz", timeout=2)
            return None
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    return "the service did not answer /healthz in time"


def check(args):
    with open(args.sample) as f:
        sample = json.load(f)
    expected = [args.expect] if args.expect is not None else sample["expected"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                               "--workers", "1", "--chdir", os.path.dirname(HERE), "--preload",
                               "app.main:create_app()"])
    try:
        problem = wait_until_up(base, server, started + args.timeout)
        if problem:
            return f"smoke FAILED: {problem}"
        print(f"service up in {time.monotonic() - started:.1f}s on {base}", flush=True)
        try:
            answer = call(base + "/score", {"instances": sample["instances"]})
        except urllib.error.HTTPError as error:
            return f"smoke FAILED: POST /score answered {error.code}: {error.read()[:300]!r}"
        predictions = answer.get("predictions")
        print(f"answer: {json.dumps(answer)}, expected: {expected}", flush=True)
        if predictions != expected:
            return f"smoke FAILED: predicted {predictions}, expected {expected}"
        return None
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main():
    parser = argparse.ArgumentParser(description="smoke test of the digit classifier image")
    parser.add_argument("--sample", default=os.path.join(HERE, "smoke_sample.json"))
    parser.add_argument("--expect", type=int, help="expected class (default: the sample file's)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the service")
    args = parser.parse_args()
    try:
        failure = check(args)
    except Exception as error:  # anything unexpected is a failed smoke test, with a reason
        failure = f"smoke FAILED: {type(error).__name__}: {error}"
    print(failure or "smoke ok", flush=True)
    sys.stderr.flush()
    time.sleep(0.3)
    sys.exit(1 if failure else 0)


if __name__ == "__main__":
    main()
