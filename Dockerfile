# One image for every Kmesh component: `kmesh <component>`.
# BASE_IMAGE must provide Node.js >= 20.19 (e.g. node:22-slim, or a base built locally).
ARG BASE_IMAGE=node:22-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY api api
COPY cmd cmd
COPY lib lib
COPY operator operator
COPY csi csi
COPY sync sync
RUN npm run build

FROM ${BASE_IMAGE}
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist dist
# The CSI driver and the sync wire load their protocol definitions at run time.
COPY proto proto
# Non-root by default; the CSI node plugin and Lustre servers override this where the kernel demands.
USER 65532:65532
ENTRYPOINT ["node", "/app/dist/cmd/kmesh.js"]
CMD ["help"]
