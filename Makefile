# Stackwright — `make up` runs the platform on the bundled example; `make test` runs every test.
# Both install what is missing first (Debian packages, the venv), so they work on a fresh machine.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SW := $(VENV)/bin/stackwright
PYTHON ?= python3
EXAMPLE ?= examples/quickstart
PYTEST_ARGS ?=
# Debian packages the platform and its tests use (installed only when missing).
APT_PACKAGES ?= podman runc haproxy postgresql redis-server restic busybox-static debootstrap \
	prometheus prometheus-alertmanager wrk util-linux \
	prometheus-node-exporter chromium git

# Peers the benchmarks compare with, installed by `make bench-peers` (not needed by the tests):
# OPA's Go engine as a wheel (ctypes over a c-shared library; it declares Python >= 3.14 but
# needs none of it).
BENCH_PEERS ?= opa-golib-python-bindings==0.4.4

.PHONY: setup up down test test-quick bench bench-peers lint clean-venv

setup: .make/apt .make/venv .make/bytecode

.make/apt: Makefile
	@mkdir -p .make
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

.make/venv: pyproject.toml constraints.txt
	@mkdir -p .make
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

# Compiled bytecode for the package, as an install writes it: every CLI process would
# otherwise compile the sources it imports again (PYTHONDONTWRITEBYTECODE=1 on some hosts).
.make/bytecode: .make/venv $(shell find src -name '*.py')
	@$(PY) -m compileall -q src >/dev/null
	@touch $@

up: setup
	@$(SW) -C $(EXAMPLE) up
	@echo
	@echo "The platform daemon runs and the example is applied. Look at:"
	@echo "  curl http://127.0.0.1:8780/                    (the web app through HAProxy: a visit counter in Redis)"
	@echo "  curl -X POST 'http://127.0.0.1:8780/guestbook?name=you'; curl http://127.0.0.1:8780/guestbook   (rows in PostgreSQL)"
	@echo "  curl http://127.0.0.1:8780/metrics  /  http://127.0.0.1:8781/metrics   (the app's and HAProxy's Prometheus metrics)"
	@echo "  $(SW) -C $(EXAMPLE) status            (the daemon, its API address, every resource with its health)"
	@echo "  $(SW) -C $(EXAMPLE) logs web --since 10m   /  slo status  /  alerts   (collected logs, SLOs, alert history)"
	@echo "  the console: <api>/console/ (the api address is in status; create a login with: $(SW) -C $(EXAMPLE) user add NAME --role admin)"
	@echo "  Prometheus and Alertmanager: the component addresses in status"
	@echo "  $(SW) -C $(EXAMPLE) output"
	@echo "  $(SW) -C $(EXAMPLE) graph --format mermaid"
	@echo "  $(SW) -C $(EXAMPLE) state history"
	@echo "  files written under $(EXAMPLE)/out/, the job's log in $(EXAMPLE)/.stackwright/jobs/dev/greet.log"
	@echo "  podman ps -a / podman images / podman network ls   (objects labelled dev.stackwright.*)"

down: setup
	@$(SW) -C $(EXAMPLE) down

# --dist loadfile: the tests of one file run in order on one worker (some walk one project
# through deploy, scale, update and destroy on module-scoped fixtures).
test: setup
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-quick: .make/venv .make/bytecode
	$(PY) -m pytest -m "not slow" -n 2 --dist loadfile $(PYTEST_ARGS)

bench-peers: .make/venv
	@$(PY) -m pip install -q --no-deps --ignore-requires-python $(BENCH_PEERS)

bench: setup bench-peers
	$(PY) benchmarks/engine_vs_terraform.py
	$(PY) benchmarks/deploy.py
	$(PY) benchmarks/secrets_api.py
	$(PY) benchmarks/canary.py
	$(PY) benchmarks/logs.py
	$(PY) benchmarks/policy.py
	$(PY) benchmarks/backup.py
	$(PY) benchmarks/cli_start.py
	$(PY) benchmarks/api.py
	$(PY) benchmarks/pipelines.py

lint: .make/venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean-venv:
	rm -rf $(VENV) .make

# Checkov, which `stackwright scan` runs on Terraform/Kubernetes files, in its own venv: its
# pins conflict with Stackwright's. Optional: when it cannot install, scan says it did not run.
CHECKOV_VENV ?= .venv-checkov
setup: .make/checkov
.make/checkov: constraints-checkov.txt
	@mkdir -p .make
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@if $(CHECKOV_VENV)/bin/python -m pip install -q -c constraints-checkov.txt checkov >/dev/null; \
	then touch $@; else echo "checkov did not install: stackwright scan runs without it"; fi
