# Two commands: `make run` (set up and serve on http://127.0.0.1:8080) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-clock-shift lint typecheck docs bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ct db upgrade
	$(BIN)/ct demo
	$(BIN)/ct serve --host 127.0.0.1 --port 8080

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

# The committed OpenAPI document against Spectral's OpenAPI rules (.spectral.yaml).
.PHONY: lint-openapi
lint-openapi:
	scripts/lint-openapi

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The suite again with every process's clock a year ahead, on the eve of both London DST changes.
test-clock-shift: $(STAMP)
	$(BIN)/python -m tests.clock_shift -n 2 --dist loadfile -q

docs: $(STAMP)
	$(BIN)/ct docs

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .ct .pytest_cache .mypy_cache .ruff_cache
