# Vigie: the two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
LINT_STAMP := $(VENV)/.lint-installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test install bench clean lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

$(LINT_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,lint]'
	rm -f $(VENV)/.lint-installed-*
	touch $(LINT_STAMP)

## Start Vigie on its bundled demo configuration (demo targets served on 127.0.0.1).
run: install
	$(BIN)/vigie demo

## Install the test extras and run the whole suite.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Install the lint extras and run ruff on the tree and mypy on monitor/ (settings in
## pyproject.toml).
lint: $(LINT_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## Install the benchmark extras (py-spy) and run every benchmark (about 35 minutes).
bench: install
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) data .pytest_cache
