# Stimme: `make run` serves a demo on http://127.0.0.1:5000, `make test` answers in minutes,
# `make test-all` runs every test (as CI does).
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app portal
PYTHON ?= python3
TEST_POSTGRES_URL ?= postgresql://127.0.0.1:5432/test
# pytest-xdist workers: one per core; browser and server-process tests keep one worker each
# (tests/conftest.py), so their module fixtures start once.
TEST_WORKERS ?= auto
XDIST := -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder
# What `make test` leaves to `make test-long`: browser tests, tests that start servers and
# long runs in the test process (docs/decisions/0018-make-test-answers-in-minutes.md).
LONG := browser or slow or long

TRANSLATIONS := portal/translations
# The tests' OpenID provider (tests/oidc): the npm package oidc-provider, from the registry.
IDENTITY_PROVIDER := tests/oidc/node_modules/.package-lock.json

.PHONY: translations install run test test-all test-long test-sqlite test-postgres lint format bench bench-scale bench-load bench-faults fuzz-api clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(IDENTITY_PROVIDER): tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
	touch $@

run: install
	@sh scripts/run-dev.sh

test: install lint test-sqlite test-postgres

# Everything: what `.ci/run` runs besides fuzzing the API.
test-all: test test-long

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test-sqlite: install $(IDENTITY_PROVIDER)
	$(PY) -m pytest $(XDIST) -m "not ($(LONG))"

# The same tests again on PostgreSQL, but for those that use no database of the pass
# (marked one_pass; they would repeat exactly).
test-postgres: install $(IDENTITY_PROVIDER)
	$(call on_postgres,-m "not ($(LONG)) and not one_pass")

# The rest of the suite, on SQLite with the hostile corpora in full (every string in every
# place, not every 16th: docs/decisions/0007-hostile-corpora-everywhere.md), then on
# PostgreSQL without the browser tests (docs/decisions/0001-browser-tests-run-once.md).
test-long: install $(IDENTITY_PROVIDER)
	HOSTILE_STRIDE=1 $(PY) -m pytest $(XDIST) -m "$(LONG)"
	$(call on_postgres,-m "(slow or long) and not one_pass")

# pytest with $(1) on PostgreSQL; skipped with a notice when no server answers, except in
# CI, where the machine always has one.
define on_postgres
	@if $(PY) scripts/wait_for_postgres.py "$(TEST_POSTGRES_URL)"; then \
		TEST_DATABASE_URL="$(TEST_POSTGRES_URL)" $(PY) -m pytest $(XDIST) $(1); \
	elif [ -n "$$CI" ]; then \
		echo "PostgreSQL at $(TEST_POSTGRES_URL) is required in CI"; exit 1; \
	else \
		echo "PostgreSQL at $(TEST_POSTGRES_URL) is not reachable: skipping the PostgreSQL pass"; \
	fi
endef

# After changing texts: collect them, merge them into each catalogue, and compile. The
# compiled .mo files are committed; tests/test_i18n.py checks they are current.
translations: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k lazy_gettext -k _l -k N_ --no-location --sort-output \
		-o $(TRANSLATIONS)/messages.pot .
	$(VENV)/bin/pybabel update --no-fuzzy-matching -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS)
	$(VENV)/bin/pybabel compile --statistics -d $(TRANSLATIONS)

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/run.py

# Every figure of `bench` and bench/search.py at 100,000 and at 1,000,000 ideas, with how
# each grows (bench/README.md, "Ten times the size"). By hand only, never in CI: it takes
# about 70 minutes, 6 GB of disk and 4 GB of memory.
bench-scale: install
	$(PY) bench/scale.py

# Issue 7's load and fault runs at full size (bench/README.md); each prints PASS or FAIL.
bench-load: install
	$(PY) bench/load.py

bench-faults: install
	$(PY) bench/faults.py

# Schemathesis against the served OpenAPI description (README, "JSON API"); run by .ci/run.
fuzz-api: install
	sh scripts/api-fuzz.sh

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache tests/oidc/node_modules
