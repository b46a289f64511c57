# netsim — build, run, test. Needs only Go; `make e2e` and `make bench` install
# what they need from Debian's packages when run as root (see .ci/run).
GO        ?= go
BIN       := bin
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2

.PHONY: all run build test race e2e chaos bench scenario deploy-demo scale-demo fmt lint vet fuzz clean

all: build

## run: the whole simulated internet on embedded defaults (Ctrl-C stops it);
## flags go through ARGS, e.g. make run ARGS="--log-level debug"
ARGS ?=
run:
	@echo "building netsim (the first build downloads and compiles the dependencies: a few minutes)…"
	@$(GO) build -o $(BIN)/netsim ./cmd/netsim
	@exec ./$(BIN)/netsim $(ARGS)

## build: the daemons into bin/
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## test: unit and in-process integration tests with the race detector
test:
	$(GO) test -race -count=1 $(PKGS)

## e2e: builds the binaries, starts them, checks them with dig/curl
e2e: build
	bash e2e/run.sh
	bash e2e/dns-hardening.sh
	bash e2e/scenarios.sh
	bash e2e/lbd-tls.sh
	bash e2e/xfr-in.sh
	bash e2e/labs.sh
	bash e2e/xfr.sh
	bash e2e/dnssec.sh
	bash e2e/scale.sh --short
	bash e2e/chaos.sh --short

## chaos: faults under load (nftables loss, crashes, SIGHUP storms) in a network
##        namespace of its own; needs root; a table of the figures (README, Chaos)
chaos: build
	bash e2e/chaos.sh

## bench: Go micro-benchmarks; bench/*.sh drive dnsperf/wrk against peers
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## scenario: rehearse a scenario against the running stack (make scenario S=rolling-deploy ARGS="--no-drain");
##           without S, list them
scenario:
	@if [ -z "$(S)" ]; then $(GO) run ./cmd/netsim scenario list; \
	else $(GO) run ./cmd/netsim scenario run $(S) $(ARGS); fi

## deploy-demo: the rolling-deploy scenario on a stack of its own (no make run needed): counts and a timeline
deploy-demo:
	$(GO) run ./cmd/netsim scenario run rolling-deploy --standalone $(ARGS)

## scale-demo: (root) each host a network namespace on 198.18.0.0/15: dnsd primary, Knot and NSD
## secondaries, two lbd instances per region behind GeoDNS; one is killed under load (README "Past one machine")
scale-demo: build
	bash e2e/scale.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet $(PKGS)

## lint: go.mod tidy, gofmt, go vet and staticcheck; fails on any finding
STATICCHECK := $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
lint: vet
	@$(GO) mod tidy -diff || { echo "lint: go.mod/go.sum are not tidy: run go mod tidy (diff above)"; exit 1; }
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "lint: not gofmt'ed:"; echo "$$out"; exit 1; fi
	@$(STATICCHECK) -version >/dev/null || { echo "lint: staticcheck $(STATICCHECK_VERSION) did not build (module proxy reachable?)"; exit 1; }
	@echo "staticcheck $(STATICCHECK_VERSION): checking $(PKGS)"
	@$(STATICCHECK) $(PKGS) && echo "staticcheck: no findings"

## fuzz: a short run of every fuzz target, one at a time (FUZZTIME=30s to go
## longer; the campaign: make fuzz FUZZTIME=1000000x FUZZFLAGS='-parallel 1')
FUZZTIME ?= 10s
FUZZFLAGS ?=
fuzz:
	@for p in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$p || exit 1; \
		done; \
	done

clean:
	rm -rf $(BIN) var
