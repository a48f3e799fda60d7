# exportd — see README.md.
SHELL := /bin/bash
GO ?= go
BIN := bin
DEMO_DIR ?= demo-data
DEMO_ADDR ?= 127.0.0.1:27217
DEMO_TASKS ?= 50000

.PHONY: all build test vet fmt-check tools demo bench bench-e2e bench-resume fuzz clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/exportd ./cmd/exportctl ./cmd/devmongo

# The command-line tools the tests compare our output with.
tools:
	@command -v zstd >/dev/null && command -v gzip >/dev/null || { \
	  echo "installing zstd and gzip (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd gzip >/dev/null; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: tools fmt-check vet
	$(GO) test -race -timeout 20m ./...

# Starts devmongo, seeds tasks, exports them, prints where the chunks are.
demo: build
	@bash scripts/demo.sh "$(BIN)" "$(DEMO_DIR)" "$(DEMO_ADDR)" "$(DEMO_TASKS)"

# Pipeline and stage throughput at 1 and 2 cores, as a table (bench/README.md).
bench:
	@mkdir -p $(BIN)
	$(GO) run ./bench/cmd/benchtable -out $(BIN)/bench.txt

# exportd export end to end on devmongo at 100,000 and 1,000,000 tasks: wall
# time against a bare cursor, CPU, peak RSS (takes a while: 1M tasks).
bench-e2e: build
	$(GO) run ./bench/cmd/e2e --bin $(BIN) --sizes 100000,1000000 --configs ndjson/zstd,csv/gzip,json/zstd

# Resume at 10% and 90%, and what the checkpoint costs the pipeline.
bench-resume:
	$(GO) test -run '^$$' -bench 'BenchmarkResume|BenchmarkCheckpointCost' -benchtime 5x -count 3 ./export

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzAppendDocument -fuzztime 60s ./extjson
	$(GO) test -run '^$$' -fuzz FuzzValues -fuzztime 60s ./extjson
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime 60s ./request

clean:
	rm -rf $(BIN) $(DEMO_DIR)
