# Two entry points (see README "Quick start"):
#   make        set up .venv if needed, then run the main job (python -m harness.converge)
#   make test   set up .venv if needed, then run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements

.PHONY: run test lint bench setup
run: $(STAMP)
	$(PY) -m harness.converge

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

bench: $(STAMP)
	$(PY) -m harness.bench --widths 1024 --n-inputs 32 --seeds 8

setup: $(STAMP)

# One pinned dependency set, installed without dependency resolution so that
# neural-tangents' declared TensorFlow requirement is never pulled in.
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.txt
	$(PY) -c "import importlib.util as u, sys; sys.exit(u.find_spec('tensorflow') is not None and 'TensorFlow must not be installed')"
	touch $(STAMP)
