# wamd — every target sets up what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := tests/interop/node_modules/.installed

.PHONY: install test lint typecheck unit proto bench demo clean

install: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(NODE_STAMP): tests/interop/package.json tests/interop/package-lock.json
	cd tests/interop && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest

test: lint typecheck unit

# Regenerate src/wamd/_proto from proto/ (checked in; never edited by hand).
proto: install
	rm -f src/wamd/_proto/*_pb2.py src/wamd/_proto/*_pb2.pyi
	$(PY) -m grpc_tools.protoc -Iproto --python_out=src/wamd/_proto --mypy_out=src/wamd/_proto proto/*.proto
	$(PY) tools/fix_proto_imports.py src/wamd/_proto

bench: install
	$(PY) benchmarks/run_all.py

demo: install
	$(PY) -m wamd.cli demo

clean:
	rm -rf $(VENV) tests/interop/node_modules .mypy_cache .ruff_cache .pytest_cache
