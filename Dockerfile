# rtorrent-gateway container image. docs/deployment.md, "Docker", shows how to run it beside rtorrent.
#
#   docker build -t rtorrent-gateway .        # podman: podman build --format docker (see HEALTHCHECK)
#   docker run -d --name rtorrent-gateway \
#     -v /run/rtorrent:/run/rtorrent \
#     -v /srv/rtorrent-gateway:/config:ro \
#     --group-add "$(stat -c %g /run/rtorrent/scgi.socket)" \
#     -p 127.0.0.1:8000:8000 rtorrent-gateway
#
# The gateway runs as uid 1000 (the image's "node" user): the files under /config must be readable
# by uid 1000 or by a group given with --group-add, or it exits 78 naming the file it cannot read.

# Node 22 (LTS): Node 20 reached its end of life in April 2026. The code itself still runs on 20
# (package.json "engines"), for hosts whose distribution ships it.
# Build stage: the dev dependencies compile the TypeScript (npm ci runs the "prepare" build).
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund

# Runtime stage: production dependencies and the compiled output only.
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY gateway.example.toml ./

# rtorrent's SCGI socket: mount its directory (not the socket file itself, so the socket rtorrent
# creates anew after a restart is seen) and add the socket's group with --group-add.
VOLUME ["/run/rtorrent"]
# The config and the htpasswd file are mounted read-only at /config. Every key but the tables can also
# be set as RTORRENT_GATEWAY_<SECTION>_<KEY>; set RTORRENT_GATEWAY_CONFIG= (empty) to run without a file.
# In a container the gateway must listen on all interfaces; publish the port on loopback or put
# TLS (server.tls) or a proxy in front, since Basic auth sends the password.
ENV RTORRENT_GATEWAY_CONFIG=/config/gateway.toml \
    RTORRENT_GATEWAY_SERVER_LISTEN=0.0.0.0:8000
EXPOSE 8000

# The image's unprivileged "node" user (uid 1000); no file in the image is writable by it.
USER node

# --healthcheck reads the same configuration (file and environment) as the gateway, finds its
# address and asks /healthz: healthy only while rtorrent answers. No curl needed in the image.
# Podman and buildah build OCI images by default, and the OCI format has no health check: this
# line is dropped (with a warning) unless the image is built with `podman build --format docker`.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
  CMD ["node", "dist/cli.js", "--healthcheck"]

# node runs as PID 1: the gateway handles SIGTERM (docker stop) and SIGHUP (docker kill -s HUP)
# itself and starts no children, so no init process is needed. SIGTERM is named, not left to the
# default, because the shutdown below is built around it.
STOPSIGNAL SIGTERM
# docker stop (and podman stop, and compose) sends SIGKILL 10 s after SIGTERM, exactly the
# default server.shutdown_timeout: a call still running would be killed mid-shutdown, with the
# buffered log lines. 8 s leaves the gateway time to cut what is left and exit 0. For longer calls,
# raise both: -e RTORRENT_GATEWAY_SERVER_SHUTDOWN_TIMEOUT=25s with docker stop -t 30 (compose:
# stop_grace_period: 30s). This variable wins over server.shutdown_timeout in the config file.
ENV RTORRENT_GATEWAY_SERVER_SHUTDOWN_TIMEOUT=8s
# A 4 MiB young generation and an old one that grows by half at a time keep peak RSS under
# 100 MiB under load (bench/); neither is a hard limit.
ENTRYPOINT ["node", "--max-semi-space-size=4", "--heap-growing-percent=50", "dist/cli.js"]
