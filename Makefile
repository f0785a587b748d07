# The two set-up commands of README.md: `make demo` and `make test`.
# Both create .venv on first use; a stamp file per install keeps later runs fast.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-serial test-lanes lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The runtime alone: no torch (onnxruntime runs the shipped model).
$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# PyTorch's own index of CPU builds: on Linux, PyPI's torch is the CUDA build, which pulls
# several GB of nvidia-* wheels. torch alone comes from there (its +cpu build, as pinned in
# the train extra), everything else from PyPI, so a machine that cannot reach that index
# (but has the wheel at hand) loses one look-up, not one per package.
# For CUDA training: make test TORCH_INDEX= (empty: PyPI's CUDA build).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_PIN := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')

# What the tests need: the training extra (torch, the CPU build), Link and dev tools.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(if $(TORCH_INDEX),$(BIN)/pip install -q --retries 1 --no-deps --extra-index-url $(TORCH_INDEX) "$(TORCH_PIN)")
	$(BIN)/pip install -q -e ".[train,dev,link]"
	touch $@ $(VENV)/.runtime-installed

demo: $(VENV)/.runtime-installed
	$(BIN)/antiphon demo

# Two lanes (tests/run_lanes.py): the JACK and real-time tests one at a time, the rest
# beside them under nice; see docs/ARCHITECTURE.md ("Tests").
test: $(VENV)/.dev-installed
	$(BIN)/python tests/run_lanes.py --timed-workers 1 $(PYTEST_ARGS)

# Every test in one process, one after another: for a debugger.
test-serial: $(VENV)/.dev-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Faster, less sure: three lanes (tests/run_lanes.py), the JACK and real-time tests in three
# workers with the rest beside them under nice, then the solo tests; see
# docs/ARCHITECTURE.md ("Tests", "Known debts").
test-lanes: $(VENV)/.dev-installed
	$(BIN)/python tests/run_lanes.py $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-output
