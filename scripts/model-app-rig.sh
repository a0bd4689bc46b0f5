# The real example (examples/model-app) through a whole local pipeline, shared by
# scripts/demo and bench/model-image. Sourced by bash, not run; the working directory must
# be the Slipway checkout.
#
# `model_rig DIR` starts, under DIR (removed first):
# - buildah storage (vfs, or MODEL_RIG_STORAGE_DRIVER) and a registries.conf with the
#   registry as insecure, exported as CONTAINERS_STORAGE_CONF / CONTAINERS_REGISTRIES_CONF
#   (and TMPDIR=DIR/tmp);
# - the example's base image, by scripts/model-app-base-image (its root file system
#   tarball is cached in ~/.cache/slipway/model-app-base; a fresh storage imports it);
# - docker-registry on loopback with a password (htpasswd);
# - moto_server (S3, IAM-checked signatures) from .venv-test on a free port: the first
#   three requests create an IAM user, its access key and an allow-all policy, and
#   everything after is signed with that key; a bucket `models`;
# - a model trained by examples/model-app/training/train.py (version v1, seed 0),
#   uploaded as s3://models/digits/latest/model.npz;
# - a git repository (DIR/model-app.git, bare, and its work tree DIR/work) holding the
#   example without model/, with app/smoke_sample.json from that training run;
# - slipwayd ($SLIPWAYD, or a debug build by `swift build --product slipwayd`) with the
#   example's repository entry (examples/model-app/slipway.yaml) adapted: file:// clone
#   URL, the local registry and its auth file, moto as the S3 endpoint (path style),
#   `watch: 2s`.
# It sets rig_dir, rig_registry, rig_password, rig_daemon_url, rig_db, rig_sha,
# rig_s3_endpoint, rig_model_sha256, rig_model_version, rig_model_bytes.
#
# Each function returns non-zero when a part fails (also where `set -e` is off, as on the
# left of `||`).
#
# Knobs (environment): MODEL_RIG_PAD_TO (bytes; the model is padded to that size by
# train.py --pad-to, default 0: unpadded, about 6 kB), MODEL_RIG_REGISTRY_LOG (the
# registry's log level, default warn; its access log, on stdout, is written at any
# level), MODEL_RIG_STORAGE_DRIVER (buildah's storage driver, default vfs: works
# everywhere, but copies the whole root file system for each container and each layer;
# overlay shares them), RIG_SANDBOX (the daemon's `sandbox:`, default bubblewrap).
#
# Then:
#   model_rig_commit_code [MESSAGE]    a commit changing only app/ (pushed; sets rig_sha)
#   model_rig_publish_model SEED [PAD_TO]
#                                      trains with --seed SEED (versions v2, v3, ... in
#                                      order), uploads it over the current model (model.watch
#                                      notices it)
#   model_rig_deliver                  the signed push delivery of rig_sha
#   model_rig_wait ID [SECONDS]        waits until build ID has ended; prints its state
#   model_rig_watch_build AFTER [SECONDS]
#                                      waits for a build with trigger `model` and an id
#                                      above AFTER; prints its id
#   model_rig_settle [SECONDS]         waits until the daemon has had no child process for a
#                                      second (after a build it retires the image that was
#                                      the layer cache: buildah rmi, after the build ended)
#   model_rig_serve IMAGE PORT         pulls IMAGE from the registry and serves it with
#                                      gunicorn on 127.0.0.1:PORT (buildah run, chroot:
#                                      the host's network); waits for /healthz
#   model_rig_unserve                  stops that service and removes its container
#   model_rig_stop                     stops everything model_rig started
#   rig_aws ARGS...                    the aws CLI against moto, signed with the created key

rig_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The aws CLI against moto, no profile of the user's; the key is the created user's.
rig_aws() {
    AWS_ACCESS_KEY_ID=${rig_aws_key_id:-setup} AWS_SECRET_ACCESS_KEY=${rig_aws_secret:-setup} \
        AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        .venv-test/bin/aws --endpoint-url "$rig_s3_endpoint" "$@"
}

