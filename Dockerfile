# Build stage: compile TypeScript with the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund

# Runtime stage: production dependencies and the compiled output only.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY gateway.example.toml ./
# The rtorrent SCGI socket is mounted here (its directory, so a restarted rtorrent's new socket is seen);
# the config and htpasswd file are mounted read-only under /config.
VOLUME ["/run/rtorrent"]
ENV RTORRENT_GATEWAY_CONFIG=/config/gateway.toml \
    RTORRENT_GATEWAY_SERVER_LISTEN=0.0.0.0:8000
EXPOSE 8000
# Run as an unprivileged user; give it the rtorrent socket's group with `--group-add <gid>`.
USER node
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('net').connect(8000,'127.0.0.1').on('connect',function(){process.exit(0)}).on('error',function(){process.exit(1)})"]
ENTRYPOINT ["node", "dist/cli.js"]
