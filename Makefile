# exportd — see README.md.
SHELL := /bin/bash
GO ?= go
BIN := bin
DEMO_DIR ?= demo-data
DEMO_ADDR ?= 127.0.0.1:27217
DEMO_TASKS ?= 50000

.PHONY: all build test test-long test-web web-tools screenshots vet fmt-check tools demo cluster bench bench-tools bench-pipeline bench-e2e bench-resume bench-cluster fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/exportd ./cmd/exportctl ./cmd/devmongo

# The command-line tools the tests compare our output with, and the
# S3-compatible server (versitygw) the object-store tests run against.
tools:
	@command -v zstd >/dev/null && command -v gzip >/dev/null || { \
	  echo "installing zstd and gzip (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd gzip >/dev/null; }
	@bash scripts/install-versitygw.sh >/dev/null

# The web console's browser test (web/console_test.go): Debian's chromium,
# Node.js and web/e2e's npm packages (playwright-core, which drives
# /usr/bin/chromium; it downloads no browser of its own).
E2E := web/e2e
web-tools: $(E2E)/node_modules/.package-lock.json
	@test -x /usr/bin/chromium || { \
	  echo "installing chromium (Debian package)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

$(E2E)/node_modules/.package-lock.json: $(E2E)/package.json $(E2E)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { \
	  echo "installing nodejs and npm (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --prefix $(E2E) --no-audit --no-fund

# The console in headless Chromium against a real daemon (half a minute).
test-web: web-tools
	$(GO) test -race -count=1 ./web/...

# Regenerates web/screenshots/*.png, the README's pictures of the console.
screenshots: web-tools
	$(GO) test -count=1 -run '^TestConsole$$' ./web/ -args -update

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Every package, the web console's browser test included (hence web-tools).
test: tools web-tools fmt-check vet
	$(GO) test -race -timeout 20m ./...

# The tests at full strength: cmd/exportd's crash test kills exportd at
# every step of the commit protocol in every case and 20 times at random,
# on 51,000 tasks (make test runs each step once and 3 random kills on
# 11,000). EXPORTD_CRASH_SEED=<seed> reruns a logged seed.
test-long: tools web-tools fmt-check vet
	EXPORTD_TEST_LONG=1 $(GO) test -race -timeout 60m ./...

# Three exportd nodes on one machine (README, "Running several nodes"):
# installs nats-server and versitygw into bin/, starts three clustered
# nats-servers with JetStream, versitygw, devmongo and three daemons, and
# one export; runs until Ctrl-C (CLUSTER_ONCE=1: until the export is done).
CLUSTER_DIR ?= cluster-data
CLUSTER_TASKS ?= 50000
NATS_SERVER_VERSION = $(shell $(GO) list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
cluster: build
	GOBIN=$(abspath $(BIN)) $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)
	@bash scripts/install-versitygw.sh $(abspath $(BIN)) >/dev/null
	@bash scripts/cluster.sh "$(BIN)" "$(CLUSTER_DIR)" "$(CLUSTER_TASKS)"

# Starts devmongo, seeds tasks, exports them, then runs exportd serve
# (HTTP and the console on DEMO_HTTP, NATS on DEMO_NATS) with one export
# started through it, and prints what to try; runs until Ctrl-C
# (DEMO_ONCE=1: until that export is done and downloaded).
DEMO_HTTP ?= 127.0.0.1:8080
DEMO_NATS ?= 127.0.0.1:4222
demo: build
	@DEMO_ONCE=$(DEMO_ONCE) bash scripts/demo.sh "$(BIN)" "$(DEMO_DIR)" "$(DEMO_ADDR)" "$(DEMO_TASKS)" "$(DEMO_HTTP)" "$(DEMO_NATS)"

# Everything measured side by side in one run: the pipeline against its
# stages, the checkpoint's and progress's cost, HTTP serving, exportd end to
# end against a bare cursor and the seed-node baseline on devmongo, resume.
# Prints the tables and writes bench/RESULTS.md and bench/throughput.png
# (about an hour: 1,000,000 tasks, 15 times). BENCH_FLAGS narrows it, e.g.
# BENCH_FLAGS="-sizes 20000,100000 -parts e2e,resume".
BENCH_FLAGS ?=
bench: build bench-tools
	$(GO) run ./bench/cmd/bench $(BENCH_FLAGS)

# Node.js for the seed-node baseline (Debian packages).
bench-tools:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
	  echo "installing nodejs and npm (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }

# The pipeline's table alone (a few minutes): see bench/README.md.
bench-pipeline:
	@mkdir -p $(BIN)
	$(GO) run ./bench/cmd/benchtable -out $(BIN)/bench.txt

# End to end and resume alone.
bench-e2e: build bench-tools
	$(GO) run ./bench/cmd/bench -parts e2e,resume $(BENCH_FLAGS)

# Resume at 10% and 90% and the checkpoint's cost, in process (quick).
bench-resume:
	$(GO) test -run '^$$' -bench 'BenchmarkResume|BenchmarkCheckpointCost' -benchtime 5x -count 3 ./export

# Cluster mode's costs (a few minutes; versitygw from make tools):
# a 4 MiB chunk's commit on one node against a cluster (upload + JetStream
# record), and how long an export stalls when its owner is SIGKILLed, for
# leases of 2, 5 and 10 s.
bench-cluster: tools
	$(GO) test -run '^$$' -bench 'BenchmarkChunkCommit' -benchtime 20x -count 3 ./export
	$(GO) test -run '^$$' -bench 'BenchmarkTakeover' -benchtime 2x -timeout 30m ./cmd/exportd
	$(GO) test -run '^$$' -bench 'BenchmarkDelivery' -benchtime 5000x -count 3 ./transport/progress
	$(GO) test -run '^$$' -bench 'BenchmarkProgressTail' -benchtime 3x ./cluster

# Every fuzz target for FUZZTIME each. The corpora under testdata/fuzz/ run
# in make test too, as ordinary tests.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzAppendDocument -fuzztime $(FUZZTIME) ./extjson
	$(GO) test -run '^$$' -fuzz FuzzValues -fuzztime $(FUZZTIME) ./extjson
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime $(FUZZTIME) ./request
	$(GO) test -run '^$$' -fuzz FuzzRoundTrip -fuzztime $(FUZZTIME) ./checkpoint
	$(GO) test -run '^$$' -fuzz '^FuzzRange$$' -fuzztime $(FUZZTIME) ./transport/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzConcat$$' -fuzztime $(FUZZTIME) ./transport/httpapi

clean:
	rm -rf $(BIN) $(DEMO_DIR)
