# The two set-up commands of the README: `make run` (the main job) and `make test` (the suite).
# Each installs everything it needs from the package registries, pinned, on a fresh machine.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
# `npm install`, not `npm ci`: npm records only this platform's optional Anvil binary package in
# package-lock.json, and `npm ci` then refuses the lock as out of sync. The versions are exact in
# package.json and integrity-checked against the lock either way; the lock is left unchanged.
NPM_INSTALL = npm install --no-audit --no-fund
SLITHER_ARGS = contracts/ --solc-standard-json --solc scripts/solc-npm --fail-medium \
	--exclude-dependencies --filter-paths node_modules

.PHONY: install install-test run test lint slither

install:
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	$(NPM_INSTALL)

install-test:
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test,dev]'
	$(NPM_INSTALL)

run: install
	colearn-chain run $(ARGS)

slither:
	slither $(SLITHER_ARGS)

lint:
	$(PYTHON) -m ruff check colearn_chain learners tests benchmarks
	$(PYTHON) -m mypy colearn_chain learners
	$(PYTHON) -m mypy --explicit-package-bases tests benchmarks

test: install-test slither lint
	$(PYTHON) -m pytest -n 2 --dist loadgroup -p no:cacheprovider
