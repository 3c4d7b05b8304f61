# syntax=docker/dockerfile:1
# Threadline: Node 20, production dependencies only, runs as the unprivileged `node` user.

FROM node:20-slim AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production PORT=8080 DATA_DIR=/data
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json tsconfig.json ./
COPY --chown=node:node src ./src
COPY --chown=node:node adapters ./adapters
RUN mkdir -p /data /app/tools && chown node:node /data /app/tools
USER node
EXPOSE 8080
# tsx runs the TypeScript directly (it is a production dependency); SIGTERM reaches node itself.
CMD ["node", "--import", "tsx", "src/main.ts"]
