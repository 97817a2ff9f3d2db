# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv on
# first use and reuse it afterwards (the stamp is refreshed when pyproject.toml changes).
# On a machine where `nvidia-smi -L` lists a GPU the `cuda` extra (OpenMM's CUDA platform and
# openmm-torch's CUDA kernels) is installed too, so MD runs on CUDA and models on `cuda` with
# no flag; `make CUDA=0 ...` keeps the CPU install, `make CUDA=1 ...` forces the extra.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
comma  := ,
CUDA   ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1 || echo 0)
EXTRAS := test,reference$(if $(filter 1,$(CUDA)),$(comma)cuda,)
STAMP  := $(VENV)/.glassmm-installed$(if $(filter 1,$(CUDA)),-cuda,)
PYTEST_ARGS ?=

.PHONY: install demo test test-slow test-gpu gpu-check bench clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing glassmm[$(EXTRAS)] into $(VENV)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	@for p in plugins/*/; do \
	  if [ -f $$p/pyproject.toml ]; then $(BIN)/python -m pip install --quiet --disable-pip-version-check -e $$p || exit 1; fi; \
	done
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS) tests plugins

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS) tests plugins

test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -m gpu $(PYTEST_ARGS) tests plugins

# every GPU figure in one run; the last line of its output is one JSON object
# (on a machine without CUDA: "cuda_available": false and the reason, exit 0)
gpu-check: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/md_throughput.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
