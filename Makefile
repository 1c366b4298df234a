# Portcullis: the two commands a new user runs are `make run` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= config/portcullis.yaml
ECHO_LISTEN ?= 127.0.0.1:9001
# The binary `make run`, `make check` and `make reload` use, and where `make run` keeps its pid.
PORTCULLIS ?= .build/release/portcullis
PID_FILE ?= .build/portcullis.pid
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the build, the demo and the tests need.
APT_PACKAGES := libssl-dev libsqlite3-dev pkg-config openssl curl ca-certificates python3 python3-pip wrk

.PHONY: all deps test-deps demo-deps build release certs run demo reload install install-files test unit-test system-test microbench-smoke check bench microbench clean

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

test-deps: deps
	@if [ -f Tests/requirements.txt ]; then \
	  python3 -m pip install -q --disable-pip-version-check -r Tests/requirements.txt 2>/dev/null \
	  || python3 -m pip install -q --disable-pip-version-check --break-system-packages -r Tests/requirements.txt; \
	fi

build: deps
	$(SWIFT) build

# The gateway alone: the micro-benchmark target builds in release only for `make microbench`.
# RELEASE_FLAGS: the release binary skips Swift's run-time exclusivity checks (compile-time
# checking stays, and the debug build the tests run keeps the run-time checks): 6 % less CPU per
# plain request, mostly in SwiftNIO's channel code (benchmarks/README.md, "Run-time exclusivity
# checks"). It links the Swift runtime and Foundation statically: the binary needs only libssl3,
# libsqlite3 and the C/C++ runtime on the host it is installed on, and maps 6 MiB less code at
# rest (benchmarks/README.md, "Memory"). `make release RELEASE_FLAGS=` builds with neither.
RELEASE_FLAGS ?= -Xswiftc -enforce-exclusivity=unchecked --static-swift-stdlib
release: deps
	$(SWIFT) build -c release --product portcullis $(RELEASE_FLAGS)

# Dev certificates and the workshop's demo pool key (certs/generate.sh keeps what exists).
certs:
	@bash certs/generate.sh 2>/dev/null

check: release
	$(PORTCULLIS) check --config $(CONFIG)

# Builds release, starts the echo upstream and Portcullis on the example config.
run: release certs
	@$(PORTCULLIS) check --config $(CONFIG)
	@$(PORTCULLIS) echo --listen $(ECHO_LISTEN) & echo_pid=$$!; \
	trap 'kill $$echo_pid 2>/dev/null' EXIT INT TERM; \
	echo; \
	echo "Portcullis is starting on $(CONFIG) in front of the echo upstream at $(ECHO_LISTEN). Try:"; \
	echo "  curl -i localhost:8080/demo/public"; \
	echo "  curl -i localhost:8080/demo/items/42 -X PUT -d '{\"name\":\"x\"}'"; \
	echo "  curl -i localhost:8080/demo/nope            # 403 Missing Authentication Token"; \
	echo "  curl -i --cacert certs/ca.crt https://localhost:8443/demo/public"; \
	echo "  curl -i --cacert certs/ca.crt --cert certs/client.crt --key certs/client.key https://localhost:8444/demo/public"; \
	echo "  curl -i localhost:8080/demo/internal        # ip authorizer (loopback allowed)"; \
	echo "  make reload                                 # check the config, then reload it (pid in $(PID_FILE))"; \
	echo; \
	$(PORTCULLIS) run --config $(CONFIG) --pid-file $(PID_FILE)

# The whole workshop (docs/WORKSHOP.md): builds release, starts the echo upstream, the Lambda-style
# authorizer of examples/lambda-authorizer and Portcullis on config/workshop.yaml (their ports are
# the ones that file and the page name), mints the page's tokens into $(DEMO_ENV) and prints every
# command of the page. Tests/system/workshop.sh runs the same commands against the same config.
DEMO_CONFIG := config/workshop.yaml
DEMO_ENV ?= .build/demo.env
WORKSHOP_CASES := python3 Tests/system/workshop_cases.py
demo: release demo-deps certs
	@$(PORTCULLIS) check --config $(DEMO_CONFIG)
	@{ echo '# make demo: the tokens and keys of docs/WORKSHOP.md (minted now, valid 1h) and the release binary'; \
	  echo 'export PATH="$(CURDIR)/.build/release:$$PATH"'; \
	  $(WORKSHOP_CASES) env docs/WORKSHOP.md | PATH="$(CURDIR)/.build/release:$$PATH" bash; } >$(DEMO_ENV).tmp
	@mv $(DEMO_ENV).tmp $(DEMO_ENV)
	@$(PORTCULLIS) echo --listen 127.0.0.1:9001 & echo_pid=$$!; \
	python3 examples/lambda-authorizer/adapter.py --handler workshop_authorizer:handler --listen 127.0.0.1:9100 & authz_pid=$$!; \
	trap 'kill $$echo_pid $$authz_pid 2>/dev/null' EXIT INT TERM; \
	echo; \
	echo "The workshop: Portcullis on $(DEMO_CONFIG) (127.0.0.1:8080, VPC endpoints 8090 and 8091), the echo"; \
	echo "upstream on 127.0.0.1:9001, the Lambda-style authorizer on 127.0.0.1:9100. In another terminal, from"; \
	echo "$(CURDIR):"; \
	echo; \
	echo "  source $(DEMO_ENV)      # the tokens and keys below, and portcullis on PATH"; \
	echo; \
	echo "then try these (docs/WORKSHOP.md explains each part; \"# =>\" is the answer to expect):"; \
	$(WORKSHOP_CASES) print docs/WORKSHOP.md | sed 's/^/  /'; \
	echo; \
	$(PORTCULLIS) run --config $(DEMO_CONFIG) --pid-file $(PID_FILE)

