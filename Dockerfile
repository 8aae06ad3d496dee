# syntax=docker/dockerfile:1
# Dream Factory: build with the dev dependencies, run on a slim image with the runtime ones only.
#   docker build -t dream-factory .
#   docker run -p 3000:3000 -v dream-data:/data dream-factory
ARG NODE_IMAGE=node:20-bookworm-slim

# 1. Build: all dependencies (vite, typescript), then dist/ (SPA + server as plain JavaScript).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# 2. Runtime dependencies only (native better-sqlite3 built for this same base image).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 3. Runtime: node, the runtime node_modules and dist/; no compilers, no dev tools, not root.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
# The launchers behind `npm start`, `npm run db:migrate`, `db:status` and `sweep` (plain JavaScript).
COPY --chown=root:root scripts/launcher.mjs scripts/start.mjs scripts/run.mjs ./scripts/
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/server/index.js"]
