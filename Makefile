# The commands README and CI call. `make run` builds and starts Chatr (with its
# web client) on SQLite in ./data; `make test` runs every test.
CARGO ?= cargo
NPM ?= npm
CONTRACT := tests/contract
TARGET_DIR = $(abspath $(or $(CARGO_TARGET_DIR),target))
RELEASE_BIN = $(TARGET_DIR)/release/chatr
WEB := web

.PHONY: build run web fuzz test test-rust test-protocol test-contract test-python test-proxy test-web test-postgres test-cluster bench bench-instructions bench-cluster lint fmt clean chromium redis nginx caddy systemd-analyze

# The web client is built first: `chatr` embeds web/dist at compile time.
build: web
	$(CARGO) build --release --locked -p chatr

run: build
	./target/release/chatr

web: $(WEB)/node_modules/.installed
	cd $(WEB) && $(NPM) run build

$(WEB)/node_modules/.installed: $(WEB)/package-lock.json
	cd $(WEB) && $(NPM) ci --no-audit --no-fund
	touch $@

test: test-rust test-protocol test-contract test-python test-proxy test-web test-postgres test-cluster

test-rust:
	$(CARGO) test --workspace --locked

# The official Engine.IO and Socket.IO protocol suites against the engine's
# fixture server (it takes port 3000, as the suites expect).
test-protocol:
	bash scripts/protocol-suites.sh

# The contract suite drives the release binary, the one `make run` ships,
# with the official socket.io-client; the suites after it drive the debug
# build (PostgreSQL's runs the contract suite again), so both builds pass it.
# A release build once stored a crafted file that the debug build refused
# (integer overflow: wrapped in release, a panic in debug).
test-contract: $(CONTRACT)/node_modules/.installed web systemd-analyze
	$(CARGO) build --release --locked -p chatr
	$(CARGO) build --locked -p chatr-load
	cd $(CONTRACT) && CHATR_BIN=$(RELEASE_BIN) CHATR_LOAD_BIN=$(TARGET_DIR)/debug/chatr-load $(NPM) test

$(CONTRACT)/node_modules/.installed: $(CONTRACT)/package-lock.json
	cd $(CONTRACT) && $(NPM) ci --no-audit --no-fund
	touch $@

# python-socketio, a client other than the official one (handlers of fixed
# arity, both transports), in a virtualenv of its own.
PYTHON_ENV := tests/python/.venv
test-python: $(PYTHON_ENV)/.installed
	$(CARGO) build --locked -p chatr
	$(PYTHON_ENV)/bin/python -m unittest discover -s tests/python -v

$(PYTHON_ENV)/.installed: tests/python/requirements.txt
	python3 -m venv $(PYTHON_ENV)
	$(PYTHON_ENV)/bin/pip install -q -r tests/python/requirements.txt
	touch $@

# Chatr behind nginx and Caddy with deploy/nginx.conf and deploy/Caddyfile:
# the proxy checks of tests/contract/behind-proxy.js, then the contract suite
# through each proxy (all but the files that test the server's own socket
# handling, its trusted-proxy logic, or the load tool, which a proxy in front
# replaces or changes by design).
PROXIED = $(filter-out abuse.test.js proxies.test.js load-tool.test.js deploy.test.js,$(notdir $(wildcard $(CONTRACT)/*.test.js)))
test-proxy: $(CONTRACT)/node_modules/.installed nginx caddy web
	$(CARGO) build --locked -p chatr
	cd $(CONTRACT) && node --test --test-timeout=240000 behind-proxy.js
	cd $(CONTRACT) && CHATR_TEST_PROXY=nginx node --test --test-concurrency=2 --test-timeout=120000 $(PROXIED)
	cd $(CONTRACT) && CHATR_TEST_PROXY=caddy node --test --test-concurrency=2 --test-timeout=120000 $(PROXIED)

# Debian's nginx for the proxy test.
nginx:
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  echo "installing nginx (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }

# systemd's unit checker, for deploy/chatr.service (tests/contract/deploy.test.js).
systemd-analyze:
	@command -v systemd-analyze >/dev/null 2>&1 || { \
	  echo "installing systemd (for systemd-analyze; needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null; }

# Debian's Caddy for the proxy tests.
caddy:
	@command -v caddy >/dev/null 2>&1 || { \
	  echo "installing caddy (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy >/dev/null; }

# The Rust integration tests and the contract suite again, on a throw-away
# PostgreSQL (scripts/with-postgres.sh: initdb in a temp dir, a free port).
test-postgres: $(CONTRACT)/node_modules/.installed web systemd-analyze
	$(CARGO) build --locked -p chatr -p chatr-load
	bash scripts/with-postgres.sh sh -c '$(CARGO) test --workspace --locked && cd $(CONTRACT) && $(NPM) test'

# Three nodes on one PostgreSQL and one Redis (tests/contract/cluster.js).
test-cluster: $(CONTRACT)/node_modules/.installed redis
	$(CARGO) build --locked -p chatr
	bash scripts/with-postgres.sh bash scripts/with-redis.sh \
	  sh -c 'cd $(CONTRACT) && node --test --test-timeout=240000 cluster.js'

# Debian's Redis (>= 7) for the cluster tests.
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# Unit tests of the client's pure parts, then the end-to-end suite in headless Chromium.
test-web: web chromium
	$(CARGO) build --locked -p chatr
	cd $(WEB) && $(NPM) test && $(NPM) run e2e

# Debian's Chromium for the browser tests (playwright cannot download browsers
# here), with an emoji font so that reactions draw as emoji, not boxes.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; } || { \
	  echo "installing chromium and fonts-noto-color-emoji (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; }

# Coverage-guided fuzzing of one target under AFL++ (cargo afl, stable
# toolchain), e.g. `make fuzz TARGET=image FUZZ_SECONDS=3600`; targets are
# listed in crates/chatr-fuzz/src/lib.rs. Findings land in
# target/fuzz/<target>/default/crashes (and hangs): fix them, then keep the
# inputs in crates/chatr-fuzz/corpus/<target>/ as regression inputs, which
# `make test` replays.
TARGET ?= ws_frames
FUZZ_SECONDS ?= 3600
fuzz:
	@command -v cargo-afl >/dev/null 2>&1 || $(CARGO) install cargo-afl --locked
	$(CARGO) afl config --build >/dev/null 2>&1 || true
	$(CARGO) afl build --release --locked -p chatr-fuzz --features afl --bin afl
	AFL_MAP_SIZE=$$(AFL_DUMP_MAP_SIZE=1 target/release/afl $(TARGET)) AFL_SKIP_CPUFREQ=1 \
	  AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 $(CARGO) afl fuzz -i crates/chatr-fuzz/corpus/$(TARGET) \
	  -o target/fuzz/$(TARGET) -V $(FUZZ_SECONDS) -t 5000 -- target/release/afl $(TARGET)

# Chatr beside the floor (../shared/floor) and the Node.js reference, in one sitting (docs/benchmarks.md).
bench: web
	bash bench/run.sh

# Instructions per message, Chatr beside the floor, counted by callgrind: a
# figure the machine's drift does not move (docs/benchmarks.md, round 17).
bench-instructions:
	bash bench/instructions.sh

# One node versus two over Redis, on PostgreSQL (docs/benchmarks.md).
bench-cluster: redis
	$(CARGO) build --release --locked -p chatr -p chatr-load
	bash scripts/with-postgres.sh bash scripts/with-redis.sh bash bench/cluster.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(CONTRACT)/node_modules $(WEB)/node_modules $(WEB)/dist
