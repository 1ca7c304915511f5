# Stimme: `make run` serves a demo on http://127.0.0.1:5000, `make test` runs every test.
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app portal
PYTHON ?= python3
TEST_POSTGRES_URL ?= postgresql://127.0.0.1:5432/test
# pytest-xdist workers: one per core; browser and server-process tests keep one worker each
# (tests/conftest.py), so their module fixtures start once.
TEST_WORKERS ?= auto
XDIST := -n $(TEST_WORKERS) --dist loadgroup

TRANSLATIONS := portal/translations

.PHONY: translations install run test test-sqlite test-postgres test-hostile-full lint format bench bench-scale bench-load bench-faults fuzz-api clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: install
	@sh scripts/run-dev.sh

test: install lint test-sqlite test-postgres

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test-sqlite: install
	$(PY) -m pytest $(XDIST)

# The same suite again on PostgreSQL, but for the browser tests and those that use no database
# of the pass (marked one_pass; they would repeat exactly). Skipped with a notice when
# no server answers, except in CI, where the machine always has one.
test-postgres: install
	@if $(PY) scripts/wait_for_postgres.py "$(TEST_POSTGRES_URL)"; then \
		TEST_DATABASE_URL="$(TEST_POSTGRES_URL)" $(PY) -m pytest $(XDIST) -m "not browser and not one_pass"; \
	elif [ -n "$$CI" ]; then \
		echo "PostgreSQL at $(TEST_POSTGRES_URL) is required in CI"; exit 1; \
	else \
		echo "PostgreSQL at $(TEST_POSTGRES_URL) is not reachable: skipping the PostgreSQL pass"; \
	fi

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

# Both hostile corpora through every place that shows one item per request too, not every
# 16th string as in `make test` (docs/decisions/0007-hostile-corpora-everywhere.md); run by .ci/run.
test-hostile-full: install
	HOSTILE_STRIDE=1 $(PY) -m pytest tests/test_hostile_rendering.py

# Schemathesis against the served OpenAPI description (README, "JSON API"); run by .ci/run.
fuzz-api: install
	sh scripts/api-fuzz.sh

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
