# syntax=docker/dockerfile:1
# Threadline: compiled to JavaScript in the first stage; the image runs node on dist/ with the
# production dependencies only (no TypeScript runner, no compiler), as the unprivileged `node` user.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY adapters ./adapters
RUN npm run build

FROM node:20-slim AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production PORT=8080 DATA_DIR=/data
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
# the playground's page script and styles are served as they are (no build step)
COPY --chown=node:node adapters/web/public ./adapters/web/public
RUN mkdir -p /data /app/tools && chown node:node /data /app/tools
USER node
EXPOSE 8080
# node itself is PID 1's child of nothing: SIGTERM reaches Threadline directly
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
