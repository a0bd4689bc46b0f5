import AsyncHTTPClient
import Foundation

/// A small HTTP file server (Python) that stands in for a model host: GET with Range,
/// If-Range, If-None-Match (ETag = sha256 of the file), optional bearer token, and a
/// switch to drop the connection half-way through the first full download. Logs one line
/// per request: method, path, range header, status, body bytes sent.
public final class BlobHTTPServer: @unchecked Sendable {
    public let directory: URL
    public let root: URL
    public let port: Int
    private var process: Process?

    static let script = #"""
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
"""#

    /// `azureAccount`: serve as Azure Blob Storage for that account and key (base64),
    /// checking every request's Shared Key with the Azure SDK.
    public init(bearerToken: String? = nil, dropFirstDownloadHalfway: Bool = false, azureAccount: (name: String, key: String)? = nil) throws {
        directory = try TestPaths.temporaryDirectory("blob-http")
        root = directory.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        port = freeLoopbackPort()
        try Self.script.write(to: directory.appendingPathComponent("server.py"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try PythonTools.python())
        process.arguments = [directory.appendingPathComponent("server.py").path, root.path, String(port), bearerToken ?? "-",
                             dropFirstDownloadHalfway ? "1" : "0", requestLog.path,
                             azureAccount.map { "\($0.name):\($0.key)" } ?? "-"]
        try process.run()
        self.process = process
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var requestLog: URL { directory.appendingPathComponent("requests.log") }
    public var requests: [String] {
        ((try? String(contentsOf: requestLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Total body bytes the server sent.
    public var bytesSent: Int64 {
        requests.compactMap { line in line.components(separatedBy: "bytes=").last.flatMap { Int64($0) } }.reduce(0, +)
    }

    public func waitUntilListening() async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let request = HTTPClientRequest(url: baseURL + "/")
            if (try? await HTTPClient.shared.execute(request, timeout: .seconds(2))) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError("the blob HTTP server did not start")
    }

    public func stop() {
        if let process { stopProcess(process) }
        process = nil
        try? FileManager.default.removeItem(at: directory)
    }
}
