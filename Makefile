# The gate: CI runs `make lint` and `make test` (see .ci/run).
CARGO ?= cargo
export TOLLGATE_TEST_PYTHON := $(CURDIR)/.venv/bin/python

.PHONY: run test lint bench bench-load bench-state bench-peer fuzz deps build
FUZZ_SECONDS ?= 30

## Build and serve on the embedded default (dev issuer, example policies, ephemeral key) at 127.0.0.1:8080.
run:
	$(CARGO) run --bin tollgate -- serve --dev

## Install the test peers, then run the whole suite: unit, integration (real HTTP, PyJWT), benches once,
## the config and policy checks, the policy test cases, the README lines, the deployment artifacts' offline
## checks (scripts/deploy-lint.sh: hadolint, kustomize, kubernetes-validate, checkov, tollgate check of the
## Kubernetes config, systemd-analyze; its tools in .venv-deploy), and the load benches once in smoke mode
## (debug build, 1 s runs: they must keep working; their figures mean nothing there).
test: deps
	$(CARGO) test --all-targets
	$(CARGO) run --quiet --bin tollgate -- check --strict --config deploy/dev/tollgate.yaml
	$(CARGO) run --quiet --bin tollgate -- policy test policies
	scripts/readme-test.sh
	scripts/deploy-lint.sh
	BENCH_SMOKE=1 CARGO="$(CARGO)" scripts/bench-load.sh

## Formatting and lints, warnings are errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## Criterion benches (release build), then a table of every figure beside its crypto ceiling and the ratio
## (scripts/bench-table.py; JSON lines in target/bench-table.json). Reports in target/criterion.
bench:
	$(CARGO) bench --bench exchange --bench policy --bench store
	python3 scripts/bench-table.py

## Load benches (release build, wrk; installs it when missing), one after the other:
## scripts/bench-load.sh: POST /exchange beside the crypto ceiling and the HTTP floor, at peak, half and low load,
## with 10,000 roles and 1,000 issuers, under an unknown-kid storm (≤ 10 min after the build; target/bench-load.json);
## scripts/bench-state.sh: the state store on the hot path, off vs SQLite vs a throw-away PostgreSQL 15
## (target/bench-state.json).
bench-load: deps
	CARGO="$(CARGO)" scripts/bench-load.sh
	CARGO="$(CARGO)" scripts/bench-state.sh

## Only the state store's load bench (see bench-load).
bench-state: deps
	CARGO="$(CARGO)" scripts/bench-state.sh

## Tollgate's exchange beside OpenBao's JWT login (the real `bao` from .venv), same token, same wrk, one run.
bench-peer: deps
	BENCH_SECTIONS="ceiling exchange peer" CARGO="$(CARGO)" scripts/bench-load.sh

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
