# Two commands on a fresh machine with Python 3.11+ and make:
#   make demo   run Andon on the embedded SQLite default (./andon.db), demo plants live
#   make test   lint, type-check and run the whole test suite
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
ANDON := $(VENV)/bin/andon

.PHONY: setup services demo up test lint typecheck unit bench clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --quiet
	touch $@

setup: $(VENV)/.synced

# The brokers the integration tests start on loopback (MQTT, NATS JetStream).
services:
	scripts/services.sh

demo: setup
	$(ANDON) up --demo

up: setup
	$(ANDON) up

lint: setup
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(VENV)/bin/pytest -q

test: lint typecheck services unit

# Process mining: pm4py (AGPL, the `pm` dependency group, ~400 MB, never shipped) reads our
# OCEL/XES exports back. Kept out of `make test`; CI runs it after.
.PHONY: test-pm
test-pm: setup
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --quiet --group pm
	$(VENV)/bin/pytest -q -m pm tests/pm

bench: setup
	$(ANDON) bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
