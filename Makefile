# The README's two commands: `make demo` and `make test`. Each creates .venv
# on first use and installs the project into it; nothing else is needed but
# Python 3.11 and access to PyPI.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-oracles test-browser bench reliability clean bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-run the install when pyproject.toml changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# The editable install runs planner/ from source: compiled once here, each
# llmplan process reads bytecode instead of compiling every module (0.15 s a
# run where PYTHONDONTWRITEBYTECODE is set, as on many CI images).
bytecode: $(BIN)/python
	@$(BIN)/python -m compileall -q planner

demo: $(VENV)/.installed bytecode
	$(BIN)/python examples/demo.py

# Types, lint and layers first (pyproject.toml: [tool.mypy], [tool.ruff], [tool.importlinter];
# each must report nothing), then every test.
test: $(VENV)/.installed-test bytecode
	$(BIN)/python -m mypy
	$(BIN)/ruff check --quiet .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest

# What a configuration repository adopts, tried as it adopts it: pre-commit
# try-repo of .pre-commit-hooks.yaml and the GitHub Action's own install (by
# hash, from PyPI) and run, each building llmplan in a fresh virtual
# environment (pytest -m oracle: left out of make test, which stays quick).
test-oracles: $(VENV)/.installed-test bytecode
	$(BIN)/python -m pytest -m oracle

# llmplan report's pages opened in Debian's chromium (tests marked browser, which make test
# leaves out so that a machine without Chromium still runs everything else).
test-browser: $(VENV)/.installed-test bytecode
	$(BIN)/python -m pytest -m browser tests/report

# Speed against the physical bounds, and the long reliability runs; each
# prints every figure with its goal (see README, "Performance and reliability").
bench: $(VENV)/.installed-test bytecode
	$(BIN)/python -m benchmarks.run bench

reliability: $(VENV)/.installed-test bytecode
	$(BIN)/python -m benchmarks.run reliability

clean:
	rm -rf $(VENV) state/*/ .pytest_cache .hypothesis benchmarks/results
