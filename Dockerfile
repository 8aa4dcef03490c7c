# netctl image: the CLI and the in-cluster agent (`netctl agent`) in one
# static binary. The agents run <srcImageRepository>/netctl:<version>, so
# build it as ghcr.io/netdoctor/netctl:<version>. `make image` builds the
# same image without Docker (netctl image build); this file is for Docker users.

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

# distroless/static: no shell, no package manager; /etc/passwd names the
# non-root user 65532 ("nonroot"). `netctl image build` (what `make image`
# uses, no Docker needed) makes the same layout: the binary at
# /usr/local/bin/netctl, user 65532:65532, entrypoint netctl
# (internal/image's TestDockerfileSameLayout checks this file against it).
# The check DaemonSets ask for uid 0 explicitly (runAsUser: 0): the agent's
# ICMP probes need NET_RAW, which Kubernetes grants to root's effective set
# only; they drop every other capability.
FROM gcr.io/distroless/static-debian12
COPY --from=build /out/netctl /usr/local/bin/netctl
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/netctl"]
