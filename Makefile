# One entry point for people, CI (.ci/run) and the Jenkinsfile alike.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help install install-test chromium run test test-unit test-integration lint fmt clean

help:
	@echo "make run      install everything and start the embedded app (prints the URL)"
	@echo "make test     install the test dependencies and run the default test suite"
	@echo "make lint     ruff"

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

install: $(VENV)/.installed web/node_modules/.package-lock.json

install-test: $(VENV)/.installed-test web/node_modules/.package-lock.json chromium

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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
