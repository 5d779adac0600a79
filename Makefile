# The two set-up commands of the README: `make run` (the main job) and `make test` (the suite).
# Each installs everything it needs from the package registries, pinned, on a fresh machine.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
SLITHER_ARGS = contracts/ --solc-standard-json --solc scripts/solc-npm --fail-medium \
	--exclude-dependencies --filter-paths node_modules

.PHONY: install install-test run test lint slither

install:
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	npm ci --no-audit --no-fund

install-test:
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test,dev]'
	npm ci --no-audit --no-fund

run: install
	colearn-chain run $(ARGS)

slither:
	slither $(SLITHER_ARGS)

lint:
	$(PYTHON) -m ruff check colearn_chain learners tests benchmarks
	$(PYTHON) -m mypy colearn_chain learners

test: install-test slither lint
	$(PYTHON) -m pytest -n 2 --dist loadgroup -p no:cacheprovider
