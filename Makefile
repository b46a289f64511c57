# netsim — build, run, test. Needs only Go; `make e2e` and `make bench` install
# what they need from Debian's packages when run as root (see .ci/run).
GO        ?= go
BIN       := bin
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2

.PHONY: all run build test race e2e bench deploy-demo fmt lint vet fuzz clean

all: build

## run: the whole simulated internet on embedded defaults (Ctrl-C stops it)
run:
	$(GO) run ./cmd/netsim

## build: the daemons into bin/
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## test: unit and in-process integration tests with the race detector
test:
	$(GO) test -race -count=1 $(PKGS)

## e2e: builds the binaries, starts them, checks them with dig/curl
e2e: build
	bash e2e/run.sh
	bash e2e/lbd-tls.sh

## bench: Go micro-benchmarks; bench/*.sh drive dnsperf/wrk against peers
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## deploy-demo: a rolling deploy v1 → v2 behind lbd under 200 req/s, counting failed requests
deploy-demo:
	$(GO) run ./bench/lb-deploy-demo

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet $(PKGS)

## lint: go vet, and staticcheck when it installs from the module proxy
lint: vet
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -version >/dev/null 2>&1; then \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS); \
	else echo "staticcheck not available; go vet only"; fi

## fuzz: a short run of every fuzz target (FUZZTIME=30s to go longer)
FUZZTIME ?= 10s
fuzz:
	@for p in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
		done; \
	done

clean:
	rm -rf $(BIN) var
