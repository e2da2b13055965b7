# Two commands: `make run` (set up and run the pipeline on the bundled sample), `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export PYTHONHASHSEED := 0

.PHONY: run test setup system-deps lint format lock bench bench-accuracy sample clean

run: setup system-deps ## set up and run the whole pipeline (dvc repro)
	dvc repro

test: setup system-deps lint ## linters and the whole test suite
	pytest -q

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

system-deps:
	@scripts/system-deps.sh

lint: setup
	ruff check .
	ruff format --check .

format: setup
	ruff check --fix .
	ruff format .

lock: setup ## re-pin requirements.lock from requirements.in
	$(BIN)/python -m pip install --quiet -r requirements.in
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

sample: setup ## regenerate the bundled sample extract in data/sample/
	python -m synthetic --out data/sample

LIFETIMES := $(CURDIR)/.bench-venv/bin/python

$(LIFETIMES): bench/requirements-lifetimes.txt ## lifetimes 0.11.3 (numpy<2), only to compare against
	$(PYTHON) -m venv .bench-venv
	.bench-venv/bin/python -m pip install --quiet -r bench/requirements-lifetimes.txt
	touch $@

bench: setup $(LIFETIMES) ## every benchmark of BENCHMARKS.md (about an hour); not part of make test
	python bench/bench_ltv.py --lifetimes-python $(LIFETIMES)
	python bench/bench_churn_cdnow.py --lifetimes-python $(LIFETIMES)
	python bench/bench_features.py --rows 10 --out bench/results/features.md
	python bench/bench_engines.py --rows 10 50 --out bench/results/engines.md
	python bench/bench_segmentation.py --customers 1000000
	python bench/bench_ltv_scale.py --millions 2 5
	python bench/bench_churn_scale.py
	python bench/bench_pipeline.py --customers 1000000 --out bench/results/pipeline.md

bench-accuracy: setup $(LIFETIMES) ## churn and CLV accuracy on CDNOW at four scoring dates (about a minute, plus building .bench-venv once); not part of make test
	python bench/bench_accuracy.py --lifetimes-python $(LIFETIMES) --write

clean:
	rm -rf $(VENV) .bench-venv .pytest_cache .ruff_cache
