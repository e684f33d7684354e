# One entry point for people, CI (.ci/run) and the Jenkinsfile alike.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help lock install install-test test-services chromium observability-tools ops-tools image image-train image-push deploy run test test-unit test-tools test-integration lint fmt clean learning-loop

help:
	@echo "make run      install everything and start the embedded app (prints the URL)"
	@echo "make test     install the test dependencies and run the default test suite"
	@echo "make lint     ruff, mypy and the import contracts (.importlinter)"
	@echo "make dashboards  regenerate the Grafana JSON from observability/grafana/dashboards.py"
	@echo "make lock     re-resolve requirements/*.txt (the exact versions) from pyproject.toml's ranges"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall only when the dependency list changes. Versions come from the lock files (requirements/*.txt, made
# by `make lock` from pyproject's ranges); pyproject's extras say which packages each role gets.
$(VENV)/.installed: pyproject.toml requirements/all.txt | $(BIN)/python
	$(BIN)/pip install -q -c requirements/all.txt -e '.[all]'
	@touch $@

$(VENV)/.installed-train: pyproject.toml requirements/train.txt $(VENV)/.installed
	$(BIN)/pip install -q -c requirements/all.txt -e '.[train]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml requirements/test.txt $(VENV)/.installed
	$(BIN)/pip install -q -c requirements/test.txt -e '.[test]'
	@touch $@

# requirements/<role>.txt: the exact versions of one role (pyproject's extra of that name), all resolved
# together (each role's lock is a subset of test.txt, so every role runs the versions the tests ran).
# torch's local label (+cpu) is dropped: the CPU wheel and PyPI's build both satisfy `torch==X`.
# Run after changing a dependency in pyproject.toml; commit the result.
UV_VERSION := 0.13.9
LOCK_ROLES := edge worker feedback bots sink train serve all
# torch's CPU build: from pip's find-links when the machine has one (PIP_FIND_LINKS), else PyTorch's CPU index.
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
LOCK_EXTRA ?= $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS),--extra-index-url $(TORCH_CPU_INDEX) --index-strategy unsafe-best-match)
LOCK_FLAGS := --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock"
lock: | $(BIN)/python
	$(BIN)/pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra test $(LOCK_FLAGS) $(LOCK_EXTRA) -o requirements/test.txt
	for r in $(LOCK_ROLES); do \
	  $(BIN)/uv pip compile pyproject.toml --extra $$r -c requirements/test.txt $(LOCK_FLAGS) $(LOCK_EXTRA) \
	    -o requirements/$$r.txt || exit 1; done
	sed -i 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/' requirements/*.txt

# The page's front-end packages (socket.io-client) from npm, exactly as web/package-lock.json pins them.
# The edge serves them from web/node_modules: never a CDN, never copied into the repo.
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

# Debian's RabbitMQ and PostgreSQL: the integration tests start private ones on free ports (tests/services.py),
# so the packages only have to be installed, not running.
SERVICE_BINS := /usr/lib/rabbitmq/bin/rabbitmq-server
test-services:
	@for f in $(SERVICE_BINS); do test -x $$f || missing=1; done; ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends rabbitmq-server postgresql; fi

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

# Debian's tools for the delivery tests (docs/DEPLOY.md): haproxy runs in front of two edges in
# tests/integration/test_haproxy.py; docker-compose only renders docker-compose.yml (`config`: no engine needed).
# Java runs npm-groovy-lint's CodeNarc (the Jenkinsfile check).
OPS_BINS := /usr/sbin/haproxy /usr/bin/docker-compose /usr/bin/java
ops-tools:
	@for f in $(OPS_BINS); do test -x $$f || missing=1; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends haproxy docker-compose default-jre-headless; fi

# checkov (tests/unit/tests/tools/test_checkov.py) pins libraries such as packaging below what the test extra needs:
# it gets a virtualenv of its own inside $(VENV).
CHECKOV := $(VENV)/checkov/bin/checkov
$(CHECKOV): | $(BIN)/python
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install -q checkov==3.3.30

# npm-groovy-lint lints the Jenkinsfile (tests/unit/tests/tools/test_ci.py); an npm package, kept inside $(VENV).
NPM_GROOVY_LINT := $(VENV)/npm-groovy-lint/node_modules/.bin/npm-groovy-lint
$(NPM_GROOVY_LINT): | $(BIN)/python
	npm install --no-audit --no-fund --prefix $(VENV)/npm-groovy-lint npm-groovy-lint@15.2.2

install: $(VENV)/.installed web/node_modules/.package-lock.json

install-test: $(VENV)/.installed-test web/node_modules/.package-lock.json test-services chromium observability-tools ops-tools $(CHECKOV) $(NPM_GROOVY_LINT)

run: install
	$(BIN)/inkbus run

test: install-test
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

test-unit: install-test
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-tools: install-test
	$(BIN)/pytest -m tools $(PYTEST_ARGS)

test-integration: install-test
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports  # the contracts in .importlinter

fmt: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

dashboards: install
	$(BIN)/python -m observability.grafana.dashboards  # grafanalib: the `dashboards` extra, part of `all`

# Delivery (Jenkinsfile, .gitlab-ci.yml; docs/DEPLOY.md): one image for every role, deployed by kustomize overlay.
IMAGE ?= inkbus
TAG ?= dev
OVERLAY ?= dev
KUBECTL ?= kubectl
NAMESPACE_dev := inkbus-dev
NAMESPACE_prod := inkbus
image:
	docker build -t $(IMAGE):$(TAG) .

# The learning loop's image: the serving image plus ml/training (ops/docker/train.Dockerfile, docs/LEARNING_LOOP.md).
image-train: image
	DOCKER_BUILDKIT=1 docker build -f ops/docker/train.Dockerfile --build-arg BASE=$(IMAGE):$(TAG) -t $(IMAGE)-train:$(TAG) .

image-push: image image-train
	docker push $(IMAGE):$(TAG)
	docker push $(IMAGE)-train:$(TAG)

# The overlay's image is swapped for the one just built; then wait for every role to roll out.
deploy:
	$(KUBECTL) kustomize ops/k8s/overlays/$(OVERLAY) | sed 's#image: registry.example.com/inkbus:.*#image: $(IMAGE):$(TAG)#' | $(KUBECTL) apply -f -
	for d in edge worker feedback bots sink; do \
	  $(KUBECTL) -n $(NAMESPACE_$(OVERLAY)) rollout status deploy/inkbus-$$d --timeout=10m || exit 1; done

# The learning loop once (docs/LEARNING_LOOP.md): snapshot, retrain, promote; the scheduled CI job runs it with
# INKBUS_DATABASE_URL, INKBUS_BROKER_URL, INKBUS_MODEL_REGISTRY and INKBUS_DATA_DIR pointing at the deployment.
# INKBUS_ENV_FILE: a file of those variables (a CI credential), read before the run.
learning-loop: $(VENV)/.installed-train
	set -a; [ -z "$(INKBUS_ENV_FILE)" ] || . "$(INKBUS_ENV_FILE)"; set +a; $(BIN)/inkbus loop --device auto

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
