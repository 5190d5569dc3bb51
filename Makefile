# PHIP: one target per habit. `make demo` and `make test` install what they need first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_DIR ?= var/demo
DEMO_SCALE ?= 0.00006
DEMO_PORT ?= 8000
# the test suite runs in parallel processes (pytest-xdist), a test module to a process
TEST_WORKERS ?= 2

.PHONY: install demo test test-fast lint bench lock clean

VENDOR := src/phip/web/console/static/vendor
ASSETS := $(VENDOR)/.installed

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# The console's front-end assets, pinned in package-lock.json and served by the platform itself.
$(ASSETS): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	mkdir -p $(VENDOR)/swagger-ui
	cp node_modules/echarts/dist/echarts.min.js node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
		node_modules/swagger-ui-dist/LICENSE node_modules/swagger-ui-dist/NOTICE $(VENDOR)/swagger-ui/
	touch $(ASSETS)

install: $(STAMP) $(ASSETS)

# demo mode: the demo generates its own signing secret, data key and password at its first run.
# `phip demo` runs the pipeline in one process: synth, orgunits load, ingest, empi link-store,
# lake refresh, quality run, indicators compute, accounts demo (each is also a command of its own).
# The demo province's data is the year 2025: its deadlines and relative periods are judged as of
# 20 January 2026 (PHIP_AS_OF), when the last month's batches were due.
demo: export PHIP_DEMO = true
demo: export PHIP_AS_OF ?= 2026-01-20
demo: $(STAMP) $(ASSETS)
	rm -rf var/phip.db var/phip.db-wal var/phip.db-shm var/lake var/audit-checkpoints var/bulk var/empi
	$(VENV)/bin/phip demo --scale $(DEMO_SCALE) --seed 42 --out $(DEMO_DIR)
	$(VENV)/bin/phip serve --host 127.0.0.1 --port $(DEMO_PORT)

test: $(STAMP) $(ASSETS)
	./scripts/ensure-system-deps.sh
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP) $(ASSETS)
	./scripts/ensure-system-deps.sh
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/phip bench idcard
	$(VENV)/bin/phip bench synth

# Re-resolve the pinned versions (run by a developer, committed with the change).
lock:
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock

clean:
	rm -rf $(VENV) var node_modules $(VENDOR) test-artifacts .pytest_cache .mypy_cache .ruff_cache
