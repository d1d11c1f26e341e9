# syntax=docker/dockerfile:1
# media-migrate: the CLI, the worker and the dashboard in one image. Run as a non-root user, with
# production dependencies only; the TypeScript sources run through tsx, so there is no build output.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS app
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY workers ./workers
COPY dashboard ./dashboard
USER node
ENTRYPOINT ["node", "bin/media-migrate.js"]
CMD ["--help"]
