# vlmdata: `make demo` installs everything and runs the embedded demo; `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
OUT ?= out

.PHONY: setup demo test test-fast lint pack interleaved bench clean

setup: $(VENV)/.installed

# torch first: pinned to the CPU build this machine keeps on disk, so nothing pulls a CUDA build
# of several GB; elsewhere the same line installs it from PyPI.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev,train]"
	touch $@

demo: setup
	$(BIN)/vlmdata demo --out demo-out

test: setup
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# one target per job: make pack CONFIG=configs/pack.yaml ARGS="input=... kind=pair"
pack: setup
	$(BIN)/vlmdata run pack --config $(or $(CONFIG),configs/pack.yaml) $(ARGS)

interleaved: setup
	$(BIN)/vlmdata run interleaved --config $(or $(CONFIG),configs/interleaved.yaml) $(ARGS)

bench: setup
	$(PY) benchmarks/bench_shards.py
	$(PY) benchmarks/bench_extraction.py

clean:
	rm -rf demo-out out .pytest_cache
