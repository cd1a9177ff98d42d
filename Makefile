# ipsecgw build, test and benchmark entry points. `make help` lists them.
export PATH := /usr/local/go/bin:$(PATH)

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
PKGS      := ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s

.PHONY: all build test test-short bench bench-netns pgo demo lint fuzz clean help

all: build

build: ## build bin/ipsecgw
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ipsecgw ./cmd/ipsecgw

test: build lint ## run every test (integration tests need root; they skip otherwise)
	$(GO) test -count=1 -timeout 25m $(PKGS)

test-short: ## unit tests only
	$(GO) test -short -count=1 $(PKGS)

bench: ## micro-benchmarks of crypto, policy lookups and the fast path
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

pgo: ## refresh cmd/ipsecgw/default.pgo, the fast path's CPU profile that builds of ipsecgw are optimised with (PGO)
	$(GO) test -pgo=off -run '^$$' -bench Gateway -benchtime 3000000x -o bin/bench.test -cpuprofile cmd/ipsecgw/default.pgo ./bench
	rm -f bin/bench.test

bench-netns: build ## host-to-host throughput through ipsecgw, strongSwan and wireguard-go (root)
	./bench/netns.sh

demo: build ## live tunnels between namespaces (root)
	./bin/ipsecgw demo

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin

help:
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'
