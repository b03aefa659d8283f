# Two entry points for a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "WazyBot needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/wazybot serve

test: lint typecheck
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(INSTALLED)
	$(BIN)/mypy src bench scripts

bench: $(INSTALLED)
	$(BIN)/python bench/append.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/rebuild.py
	$(BIN)/python bench/outbound.py
	$(BIN)/python bench/reply_latency.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
