# Two entry points: `make run` (the main job) and `make test` (every check CI runs).
# Both build .venv from pyproject.toml on first use; nothing else needs installing by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint venv clean histories

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

test: lint
	$(BIN)/python -m pytest

# Re-record tests/histories/ from real runs on the dev server (after an intended change).
histories: $(STAMP)
	$(BIN)/python -m tests.histories.record

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .devstack
