# The two commands README.md promises. Each installs whatever is missing first (idempotent).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test setup lint bench

demo:
	WITH_BROWSER=0 bash scripts/setup.sh
	bash scripts/demo.sh

test:
	WITH_BROWSER=1 bash scripts/setup.sh
	$(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check .

# Benchmarks are separate from the test suite; each prints a table and writes bench/results/*.json.
bench:
	WITH_BROWSER=0 bash scripts/setup.sh
	$(PY) bench/ingest.py $(BENCH_ARGS)
	$(PY) bench/retention.py
