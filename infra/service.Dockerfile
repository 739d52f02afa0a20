# One image recipe for the three TypeScript services. Build from the repository root:
#   docker build -f infra/service.Dockerfile --build-arg SERVICE=generation -t sys2ft-generation .
# Stage 1 installs the workspace and uses `pnpm deploy` to lay out one service with only its
# production dependencies; stage 2 runs it as a non-root user.
ARG NODE_VERSION=20
FROM node:${NODE_VERSION}-bookworm-slim AS build
ARG SERVICE
RUN test -n "$SERVICE" && npm install --global pnpm@12.4.2
WORKDIR /src
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml tsconfig.json ./
COPY packages ./packages
COPY services ./services
RUN pnpm install --frozen-lockfile \
 && pnpm --filter "@sys2ft/${SERVICE}" deploy --prod --legacy /out

FROM node:${NODE_VERSION}-bookworm-slim
ARG SERVICE
ENV NODE_ENV=production SYS2FT_HOST=0.0.0.0 SERVICE=${SERVICE}
WORKDIR /app
COPY --from=build --chown=node:node /out /app
USER node
EXPOSE 3001 3002 3003
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "const p={generation:3001,training:3002,evaluation:3003}[process.env.SERVICE];fetch('http://127.0.0.1:'+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "src/main.ts"]
