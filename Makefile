# Two commands matter: `make demo` and `make test`. Everything else is a step they use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install test demo bench chaos lint clean

$(BIN)/jira-pipeline: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/jira-pipeline

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .

demo: install
	$(BIN)/jira-pipeline demo

bench: install
	$(BIN)/python -m benchmarks

chaos: install
	$(BIN)/pytest -q -m chaos jira_pipeline_tests --run-chaos

clean:
	rm -rf $(VENV) data .pytest_cache
	find .dagster_home -mindepth 1 -maxdepth 1 ! -name dagster.yaml -exec rm -rf {} +
