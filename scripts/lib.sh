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

# What the tests start themselves: real git (and its http-backend), buildah with a
# busybox-static base image, the CNCF registry with htpasswd auth, Python for a small
# git HTTP server, curl and sqlite3.
TEST_PACKAGES="git sqlite3 curl openssl buildah docker-registry busybox-static apache2-utils python3"
