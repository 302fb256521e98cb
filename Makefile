# `make run` and `make test` work on a fresh clone with nothing but Python 3.11+ and pip.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench install clean

run: $(VENV)/.installed ## Install, migrate and serve on :8000 (embedded PostgreSQL unless DATABASE_URL is set)
	$(PY) -m scripts.serve

test: lint ## Install and run the whole test suite (embedded PostgreSQL unless TEST_DATABASE_URL is set)
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy app bench

bench: $(VENV)/.installed ## Load Pepper and the ceiling app with wrk (ratios, targets), time /events
	$(PY) -m bench.run

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
