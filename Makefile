# sipoauth — the two-command contract: `make run`, `make test` (and `make check`).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SIPOAUTH_HOME ?= ./var

.PHONY: run demo test check lint typecheck lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

## run: install, initialise the data directory (first time) and start a node on SQLite
run: $(STAMP)
	$(BIN)/sipoauth --data-dir $(SIPOAUTH_HOME) serve

## demo: the whole flow on this machine: a node, an edge, three devices (70-100 s)
demo: $(STAMP)
	$(BIN)/sipoauth demo

## test: install what the tests need and run the whole suite
test: $(STAMP)
	$(BIN)/python -m pytest -W error -q

## check: ruff (lint + format), mypy --strict on src/, then the tests
check: lint typecheck test

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/sipoauth

## lock: re-pin requirements.lock from pyproject.toml (no index URLs are written)
lock: $(BIN)/python
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra test -o requirements.lock \
	  --no-header --no-annotate --python-version 3.11

bench: $(STAMP)
	$(BIN)/python bench/register.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
