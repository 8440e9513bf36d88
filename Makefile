# The two commands a fresh machine needs are `make run` and `make test`; the rest are their building blocks.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
CLUSTER := $(PY) -m scripts.localcluster

.PHONY: run test venv venv-dev services migrate admin tools cluster-up cluster-down cluster-status images lint typecheck bench \
	platform-image platform-up platform-down

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@echo "make: installing the pinned Python dependencies into $(VENV) (a minute or two on a new machine)"
	$(BIN)/pip install --progress-bar off -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.runtime
venv-dev: $(VENV)/.dev

services:
	bash scripts/services.sh

migrate: .env venv services
	$(PY) manage.py migrate --noinput

# Creates the operator account from ADMIN_EMAIL / ADMIN_PASSWORD when both are set (idempotent).
admin: migrate
	$(PY) manage.py ensure_admin

.env:
	cp .env.example .env
	@echo "Created .env from .env.example (DJANGO_DEBUG=true, local defaults)."

## Set everything up and run web (127.0.0.1:8000), Celery worker and beat in the foreground; Ctrl-C stops all.
run: .env venv services tools admin
	bash scripts/run.sh

## Run the whole test suite: lint (ruff check + format --check on the whole tree), types (mypy on the services,
## selectors, runner and parsers: the files listed in pyproject.toml), then pytest (starts PostgreSQL, Redis and
## the local cluster as needed).
test: lint typecheck services tools
	bash scripts/ensure_browser.sh
	$(BIN)/pytest

# django-stubs loads the settings: development defaults (no production secrets needed to type-check).
typecheck: venv-dev
	DJANGO_DEBUG=true DJANGO_ENV_FILE=/nonexistent $(BIN)/mypy

tools: venv
	$(CLUSTER) tools

cluster-up: tools
	$(CLUSTER) up

cluster-down: venv
	$(CLUSTER) down

cluster-status: venv
	$(CLUSTER) status

images: tools
	$(CLUSTER) images

## The platform itself on the local cluster (charts/storeplane, values-local.yaml): its image staged from this
## checkout, built and imported, then the release `storeplane` in namespace `storeplane` (bundled PostgreSQL and
## Redis, two workers). `platform-down` uninstalls it and deletes the namespace.
platform-image: tools
	$(PY) -m scripts.localcluster.platformctl image

platform-up: tools
	$(PY) -m scripts.localcluster.platformctl up

platform-down: venv
	$(PY) -m scripts.localcluster.platformctl down

lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## The API benchmark (issue 20, bench/api): the platform's gunicorn against its own seeded database, wrk at 50
## connections, 3 x 20 s per point; prints each endpoint against the original's figures and this run's floor.
## BENCH_QUICK=1 for 1 x 5 s per point. Needs PostgreSQL and Redis (started here); installs Debian's wrk if missing.
bench: venv services
	$(PY) -m bench.api.run
