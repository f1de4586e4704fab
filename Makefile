# The commands README and CI call. `make run` builds and starts Chatr on
# SQLite in ./data; `make test` runs every test (Rust and the contract suite).
CARGO ?= cargo
NPM ?= npm
CONTRACT := tests/contract

.PHONY: build run test test-rust test-contract bench lint fmt clean

build:
	$(CARGO) build --release --locked -p chatr

run: build
	./target/release/chatr

test: test-rust test-contract

test-rust:
	$(CARGO) test --workspace --locked

# The contract suite drives the debug binary with the official socket.io-client.
test-contract: $(CONTRACT)/node_modules/.installed
	$(CARGO) build --locked -p chatr -p chatr-load
	cd $(CONTRACT) && $(NPM) test

$(CONTRACT)/node_modules/.installed: $(CONTRACT)/package-lock.json
	cd $(CONTRACT) && $(NPM) ci --no-audit --no-fund
	touch $@

# Chatr against the Node.js reference, side by side (docs/benchmarks.md).
bench:
	bash bench/run.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(CONTRACT)/node_modules
