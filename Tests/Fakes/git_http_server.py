#!/usr/bin/env python3
"""Git smart-HTTP server for tests: `git http-backend` behind HTTP Basic auth.

Plays the part of GitHub's HTTPS git endpoint for clones of private repositories with a
token; it is NOT GitHub (Sources/SlipwayTesting/GitHTTPServer.swift starts it).  Standard
library only; needs `git` on PATH.

  python3 git_http_server.py ROOT PORT EXPECTED LOG

* ROOT: directory of bare repositories (GIT_PROJECT_ROOT; their directory names are the paths).
* PORT: port to listen on (127.0.0.1 only).
* EXPECTED: base64 of "USERNAME:TOKEN"; any other Authorization than `Basic EXPECTED` gets 401
  with `WWW-Authenticate: Basic realm="git"`.
* LOG: every request is appended as one line: the Authorization scheme ("Basic") or "none",
  then the path.  While the file LOG + ".hold" exists, each request is logged and then held
  (a test's way to be sure something happens while a client waits on the server).
"""
import base64, os, subprocess, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, PORT, EXPECTED, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

class Handler(BaseHTTPRequestHandler):
    def handle_git(self):
        auth = self.headers.get("Authorization", "")
        with open(LOG, "a") as log:
            log.write(("none" if not auth else auth.split(" ")[0]) + " " + self.path + "\n")
        deadline = time.monotonic() + 120
        while os.path.exists(LOG + ".hold") and time.monotonic() < deadline:
            time.sleep(0.02)
        if auth != "Basic " + EXPECTED:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command, REMOTE_USER="test",
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)),
                   GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.split(b"\r\n"):
            name, _, value = line.decode().partition(":")
            if name.lower() == "status":
                status = int(value.strip().split(" ")[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = handle_git
    do_POST = handle_git

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
