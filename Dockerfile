# One image for every Kmesh component: `kmesh <component>`.
# BASE_IMAGE must provide Node.js >= 20.19 with npm, a shell and mount(8) (node:22-slim does; so
# does the base hack/images builds where no registry is reachable).
ARG BASE_IMAGE=node:22-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# `npm install`, not `npm ci`: see .ci/run (the lockfile still pins every version).
RUN --mount=type=cache,target=/root/.npm npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY api api
COPY cmd cmd
COPY lib lib
COPY fs fs
COPY operator operator
COPY csi csi
COPY sync sync
RUN npm run build

FROM ${BASE_IMAGE}
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm install --omit=dev --no-audit --no-fund
COPY --from=build /src/dist dist
# The CSI driver and the sync wire load their protocol definitions at run time.
COPY proto proto
# Non-root by default. The CSI node plugin runs as root and privileged (it mounts filesystems for
# other pods); the chart says so where it overrides this.
USER 65532:65532
ENTRYPOINT ["node", "/app/dist/cmd/kmesh.js"]
CMD ["help"]
