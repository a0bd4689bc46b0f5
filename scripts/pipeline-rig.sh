# A whole local pipeline, shared by scripts/demo and bench/pipeline. Sourced, not run.
# `pipeline_rig DIR CONFIGURATION` (debug or release) starts, under DIR: a private
# registry (docker-registry with a password), buildah storage with a busybox base image
# (no image can be pulled here), a git repository with a Dockerfile and tests, and
# slipwayd. It sets: rig_registry, rig_password, rig_daemon_url, rig_db, rig_sha.
# `rig_commit` adds a commit and pushes it (sets rig_sha); `rig_deliver` sends the signed
# push of rig_sha. `rig_stop` stops the daemon and the registry. RIG_SANDBOX (default
# bubblewrap) is the daemon's `sandbox:`.

rig_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pipeline_rig() {
    rig_dir=$1
    rm -rf "$rig_dir"
    mkdir -p "$rig_dir/secrets" "$rig_dir/tmp"
    registry_port=$(rig_free_port)
    daemon_port=$(rig_free_port)
    rig_registry="127.0.0.1:$registry_port"
    rig_daemon_url="http://127.0.0.1:$daemon_port"
    rig_db="$rig_dir/state/slipway.sqlite"

    echo "==> building slipwayd ($2)"
    if [ "$2" = release ]; then
        slipwayd=$(build_release slipwayd)
    else
        swift build -c "$2" --product slipwayd >/dev/null
        slipwayd="$(swift build -c "$2" --show-bin-path)/slipwayd"
    fi

    echo "==> buildah storage and a busybox base image (no image can be pulled here)"
    cat > "$rig_dir/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$rig_dir/containers/graph"
runroot = "$rig_dir/containers/run"
CONF
    printf 'unqualified-search-registries = []\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$rig_registry" > "$rig_dir/registries.conf"
    export CONTAINERS_STORAGE_CONF="$rig_dir/storage.conf" CONTAINERS_REGISTRIES_CONF="$rig_dir/registries.conf" TMPDIR="$rig_dir/tmp"
    mkdir -p "$rig_dir/rootfs/bin"
    cp /usr/bin/busybox "$rig_dir/rootfs/bin/"
    for tool in sh cat echo ls sleep test true env; do ln -s busybox "$rig_dir/rootfs/bin/$tool"; done
    container=$(buildah from scratch)
    buildah copy "$container" "$rig_dir/rootfs" / >/dev/null
    buildah commit --quiet "$container" localhost/demo-base:latest >/dev/null
    buildah rm "$container" >/dev/null

    echo "==> docker-registry on $rig_registry with a password"
    rig_password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    htpasswd -Bbn demo "$rig_password" > "$rig_dir/htpasswd"
    cat > "$rig_dir/registry.yml" <<CONF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $rig_dir/registry}}
http: {addr: $rig_registry}
auth: {htpasswd: {realm: demo, path: $rig_dir/htpasswd}}
CONF
    docker-registry serve "$rig_dir/registry.yml" > "$rig_dir/registry.log" 2>&1 &
    rig_registry_pid=$!
    printf '{"auths":{"%s":{"auth":"%s"}}}' "$rig_registry" "$(printf 'demo:%s' "$rig_password" | base64 -w0)" > "$rig_dir/secrets/registry-auth.json"

    echo "==> a git repository with a Dockerfile and tests"
    git init --quiet --bare --initial-branch=main "$rig_dir/model-app.git"
    git init --quiet --initial-branch=main "$rig_dir/work"
    cat > "$rig_dir/work/Dockerfile" <<'FILE'
FROM localhost/demo-base:latest
COPY app.sh /app/app.sh
CMD ["/app/app.sh"]
FILE
    printf '#!/bin/sh\necho "model app: serving predictions"\n' > "$rig_dir/work/app.sh"
    printf '#!/bin/sh\necho "ran 3 tests, all passed"\n' > "$rig_dir/work/test.sh"
    chmod +x "$rig_dir/work/app.sh" "$rig_dir/work/test.sh"
    rig_commit "Model app"

    echo "==> slipwayd on 127.0.0.1:$daemon_port"
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$rig_dir/secrets/webhook-secret"
    cat > "$rig_dir/slipway.yaml" <<CONF
server: {listen: 127.0.0.1:$daemon_port, public_url: http://127.0.0.1:$daemon_port}
state_dir: $rig_dir/state
queue: {workers: 2}
sandbox: ${RIG_SANDBOX:-bubblewrap}
repositories:
  - name: acme/model-app
    webhook_secrets: [file:$rig_dir/secrets/webhook-secret]
    clone_url: file://$rig_dir/model-app.git
    branches: [main]
    test: [sh, test.sh]
    image:
      name: $rig_registry/acme/model-app
      tags: ["{sha}", "{branch}"]
      registry_auth: file:$rig_dir/secrets/registry-auth.json
      smoke: [/app/app.sh]
CONF
    "$slipwayd" --config "$rig_dir/slipway.yaml" 2> "$rig_dir/slipwayd.log" &
    rig_daemon_pid=$!
    for _ in $(seq 1 100); do curl -fs "$rig_daemon_url/readyz" >/dev/null && break; sleep 0.1; done
}

rig_commit() {
    date +%s%N > "$rig_dir/work/VERSION"
    git -C "$rig_dir/work" add --all
    git -C "$rig_dir/work" -c user.name=Demo -c user.email=demo@example.com commit --quiet -m "$1"
    git -C "$rig_dir/work" push --quiet "$rig_dir/model-app.git" HEAD:main
    rig_sha=$(git -C "$rig_dir/work" rev-parse HEAD)
}

rig_deliver() {
    body=$(printf '{"ref":"refs/heads/main","after":"%s","repository":{"full_name":"acme/model-app","default_branch":"main"},"head_commit":{"id":"%s","message":"Model app"}}' "$rig_sha" "$rig_sha")
    signature=$(printf %s "$body" | openssl dgst -sha256 -hmac "$(cat "$rig_dir/secrets/webhook-secret")" | sed 's/^.* //')
    curl -sS -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
        -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" -H "X-Hub-Signature-256: sha256=$signature" \
        --data-binary "$body" "$rig_daemon_url/webhooks/github"
}

# Waits until build $1 has ended; prints its state.
rig_wait() {
    for _ in $(seq 1 1200); do
        state=$(sqlite3 "$rig_db" "select state from build where id = $1")
        case "$state" in queued|running|"") sleep 0.1 ;; *) break ;; esac
    done
    echo "$state"
}

rig_stop() { kill "$rig_daemon_pid" "$rig_registry_pid" 2>/dev/null || true; }
