# Every target builds its own virtual environment first, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint check bench profile clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## run: start the bot (the local console when no Slack credentials are set)
run: $(VENV)/.installed
	$(BIN)/runbook-bot serve

## test: run the whole test suite
test: $(VENV)/.installed
	$(BIN)/pytest

## lint: ruff and mypy
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

## bench: every benchmark (ratios against baselines measured in the same run); writes docs/performance.md
bench: $(VENV)/.installed
	$(BIN)/python bench/run_all.py

## profile: py-spy on the bot's event loop while it acknowledges clicks (installs py-spy)
profile: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,profile]'
	$(BIN)/python bench/profile_clicks.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
