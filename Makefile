# One entry point for people, CI (.ci/run) and the Jenkinsfile alike.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help install install-test chromium observability-tools run test test-unit test-integration lint fmt clean

help:
	@echo "make run      install everything and start the embedded app (prints the URL)"
	@echo "make test     install the test dependencies and run the default test suite"
	@echo "make lint     ruff"
	@echo "make dashboards  regenerate the Grafana JSON from observability/grafana/dashboards.py"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall only when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

# The page's front-end packages (socket.io-client) from npm, exactly as web/package-lock.json pins them.
# The edge serves them from web/node_modules: never a CDN, never copied into the repo.
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

# Debian's Chromium for the e2e tests (never `playwright install`: it downloads a browser of its own).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# Debian's servers and validators for the observability tests (docs/OBSERVABILITY.md): promtool/prometheus,
# victoria-metrics (accepts InfluxDB v2 writes), nagios4 (`nagios4 -v`) and monitoring-plugins.
OBSERVABILITY_BINS := /usr/bin/promtool /usr/bin/prometheus /usr/bin/victoria-metrics /usr/sbin/nagios4 /usr/lib/nagios/plugins/check_tcp
observability-tools:
	@for f in $(OBSERVABILITY_BINS); do test -x $$f || missing=1; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus victoria-metrics nagios4-core monitoring-plugins; fi

install: $(VENV)/.installed web/node_modules/.package-lock.json

install-test: $(VENV)/.installed-test web/node_modules/.package-lock.json chromium observability-tools

run: install
	$(BIN)/inkbus run

test: install-test
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-unit: install-test
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: install-test
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

dashboards: install
	$(BIN)/python -m observability.grafana.dashboards

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
