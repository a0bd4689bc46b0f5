# Shared by scripts/run-daemon and scripts/test. Sourced, not run.

# Installs the Debian packages named as arguments that are not installed yet.
ensure_packages() {
    missing=""
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
    done
    [ -z "$missing" ] && return 0
    echo "installing missing system packages:$missing" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}

# What building Slipway needs: OpenSSL's libcrypto (COpenSSL) and SQLite (GRDB).
BUILD_PACKAGES="libssl-dev pkg-config libsqlite3-dev"

# What a whole local pipeline needs (scripts/demo): real git (and its http-backend),
# buildah with a busybox-static base image, the CNCF registry with htpasswd auth,
# Python, curl, openssl and sqlite3; bubblewrap, the sandbox build code runs in (with
# util-linux's prlimit and setpriv, which every Debian has). The example model service
# (examples/model-app): mmdebstrap makes its base image, and its tests run in the build
# host's python3 with numpy, Flask and pytest.
PIPELINE_PACKAGES="git sqlite3 curl openssl buildah docker-registry busybox-static apache2-utils python3 bubblewrap mmdebstrap python3-numpy python3-flask python3-pytest"

# What the tests start themselves on top: Python's venv (moto and friends), Chromium
# (the build page is loaded headless), gcc with a static libc (the sandbox test builds
# a static program that leaves a chroot, to run inside a busybox image), and PostgreSQL 15
# (each test makes its own cluster with initdb, in a temporary directory).
# systemd: systemd-socket-activate, which passes a listening socket to slipwayd in the socket-activation tests.
TEST_PACKAGES="$PIPELINE_PACKAGES python3-venv chromium gcc libc6-dev postgresql-15 systemd"

# kubectl, for the release step (its tests drive the real kubectl against a fake API
# server). Debian ships it as kubernetes-client; a kubectl already on PATH (Google's or
# the Kubernetes project's package) is used as it is.
ensure_kubectl() {
    command -v kubectl >/dev/null 2>&1 || ensure_packages kubernetes-client
}

# Python packages the tests use: moto (S3 with IAM-checked signatures), Microsoft's
# azure-storage-blob SDK (the reference the Azure signer is checked against),
# prometheus_client (the reference parser /metrics is read with), scikit-learn (trains
# the example's model), securesystemslib and in-toto-attestation (the references signed
# provenance is checked against), plus the aws CLI, in a virtual environment of the
# project's (.venv-test).
ensure_test_venv() {
    venv=.venv-test
    if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/aws" ] \
        || ! "$venv/bin/python3" -c 'import azure.storage.blob, prometheus_client, sklearn, securesystemslib.dsse, cryptography, in_toto_attestation' 2>/dev/null; then
        echo "creating $venv with moto[server], awscli, azure-storage-blob, prometheus_client, scikit-learn, securesystemslib and in-toto-attestation" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --upgrade pip
        "$venv/bin/pip" install --quiet "moto[server]" awscli azure-storage-blob prometheus_client scikit-learn \
            "securesystemslib[crypto]" in-toto-attestation
    fi
}

# The release build that is shipped (Dockerfile) and measured (bench/): the Swift runtime
# and Foundation linked statically, by lld; still position-independent (ASLR), but with
# the relative relocations packed (DT_RELR, glibc 2.36 and later) and without exporting
# the executable's own symbols. The loader then neither reads 3 MB of relocations nor
# 2.4 MB of symbol names at start-up: about 10 MB less memory for an idle daemon (see
# BENCHMARKS.md). On an older glibc the relocations stay unpacked. The functions that
# start-up and a delivery run are placed together (scripts/slipwayd.order, made by
# bench/order-file): the idle daemon then maps a few megabytes of its code, not most.
# `build_release PRODUCT` builds it and prints the binary's path; the build's output is
# shown only when it fails.
release_build_flags() {
    flags="-c release --static-swift-stdlib -Xswiftc -use-ld=lld -Xlinker --no-export-dynamic"
    [ -f scripts/slipwayd.order ] && flags="$flags -Xlinker --symbol-ordering-file=$PWD/scripts/slipwayd.order -Xlinker --no-warn-symbol-ordering"
    glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
    case "$glibc" in
        2.[0-9]|2.[0-2][0-9]|2.3[0-5]|"") ;;
        *) flags="$flags -Xlinker -z -Xlinker pack-relative-relocs" ;;
    esac
    echo "$flags"
}
build_release() {
    build_log=$(swift build $(release_build_flags) --product "$1" 2>&1) || { echo "$build_log" >&2; return 1; }
    echo "$(swift build $(release_build_flags) --show-bin-path)/$1"
}
