# `make train` and `make test` create .venv and install jgan into it the first time.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/dcgan_digits

.PHONY: train test lint bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

train: $(VENV)/.installed
	$(PY) train.py --config=configs/dcgan_digits.py --workdir=$(WORKDIR)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check jgan tests configs benchmarks train.py

test: lint
	$(PY) -m pytest -n 2 --dist loadfile -q

bench: $(VENV)/.installed
	$(PY) benchmarks/step_time.py
