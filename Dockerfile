# One production image for every service; the first argument picks what runs
# (deploy/docker-entrypoint.sh): gateway (default), quota, delivery, migrate,
# migrate-revert, directory-import. Build: docker build -t xbl-message-service .
ARG NODE_IMAGE=node:20-bookworm-slim

# Build with the dev dependencies (TypeScript, tsc-alias), then drop them.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY apps ./apps
COPY libs ./libs
COPY scripts ./scripts
# `build` also copies the Lua scripts into dist/ (scripts/copy-assets.js).
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
# production: JSON logs and no development secrets (pino-pretty, a dev
# dependency, is not in this image, so NODE_ENV=development cannot work here).
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by the runtime user: the app writes nothing
# to disk, so the root filesystem can be mounted read-only.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY deploy/docker-entrypoint.sh ./docker-entrypoint.sh
# gateway HTTP, quota RPC, quota HTTP, delivery HTTP
EXPOSE 3000 3001 3002 3003
# uid/gid 1000 in the official node images (Kubernetes runAsNonRoot needs the number).
USER node
# The script execs node, so node is PID 1 and receives SIGTERM itself; the
# services install handlers for it (Nest shutdown hooks), so no init is needed.
ENTRYPOINT ["/bin/sh", "/app/docker-entrypoint.sh"]
CMD ["gateway"]
