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
# The compiled pair-force plugin (plugins/glassmm-pairforce, C++ against the installed openmm
# wheel): rebuilt when its sources change. PAIRFORCE=0 skips it (glassmm then uses the
# CustomNonbondedForce fallback and says so).
PAIRFORCE ?= 1
PAIRFORCE_DIR := plugins/glassmm-pairforce
PAIRFORCE_SRC := $(shell find $(PAIRFORCE_DIR) -path $(PAIRFORCE_DIR)/build -prune -o -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cc' -o -name '*.in' -o -name '*.i' -o -name '*.cmake' -o -name 'CMakeLists.txt' -o -name 'pyproject.toml' -o -name '*.py' \) -print 2>/dev/null)
PAIRFORCE_STAMP := $(VENV)/.glassmm-pairforce-installed
INSTALLED := $(STAMP) $(if $(filter 1,$(PAIRFORCE)),$(PAIRFORCE_STAMP),)

.PHONY: install demo test test-slow test-gpu gpu-check bench clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing glassmm[$(EXTRAS)] into $(VENV)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	@for p in plugins/*/; do \
	  if [ -f $$p/pyproject.toml ] && [ ! -f $$p/CMakeLists.txt ]; then \
	    $(BIN)/python -m pip install --quiet --disable-pip-version-check -e $$p || exit 1; fi; \
	done
	@touch $(STAMP)

# Built without isolation, against the very openmm wheel in .venv (its headers and libraries);
# the build tree under $(PAIRFORCE_DIR)/build makes rebuilds incremental.
$(PAIRFORCE_STAMP): $(STAMP) $(PAIRFORCE_SRC)
	@echo "building the glassmm-pairforce plugin (C++, CMake; about a minute on 2 cores the first time)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "scikit-build-core>=0.10" "swig>=4.1"
	@start=$$(date +%s); \
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation ./$(PAIRFORCE_DIR) \
	  || { echo "glassmm-pairforce failed to build (see above); 'make PAIRFORCE=0 ...' runs without it"; exit 1; }; \
	echo "glassmm-pairforce built and installed in $$(( $$(date +%s) - start )) s"
	@GLASSMM_QUIET=1 $(BIN)/python -c "import glassmm_pairforce as p; print('glassmm-pairforce kernels:', ', '.join(p.supported_platforms()), '| CPU engine:', p.cpu_engine())"
	@touch $(PAIRFORCE_STAMP)

install: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/python examples/demo.py

test: $(INSTALLED)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS) tests plugins

test-slow: $(INSTALLED)
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS) tests plugins

test-gpu: $(INSTALLED)
	$(BIN)/python -m pytest -q -m gpu $(PYTEST_ARGS) tests plugins

# every GPU figure in one run; the last line of its output is one JSON object
# (on a machine without CUDA: "cuda_available": false and the reason, exit 0)
gpu-check: $(INSTALLED)
	$(BIN)/python benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

bench: $(INSTALLED)
	$(BIN)/python benchmarks/md_throughput.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache $(PAIRFORCE_DIR)/build
