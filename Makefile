# Two commands on a fresh machine: `make run` and `make test`. Each (re)builds .venv when it is
# missing or older than pyproject.toml, then runs.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS ?= dev,web

.PHONY: run test bench lint typecheck imports pytest isolation clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/aura demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

# The suite again on two workers, in another random order: tests must share no state.
isolation: $(STAMP)
	$(BIN)/pytest -q -n 2 -p no:cacheprovider

test: lint typecheck imports pytest isolation

# Benchmarks against the peer libraries (the bench extra); prints a table, writes results/latest.json.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS),bench]'
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .coverage .mypy_cache .pytest_cache .ruff_cache
