# Two commands: `make run` (set up and serve on http://127.0.0.1:8080) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-clock-shift lint typecheck docs bench clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e clients/python
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ct db upgrade
	$(BIN)/ct demo
	$(BIN)/ct serve --host 127.0.0.1 --port 8080

lint: $(STAMP)
	$(BIN)/ruff check src tests bench clients
	$(BIN)/ruff format --check src tests bench clients

# The committed OpenAPI document against Spectral's OpenAPI rules (.spectral.yaml).
.PHONY: lint-openapi
lint-openapi:
	scripts/lint-openapi

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy clients/python/src --strict

# The suite at today's date and, with every clock a year ahead on the eve of both London DST
# changes, again: SQLite variants today, PostgreSQL variants shifted (docs/testing.md).
test: lint typecheck browser
	$(BIN)/python -m tests.clock_shift --with-today -n 4 --dist loadfile -q

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
.PHONY: browser
browser:
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

# Only the shifted runs of `make test`.
test-clock-shift: $(STAMP)
	$(BIN)/python -m tests.clock_shift -n 4 --dist loadfile -q

docs: $(STAMP)
	$(BIN)/ct docs

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .ct .pytest_cache .mypy_cache .ruff_cache

# A PNG of each dashboard under docs/screenshots/: a real `ct serve` on a fresh SQLite store,
# `ct demo --days 30` through the signed API, Debian's Chromium driven by Playwright.
.PHONY: screenshots
screenshots: $(STAMP)
	$(BIN)/python -m tests.web.screenshots --out docs/screenshots --days 30
