# Two entry points: `make run` (the main job) and `make test` (every check CI runs).
# Both build .venv from pyproject.toml on first use; nothing else needs installing by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint venv clean histories tools

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

# Tools the tests call that PyPI does not ship: docker-compose (Debian's v1 package) checks
# docker-compose.yml with `docker-compose config`; no Docker engine is needed for that.
tools:
	@command -v docker-compose >/dev/null 2>&1 || { \
		echo "installing docker-compose (Debian package) to validate docker-compose.yml"; \
		log=$$(mktemp); \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; } \
			>"$$log" 2>&1 || { cat "$$log"; rm -f "$$log"; exit 1; }; \
		rm -f "$$log"; }

test: lint tools
	$(BIN)/python -m pytest

# Re-record tests/histories/ from real runs on the dev server (after an intended change).
histories: $(STAMP)
	$(BIN)/python -m tests.histories.record

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .devstack
