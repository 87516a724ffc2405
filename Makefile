# Two entry points (see README "Quick start"):
#   make        set up .venv if needed, then run the main job (python -m harness.converge)
#   make test   set up .venv if needed, then run the whole test suite
#
# Python: the first of $(PYTHON) or python3.13/python3.12/python3 that is 3.12 or newer.
# On pyenv machines the repository's .python-version selects 3.12 for these shims.
ifndef PYTHON
PYTHON := $(shell for p in python3.13 python3.12 python3 python; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { command -v $$p; break; }; done)
endif
VENV := .venv
PY := $(VENV)/bin/python
# The NVIDIA driver's version decides the CUDA build: >= 580 runs CUDA 13, >= 525 CUDA 12.
DRIVER := $(shell nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 | cut -d. -f1)
CUDA := $(shell d='$(DRIVER)'; if [ -n "$$d" ] && [ "$$d" -ge 580 ] 2>/dev/null; then echo 13; \
	elif [ -n "$$d" ] && [ "$$d" -ge 525 ] 2>/dev/null; then echo 12; fi)
REQUIREMENTS := requirements.txt $(if $(CUDA),requirements-cuda$(CUDA).txt)
STAMP := $(VENV)/.installed-$(if $(CUDA),cuda$(CUDA),cpu)

.PHONY: run test test-fast lint bench sweep setup
run: $(STAMP)
	$(PY) -m harness.converge

# The suite runs in TEST_WORKERS processes (pytest-xdist), each test file in one of them
# so that its module fixtures are built once; TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

bench: $(STAMP)
	$(PY) -m harness.bench --widths 1024 --n-inputs 32 --seeds 8

# Every command line of tests/adversarial/sweep.py (minutes); prints a line per case and
# the tally, and fails unless every case is clean.
sweep: $(STAMP)
	$(PY) tests/adversarial/sweep.py --jobs 2

setup: $(STAMP)

# One pinned dependency set, installed without dependency resolution so that
# neural-tangents' declared TensorFlow requirement is never pulled in. The stamp
# records which requirement files were installed, so a machine that gains a GPU
# (or a .venv made by an older Python) is set up again.
$(STAMP): $(REQUIREMENTS) Makefile
	@test -n "$(PYTHON)" || { echo "make: no Python 3.12 or newer found (tried python3.13, python3.12, python3); install one or set PYTHON=/path/to/python3.12" >&2; exit 2; }
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
		echo "make: $(VENV) was made by an older Python; recreating it with $(PYTHON)"; rm -rf $(VENV); fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(foreach r,$(REQUIREMENTS),-r $(r))
	$(PY) -c "import importlib.util as u, sys; sys.exit(u.find_spec('tensorflow') is not None and 'TensorFlow must not be installed')"
	@$(if $(CUDA),echo "make: NVIDIA driver $(DRIVER) found; installed the CUDA $(CUDA) build of JAX",echo "make: no NVIDIA GPU found; installed the CPU build of JAX")
	touch $(STAMP)
