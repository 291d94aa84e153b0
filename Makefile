# venvkit: the two commands of README.md (`make demo`, `make test`), plus
# `make build` and `make bench`. Every target installs what it needs first
# and is quiet when everything is already there.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := demo

MUSL    := x86_64-unknown-linux-musl
PROFILE := dist
BIN_DIR := target/bin
TOOLS   := apt-install entrypoint find-libdeps wait-for-port

# Debian packages each step needs (names, so `dpkg-query` can check them).
APT_BUILD := gcc libc6-dev
APT_TEST  := util-linux mount coreutils procps bash python3 python3-venv gcc libc6-dev zlib1g mmdebstrap apt-utils dpkg-dev
APT_DEMO  := netcat-openbsd
APT_BENCH := wait-for-it tini dumb-init

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# apt_ensure(packages): install the missing ones, print nothing otherwise.
define apt_ensure
	@missing=""; \
	for pkg in $(1); do \
	  dpkg-query -W -f='$${db:Status-Status}' "$$pkg" 2>/dev/null | grep -qx installed || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

.PHONY: demo build binaries test bench deps-build deps-test deps-demo deps-bench clean

## demo: build the tools and show wait-for-port waiting for a port that opens late
demo: build deps-demo
	@port=$$(( 20000 + RANDOM % 20000 )); \
	echo; echo "== a server starts on 127.0.0.1:$$port in 2 s; wait-for-port waits for it, then execs the command"; \
	( sleep 2; exec nc -l 127.0.0.1 "$$port" </dev/null >/dev/null 2>&1 ) & \
	$(BIN_DIR)/wait-for-port -v --interval 500ms --timeout 10s "127.0.0.1:$$port" -- echo "command ran: the port is open" || true; \
	wait; \
	echo; echo "== a port that never opens: exit 124 when the timeout runs out"; \
	status=0; $(BIN_DIR)/wait-for-port --timeout 1s "127.0.0.1:$$((port + 1))" || status=$$?; \
	echo "exit status $$status"

## build: static release binaries in target/bin, with their sizes
build: binaries
	@for tool in $(TOOLS); do \
	  printf '%-16s %8d bytes  %s\n' "$$tool" "$$(stat -c %s $(BIN_DIR)/$$tool)" "$(BIN_DIR)/$$tool"; \
	done

binaries: deps-build
	@cargo build --locked --quiet --profile $(PROFILE) --target $(MUSL) $(addprefix -p ,$(TOOLS))
	@mkdir -p $(BIN_DIR)
	@for tool in $(TOOLS); do install -m 0755 target/$(MUSL)/$(PROFILE)/$$tool $(BIN_DIR)/$$tool; done

## test: unit and integration tests of every crate, against the release binaries
test: binaries deps-test
	@export VENVKIT_BIN_DIR=$(CURDIR)/$(BIN_DIR) \
	  WAIT_FOR_PORT_BIN=$(CURDIR)/$(BIN_DIR)/wait-for-port ENTRYPOINT_BIN=$(CURDIR)/$(BIN_DIR)/entrypoint \
	  FIND_LIBDEPS_BIN=$(CURDIR)/$(BIN_DIR)/find-libdeps APT_INSTALL_BIN=$(CURDIR)/$(BIN_DIR)/apt-install; \
	if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --cargo-quiet --locked --workspace --no-fail-fast --status-level fail --final-status-level flaky; \
	else \
	  echo "cargo-nextest not found: running cargo test one test at a time (timing tests need a quiet machine)"; \
	  cargo test --locked --workspace --quiet -- --test-threads=1; \
	fi

## bench: compare with the peers (wait-for-it, tini, dumb-init, ldd pipelines, apt-get) and print ratios
bench: build deps-bench
	@export VENVKIT_BIN_DIR=$(CURDIR)/$(BIN_DIR); \
	cargo bench --locked --quiet -p wait-for-port --bench versus_wait_for_it; echo; \
	cargo bench --locked --quiet -p entrypoint --bench versus_tini; echo; \
	cargo bench --locked --quiet -p find-libdeps --bench versus_pipeline; echo; \
	cargo bench --locked --quiet -p apt-install --bench versus_apt_get

deps-build:
	$(call apt_ensure,$(APT_BUILD))
	@rustup target list --installed | grep -qx $(MUSL) || rustup target add $(MUSL)

deps-test:
	$(call apt_ensure,$(APT_TEST))

deps-demo:
	$(call apt_ensure,$(APT_DEMO))

deps-bench:
	$(call apt_ensure,$(APT_BENCH))

clean:
	cargo clean
