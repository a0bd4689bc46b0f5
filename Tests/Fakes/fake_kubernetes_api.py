#!/usr/bin/env python3
"""Fake Kubernetes API server for tests. It is NOT Kubernetes.

It plays only the few API endpoints that a real `kubectl` calls for `get`, `set image`,
`rollout status` and `rollout undo` of ONE apps/v1 Deployment, and keeps just enough state
(generation, resourceVersion, ReplicaSets with revision annotations and ownerReferences,
status, a watch history) for kubectl to behave as against a cluster. Standard library only.

  python3 fake_kubernetes_api.py --port PORT --namespace NS --deployment NAME \\
      --container CONTAINER --image INITIAL_IMAGE --log REQUESTS.jsonl \\
      --mode-file MODE_FILE --token TOKEN [--tls-cert CERT --tls-key KEY]

* Listens on 127.0.0.1:PORT (0 = any free port); prints "listening on http(s)://127.0.0.1:PORT".
* Every request needs `Authorization: Bearer TOKEN`, else 401.  NOTE: kubectl (client-go) only
  sends a kubeconfig's credentials over TLS, so for kubectl pass --tls-cert/--tls-key (a self-signed
  certificate for 127.0.0.1 that the test makes with openssl and names as the kubeconfig's
  `certificate-authority`).  Plain HTTP suits curl-style clients only.
* MODE_FILE holds `ready` (also when missing) or `never-ready`, read at each PATCH that changes the
  pod template.  ready: ~200 ms later the rollout is complete.  never-ready: the new generation is
  observed but the new ReplicaSet's pods never become available, so `rollout status` times out.
  Going back to a template whose ReplicaSet was healthy (`rollout undo`) completes in either mode,
  as on a real cluster where the old pods are still running.
* Every request is appended to REQUESTS.jsonl (flushed) as one JSON line:
  {"method", "path", "query", "content_type", "body", "status", "user_agent"}.
"""
import argparse, copy, hashlib, json, re, select, ssl, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

