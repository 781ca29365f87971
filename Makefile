# skiff: `make run` starts a one-node cluster, `make test` runs every tier.
GO        ?= go
BIN       := bin/skiff
VERSION   ?= v0.1.0-dev
LDFLAGS   := -s -w -X skiff/internal/version.Version=$(VERSION)
DATA_DIR  ?= /var/lib/skiff/server
GOLANGCI  := bin/golangci-lint
GOLANGCI_VERSION := v2.15.0

export GOFLAGS := -buildvcs=false

.PHONY: all build run test unit integration e2e fuzz bench lint deps clean

all: build

deps:
	./hack/install-deps.sh

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/skiff

run: deps build
	./$(BIN) server --data-dir $(DATA_DIR)

# Every tier: lint, unit tests with the race detector, a short fuzz run of
# each decoder, the integration tests against a real etcd, and the
# end-to-end tests on real containerd (root only; they skip otherwise).
test: deps build lint unit fuzz integration e2e

unit:
	GO=$(GO) ./hack/gotest.sh -race -count=1 ./internal/... ./cmd/...

fuzz:
	./hack/fuzz.sh 10s

integration: build
	SKIFF_BIN=$(CURDIR)/$(BIN) GO=$(GO) ./hack/gotest.sh -race -count=1 -timeout 20m ./test/integration/...

e2e: build
	SKIFF_BIN=$(CURDIR)/$(BIN) GO=$(GO) ./hack/gotest.sh -race -count=1 -timeout 15m ./test/e2e/...

bench: build
	$(GO) run ./test/bench -out docs/benchmarks.md

lint: $(GOLANGCI)
	@test -z "$$(gofmt -l cmd internal test hack 2>/dev/null)" || { echo "gofmt needed:"; gofmt -l cmd internal test hack; exit 1; }
	$(GO) vet ./...
	$(GOLANGCI) run ./...

$(GOLANGCI):
	GOBIN=$(CURDIR)/bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

clean:
	rm -rf bin