model_rig() {
    rig_dir=$1
    rig_model_key=digits/latest/model.npz
    rig_pids=""
    rig_remove "$rig_dir"
    mkdir -p "$rig_dir/secrets" "$rig_dir/tmp" "$rig_dir/models"
    chmod 700 "$rig_dir/secrets"
    local registry_port daemon_port moto_port
    registry_port=$(rig_free_port)
    daemon_port=$(rig_free_port)
    moto_port=$(rig_free_port)
    rig_registry="127.0.0.1:$registry_port"
    rig_daemon_url="http://127.0.0.1:$daemon_port"
    rig_s3_endpoint="http://127.0.0.1:$moto_port"
    rig_db="$rig_dir/state/slipway.sqlite"

    if [ -n "${SLIPWAYD:-}" ]; then
        rig_slipwayd=$SLIPWAYD
        echo "==> slipwayd: $rig_slipwayd"
    else
        echo "==> building slipwayd (debug)"
        swift build --product slipwayd >/dev/null
        rig_slipwayd="$(swift build --show-bin-path)/slipwayd"
    fi
    [ -x "$rig_slipwayd" ] || { echo "no slipwayd at $rig_slipwayd" >&2; return 1; }

    echo "==> buildah storage (${MODEL_RIG_STORAGE_DRIVER:-vfs}) and the example's base image"
    cat > "$rig_dir/storage.conf" <<CONF
[storage]
driver = "${MODEL_RIG_STORAGE_DRIVER:-vfs}"
graphroot = "$rig_dir/containers/graph"
runroot = "$rig_dir/containers/run"
CONF
    printf 'unqualified-search-registries = []\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$rig_registry" > "$rig_dir/registries.conf"
    export CONTAINERS_STORAGE_CONF="$rig_dir/storage.conf" CONTAINERS_REGISTRIES_CONF="$rig_dir/registries.conf" TMPDIR="$rig_dir/tmp"
    scripts/model-app-base-image | sed 's/^/    /'
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "scripts/model-app-base-image failed" >&2; return 1; }

    echo "==> docker-registry on $rig_registry with a password"
    rig_password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    htpasswd -Bbn demo "$rig_password" > "$rig_dir/htpasswd"
    cat > "$rig_dir/registry.yml" <<CONF
version: 0.1
log: {level: ${MODEL_RIG_REGISTRY_LOG:-warn}}
storage: {filesystem: {rootdirectory: $rig_dir/registry}, delete: {enabled: true}}
http: {addr: $rig_registry}
auth: {htpasswd: {realm: demo, path: $rig_dir/htpasswd}}
CONF
    docker-registry serve "$rig_dir/registry.yml" > "$rig_dir/registry.log" 2>&1 &
    rig_registry_pid=$!
    rig_pids="$rig_pids $rig_registry_pid"
    (umask 077; printf '{"auths":{"%s":{"auth":"%s"}}}' "$rig_registry" "$(printf 'demo:%s' "$rig_password" | base64 -w0)" > "$rig_dir/secrets/registry-auth.json")

    echo "==> moto_server (S3, signatures checked) on $rig_s3_endpoint"
    [ -x .venv-test/bin/moto_server ] || { echo "no .venv-test/bin/moto_server (ensure_test_venv in scripts/lib.sh)" >&2; return 1; }
    INITIAL_NO_AUTH_ACTION_COUNT=3 .venv-test/bin/moto_server -H 127.0.0.1 -p "$moto_port" > "$rig_dir/moto.log" 2>&1 &
    rig_moto_pid=$!
    rig_pids="$rig_pids $rig_moto_pid"
    local _
    for _ in $(seq 1 200); do grep -q "Running on" "$rig_dir/moto.log" 2>/dev/null && break; sleep 0.1; done
    grep -q "Running on" "$rig_dir/moto.log" || { cat "$rig_dir/moto.log" >&2; echo "moto_server did not start" >&2; return 1; }
    # The three unauthenticated requests: a user, its key, an allow-all policy.
    rig_aws_key_id="" rig_aws_secret=""
    rig_aws iam create-user --user-name slipway >/dev/null || return 1
    local key
    key=$(rig_aws iam create-access-key --user-name slipway --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text) || return 1
    rig_aws iam put-user-policy --user-name slipway --policy-name all \
        --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' || return 1
    rig_aws_key_id=$(echo "$key" | cut -f1)
    rig_aws_secret=$(echo "$key" | cut -f2)
    (umask 077; printf %s "$rig_aws_key_id" > "$rig_dir/secrets/s3-access-key-id"; printf %s "$rig_aws_secret" > "$rig_dir/secrets/s3-secret-access-key")
    rig_aws s3api create-bucket --bucket models >/dev/null || return 1

    echo "==> a model, trained and published as s3://models/$rig_model_key"
    rig_models=0
    rig_train 0 "${MODEL_RIG_PAD_TO:-0}" || return 1
    rig_upload_model || return 1

    echo "==> a git repository with the example (no model/; app/smoke_sample.json from the training run)"
    git init --quiet --bare --initial-branch=main "$rig_dir/model-app.git" || return 1
    mkdir -p "$rig_dir/work"
    tar -C examples/model-app --exclude=./model --exclude=__pycache__ --exclude=.pytest_cache -cf - . | tar -C "$rig_dir/work" -xf -
    cp "$rig_dir/models/sample-v1.json" "$rig_dir/work/app/smoke_sample.json"
    git init --quiet --initial-branch=main "$rig_dir/work" || return 1
    rig_git_commit "The digit classifier (examples/model-app)" || return 1

    echo "==> slipwayd on 127.0.0.1:$daemon_port"
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$rig_dir/secrets/webhook-secret"
    # examples/model-app/slipway.yaml, adapted to this rig.
    cat > "$rig_dir/slipway.yaml" <<CONF
