# lotproof: `make demo` and `make test` work on a fresh machine (Python 3.11, Node 20, npm).
# Everything is installed pinned: Python packages from requirements.lock into .venv,
# the Solidity compiler, OpenZeppelin and anvil from package-lock.json into node_modules.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYSTAMP   := $(VENV)/.lotproof-installed
NODESTAMP := node_modules/.lotproof-installed
PYTEST_WORKERS ?= 2

.PHONY: setup demo test lint typecheck unit bench bench-trace bench-gas bench-api contracts clean

setup: $(PYSTAMP) $(NODESTAMP)

$(PYSTAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(NODESTAMP): package.json package-lock.json
	# `npm ci` refuses this lock file: it records only the anvil binary package for this
	# platform. `npm install --no-save` installs exactly the locked versions and writes nothing.
	npm install --no-save --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(PY) -m scripts.demo

lint: $(PYSTAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(PYSTAMP)
	$(VENV)/bin/mypy

unit: setup
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) -q

test: setup lint typecheck unit

bench: $(PYSTAMP)
	$(PY) scripts/bench_log.py

bench-trace: $(PYSTAMP)
	$(PY) scripts/bench_trace.py

bench-gas: setup
	$(PY) scripts/bench_gas.py

bench-api: setup
	$(PY) scripts/bench_api.py

contracts: setup
	$(PY) -m scripts.compile_contracts

clean:
	rm -rf $(VENV) node_modules demo-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