# PyJWT for the workshop's Lambda-style authorizer (Tests/requirements.txt has it too).
demo-deps: deps
	@python3 -c 'import jwt' 2>/dev/null || \
	  python3 -m pip install -q --disable-pip-version-check PyJWT 2>/dev/null || \
	  python3 -m pip install -q --disable-pip-version-check --break-system-packages PyJWT

# Installs the binary, the systemd unit (pointing at this PREFIX) and, unless one exists, a
# starter config in /etc/portcullis. DESTDIR stages it elsewhere (packaging, tests).
PREFIX ?= /usr/local
DESTDIR ?=
install: release install-files

# The copying alone, from an already built binary (BUILT).
BUILT ?= .build/release/portcullis
install-files:
	install -D -m 755 $(BUILT) $(DESTDIR)$(PREFIX)/bin/portcullis
	install -d $(DESTDIR)/etc/systemd/system $(DESTDIR)/etc/portcullis
	sed -e 's#/usr/local/bin/portcullis#$(PREFIX)/bin/portcullis#g' -e 's#/usr/local/share/doc#$(PREFIX)/share/doc#g' \
	  systemd/portcullis.service >$(DESTDIR)/etc/systemd/system/portcullis.service
	install -D -m 644 README.md $(DESTDIR)$(PREFIX)/share/doc/portcullis/README.md
	chmod 644 $(DESTDIR)/etc/systemd/system/portcullis.service
	@if [ -e $(DESTDIR)/etc/portcullis/portcullis.yaml ]; then \
	  echo "kept the existing $(DESTDIR)/etc/portcullis/portcullis.yaml"; \
	else \
	  install -m 644 systemd/portcullis.yaml $(DESTDIR)/etc/portcullis/portcullis.yaml; \
	fi
	@echo "installed; then: systemctl daemon-reload && systemctl enable --now portcullis"

# Checks the config, then signals the gateway `make run` started (its pid file): never another
# process. Does not build: it reloads what is running.
reload:
	$(PORTCULLIS) reload --config $(CONFIG) --pid-file $(PID_FILE)

unit-test: test-deps certs
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

system-test: build certs test-deps
	PORTCULLIS_BIN=.build/debug/portcullis bash Tests/system/run_all.sh

# Every micro-benchmark for a few iterations (PORTCULLIS_MICROBENCH_SMOKE), so they cannot rot: one
# that no longer builds, crashes or fails its own check fails the suite; no figure is judged. It
# runs the debug executable `unit-test` built, alone (package-benchmark's "debug" mode): the plugin
# would build it all again in release, and its debug configuration crashes on Linux (the plugin
# preloads its release malloc interposer, which recurses into the debug one). Full runs: `make microbench`.
MICROBENCH_SMOKE_LOG := .build/microbench-smoke.log
microbench-smoke: deps
	$(SWIFT) build --product PortcullisMicro
	@PORTCULLIS_MICROBENCH_SMOKE=1 .build/debug/PortcullisMicro --quiet true >$(MICROBENCH_SMOKE_LOG) 2>&1 \
	  || { cat $(MICROBENCH_SMOKE_LOG); echo "microbench-smoke: a micro-benchmark failed (output above)"; exit 1; }
	@echo "microbench-smoke: $$(grep -c '^Debug results for' $(MICROBENCH_SMOKE_LOG)) micro-benchmarks ran, 3 iterations each ($(MICROBENCH_SMOKE_LOG))"

# The whole suite: Swift unit and loopback integration tests, the micro-benchmarks' smoke run,
# then the shell-level system tests.
test: unit-test microbench-smoke system-test

# The benchmark runner (benchmarks/portcullis_bench): plain, TLS and JWT beside nginx and HAProxy,
# pinned and unpinned, then the results table into benchmarks/README.md ("Latest `make bench`");
# then the memory of each at rest and with 10,000 idle keep-alive connections ("Memory").
# Its knobs are environment variables (SCENARIOS=all, DURATION=20 ...; benchmarks/README.md).
bench: release
	cd benchmarks && python3 -m portcullis_bench --readme README.md
	cd benchmarks && python3 -m portcullis_bench.memory --readme README.md
	$(MAKE) microbench

# The micro-benchmarks in full (benchmarks/README.md, "Micro-benchmarks"): release build, each
# run up to 3 s. MICROBENCH_ARGS adds options, e.g. MICROBENCH_ARGS="--filter Router".
MICROBENCH_ARGS ?=
microbench: deps
	$(SWIFT) package benchmark --target PortcullisMicro --no-progress $(MICROBENCH_ARGS)

clean:
	rm -rf .build
