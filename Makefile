# Two entry points for a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: demo test lint types pytest bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/recloop run experiments/configs/degenerate_loop.toml --out results/degenerate_loop --executor processes --workers $(JOBS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check simulator policies experiments tests benchmarks
	$(BIN)/ruff format --check simulator policies experiments tests benchmarks

types: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

test: lint types pytest

bench: $(VENV)/.installed
	OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/run.py

# The documentation site, built offline into site/ in strict mode (a broken link fails it).
$(VENV)/.installed-docs: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $(VENV)/.installed $@

docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build *.egg-info
