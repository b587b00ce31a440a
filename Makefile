# Two commands matter: `make demo` and `make test`. Everything else is a step they use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install compile test demo bench chaos lint clean

$(BIN)/jira-pipeline: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	JIRA_PIPELINE_PURE_PYTHON=1 $(BIN)/pip install --quiet -e '.[dev]'  # compiled in place by `compile`
	touch $@

install: $(BIN)/jira-pipeline

# The rebuild's hot modules compiled by Cython, in place; only what changed (setup.py).
compile: install
	$(BIN)/python setup.py --quiet build_ext --inplace --parallel $$(nproc)

test: compile
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .

demo: compile
	$(BIN)/jira-pipeline demo

bench: compile
	$(BIN)/python -m benchmarks

chaos: compile
	$(BIN)/pytest -q -m chaos jira_pipeline_tests --run-chaos

clean:
	rm -rf $(VENV) data .pytest_cache build
	find jira_pipeline \( -name '*.so' -o -name '*.c' \) -delete
	find .dagster_home -mindepth 1 -maxdepth 1 ! -name dagster.yaml -exec rm -rf {} +
