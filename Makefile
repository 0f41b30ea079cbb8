# One virtual environment in .venv, (re)built whenever pyproject.toml changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test check unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: install everything and start the whole system on the embedded stack
run: install
	$(BIN)/sportcast up

## check: lint, format, types, layer contracts
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## test: install everything, run the quality gates and the full test suite
test: check
	$(BIN)/pytest

unit: install
	$(BIN)/pytest -m unit

## bench: run every benchmark; writes benchmarks/results/latest.json and a summary
bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
