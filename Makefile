# The gate: CI runs `make lint` and `make test` (see .ci/run).
CARGO ?= cargo
export TOLLGATE_TEST_PYTHON := $(CURDIR)/.venv/bin/python

.PHONY: run test lint bench bench-load fuzz deps build
FUZZ_SECONDS ?= 30

## Build and serve on the embedded default (dev issuer, example policies, ephemeral key) at 127.0.0.1:8080.
run:
	$(CARGO) run --bin tollgate -- serve --dev

## Install the test peers, then run the whole suite: unit, integration (real HTTP, PyJWT), benches once,
## the config and policy checks, the policy test cases, and the README lines.
test: deps
	$(CARGO) test --all-targets
	$(CARGO) run --quiet --bin tollgate -- check --strict --config deploy/dev/tollgate.yaml
	$(CARGO) run --quiet --bin tollgate -- policy test policies
	scripts/readme-test.sh

## Formatting and lints, warnings are errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## Criterion benches (release build); reports in target/criterion.
bench:
	$(CARGO) bench --bench exchange --bench policy --bench store

## Load bench of the state store on POST /exchange (wrk; installs it when missing): store off vs SQLite vs a
## throw-away PostgreSQL 15, at full (-c64), issue 11's peak (-c16) and low (-c2) load, one run (≤ 5 min after the build). Prints a
## table of throughput, p50/p99 and server CPU per exchange; JSON lines in target/bench-state.json.
bench-load:
	CARGO="$(CARGO)" scripts/bench-state.sh

## Fuzz every parser (tokens, JWKS, discovery, STS, RFC 8693 and introspection requests, config, policies) with cargo-fuzz on the
## nightly toolchain, FUZZ_SECONDS per target; installs cargo-fuzz when missing. Seeds come from ../shared/vectors
## (copied at run time into the git-ignored fuzz/corpus/) and the project's own files. Prints a table of execs,
## execs/s and coverage per target; fails if any target crashes.
fuzz:
	cargo +nightly fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(CURDIR)/../shared/vectors

deps:
	scripts/test-deps.sh

build:
	$(CARGO) build --release --bin tollgate
