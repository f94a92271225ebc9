# Two entry points: `make demo` (the whole loop in a throwaway copy) and `make test`.
# Both create .venv when it is missing and install what they need into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck pytest bench clean requirements

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/python -m release.demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# Two workers (pytest-xdist), a module per worker at a time so module fixtures run once;
# one BLAS/OpenMP thread each: on 2 shared cores threads only fight. The 30 slowest tests
# are listed at the end (--durations=30 in pyproject.toml). PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2
pytest: $(VENV)/.installed-dev
	PATH="$(abspath $(BIN)):$$PATH" OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} \
		$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope

test: lint typecheck pytest

bench: $(VENV)/.installed-dev
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/pipeline.py

# The hash-locked file CI installs from (pip-tools' pip-compile; run after editing
# pyproject.toml; tests/test_workflows_lock.py fails while it is stale).
requirements: $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps --extra dev \
		--strip-extras --no-emit-index-url --no-emit-find-links \
		-o .github/requirements-ci.txt pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
