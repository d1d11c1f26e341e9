# syntax=docker/dockerfile:1
# media-migrate: the CLI, the worker and the dashboard in one image, as compiled JavaScript. The build
# stage compiles the TypeScript and bundles the CLI (scripts/bundle.mjs); the image gets dist/, the
# dashboard's page and production dependencies only (what `npm pack` ships, see "files" in
# package.json), and runs as a non-root user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# Compiling needs no native module: scripts skipped, then the build that `prepare` would run.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY workers ./workers
COPY dashboard ./dashboard
COPY scripts ./scripts
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts keeps our `prepare` (the build, which needs the dev dependencies) from running;
# better-sqlite3's own install script (its native binary, for SQLite sources) is then run by name.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3

FROM node:20-bookworm-slim AS app
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY --from=build /app/dist ./dist
COPY dashboard/public ./dashboard/public
USER node
ENTRYPOINT ["node", "bin/media-migrate.js"]
CMD ["--help"]
