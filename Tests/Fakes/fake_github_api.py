#!/usr/bin/env python3
"""Fake GitHub REST API for tests. It is NOT GitHub.

Plays the two endpoints Slipway calls (Sources/SlipwayTesting/FakeGitHubAPI.swift starts it):
`POST /repos/OWNER/REPO/statuses/SHA` (commit statuses) and
`POST /app/installations/INSTALLATION/access_tokens` (a GitHub App's installation token).
Each request is checked against GitHub's documented API: Accept, X-GitHub-Api-Version and
User-Agent headers, JSON fields and their types, the 140-character description, and an App
JWT verified with the App's public key (iat, exp, iss; needs the `cryptography` package).

  python3 fake_github_api.py PORT LOG SCRIPT TOKEN APP_ID INSTALLATION PUBLIC_KEY

* PORT: port to listen on (127.0.0.1 only).
* LOG: every request is appended as one JSON line:
  {"method", "path", "status", "body", "violations", "time"}.
* SCRIPT: a file of scripted answers for the next status requests, one a line, each used once:
  "500", "ratelimit:SECONDS" (403 with Retry-After), "422"; missing or empty: 201.
* TOKEN: the token statuses must carry (`Authorization: Bearer TOKEN`), or "-" when they must
  carry an installation token this server issued (App mode).
* APP_ID, INSTALLATION: the App's id and installation id ("0" without an App).
* PUBLIC_KEY: path of the App's public key (PEM) that verifies its JWTs, or "-".
* A request that breaks the contract is answered 422 (401 for credentials, 404 for an unknown path).
* POST only: any GET gets 501, which is enough to see that the server listens.
"""
import base64, json, os, re, secrets, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG, SCRIPT, TOKEN = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
APP_ID, INSTALLATION, PUBLIC_KEY = sys.argv[5], sys.argv[6], sys.argv[7]
issued = set()

def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

def verify_jwt(jwt):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    try:
        header, claims, signature = jwt.split(".")
        key = serialization.load_pem_public_key(open(PUBLIC_KEY, "rb").read())
        key.verify(b64url(signature), (header + "." + claims).encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception as error:
        return ["JWT signature invalid: %r" % error]
    problems = []
    if json.loads(b64url(header)) != {"alg": "RS256", "typ": "JWT"}:
        problems.append("JWT header")
    c = json.loads(b64url(claims))
    now = time.time()
    if str(c.get("iss")) != APP_ID: problems.append("JWT iss %r" % c.get("iss"))
    if not isinstance(c.get("iat"), int) or c["iat"] > now + 5: problems.append("JWT iat in the future")
    if not isinstance(c.get("exp"), int) or c["exp"] <= now or c["exp"] - c["iat"] > 600: problems.append("JWT exp out of range")
    return problems

def next_scripted():
    try:
        lines = open(SCRIPT).read().split()
    except FileNotFoundError:
        return None
    if not lines:
        return None
    open(SCRIPT, "w").write("\n".join(lines[1:]))
    return lines[0]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def record(self, status, body, violations):
        with open(LOG, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "status": status, "body": body,
                                "violations": violations, "time": time.time()}) + "\n")
    def answer(self, status, payload, headers=()):
        data = json.dumps(payload).encode()
        self.send_response(status)
        for k, v in headers: self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def common(self):
        v = []
        if self.headers.get("Accept") != "application/vnd.github+json": v.append("Accept header")
        if self.headers.get("X-GitHub-Api-Version") != "2022-11-28": v.append("X-GitHub-Api-Version header")
        if not self.headers.get("User-Agent"): v.append("User-Agent header")
        return v
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        v = self.common()
        if self.path == "/app/installations/%s/access_tokens" % INSTALLATION:
            v += verify_jwt(auth[len("Bearer "):]) if auth.startswith("Bearer ") else ["no JWT"]
            if v:
                self.record(401, {}, v); return self.answer(401, {"message": "; ".join(v)})
            token = "ghs_" + secrets.token_hex(16)
            issued.add(token)
            self.record(201, {}, [])
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            return self.answer(201, {"token": token, "expires_at": expires})
        m = re.fullmatch(r"/repos/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/statuses/([0-9a-f]{40})", self.path)
        if not m:
            self.record(404, {}, ["unknown path"]); return self.answer(404, {"message": "Not Found"})
        expected = ("Bearer " + TOKEN) if TOKEN != "-" else None
        if (expected and auth != expected) or (not expected and auth[len("Bearer "):] not in issued):
            self.record(401, {}, ["Authorization"]); return self.answer(401, {"message": "Bad credentials"})
        try:
            body = json.loads(raw)
        except Exception:
            body = None
        if not isinstance(body, dict): v.append("body is not a JSON object"); body = {}
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json": v.append("Content-Type")
        if body.get("state") not in ("pending", "success", "failure", "error"): v.append("state")
        for field in ("target_url", "description", "context"):
            if not isinstance(body.get(field), str): v.append(field + " not a string")
        if isinstance(body.get("description"), str) and len(body["description"]) > 140: v.append("description over 140 characters")
        if set(body) - {"state", "target_url", "description", "context"}: v.append("unknown fields")
        if v:
            self.record(422, body, v); return self.answer(422, {"message": "Validation Failed: " + "; ".join(v)})
        scripted = next_scripted()
        if scripted == "500":
            self.record(500, body, []); return self.answer(500, {"message": "Server Error"})
        if scripted and scripted.startswith("ratelimit:"):
            wait = scripted.split(":")[1]
            self.record(403, body, [])
            return self.answer(403, {"message": "API rate limit exceeded"},
                               [("Retry-After", wait), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", str(int(time.time()) + int(wait)))])
        if scripted == "422":
            self.record(422, body, []); return self.answer(422, {"message": "No commit found for SHA"})
        self.record(201, body, [])
        return self.answer(201, {"id": 1, "state": body["state"], "context": body["context"]})
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
