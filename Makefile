# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv on
# first use and reuse it afterwards (the stamp is refreshed when pyproject.toml changes).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.glassmm-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-slow bench clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,reference]'
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

bench: $(STAMP)
	$(BIN)/python benchmarks/md_throughput.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
