# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv on first use from the pinned dependencies in pyproject.toml.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/leadrelay demo --database sqlite:///demo.db --fresh

# The import contracts (the layers, in pyproject.toml) first: seconds, and a broken layer fails fast.
# Then ruff, the linter ([tool.ruff]: pyflakes, pycodestyle errors, import order), also in seconds.
# `make test` leaves out the few tests marked slow (each over ten seconds: the API fuzz, many
# worker processes, the Olist example); `make test-slow` runs them, and CI runs both.
test: $(STAMP)
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/ruff check src tests bench examples
	$(BIN)/pytest -n 2 -m "not slow" $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/pytest -n 2 -m slow $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) demo.db demo.db-wal demo.db-shm .pytest_cache
