# Commands for working on jwtrefresh. See README.md.
GO        ?= go
PKGS      ?= ./...
BENCH     ?= .
BENCHCOUNT ?= 1
FUZZTIME  ?= 10s
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all test bench lint fuzz demo

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

## fuzz: a short run (FUZZTIME) of every fuzz target.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done
