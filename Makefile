# Hearth. `make run` and `make test` work from a fresh clone: each installs what it
# needs (Go modules; the AWS CLI from Debian's packages when /usr/bin/aws is missing).

export PATH := /usr/local/go/bin:$(PATH)
GO       ?= go
FUZZTIME ?= 20000x
# gVisor, pinned; built from the Go module proxy, static as runsc must be.
GVISOR_VERSION ?= v0.0.0-20260905035102-160fafc42237
# Packages with goroutines and shared state run under the race detector.
RACE_PKGS := ./internal/... ./cmd/...

.PHONY: all build sdk deps test-deps run test unit e2e cli fuzz lint bench clean

all: build

build: bin/runsc sdk
	$(GO) build -o bin/hearth ./cmd/hearth
	$(GO) build -o bin/hearth-bench ./cmd/hearth-bench
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/hearth-init ./cmd/hearth-init

# runsc takes minutes to build on two cores; it is rebuilt only when the pin moves.
bin/runsc: Makefile
	@mkdir -p bin
	@if [ ! -x bin/runsc ] || [ "$$(cat bin/.runsc-version 2>/dev/null)" != "$(GVISOR_VERSION)" ]; then \
		echo "building gVisor runsc $(GVISOR_VERSION) (once)"; \
		GOBIN=$(CURDIR)/bin CGO_ENABLED=0 $(GO) install gvisor.dev/gvisor/runsc@$(GVISOR_VERSION) && \
		echo "$(GVISOR_VERSION)" > bin/.runsc-version; \
	fi
	@touch bin/runsc

# The AWS SDKs the python and nodejs runtimes carry, as AWS's do (README, "The
# bundled AWS SDKs"): Debian trixie's boto3 (sdk/python/packages) and npm's SDK for
# JavaScript v3 (sdk/node/package-lock.json), pinned, next to the binaries where
# hearth serve finds them. Each script does nothing when its stamp matches the pins.
sdk:
	@sh sdk/python/fetch.sh sdk/python/packages bin/sdk/python
	@sh sdk/node/install.sh bin/sdk/node

deps:
	$(GO) mod download
	@if [ ! -x /usr/bin/aws ]; then \
		echo "installing the AWS CLI (Debian package awscli)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null; \
	fi

test-deps: deps

run: deps build
	bash scripts/run.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit: build
	$(GO) test -race -count=1 $(RACE_PKGS)

e2e: build
	$(GO) test -race -count=1 -timeout 30m ./test/e2e/...

cli: build
	bash test/cli/roundtrip.sh
	bash test/cli/sqs.sh

# Each fuzz target runs briefly on every `make test`; run longer with FUZZTIME=2000000x.
# The budget is a count, not a duration: Go 1.26's coordinator can report a bare
# "context deadline exceeded" when a duration ends mid-execution (golang/go#75804,
# fixed in Go 1.27), which failed CI once with no failing input found.
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzInspect$$' -fuzztime=$(FUZZTIME) ./internal/codezip/
	$(GO) test -run='^$$' -fuzz='^FuzzTree$$' -fuzztime=$(FUZZTIME) ./internal/codezip/
	$(GO) test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) ./internal/lambdaapi/sigv4/
	$(GO) test -run='^$$' -fuzz='^FuzzAPI$$' -fuzztime=$(FUZZTIME) ./internal/lambdaapi/
	$(GO) test -run='^$$' -fuzz='^FuzzCutBlob$$' -fuzztime=$(FUZZTIME) ./internal/lambdaapi/
	$(GO) test -run='^$$' -fuzz='^FuzzParseFunctionRef$$' -fuzztime=$(FUZZTIME) ./internal/control/
	$(GO) test -run='^$$' -fuzz='^FuzzRead$$' -fuzztime=$(FUZZTIME) ./internal/agentproto/
	$(GO) test -run='^$$' -fuzz='^FuzzReadRequest$$' -fuzztime=$(FUZZTIME) ./internal/agent/
	$(GO) test -run='^$$' -fuzz='^FuzzChildConfig$$' -fuzztime=$(FUZZTIME) ./internal/sandbox/namespace/
	$(GO) test -run='^$$' -fuzz='^FuzzParseRule$$' -fuzztime=$(FUZZTIME) ./internal/netenv/
	$(GO) test -run='^$$' -fuzz='^FuzzParseRequest$$' -fuzztime=$(FUZZTIME) ./internal/sqsapi/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeHandle$$' -fuzztime=$(FUZZTIME) ./internal/sqs/
	$(GO) test -run='^$$' -fuzz='^FuzzEventMessage$$' -fuzztime=$(FUZZTIME) ./internal/async/
	$(GO) test -run='^$$' -fuzz='^FuzzPayloadProblem$$' -fuzztime=$(FUZZTIME) ./internal/invoke/
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./internal/esm/filter/
	$(GO) test -run='^$$' -fuzz='^FuzzCheck$$' -fuzztime=$(FUZZTIME) ./internal/session/

test: test-deps build lint unit e2e cli fuzz

bench: deps build
	./bin/hearth-bench $(BENCH_FLAGS)

clean:
	rm -rf bin