REVISION = "deployment.kubernetes.io/revision"
HISTORY = "deployment.kubernetes.io/revision-history"
HASH_LABEL = "pod-template-hash"
SETTLE_SECONDS = 0.2


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def canonical(v):
    """What the API server would store after decoding: nulls and empty maps/lists don't count."""
    if isinstance(v, dict):
        out = {k: canonical(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x is not None and x != {} and x != []}
    return [canonical(x) for x in v] if isinstance(v, list) else v


def template_key(template):  # identity of a pod template, ignoring the pod-template-hash label
    t = copy.deepcopy(template)
    t.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    return json.dumps(canonical(t), sort_keys=True)


# ---- the PATCH flavours: kubectl's set image sends a strategic merge patch, rollout undo a JSON patch ----
def merge(target, patch, strategic=False):
    """JSON merge patch (RFC 7386): maps merge, null deletes, lists are replaced.  strategic=True adds the
    simplified strategic-merge rules: lists of maps that all have a "name" (containers, env, volumes...)
    merge by name ("$patch: delete" removes one); other "$" directives ($setElementOrder/...) only
    order or retain entries and are ignored."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        cur = out.get(k)
        if strategic and k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif strategic and isinstance(v, list) and isinstance(cur, list) and all(
                isinstance(e, dict) and "name" in e for e in v + cur):
            for e in v:
                i = next((j for j, c in enumerate(cur) if c["name"] == e["name"]), None)
                if e.get("$patch") == "delete":
                    cur[:] = [c for c in cur if c["name"] != e["name"]]
                elif i is None:
                    cur.append(merge({}, e, True))
                else:
                    cur[i] = merge(cur[i], e, True)
        else:
            out[k] = merge(cur, v, strategic)
    return out


def json_patch(doc, ops):  # RFC 6902: add, replace, remove, test
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        key = parts[-1]
        if isinstance(parent, list):
            key = len(parent) if key == "-" else int(key)
        if op["op"] == "add" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(op["value"]))
        elif op["op"] in ("add", "replace"):
            parent[key] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del parent[key]
        elif op["op"] != "test" or parent[key] != op["value"]:
            raise ValueError("unsupported or failed JSON patch operation %r" % op)
    return doc


PATCHERS = {"application/strategic-merge-patch+json": lambda d, p: merge(d, p, strategic=True),
            "application/merge-patch+json": merge, "application/json-patch+json": json_patch}


class Cluster:
    """The Deployment, its ReplicaSets, a watch history and a tiny deployment controller.
    Callers hold self.cond (locked_settle takes it itself)."""

    def __init__(self, a):
        self.a, self.cond, self.rv = a, threading.Condition(), 0
        self.events = []  # (resourceVersion, "deployments"|"replicasets", ADDED|MODIFIED, object)
        self.replicasets, self.healthy = {}, {}  # name -> ReplicaSet; name -> can its pods become ready
        labels = {"app": a.deployment}
        container = {"name": a.container, "image": a.image, "imagePullPolicy": "IfNotPresent",
                     "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
        self.deployment = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": a.deployment, "namespace": a.namespace, "uid": str(uuid.uuid4()),
                         "generation": 1, "creationTimestamp": now(), "labels": dict(labels), "annotations": {}},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {
                         "containers": [container], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                         "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
            "status": {}}
        with self.cond:  # initial state: revision 1, fully rolled out
            self.roll_to_template(healthy=True)
            self.settle(1)

    def write(self, resource, obj, kind="MODIFIED"):  # store a change: bump resourceVersion, wake watchers
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append((self.rv, resource, kind, copy.deepcopy(obj)))
        self.cond.notify_all()

    def objects(self, resource):
        return [self.deployment] if resource == "deployments" else list(self.replicasets.values())

    def roll_to_template(self, healthy):
        """Controller, at once: find or create the ReplicaSet of the current template; it gets the next revision."""
        d, rss = self.deployment, self.replicasets
        key = template_key(d["spec"]["template"])
        rev = str(1 + max((int(r["metadata"]["annotations"][REVISION]) for r in rss.values()), default=0))
        rs = next((r for r in rss.values() if template_key(r["spec"]["template"]) == key), None)
        if rs is None:
            pth = "".join("bcdfghjklmnpqrstvwxz2456789"[b % 27] for b in hashlib.sha256(key.encode()).digest()[:10])
            sel = dict(d["spec"]["selector"]["matchLabels"], **{HASH_LABEL: pth})
            tmpl = copy.deepcopy(d["spec"]["template"])
            tmpl.setdefault("metadata", {})["labels"] = dict(tmpl["metadata"].get("labels", {}), **{HASH_LABEL: pth})
            owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": d["metadata"]["name"],
                     "uid": d["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
            rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": {"name": "%s-%s" % (d["metadata"]["name"], pth), "namespace": self.a.namespace,
                               "uid": str(uuid.uuid4()), "generation": 1, "creationTimestamp": now(),
                               "labels": dict(sel), "annotations": {}, "ownerReferences": [owner]},
                  "spec": {"replicas": 0, "selector": {"matchLabels": sel}, "template": tmpl},
                  "status": {"replicas": 0, "observedGeneration": 1}}
            rss[rs["metadata"]["name"]], kind = rs, "ADDED"
        else:  # back to an existing ReplicaSet (rollout undo): like the real controller, it takes the next revision
            ann, kind = rs["metadata"]["annotations"], "MODIFIED"
            ann[HISTORY] = ",".join(filter(None, [ann.get(HISTORY), ann[REVISION]]))
        self.new_rs, replicas = rs["metadata"]["name"], d["spec"].get("replicas", 1)
        self.healthy[self.new_rs] = healthy or self.healthy.get(self.new_rs, False)
        rs["metadata"]["annotations"].update({REVISION: rev, "deployment.kubernetes.io/desired-replicas": str(replicas),
                                              "deployment.kubernetes.io/max-replicas": str(replicas - (-replicas // 4))})
        self.write("replicasets", rs, kind)
        d["metadata"].setdefault("annotations", {})[REVISION] = rev

    def settle(self, generation):
        """Controller, SETTLE_SECONDS after a spec change: scale the ReplicaSets, publish the status."""
        d = self.deployment
        if d["metadata"]["generation"] != generation:
            return  # superseded by a newer change, whose own timer settles it
        want, new, healthy = d["spec"].get("replicas", 1), self.replicasets[self.new_rs], self.healthy[self.new_rs]
        for name, rs in self.replicasets.items():
            # healthy: the new RS takes all replicas, old ones go to 0; else the new one surges by 25% and never gets ready
            n = (want if healthy else -(-want // 4)) if rs is new else (0 if healthy else rs["spec"]["replicas"])
            ready = n if self.healthy[name] else 0
            if (rs["spec"]["replicas"], rs["status"].get("readyReplicas")) != (n, ready):
                rs["metadata"]["generation"] += rs["spec"]["replicas"] != n
                rs["spec"]["replicas"] = n
                rs["status"] = {"replicas": n, "fullyLabeledReplicas": n, "readyReplicas": ready,
                                "availableReplicas": ready, "observedGeneration": rs["metadata"]["generation"]}
                self.write("replicasets", rs)
        total = sum(r["spec"]["replicas"] for r in self.replicasets.values())
        avail = sum(r["status"]["availableReplicas"] for r in self.replicasets.values())
        updated, t = new["spec"]["replicas"], now()
        done, ok = (updated, total, avail) == (want, want, want), avail >= want - want // 4  # maxUnavailable 25%
        d["status"] = {
            "observedGeneration": generation, "replicas": total, "updatedReplicas": updated, "readyReplicas": avail,
            "availableReplicas": avail, "unavailableReplicas": max(want - avail, 0), "conditions": [
                {"type": "Available", "status": str(ok), "lastUpdateTime": t, "lastTransitionTime": t,
                 "reason": "MinimumReplicasAvailable" if ok else "MinimumReplicasUnavailable",
                 "message": "Deployment %s minimum availability." % ("has" if ok else "does not have")},
                {"type": "Progressing", "status": "True", "lastUpdateTime": t, "lastTransitionTime": t,
                 "reason": "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                 "message": 'ReplicaSet "%s" %s.' % (self.new_rs, "has successfully progressed" if done else "is progressing")}]}
        self.write("deployments", d)

    def patch_deployment(self, ctype, body):
        old = self.deployment
        new = canonical(PATCHERS[ctype](old, body))
        for k in ("name", "namespace", "uid", "generation", "creationTimestamp"):
            new["metadata"][k] = old["metadata"][k]  # immutable or server-owned
        new["status"] = old["status"]  # the status is the controller's, not the patch's
        if new["spec"] != canonical(old["spec"]):
            new["metadata"]["generation"] += 1
        self.deployment = new
        if template_key(new["spec"]["template"]) != template_key(old["spec"]["template"]):
            try:
                mode = open(self.a.mode_file).read().strip()
            except OSError:
                mode = "ready"
            self.roll_to_template(healthy=mode != "never-ready")
        self.write("deployments", new)
        if new["metadata"]["generation"] != old["metadata"]["generation"]:
            timer = threading.Timer(SETTLE_SECONDS, self.locked_settle, args=(new["metadata"]["generation"],))
            timer.daemon = True
            timer.start()
        return new

    def locked_settle(self, generation):
        with self.cond:
            self.settle(generation)


def selector_matches(obj, query):
    """Equality-based fieldSelector/labelSelector (all kubectl sends here); ValueError for anything else."""
    fields = {"metadata.name": obj["metadata"]["name"], "metadata.namespace": obj["metadata"]["namespace"]}
    for param, values in (("fieldSelector", fields), ("labelSelector", obj["metadata"].get("labels", {}))):
        for term in filter(None, query.get(param, "").split(",")):
            m = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*(\S*)\s*", term)
            if not m:
                raise ValueError("unsupported %s %r" % (param, term))
            if (values.get(m.group(1)) == m.group(3)) != (m.group(2) != "!="):
                return False
    return True


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def api_resource(name, kind, short, namespaced=True, verbs="create delete deletecollection get list patch update watch"):
    return {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
            "verbs": verbs.split(), "shortNames": [short]}


# Legacy (non-aggregated) discovery: kubectl 1.32 asks /api and /apis for the aggregated
# APIGroupDiscoveryList first, sees plain application/json and falls back to /api/v1 and /apis/apps/v1.
# /version is asked by the gcloud kubectl dispatcher, which picks its kubectl minor version from it.
# kubectl needs no /openapi here; it gets a 404 like every unknown path.
DISCOVERY = {
    "/version": lambda port: {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "fake",
                              "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z",
                              "goVersion": "go1.23.3", "compiler": "gc", "platform": "linux/amd64"},
    "/api": lambda port: {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % port}]},
    "/apis": lambda port: {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]},
    # kubectl won't cache an empty list (and logs an error at -v), so core v1 names one, not served here
    "/api/v1": lambda port: {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        api_resource("namespaces", "Namespace", "ns", namespaced=False, verbs="get list")]},
    "/apis/apps/v1": lambda port: {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
                                   "resources": [api_resource("deployments", "Deployment", "deploy"),
                                                 api_resource("replicasets", "ReplicaSet", "rs")]},
}
RESOURCE_PATH = re.compile(r"/apis/apps/v1/namespaces/([^/]+)/(deployments|replicasets)(?:/([^/]+))?")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked streams for watches

    def log_message(self, *args):  # no stderr access log: the JSONL log is ours
        pass

    def record(self, code):
        entry = {"method": self.command, "path": self.url.path, "query": self.query,
                 "content_type": self.headers.get("Content-Type"), "body": self.body, "status": code,
                 "user_agent": self.headers.get("User-Agent")}
        with self.server.log_lock:
            self.server.log.write(json.dumps(entry) + "\n")
            self.server.log.flush()

    def reply(self, code, obj, chunked=False):
        self.record(code)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            return self.end_headers()
        data = json.dumps(obj).encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_any(self):
        self.url = urlsplit(self.path)
        self.query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(self.url.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self.body = json.loads(raw) if raw else None
        except ValueError:
            self.body = None
        if self.headers.get("Authorization") != "Bearer " + self.server.token:
            return self.reply(401, status(401, "Unauthorized", "Unauthorized"))
        path = self.url.path.rstrip("/") or "/"
        if self.command == "GET" and path in DISCOVERY:
            return self.reply(200, DISCOVERY[path](self.server.server_port))
        m = RESOURCE_PATH.fullmatch(path)
        if not m:
            return self.reply(404, status(404, "NotFound", "the server could not find the requested resource"))
        ns, resource, name = m.groups()
        if self.command == "GET" and name is None:
            return self.list_or_watch(resource, ns)
        self.reply(*self.get_or_patch(resource, ns, name))

    def get_or_patch(self, resource, ns, name):  # -> (HTTP status, response object)
        c = self.server.cluster
        with c.cond:
            obj = next((o for o in c.objects(resource) if o["metadata"]["name"] == name and ns == c.a.namespace), None)
            if obj is None:
                return 404, status(404, "NotFound", '%s.apps "%s" not found' % (resource, name))
            if self.command == "GET":
                return 200, copy.deepcopy(obj)
            if self.command != "PATCH" or resource != "deployments":
                return 405, status(405, "MethodNotAllowed", "this fake only GETs, and PATCHes deployments")
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype not in PATCHERS:
                return 415, status(415, "UnsupportedMediaType", "unsupported patch type %r" % ctype)
            try:
                return 200, copy.deepcopy(c.patch_deployment(ctype, self.body))
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
                return 422, status(422, "Invalid", "the patch could not be applied: %s" % e)

    do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = do_any

    def list_or_watch(self, resource, ns):
        c = self.server.cluster
        wanted = lambda o: ns == c.a.namespace and selector_matches(o, self.query)
        try:
            with c.cond:
                items, last = [copy.deepcopy(o) for o in c.objects(resource) if wanted(o)], c.rv
        except ValueError as e:
            return self.reply(400, status(400, "BadRequest", str(e)))
        kind = "Deployment" if resource == "deployments" else "ReplicaSet"
        if self.query.get("watch") not in ("true", "1"):
            return self.reply(200, {"apiVersion": "apps/v1", "kind": kind + "List",
                                    "metadata": {"resourceVersion": str(last)}, "items": items})
        # Watch: a chunked stream of {"type", "object"} lines with every change after ?resourceVersion=
        # (ADDED for the current objects when it is absent or 0), until timeoutSeconds or the client leaves.
        self.reply(200, None, chunked=True)
        self.close_connection = True
        start, watch_list = self.query.get("resourceVersion", "0"), self.query.get("sendInitialEvents") == "true"
        initial = start in ("", "0") or watch_list
        pending = [("ADDED", o) for o in items] if initial else []
        if watch_list:  # "watch-list" clients want the current objects, then a bookmark that marks their end
            pending.append(("BOOKMARK", {"apiVersion": "apps/v1", "kind": kind, "metadata": {
                "resourceVersion": str(last), "annotations": {"k8s.io/initial-events-end": "true"}}}))
        last = last if initial else int(start)
        deadline = time.time() + float(self.query.get("timeoutSeconds", 1800))
        try:
            while time.time() < deadline:
                for event_type, obj in pending:
                    line = json.dumps({"type": event_type, "object": obj}).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                with c.cond:
                    if c.rv == last:
                        c.cond.wait(0.5)
                    pending = [(e[2], e[3]) for e in c.events if e[0] > last and e[1] == resource and wanted(e[3])]
                    last = c.rv
                if select.select([self.connection], [], [], 0)[0] and not self.connection.recv(1):
                    return  # the client hung up (a watching client sends nothing else)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # broken pipe, reset, TLS teardown
            pass


def main():
    p = argparse.ArgumentParser(description="Fake Kubernetes API server for tests (not Kubernetes).")
    for flag in ("namespace", "deployment", "container", "image", "log", "mode-file", "token"):
        p.add_argument("--" + flag, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tls-cert", metavar="CERT", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", metavar="KEY", help="... and this private key (PEM)")
    a = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    server.cluster, server.token = Cluster(a), a.token
    server.log, server.log_lock = open(a.log, "a"), threading.Lock()
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        # the TLS handshake then happens in each handler thread, so a slow client cannot stall accept()
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    else:
        print("note: plain http; kubectl sends no bearer token over http (use --tls-cert/--tls-key)", file=sys.stderr)
    print("listening on %s://127.0.0.1:%d" % ("https" if a.tls_cert else "http", server.server_port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
