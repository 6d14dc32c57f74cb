# The only front door, for people and CI. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGE_FILES := constraints.txt $(wildcard libs/*/pyproject.toml services/*/pyproject.toml services/channels/adapters/*/pyproject.toml)
TYPED_PACKAGES := $(notdir $(wildcard libs/*/src/inbox_* services/*/src/inbox_* services/channels/adapters/*/src/inbox_*))
PROTO_FILES := $(shell find proto -name '*.proto')

.PHONY: help setup proto run system-packages ferretdb test chaos cluster-test lint fmt check bench compose-config clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): $(PACKAGE_FILES) $(PROTO_FILES) infra/scripts/bootstrap.py libs/contracts/generate.py
	$(PYTHON) infra/scripts/bootstrap.py
	touch $(STAMP)

setup: $(STAMP) ## install what is missing: .venv, pinned packages, generated contracts

proto: $(STAMP) ## regenerate libs/contracts/src and the API reference (docs/api/) from proto/
	$(PY) libs/contracts/generate.py
	$(PY) libs/contracts/reference.py

run: setup ## start nats-server, Apertium and every service on SQLite; Ctrl-C stops them
	$(PYTHON) infra/scripts/system_packages.py run
	$(PY) infra/scripts/run_local.py

system-packages: ## install the Debian packages the tests drive (apertium, chromium, docker-compose)
	$(PYTHON) infra/scripts/system_packages.py test

ferretdb: ## build FerretDB (MongoDB wire protocol, for the MongoDB store tests) into .tools/, if Go >= 1.24 is here
	$(PYTHON) infra/scripts/ferretdb.py

# The MongoDB half of the store suites runs against MONGODB_URI when set, else against FerretDB.
test: setup system-packages ## run the whole suite (unit, integration, end-to-end, browser), on SQLite and MongoDB
	FERRETDB_BIN="$$($(PYTHON) infra/scripts/ferretdb.py)" $(PY) -m pytest

chaos: setup system-packages ## crashes under load: several thousand items from about a thousand customers, kill -9 of every process (make test runs a short version)
	CHAOS_SCALE=full $(PY) -m pytest tests/e2e/test_crashes_under_load.py -s

cluster-test: setup system-packages ## the suite on six hosts (network namespaces; needs root): NATS cluster, FerretDB, two replicas each, a NATS node and a service host killed under load (make test runs a short version)
	FERRETDB_BIN="$$($(PYTHON) infra/scripts/ferretdb.py)" CLUSTER_SCALE=full $(PY) -m pytest tests/e2e/test_cluster_on_hosts.py -s

lint: setup ## ruff (format + lint) and mypy --strict
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(PY) -m mypy $(addprefix -p ,$(TYPED_PACKAGES))

fmt: setup ## format and autofix
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

check: lint test ## what CI runs

bench: setup ## benchmarks (not tests): routing, translation, inbox queries on a million messages (SQLite) and side by side with MongoDB
	$(PYTHON) infra/scripts/system_packages.py run
	$(PY) bench/routing_decisions.py
	$(PY) bench/translation.py
	$(PY) bench/language_detection.py
	FERRETDB_BIN="$$($(PYTHON) infra/scripts/ferretdb.py)" $(PY) bench/threading_store.py
	$(PY) bench/inbox_web_live.py
	$(PY) bench/inbox_web_pages.py
	$(PY) bench/event_hop.py
	$(PY) bench/pipeline.py
	$(PY) bench/scaling.py

compose-config: ## validate docker-compose.yml and the cluster profile (needs Debian's docker-compose)
	docker-compose -f docker-compose.yml config --quiet
	docker-compose -f docker-compose.cluster.yml config --quiet

clean: ## remove the venv, generated code, local data and caches
	rm -rf $(VENV) libs/contracts/src/inbox var .pytest_cache .mypy_cache .ruff_cache
