# The README's two commands: `make demo` and `make test`. Each creates .venv
# on first use and installs the project into it; nothing else is needed but
# Python 3.11 and access to PyPI.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test typecheck lint tests test-oracles test-browser bench reliability clean bytecode

# uv installs into the venv: the test extra in about 10 s from PyPI, where pip
# takes 35 s (it downloads and unpacks in parallel; the same versions). pip is
# the fallback wherever uv cannot install (uv reads neither pip.conf nor
# PIP_INDEX_URL: a machine that reaches PyPI only through a mirror set there).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv || true

# $(call install,compile|no-compile,WHAT): compile the bytecode of what is
# installed, or leave it to the processes that import it (see below).
install = { $(BIN)/uv pip install --quiet --native-tls --python $(BIN)/python $(if $(filter compile,$(1)),--compile-bytecode) $(2) \
	|| $(BIN)/python -m pip install --quiet --$(1) $(2); }

# Stamps re-run the install when pyproject.toml changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(call install,compile,-e .)
	touch $@

# Not compiled at install: the test extra's libraries hold 15,000 Python files
# (30 s to compile, most never imported). Collecting the tests compiles what
# pytest and the test modules import ($(VENV)/.tests-compiled below); the test
# processes write the bytecode of the rest as they import it, once (tests/conftest.py).
$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(call install,no-compile,-e '.[test]')
	touch $@ $(VENV)/.installed

# The editable install runs planner/ from source: compiled once here, each
# llmplan process reads bytecode instead of compiling every module (0.15 s a
# run where PYTHONDONTWRITEBYTECODE is set, as on many CI images).
bytecode: $(BIN)/python
	@$(BIN)/python -m compileall -q planner

demo: $(VENV)/.installed bytecode
	$(BIN)/python examples/demo.py

# pytest rewrites the asserts of each test module before importing it and
# caches the result beside it, unless PYTHONDONTWRITEBYTECODE is set (many CI
# images, and this machine): then every worker of every run rewrote them all
# again (5 s of CPU each). Written once here, with the bytecode of everything
# collecting imports (pytest, hypothesis, planner and its libraries), read by
# every worker; redone only when a test file changes.
$(VENV)/.tests-compiled: $(VENV)/.installed-test $(shell find tests -name '*.py')
	@PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest --collect-only -q > /dev/null || true
	@touch $@

# Test workers (pytest-xdist). `-n auto` is twice the cores, at most 8
# (tests/conftest.py): much of the suite waits on child processes and sockets.
# Measured on 2 cores: see the README, "Development".
WORKERS ?= auto

# Types, lint and layers first (pyproject.toml: [tool.mypy], [tool.ruff],
# [tool.importlinter]; each must report nothing), side by side with compiling
# what the tests import (each takes one core), then every test, ending with
# the 15 slowest and every test over 10 s with its reason.
test: $(VENV)/.installed-test
	@$(MAKE) --no-print-directory -j2 typecheck lint bytecode $(VENV)/.tests-compiled
	@$(MAKE) --no-print-directory tests

typecheck: $(VENV)/.installed-test
	$(BIN)/python -m mypy

lint: $(VENV)/.installed-test
	$(BIN)/ruff check --quiet .
	$(BIN)/lint-imports --no-cache

tests: $(VENV)/.installed-test bytecode $(VENV)/.tests-compiled
	$(BIN)/python -m pytest -n $(WORKERS) --durations=15

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
