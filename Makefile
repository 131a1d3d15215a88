# The two commands a new user needs: `make demo` and `make test`.
# Both create .venv on first use with the exact versions in requirements.lock (pyproject.toml has the ranges;
# `make lock` resolves them again into requirements.lock after a change there).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow bench venv lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e '.[test,postgresql]'
	touch $(STAMP)

# Resolve pyproject.toml's ranges afresh, in a scratch environment, into requirements.lock.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet '.[test,postgresql]'
	{ echo "# Exact versions of every package make installs (leadrelay's own dependencies, the test tools and"; \
	  echo "# PostgreSQL's driver). Written by \`make lock\` from pyproject.toml's ranges: do not edit by hand."; \
	  .lock-venv/bin/pip freeze --exclude leadrelay; } > requirements.lock
	rm -rf .lock-venv

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/leadrelay demo --database sqlite:///demo.db --fresh

# The import contracts (the layers, in pyproject.toml) first: seconds, and a broken layer fails fast.
# Then ruff, the linter ([tool.ruff]: pyflakes, pycodestyle errors, import order), also in seconds, and mypy
# over the whole package ([tool.mypy]).
# `make test` leaves out the few tests marked slow (each over ten seconds: the API fuzz, many
# worker processes, the Olist example); `make test-slow` runs them, and CI runs both.
test: $(STAMP)
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -m "not slow" $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/pytest -n 2 -m slow $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) demo.db demo.db-wal demo.db-shm .pytest_cache
