# Two set-up commands: `make demo` and `make test`. Both create .venv if it
# is missing and reuse it otherwise.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch: an unpinned `torch` pulls a multi-GB CUDA build.
# On a CUDA machine: make TORCH='torch' ...
TORCH ?= torch==2.13.0
PYTEST_ARGS ?=

.PHONY: demo test install install-test install-dist clean gpu-deps

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip

$(VENV)/.installed: $(PY) pyproject.toml
	$(PY) -m pip install --quiet "$(TORCH)" -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet "$(TORCH)" -e '.[test]'
	touch $@

# Sharded tables (trainer.tables=sharded): torchrec 1.8.0 names the CUDA
# fbgemm package as its dependency, so its CPU build comes through the
# `dist` extra and torchrec itself without dependencies. On a CUDA machine:
# make install-dist FBGEMM=fbgemm-gpu==1.8.0
FBGEMM ?= fbgemm-gpu-cpu==1.8.0
$(VENV)/.installed-dist: $(VENV)/.installed
	$(PY) -m pip install --quiet "$(TORCH)" "$(FBGEMM)" -e '.[dist]'
	$(PY) -m pip install --quiet --no-deps torchrec==1.8.0
	touch $@

install-dist: $(VENV)/.installed-dist

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/rmbrec-train

# The suite runs the sharded-table tests too where torchrec installs; where
# it does not, they skip (the message says so) and the rest runs.
test: install-test
	$(MAKE) install-dist || echo "torchrec not installed: the sharded-table tests skip"
	OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache *.egg-info

# The pure-Python packages a bare GPU machine may lack (it has torch and
# PyG): copied into .gpu_deps/ to put on PYTHONPATH there (benchmarks/gpu.sh).
gpu-deps: install-test
	rm -rf .gpu_deps && mkdir -p .gpu_deps
	for p in hydra omegaconf antlr4 yaml pytest _pytest pluggy iniconfig; do \
	  cp -r $$($(PY) -c "import $$p, os; print(os.path.dirname($$p.__file__))") .gpu_deps/; done
