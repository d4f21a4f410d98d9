# durable-finetune: the two commands are `make run` and `make test`; both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30

CHROMIUM_BIN ?= /usr/bin/chromium
export CHROMIUM_BIN
# Test processes (pytest-xdist). Most of a test's time is spent waiting on Azurite, the emulator and
# devhost, so three workers keep two cores busy; `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 3

.PHONY: setup browser run serve test fuzz lint format bench figures screenshots clean

# What `make run` needs: the app's virtualenv and Azurite. `make test` adds checkov (infra scan).
setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# checkov pins versions that clash with the app's dependencies, so it gets a venv of its own.
$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Headless Chromium for the dashboard's browser tests and screenshots: Debian's package (Playwright
# drives it; it never downloads a browser). Installed when missing if this is root with apt-get, as on
# CI and the dev machines, then started once (scripts/browser.py). Where it cannot be, the browser tests
# skip and say why; with BROWSER_REQUIRED=1 (.ci/run sets it) this target and those tests fail instead.
browser: $(VENV)/.installed
	@if [ -x "$(CHROMIUM_BIN)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium for the dashboard's browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "could not install chromium"; \
	else echo "chromium is missing and this is not root with apt-get"; fi
	@$(PY) -m scripts.browser

# Options go through ARGS, e.g. make run ARGS="--iterations 1 --set val_limit=4" (see --help); extra
# emulator flags through EMULATOR_ARGS, e.g. make run EMULATOR_ARGS="--behaviour my_agents_offline.shop"
# (make exports a variable set on its command line to the recipe, where scripts/local_env.py reads it).
run: setup
	$(PY) -m scripts.local_run $(ARGS)

serve: setup
	$(PY) -m scripts.local_serve $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup browser $(CHECKOV_VENV)/.installed lint
	CHECKOV_BIN=$(CURDIR)/$(CHECKOV_VENV)/bin/checkov $(PY) -m pytest -n $(PYTEST_WORKERS)

# The property tests alone, with fresh random examples (CI draws fixed ones; tests/conftest.py says why).
fuzz: setup
	HYPOTHESIS_PROFILE=explore $(PY) -m pytest -n $(PYTEST_WORKERS) -m property

bench: setup
	$(PY) -m bench.rollout_stage
	$(PY) -m bench.dashboard

# The README's benchmark tables, rewritten from fresh runs (about 15 minutes; ARGS="--only soak" runs one,
# ARGS=--render only rewrites them from the results kept in bench/figures/).
figures: setup
	$(PY) -m scripts.figures $(ARGS)

# Every dashboard page at a desktop and a phone width, from runs made for it: out/screenshots/*.png.
screenshots: setup browser
	$(PY) -m scripts.dashboard_screenshots

# Everything make, the tools and the tests create (tests/infra/test_packaging.py runs this in a scratch
# tree). Kept: .azure (azd's environments) and local.settings.json, which hold the developer's settings.
clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .azurite .emulator out .python_packages .pytest_cache .ruff_cache .mypy_cache .hypothesis *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
