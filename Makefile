# netdoctor build. `make help` lists the targets.

MODULE   := github.com/netdoctor/netdoctor
# The version is also the agents' image tag (config field "version"), so a
# dev build deploys agents of exactly its own code. No tags yet: v0.1.0-dev.
VERSION  ?= $(shell git describe --tags --match 'v*' 2>/dev/null || echo v0.1.0-dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
GOOS     ?= $(shell go env GOOS)
GOARCH   ?= $(shell go env GOARCH)
OUT      := _output/bin/$(GOOS)/$(GOARCH)
IMAGE_REPOSITORY ?= ghcr.io/netdoctor
IMAGE    ?= $(IMAGE_REPOSITORY)/netctl:$(VERSION)
LDFLAGS  := -s -w -X $(MODULE)/internal/version.Version=$(VERSION) -X $(MODULE)/internal/version.Commit=$(COMMIT)

.PHONY: help netctl build test unit-test e2e bench bench-cli bench-writers bench-load demo demo-down monitor-check vet image docker-image docs clean sandbox sandbox-kubectl sandbox-test

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

netctl: ## static netctl binary in _output/bin/<os>/<arch>/netctl
	CGO_ENABLED=0 GOOS=$(GOOS) GOARCH=$(GOARCH) go build -trimpath -ldflags '$(LDFLAGS)' -o $(OUT)/netctl ./cmd/netctl

build: netctl ## everything that ships (the netctl binary)

test: netctl sandbox ## every test: unit, sandbox and end-to-end (root; .ci/run sets NETDOCTOR_E2E=require)
	go test -count=1 -timeout 60m ./...
	cd sandbox && go test -count=1 -timeout 30m ./...

unit-test: ## unit tests of the netctl module only (no root needed; e2e skips)
	go test ./internal/... ./cmd/...

e2e: netctl sandbox ## end-to-end suite against sandbox clusters (root)
	go test -count=1 -timeout 60m -v ./test/e2e/

bench: netctl sandbox ## netctl vs one-exec-per-pair on 10/25/50-node sandboxes -> docs/PERFORMANCE.md (root)
	go run ./test/bench -sizes $${SIZES:-10,25,50} -out docs/PERFORMANCE.md

bench-cli: netctl sandbox ## netctl check's peak RSS and API requests on a 100-node dual-stack sandbox (BEFORE=old netctl to compare) -> docs/PERFORMANCE.md (root)
	go run ./test/bench -cli-cost -sizes $${SIZES:-100} -before "$${BEFORE:-}" -out docs/PERFORMANCE.md

bench-writers: ## writing 20,000 rows as json, junit and resume.json: peak RSS and allocations (no cluster; LABEL=name of the build) -> docs/PERFORMANCE.md
	go run ./test/bench -writers -label "$${LABEL:-this build}" -out docs/PERFORMANCE.md

bench-load: netctl ## load engine (netctl reach) on loopback: QPS per core, agent RSS, histogram precision -> docs/PERFORMANCE.md
	go run ./test/bench -load -out docs/PERFORMANCE.md

demo: netctl sandbox ## start a 4-node dual-stack sandbox cluster and run netctl init + check on it (root)
	./hack/demo.sh

demo-down: ## remove the demo cluster
	$(OUT)/netdoctor-sandbox down --name $${DEMO_NAME:-demo}

monitor-check: ## helm lint/template of the monitor chart and promtool rule tests
	./deploy/check.sh

STATICCHECK ?= $(shell go env GOPATH)/bin/staticcheck

vet: ## go vet, gofmt and staticcheck (both modules)
	go vet ./...
	@out=$$(gofmt -l cmd internal test sandbox 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) ./...
	cd sandbox && $(STATICCHECK) ./...

IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
IMAGE_OUT ?= _output/image/netctl-$(VERSION).tar

image: ## OCI image of netctl for $(IMAGE_PLATFORMS) -> $(IMAGE_OUT) (no Docker; push: netctl image push REF -i $(IMAGE_OUT))
	$(MAKE) netctl GOOS=linux GOARCH=amd64
	$(MAKE) netctl GOOS=linux GOARCH=arm64
	@mkdir -p $(dir $(IMAGE_OUT))
	_output/bin/$(GOOS)/$(GOARCH)/netctl image build -o $(IMAGE_OUT) --platform $(IMAGE_PLATFORMS) \
		--binary linux/amd64=_output/bin/linux/amd64/netctl --binary linux/arm64=_output/bin/linux/arm64/netctl \
		--version $(VERSION) --revision $(COMMIT)

docker-image: ## the same image with Docker (Dockerfile; needs docker and network access)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

docs: ## regenerate docs/cli/ (command reference) from the cobra commands
	go run ./hack/gendocs docs/cli

clean: ## remove build output
	rm -rf _output

# --- sandbox (separate module sandbox/; owned by the sandbox) ---------------
K8S_VERSION := v1.34.4
SANDBOX_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=34 \
	-X k8s.io/component-base/version.gitTreeState=clean \
	-X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z \
	-X k8s.io/client-go/pkg/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/client-go/pkg/version.gitMajor=1 \
	-X k8s.io/client-go/pkg/version.gitMinor=34 \
	-X k8s.io/client-go/pkg/version.gitTreeState=clean

sandbox: ## local real cluster: $(OUT)/netdoctor-sandbox and $(OUT)/netdoctor-coredns (cold build ~6-10 min)
	cd sandbox && go build -ldflags '$(SANDBOX_LDFLAGS)' -o ../$(OUT)/netdoctor-sandbox ./cmd/netdoctor-sandbox
	cd sandbox/coredns && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o ../../$(OUT)/netdoctor-coredns .

# kube-router's firewall controller is the NetworkPolicy engine of `up
# --network-policy` (sandbox only, never shipped: see sandbox/README.md).
KUBE_ROUTER_VERSION := v2.1.0
.PHONY: sandbox-kube-router
sandbox: sandbox-kube-router
sandbox-kube-router: ## $(OUT)/kube-router $(KUBE_ROUTER_VERSION) for `up --network-policy` (skipped when built; cold ~2-4 min)
	GOOS=$(GOOS) GOARCH=$(GOARCH) sandbox/hack/build-kube-router.sh $(OUT) $(KUBE_ROUTER_VERSION)

# MetalLB (speaker, controller and its manifest) is the LoadBalancer of `up
# --load-balancer` (sandbox only, never shipped: see sandbox/README.md).
METALLB_VERSION := v0.15.2
.PHONY: sandbox-metallb
sandbox: sandbox-metallb
sandbox-metallb: ## $(OUT)/metallb-{speaker,controller} $(METALLB_VERSION) for `up --load-balancer` (skipped when built; cold ~5 min of CPU)
	GOOS=$(GOOS) GOARCH=$(GOARCH) sandbox/hack/build-metallb.sh $(OUT) $(METALLB_VERSION)

# Traefik is the Ingress controller and Gateway API implementation of `up
# --ingress` (sandbox only, never shipped: see sandbox/README.md); the build
# also copies the Gateway API CRDs its go.mod pins to $(OUT)/gateway-api-crds.
TRAEFIK_VERSION := v3.6.12
.PHONY: sandbox-traefik
sandbox: sandbox-traefik
sandbox-traefik: ## $(OUT)/traefik $(TRAEFIK_VERSION) + Gateway API CRDs for `up --ingress` (skipped when built; cold ~8 min idle, 49 min measured at load 25)
	GOOS=$(GOOS) GOARCH=$(GOARCH) sandbox/hack/build-traefik.sh $(OUT) $(TRAEFIK_VERSION)

sandbox-kubectl: sandbox ## $(OUT)/kubectl: the sandbox binary as kubectl v1.34.4 (for machines without kubectl)
	ln -sf netdoctor-sandbox $(OUT)/kubectl

sandbox-test: sandbox ## sandbox end-to-end tests (root; several minutes)
	cd sandbox && go test -count=1 -timeout 30m ./...