server: {listen: 127.0.0.1:$daemon_port, public_url: $rig_daemon_url, public_pages: true}
state_dir: $rig_dir/state
queue: {workers: 2}
sandbox: ${RIG_SANDBOX:-bubblewrap}
repositories:
  - name: acme/model-app
    webhook_secrets: [file:$rig_dir/secrets/webhook-secret]
    clone_url: file://$rig_dir/model-app.git
    branches: [main, "release/*"]
    test: [python3, -m, pytest, -q]
    timeout: 30m
    model:
      source: s3://models/$rig_model_key
      dest: model/model.npz
      s3:
        region: us-east-1
        endpoint: $rig_s3_endpoint
        access_key_id: file:$rig_dir/secrets/s3-access-key-id
        secret_access_key: file:$rig_dir/secrets/s3-secret-access-key
        path_style: true
      watch: 2s
    image:
      name: $rig_registry/acme/model-app
      builder: buildah
      dockerfile: Dockerfile
      context: .
      tags: ["{sha}", "{branch}"]
      registry_auth: file:$rig_dir/secrets/registry-auth.json
      smoke: [python3, /app/app/smoke.py]
      layers: true
CONF
    "$rig_slipwayd" --check-config --config "$rig_dir/slipway.yaml" > "$rig_dir/check-config.log" 2>&1 ||
        { cat "$rig_dir/check-config.log" >&2; return 1; }
    "$rig_slipwayd" --config "$rig_dir/slipway.yaml" 2> "$rig_dir/slipwayd.log" &
    rig_daemon_pid=$!
    rig_pids="$rig_pids $rig_daemon_pid"
    for _ in $(seq 1 200); do curl -fs "$rig_daemon_url/readyz" >/dev/null && break; sleep 0.1; done
    curl -fs "$rig_daemon_url/readyz" >/dev/null || { tail -n 20 "$rig_dir/slipwayd.log" >&2; echo "slipwayd did not start" >&2; return 1; }
    for _ in $(seq 1 200); do curl -s -o /dev/null "http://$rig_registry/v2/" && break; sleep 0.1; done
}

# rig_train SEED PAD_TO: the next version, DIR/models/model-vN.npz and sample-vN.json.
rig_train() {
    rig_models=$((rig_models + 1))
    rig_model_version="v$rig_models"
    rig_model_seed=$1
    rig_model_file="$rig_dir/models/model-$rig_model_version.npz"
    local pad=()
    [ "${2:-0}" -gt 0 ] && pad=(--pad-to "$2")
    .venv-test/bin/python3 examples/model-app/training/train.py --out "$rig_model_file" --version "$rig_model_version" \
        --seed "$1" "${pad[@]}" --expect "$rig_dir/models/sample-$rig_model_version.json" 2>&1 | sed 's/^/    /'
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "train.py failed" >&2; return 1; }
    rig_model_sha256=$(sha256sum "$rig_model_file" | cut -d' ' -f1)
    rig_model_bytes=$(stat -c %s "$rig_model_file")
}

rig_upload_model() {
    rig_aws s3api put-object --bucket models --key "$rig_model_key" --body "$rig_model_file" >/dev/null ||
        { echo "upload of $rig_model_file failed" >&2; return 1; }
    echo "    uploaded $rig_model_version (seed $rig_model_seed): $rig_model_bytes bytes, sha256 $rig_model_sha256"
}

rig_git_commit() {
    git -C "$rig_dir/work" add --all || return 1
    git -C "$rig_dir/work" -c user.name=Demo -c user.email=demo@example.com commit --quiet -m "$1" || return 1
    git -C "$rig_dir/work" push --quiet "$rig_dir/model-app.git" HEAD:main || return 1
    rig_sha=$(git -C "$rig_dir/work" rev-parse HEAD)
}

model_rig_commit_code() {
    printf '\n# %s (%s)\n' "${1:-A code-only change}" "$(date -u +%FT%T.%NZ)" >> "$rig_dir/work/app/main.py"
    rig_git_commit "${1:-A code-only change}"
}

model_rig_publish_model() {
    rig_train "$1" "${2:-${MODEL_RIG_PAD_TO:-0}}" || return 1
    rig_upload_model
}

