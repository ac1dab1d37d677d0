# The gate: CI runs `make lint` and `make test` (see .ci/run).
CARGO ?= cargo
export TOLLGATE_TEST_PYTHON := $(CURDIR)/.venv/bin/python

.PHONY: run test lint bench fuzz deps build
FUZZ_SECONDS ?= 60

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
	$(CARGO) bench --bench exchange --bench policy

## Fuzz the policy parser with cargo-fuzz (needs a nightly toolchain and `cargo install cargo-fuzz`), seeded with policies/.
fuzz:
	mkdir -p fuzz/corpus/policy_parser && cp policies/*.yaml fuzz/corpus/policy_parser/
	cd fuzz && cargo +nightly fuzz run policy_parser -- -max_total_time=$(FUZZ_SECONDS)

deps:
	scripts/test-deps.sh

build:
	$(CARGO) build --release --bin tollgate
