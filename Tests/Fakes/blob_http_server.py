#!/usr/bin/env python3
"""Blob HTTP server for tests: a stand-in for a model host. It is NOT S3 or a CDN.

Serves the files under ROOT over plain HTTP/1.1 on 127.0.0.1 (Sources/SlipwayTesting/
BlobHTTPServer.swift starts it).  Standard library only, except in Azure mode.

  python3 blob_http_server.py ROOT PORT TOKEN DROP LOG [AZURE]

* ROOT: directory whose files are served; the request path is the path under ROOT.
* PORT: port to listen on (127.0.0.1 only).
* TOKEN: required bearer token (`Authorization: Bearer TOKEN`, else 401), or "-" for none.
* DROP: "1" drops the connection half-way through the first full (non-Range) download, once; "0" never.
* LOG: every request is appended as one line: `METHOD PATH range=RANGE status=STATUS bytes=SENT`.
* AZURE (optional): "ACCOUNT:BASE64KEY" serves as Azure Blob Storage for that account:
  /ACCOUNT/CONTAINER/BLOB paths, `?comp=list` listings, `x-ms-range`, and every request's
  Shared Key checked by recomputing it with Microsoft's SDK (azure-storage-blob); "-" or
  absent: plain HTTP file server.
* GET only, with Range, If-Range and If-None-Match; the ETag is the (truncated) sha256 of the file.
* A file FILE.content-md5 beside FILE: its text is sent as the full response's Content-MD5
  header (right or, to play a store whose copy was altered, wrong).
"""
import hashlib, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, PORT, TOKEN, DROP, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", sys.argv[5]
AZURE = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] != "-" else None
if AZURE:
    # Azure Blob mode: /ACCOUNT/CONTAINER/BLOB paths; every request's Shared Key checked
    # by recomputing it with Microsoft's SDK.
    from email.utils import formatdate
    from urllib.parse import urlparse, parse_qs
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy
    from azure.core.pipeline import PipelineRequest, PipelineContext
    from azure.core.pipeline.transport import HttpRequest
    AZ_ACCOUNT, AZ_KEY = AZURE.split(":", 1)
state = {"dropped": False}
etags = {}

def etag(path):
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in etags:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        etags[key] = '"' + h.hexdigest()[:32] + '"'
    return etags[key]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log(self, status, sent):
        with open(LOG, "a") as f:
            f.write("%s %s range=%s status=%d bytes=%d\n" % (self.command, self.path, self.headers.get("Range", "-"), status, sent))
    def reply(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.log(status, len(body))
    def azure_authorized(self):
        signed = {k: v for k, v in self.headers.items() if k.lower().startswith("x-ms-") or k.lower() in ("if-none-match", "if-match", "range")}
        request = HttpRequest("GET", "http://127.0.0.1:%d%s" % (PORT, self.path), headers=signed)
        SharedKeyCredentialPolicy(AZ_ACCOUNT, AZ_KEY).on_request(PipelineRequest(request, PipelineContext(None)))
        return request.headers.get("Authorization") == self.headers.get("Authorization")
    def azure_list(self, directory, prefix):
        import html
        items = []
        for dirpath, _, names in os.walk(directory):
            for name in names:
                full = os.path.join(dirpath, name)
                blob = os.path.relpath(full, directory)
                if blob.startswith(prefix):
                    items.append("<Blob><Name>%s</Name><Properties><Last-Modified>%s</Last-Modified><Etag>%s</Etag><Content-Length>%d</Content-Length></Properties></Blob>"
                                 % (html.escape(blob), formatdate(os.path.getmtime(full), usegmt=True), etag(full), os.path.getsize(full)))
        body = ('<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs>%s</Blobs><NextMarker /></EnumerationResults>' % "".join(items)).encode()
        return self.reply(200, [("Content-Type", "application/xml")], body)
    def do_GET(self):
        if TOKEN != "-" and self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.reply(401, [("WWW-Authenticate", "Bearer")])
        if AZURE:
            if not self.azure_authorized():
                return self.reply(403, [], b"<Error><Code>AuthenticationFailed</Code></Error>")
            url = urlparse(self.path)
            query = parse_qs(url.query)
            if query.get("comp") == ["list"]:
                return self.azure_list(os.path.join(ROOT, url.path.lstrip("/")), query.get("prefix", [""])[0])
            self.path = url.path
            if self.headers.get("x-ms-range"):
                self.headers.replace_header("Range", self.headers["x-ms-range"]) if self.headers.get("Range") else self.headers.add_header("Range", self.headers["x-ms-range"])
        path = os.path.join(ROOT, self.path.lstrip("/"))
        if not os.path.isfile(path):
            return self.reply(404)
        tag, size = etag(path), os.path.getsize(path)
        if self.headers.get("If-None-Match") == tag:
            return self.reply(304, [("ETag", tag)])
        start = 0
        rng = self.headers.get("Range")
        if rng and (self.headers.get("If-Range") in (None, tag)):
            start = int(rng.split("=")[1].split("-")[0])
        status = 206 if start else 200
        self.send_response(status)
        self.send_header("ETag", tag)
        self.send_header("Content-Length", str(size - start))
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        elif os.path.isfile(path + ".content-md5"):
            with open(path + ".content-md5") as f:
                self.send_header("Content-MD5", f.read().strip())
        self.end_headers()
        drop_at = size // 2 if (DROP and not state["dropped"] and not start) else None
        sent = 0
        with open(path, "rb") as f:
            f.seek(start)
            while True:
                block = f.read(1 << 16)
                if not block:
                    break
                if drop_at is not None and sent + len(block) > drop_at:
                    block = block[: drop_at - sent]
                    self.wfile.write(block)
                    sent += len(block)
                    state["dropped"] = True
                    self.log(status, sent)
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    self.close_connection = True
                    return
                self.wfile.write(block)
                sent += len(block)
        self.log(status, sent)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
