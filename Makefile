# Two commands do all set-up on a fresh machine:
#   make quickstart   # install, then train + evaluate the quickstart model on the embedded E. coli data
#   make test         # install, then lint (ruff check), type-check (mypy genoattn) and run the test suite
PYTHON ?= python3
VENV   ?= .venv
# The CPU build of torch is enough for everything here; override for a CUDA build: make TORCH=torch
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin

.PHONY: install quickstart test lint typecheck clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev,xformers]"
	touch $@

install: $(BIN)/.installed

quickstart: install
	$(BIN)/python -m genoattn.train --config configs/quickstart.yaml

test: install lint typecheck
	$(BIN)/python -m pytest -q tests

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .cache
