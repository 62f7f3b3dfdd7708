# Commands for working on jwtrefresh. See README.md.
GO        ?= go
PKGS      ?= ./...
BENCH     ?= .
BENCHCOUNT ?= 1
FUZZTIME  ?= 10s
FAILOVER_RUNS ?= 5
FAILOVER_SESSIONS ?= 500
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all test bench lint fuzz demo failover

all: lint test

## test: every test, with the race detector.
test:
	$(GO) test -race -count=1 -timeout=20m $(PKGS)

## bench: every benchmark (BENCHCOUNT=10 for benchstat input).
bench:
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -count=$(BENCHCOUNT) $(PKGS)

## lint: gofmt, go vet, staticcheck.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

## demo: the whole story in about 15 s with only Go (in-process Redis); see example/demo.sh.
demo:
	GO=$(GO) bash example/demo.sh

## failover: FAILOVER_RUNS killed primaries per configuration (Sentinel, Cluster; replica
## acknowledgements on, off), without and with lagging replicas, FAILOVER_SESSIONS sessions each;
## prints the tables. Needs redis-server. See internal/failover.
failover:
	FAILOVER_RUNS=$(FAILOVER_RUNS) FAILOVER_SESSIONS=$(FAILOVER_SESSIONS) \
	  $(GO) test -count=1 -timeout=90m -run='^TestFailover' -v ./internal/failover

## fuzz: a short run (FUZZTIME) of every fuzz target.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done
