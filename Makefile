# Two commands do everything on a fresh machine:
#   make book   installs what it needs into .venv and builds the static book in book/_build/html
#   make test   installs what it needs into .venv and runs the whole test suite (CI runs this)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip -q --disable-pip-version-check
export KERAS_BACKEND ?= torch
# One math thread per process: the tests and notebook kernels run side by side, and PyTorch's
# OpenMP threads slow down many times over when processes together ask for more than the cores.
export OMP_NUM_THREADS ?= 1

.PHONY: book test test-tf lint sync clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 goes in first: it is the CPU build on disk. The package's own range (torch>=2.4)
# is then already satisfied, so nothing pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	set -o pipefail; $(PIP) install "torch==2.13.0" 2>&1 | { grep -v "^WARNING: Location" || true; }
	set -o pipefail; $(PIP) install -e ".[test,book,jax]" 2>&1 | { grep -v "^WARNING: Location" || true; }
	cd / && KERAS_BACKEND=torch $(abspath $(BIN))/python -c "import nfp_lib, torch, keras, jax, jupyter_book, nbmake, jupytext"
	touch $@

# Jupyter Book re-executes a notebook only when its code changed (and Sphinx re-reads only changed
# pages). Outputs computed by the library, from its shipped checkpoints or stored results, would go
# stale when those change; so any change under nfp_lib/ drops the whole build, cache included.
LIBRARY_FILES := $(shell find nfp_lib -type f -not -path '*/__pycache__/*')

book/_build/.library-stamp: $(LIBRARY_FILES)
	rm -rf book/_build
	mkdir -p book/_build && touch $@

book: $(VENV)/.installed book/_build/.library-stamp
	$(BIN)/jupyter-book build book -W --keep-going

# Keras fixes its backend when imported, so the Keras tests and chapters run again on JAX (about
# 4 minutes more on two cores), and on TensorFlow with `make test-tf`.
KERAS_TESTS := tests/test_keras_backend.py tests/test_parity.py tests/test_pretrained.py \
	tests/test_losses.py
KERAS_CHAPTERS := notebooks/03_convlstm_keras.ipynb notebooks/04_training.ipynb \
	notebooks/05_rollout_evaluation.ipynb

test: $(VENV)/.installed
	$(BIN)/ruff check nfp_lib tests notebooks/*.py
	$(BIN)/ruff format --check nfp_lib tests notebooks/*.py
	NFP_QUICK=1 $(BIN)/python -m pytest -n 2 -q tests --nbmake notebooks
	KERAS_BACKEND=jax NFP_QUICK=1 $(BIN)/python -m pytest -n 2 -q $(KERAS_TESTS) \
		--nbmake $(KERAS_CHAPTERS)

# TensorFlow gets an environment of its own, outside `make test`: installed, it is imported by
# every Keras process whatever the backend (keras.utils.set_random_seed seeds it too), which
# costs each one 4.6 s and 740 MB of memory; and its wheel is 274 MB (1.3 GB installed).
TF_VENV := .venv-tf
TF_PIP := $(TF_VENV)/bin/python -m pip -q --disable-pip-version-check

$(TF_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TF_VENV)
	set -o pipefail; $(TF_PIP) install "torch==2.13.0" 2>&1 | { grep -v "^WARNING: Location" || true; }
	set -o pipefail; $(TF_PIP) install -e ".[test,tensorflow]" 2>&1 | { grep -v "^WARNING: Location" || true; }
	touch $@

test-tf: $(TF_VENV)/.installed
	KERAS_BACKEND=tensorflow NFP_QUICK=1 TF_CPP_MIN_LOG_LEVEL=2 $(TF_VENV)/bin/python -m pytest \
		-n 2 -q $(KERAS_TESTS) --nbmake $(KERAS_CHAPTERS)

lint: $(VENV)/.installed
	$(BIN)/ruff check --fix nfp_lib tests notebooks/*.py
	$(BIN)/ruff format nfp_lib tests notebooks/*.py

sync: $(VENV)/.installed
	$(BIN)/jupytext --sync notebooks/*.py

clean:
	rm -rf book/_build
