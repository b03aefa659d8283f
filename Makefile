# Two entry points for a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint typecheck browser-deps unit bench clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "WazyBot needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/wazybot serve

test: lint typecheck browser-deps
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(INSTALLED)
	$(BIN)/mypy src bench scripts

# The browser tests drive Debian's Chromium (Playwright's own browser download is not used).
# WAZYBOT_CHROMIUM names another Chromium binary; without either, root installs the package.
CHROMIUM_MISSING := no Chromium for the browser tests: install the chromium package (apt-get install -y chromium, as root) or set WAZYBOT_CHROMIUM to a Chromium binary
browser-deps: $(INSTALLED)
	@if [ -n "$$WAZYBOT_CHROMIUM" ]; then \
		[ -x "$$WAZYBOT_CHROMIUM" ] || { echo "WAZYBOT_CHROMIUM=$$WAZYBOT_CHROMIUM is not executable; $(CHROMIUM_MISSING)" >&2; exit 1; }; \
	elif ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium package for the browser tests"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
			|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			|| { echo "$(CHROMIUM_MISSING)" >&2; exit 1; }; \
		else \
			echo "$(CHROMIUM_MISSING)" >&2; exit 1; \
		fi; \
	fi

bench: $(INSTALLED)
	$(BIN)/python bench/append.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/rebuild.py
	$(BIN)/python bench/outbound.py
	$(BIN)/python bench/reply_latency.py
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
