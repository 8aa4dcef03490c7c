# netctl image: the CLI and the in-cluster agent (`netctl agent`) in one
# static binary. The agents run <srcImageRepository>/netctl:<version>, so
# build it as ghcr.io/netdoctor/netctl:<version> (`make image`).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
# deploy/ is a Go package too: it embeds the monitor's alert rules.
COPY deploy ./deploy
ARG VERSION=v0.1.0-dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/netdoctor/netdoctor/internal/version.Version=${VERSION} -X github.com/netdoctor/netdoctor/internal/version.Commit=${COMMIT}" \
      -o /out/netctl ./cmd/netctl

# distroless/static: no shell, no package manager, CA certificates included.
# It runs as root (uid 0) on purpose: the agent's ICMP probes need the
# NET_RAW capability, and Kubernetes grants added capabilities to the
# effective set of root only; the DaemonSets drop every other capability.
FROM gcr.io/distroless/static-debian12
COPY --from=build /out/netctl /usr/local/bin/netctl
ENTRYPOINT ["/usr/local/bin/netctl"]
