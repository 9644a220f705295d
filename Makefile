# Two set-up commands: `make demo` and `make test`. Both create .venv if it
# is missing and reuse it otherwise.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch: an unpinned `torch` pulls a multi-GB CUDA build.
# On a CUDA machine: make TORCH='torch' ...
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: demo test install install-test clean gpu-deps

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

# The pure-Python packages a bare GPU machine may lack (it has torch and
# PyG): copied into .gpu_deps/ to put on PYTHONPATH there (benchmarks/gpu.sh).
gpu-deps: install-test
	rm -rf .gpu_deps && mkdir -p .gpu_deps
	for p in hydra omegaconf antlr4 yaml pytest _pytest pluggy iniconfig; do \
	  cp -r $$($(PY) -c "import $$p, os; print(os.path.dirname($$p.__file__))") .gpu_deps/; done
