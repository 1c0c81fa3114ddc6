# The two commands README.md promises. Each installs whatever is missing first (idempotent).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test setup lint bench

demo:
	WITH_BROWSER=0 bash scripts/setup.sh
	bash scripts/demo.sh

# The tests start with the lint: a build whose shape is wrong (README, Layout: the floors) is not green.
test:
	WITH_BROWSER=1 bash scripts/setup.sh
	$(MAKE) lint
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff's rules and its formatting, then import-linter's contracts in pyproject.toml (the floors).
lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# Benchmarks are separate from the test suite; each prints a table and writes bench/results/*.json.
# `make bench BENCH_QUICK=1`: small counts.
# Each bench takes the local keys, hosts and plain-HTTP defaults from scripts/local_env.sh (bench/_support.py).
bench:
	WITH_BROWSER=0 bash scripts/setup.sh
	$(PY) bench/ingest.py $(BENCH_ARGS) $(if $(BENCH_QUICK),--quick)
	$(PY) bench/retention.py $(if $(BENCH_QUICK),--rows 100000)
	$(PY) bench/hotspots.py $(if $(BENCH_QUICK),--sizes 100000)
	$(PY) bench/tiles.py $(if $(BENCH_QUICK),--rows 100000)
	$(PY) bench/workers.py $(if $(BENCH_QUICK),--quick)
	$(PY) bench/fanout.py $(if $(BENCH_QUICK),--quick)
	$(PY) bench/cameras.py $(if $(BENCH_QUICK),--quick)
	$(PY) bench/bulk_import.py $(if $(BENCH_QUICK),--rows 5000)
	$(PY) bench/profile_ingest.py
