# reelrank: the two quickstart commands are `make demo` and `make test`.
# Both create ./.venv with Python >= 3.11 and install reelrank into it first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.reelrank-installed
# the demo needs reelrank's own dependencies only (no test, docs, Spark or web-app extras)
DEMO_STAMP := $(VENV)/.reelrank-demo-installed

.PHONY: install demo test test-fast lint format docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

install: $(STAMP)  ## create .venv and install reelrank with all extras

demo: $(DEMO_STAMP)  ## the main job: dataset summary + the full hybrid pipeline on the bundled data
	$(BIN)/reelrank data info
	$(BIN)/reelrank demo

test: $(STAMP)  ## lint + the whole test suite (slow, browser and spark tests included)
	$(BIN)/ruff check src tests benchmarks
	SPARK_LOCAL_IP=127.0.0.1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest

test-fast: $(STAMP)  ## the suite without slow/browser/spark tests
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -m "not slow and not browser and not spark"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

docs: $(STAMP)  ## build the documentation site into ./site
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site reelrank-demo .pytest_cache .ruff_cache
