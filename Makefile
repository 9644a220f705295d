# Two set-up commands: `make demo` and `make test`. Both create .venv if it
# is missing and reuse it otherwise.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch: an unpinned `torch` pulls a multi-GB CUDA build.
# On a CUDA machine: make TORCH='torch' ...
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: demo test install install-test clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip

$(VENV)/.installed: $(PY) pyproject.toml
	$(PY) -m pip install --quiet "$(TORCH)" -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet "$(TORCH)" -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/rmbrec-train

test: install-test
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache *.egg-info
