# The two commands of the README:
#   make demo   the whole workflow on a local AWS emulator (installs what it needs)
#   make test   the full test suite (installs and starts moto and nginx itself)
# .ci/run calls `make test` plus the lints.

CARGO ?= cargo
DRYDOCK := target/debug/drydock

.PHONY: demo test test-guest setup build lint fmt clippy bench clean

setup:
	@bash tests/tools/setup.sh

build:
	$(CARGO) build --locked

demo: setup build
	@bash tests/tools/demo.sh

# One build of the tests, then every suite: Rust unit and integration tests (they start
# their own emulators), then the fidelity shim's own tests, then the real guest. The
# feature test-hooks lets the tests fix drydock's clock (src/clock.rs); a normal build
# has no such hook.
test: setup
	$(CARGO) test --locked --no-fail-fast --features test-hooks
	.venv/bin/python -m pytest tests/moto -q
	$(MAKE) test-guest

# The real guest (README, "The real guest"): a bake and a deploy on real Debian 12
# machines booted with systemd-nspawn. Needs root; installs what it needs.
test-guest: setup
	$(CARGO) build --locked
	@bash tests/guest/run.sh

# Benchmarks against the local emulator (numbers in the README); not part of `make test`.
bench: setup build
	@bash tests/tools/bench-bake.sh
	@bash tests/tools/bench-deploy.sh
	@bash tests/tools/bench-rollback.sh
	@bash tests/tools/bench-world.sh
	@bash tests/tools/bench-canary.sh

lint: fmt clippy

fmt:
	$(CARGO) fmt --check

# Both builds: the normal one, and the one `make test` runs (feature test-hooks).
clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets --features test-hooks -- -D warnings

clean:
	$(CARGO) clean
	rm -rf .venv .tmp
