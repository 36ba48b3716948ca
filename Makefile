# Two commands on a fresh machine: `make run` and `make test`. Each (re)builds .venv when it is
# missing or older than pyproject.toml, then runs.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS ?= dev,web,otel,bench

.PHONY: run test bench lint typecheck imports docs doctest pytest clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

HOST ?= 127.0.0.1
PORT ?= 8000

# Serves the platform over HTTP on SQLite (./var/aura.db), or on PostgreSQL when
# AURA_DATABASE=postgresql://... (see docs/howto/postgresql.rst).
run: $(STAMP)
	$(BIN)/aura serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/aura check
	$(BIN)/aura docs --check

# The Sphinx site, warnings as errors; then its examples run (sphinx.ext.doctest). -E: the
# reference pages are generated from the code, so a cached environment would hide changes.
docs: $(STAMP)
	$(BIN)/sphinx-build -q -E -W --keep-going -b html docs docs/_build/html

doctest: $(STAMP)
	$(BIN)/sphinx-build -q -E -W --keep-going -b doctest docs docs/_build/doctest

# The suite once, each test directory in a pytest run of its own (a test that passes only
# because another directory imported or set something first fails here), in random order
# (pytest-randomly) on two workers, so tests that share state fail, under coverage (parallel
# mode: each worker writes its own data file, then they are combined) with the floor of
# [tool.coverage.report]. Every directory runs even when one fails; the target fails after.
TEST_DIRS := $(sort $(filter-out tests/__pycache__/,$(wildcard tests/*/)))
# The example applications (examples/*/), each a project with its own pyproject.toml: its own
# suite once per database (EXAMPLE_DATABASE; PostgreSQL on the private cluster of the opt-in
# plugin aura.testing.postgres), then `aura check` on its own module map.
EXAMPLES := $(sort $(wildcard examples/*/))
EXAMPLE_DATABASES ?= sqlite postgresql

pytest: $(STAMP)
	$(BIN)/coverage erase
	@status=0; for dir in $(TEST_DIRS); do \
		echo "pytest $$dir"; \
		$(BIN)/coverage run -m pytest -q -n 2 -p no:cacheprovider $$dir || status=1; \
	done; \
	for example in $(EXAMPLES); do \
		for database in $(EXAMPLE_DATABASES); do \
			echo "pytest $$example on $$database (its own project)"; \
			(cd $$example && EXAMPLE_DATABASE=$$database \
				$(CURDIR)/$(BIN)/pytest -q -p no:cacheprovider) || status=1; \
		done; \
		(cd $$example && $(CURDIR)/$(BIN)/aura check) || status=1; \
	done; exit $$status
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

test: lint typecheck imports docs doctest pytest

# Benchmarks against the peer libraries (the bench extra, installed with the others so that the
# smoke test can run them); prints a table, writes benchmarks/results/latest.json.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .coverage .mypy_cache .pytest_cache .ruff_cache docs/_build