model_rig_deliver() {
    local body signature
    body=$(printf '{"ref":"refs/heads/main","after":"%s","repository":{"full_name":"acme/model-app","default_branch":"main"},"head_commit":{"id":"%s","message":"model-app"}}' "$rig_sha" "$rig_sha")
    signature=$(printf %s "$body" | openssl dgst -sha256 -hmac "$(cat "$rig_dir/secrets/webhook-secret")" | sed 's/^.* //')
    curl -sS -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
        -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" -H "X-Hub-Signature-256: sha256=$signature" \
        --data-binary "$body" "$rig_daemon_url/webhooks/github"
}

# Waits until build $1 has ended (at most $2 seconds, default 1800); prints its state.
model_rig_wait() {
    local state="" deadline=$((SECONDS + ${2:-1800}))
    while [ "$SECONDS" -lt "$deadline" ]; do
        state=$(sqlite3 "$rig_db" "select state from build where id = $1" 2>/dev/null || true)
        case "$state" in queued|running|"") sleep 0.5 ;; *) break ;; esac
    done
    echo "${state:-missing}"
}

# Waits for a build triggered by model.watch with an id above $1 (at most $2 s, default 120).
model_rig_watch_build() {
    local id="" deadline=$((SECONDS + ${2:-120}))
    while [ "$SECONDS" -lt "$deadline" ]; do
        id=$(sqlite3 "$rig_db" "select min(id) from build where trigger = 'model' and id > $1" 2>/dev/null || true)
        [ -n "$id" ] && break
        sleep 0.5
    done
    echo "$id"
    [ -n "$id" ]
}

model_rig_settle() {
    local deadline=$((SECONDS + ${1:-300})) quiet=0
    while [ "$SECONDS" -lt "$deadline" ] && [ "$quiet" -lt 2 ]; do
        if [ -z "$(ps -o pid= --ppid "$rig_daemon_pid" 2>/dev/null)" ]; then quiet=$((quiet + 1)); else quiet=0; fi
        sleep 0.5
    done
    [ "$quiet" -ge 2 ]
}

model_rig_serve() {
    local image=$1 _
    rig_serve_port=$2
    rig_serve_container=$(buildah from --quiet --creds "demo:$rig_password" "docker://$image") || return 1
    # The image's own WORKDIR (/app) and MODEL_PATH; the code revision for /version from
    # the label Slipway put on the image. The chroot shares the host's network.
    local revision
    revision=$(buildah inspect --type container --format '{{index .OCIv1.Config.Labels "org.opencontainers.image.revision"}}' "$rig_serve_container")
    buildah run --isolation chroot --env "APP_REVISION=$revision" "$rig_serve_container" -- \
        gunicorn --bind "127.0.0.1:$rig_serve_port" --workers 1 --preload 'app.main:create_app()' \
        > "$rig_dir/serve-$rig_serve_port.log" 2>&1 &
    rig_serve_pid=$!
    for _ in $(seq 1 300); do
        curl -fs "http://127.0.0.1:$rig_serve_port/healthz" >/dev/null && return 0
        kill -0 "$rig_serve_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$rig_dir/serve-$rig_serve_port.log" >&2
    echo "the service did not answer /healthz" >&2
    return 1
}

# The pids of $1's descendants, deepest last.
rig_descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$child"
        rig_descendants "$child"
    done
}

model_rig_unserve() {
    if [ -n "${rig_serve_pid:-}" ]; then
        # buildah run's children (the chroot runtime, gunicorn and its worker), then buildah.
        local pids
        pids="$(rig_descendants "$rig_serve_pid") $rig_serve_pid"
        kill $pids 2>/dev/null || true
        wait "$rig_serve_pid" 2>/dev/null || true
        rig_serve_pid=""
    fi
    if [ -n "${rig_serve_container:-}" ]; then
        buildah rm "$rig_serve_container" >/dev/null 2>&1 || true
        rig_serve_container=""
    fi
}

# rig_remove DIR: removes a rig's directory; with overlay storage, its images first (a
# layer may still be mounted).
rig_remove() {
    if [ -f "$1/storage.conf" ] && grep -q '"overlay"' "$1/storage.conf"; then
        CONTAINERS_STORAGE_CONF="$1/storage.conf" buildah rm --all >/dev/null 2>&1 || true
        CONTAINERS_STORAGE_CONF="$1/storage.conf" buildah rmi --all --force >/dev/null 2>&1 || true
    fi
    rm -rf "$1"
}

model_rig_stop() {
    model_rig_unserve
    [ -n "${rig_pids:-}" ] || return 0
    kill $rig_pids 2>/dev/null || true
    local pid
    for pid in $rig_pids; do wait "$pid" 2>/dev/null || true; done
    rig_pids=""
}
