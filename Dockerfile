# Slipway container image: slipwayd (the daemon) and slipway (the CLI).
#
#   docker build -t slipway .
#   docker run -d --name slipway -p 8080:8080 \
#     -v slipway-state:/var/lib/slipway \
#     -v "$PWD/slipway.yaml:/etc/slipway/slipway.yaml:ro" \
#     -v "$PWD/secrets:/run/secrets:ro" \
#     slipway
#
# Inside a container the config must listen on all interfaces, or the published
# port reaches nothing:
#   server: {listen: 0.0.0.0:8080, public_url: https://ci.example.com}
#   state_dir: /var/lib/slipway
#   webhook_secrets: [file:/run/secrets/webhook-secret]     (or env:NAME with -e)
# Check a config with the image itself:
#   docker run --rm -v ... slipway --check-config --config /etc/slipway/slipway.yaml

# ---- build -------------------------------------------------------------------------
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when Package.swift changes.
COPY Package.swift ./
RUN swift package resolve
# Tests too: SwiftPM refuses a package whose test targets' folders are missing,
# even when building only the executables.
COPY Sources ./Sources
COPY Tests ./Tests
COPY scripts/lib.sh scripts/slipwayd.order ./scripts/
# --product takes one product per invocation; the second build reuses the first's
# objects. The Swift runtime and Foundation are linked statically (so the runtime image
# needs no Swift toolchain), with the flags of scripts/lib.sh's build_release.
RUN . scripts/lib.sh \
 && build_release slipwayd \
 && bin=$(dirname "$(build_release slipway)") \
 && mkdir -p /out \
 && cp "$bin/slipwayd" "$bin/slipway" /out/

# ---- runtime -----------------------------------------------------------------------
FROM debian:bookworm-slim
# libssl3: libcrypto (HMAC, SHA-256); libsqlite3-0: the embedded database;
# libstdc++6: needed even with a static Swift runtime; git: checkouts;
# buildah + uidmap: image builds as a non-root user; bubblewrap: the sandbox build
# code runs in (the container must allow user namespaces and mounts, as for buildah);
# curl: the health check;
# tzdata: deploy schedules use the local time zone (set TZ).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl git buildah uidmap bubblewrap libssl3 libsqlite3-0 libstdc++6 libxml2 tzdata \
 && rm -rf /var/lib/apt/lists/*
# A fixed UID so the state volume keeps its owner across image rebuilds; sub-IDs
# for rootless buildah's user namespace.
RUN groupadd --system --gid 10001 slipway \
 && useradd --system --uid 10001 --gid slipway --home-dir /var/lib/slipway \
      --shell /usr/sbin/nologin slipway \
 && echo "slipway:100000:65536" >> /etc/subuid \
 && echo "slipway:100000:65536" >> /etc/subgid \
 && install -d -m 0750 -o slipway -g slipway /var/lib/slipway \
 && install -d -m 0755 /etc/slipway
COPY --from=build /out/slipwayd /out/slipway /usr/local/bin/
# Hints for buildah inside a container, where nested overlay mounts and OCI runtimes
# usually do not work: the vfs storage driver and chroot isolation. Building images
# inside Docker also needs the container to be allowed user namespaces and mounts, e.g.
#   --security-opt seccomp=unconfined --security-opt apparmor=unconfined
# (Build steps get a clean environment, not these variables; the image step must
# pass the same choices to buildah itself.)
ENV STORAGE_DRIVER=vfs \
    BUILDAH_ISOLATION=chroot
WORKDIR /var/lib/slipway
VOLUME /var/lib/slipway
EXPOSE 8080
USER slipway
# Assumes server.listen is a TCP port 8080; adjust when listening elsewhere.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["slipwayd"]
CMD ["--config", "/etc/slipway/slipway.yaml"]
