# The course's commands. Each target creates the virtual environment (.venv) first if it is
# missing or older than requirements.txt. Nothing here needs more than Python 3.11, pip, git, make.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
NB ?=
NBVAL_WORKERS ?= 1
SHARED_WORKERS ?= 2

# Same environment for `make execute` and `make test`, so stored outputs match what CI runs.
export TF_CPP_MIN_LOG_LEVEL := 2
export TQDM_DISABLE := 1
# transformers draws its own progress bars ("Loading weights"), which TQDM_DISABLE does not reach
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export PYTHONHASHSEED := 0
export MPLBACKEND := module://matplotlib_inline.backend_inline
# Bytecode: `make env` installs no .pyc files (compiling all 30,000 modules of the environment took
# 49 s of the install on the 2-core machine; the course imports about 7,000 of them), so Python
# compiles each module the first time something imports it and keeps the .pyc. That needs writing
# allowed: a shell that sets PYTHONDONTWRITEBYTECODE (some containers do) would otherwise recompile
# TensorFlow, PyTorch and the rest from source in every kernel and worker.
unexport PYTHONDONTWRITEBYTECODE
# GNU OpenMP (libgomp: PyTorch's, scikit-learn's and XGBoost's threads on Linux) lets a waiting thread
# spin only 100 times before it sleeps whenever it counts more threads than cores, as it does in a
# kernel that trains with PyTorch on 2 cores; each small operation then pays for a sleep and a wake-up.
# OMP_WAIT_POLICY=ACTIVE raises that to 1,000 spins, and GOMP_SPINCOUNT keeps the ordinary spin at
# libgomp's own default (300,000, about 3 ms) instead of ACTIVE's 5 minutes, so no thread holds a
# core it does not use. It changes no computation (the same threads do the same work), only how long
# threads wait: chapter 9 took 162 s without it and 120-142 s with it (four runs) on a 2-core
# machine without bfloat16. Linux only: on macOS PyTorch uses LLVM's OpenMP, where ACTIVE spins
# without end.
ifeq ($(shell uname -s),Linux)
export OMP_WAIT_POLICY := ACTIVE
export GOMP_SPINCOUNT := 300000
endif

# REQUIRE_GPU=1 (the GPU runner) installs TensorFlow with its CUDA libraries instead of tensorflow-cpu,
# and xgboost (with CUDA) instead of xgboost-cpu.
ifeq ($(filter $(REQUIRE_GPU),1 true yes on),)
FLAVOUR := cpu
else
FLAVOUR := gpu
endif
INSTALLED := $(VENV)/.installed-$(FLAVOUR)

.PHONY: help env book test lab execute canary clean distclean

help:
	@echo "make book     build the website from the committed notebooks and print where it is"
	@echo "make test     unit + structure tests, every notebook re-run offline (nbval), book build and browser tests"
	@echo "make lab      JupyterLab on chapters/"
	@echo "make execute  re-run notebooks in place to refresh outputs (one: NB=chapters/01_....ipynb)"
	@echo "make canary   every notebook against the newest release of every pinned library, in .venv-canary"
	@echo "make clean    remove _build/ and artifacts/ (distclean also removes .venv)"

env: $(INSTALLED)

# The installer is uv (pinned here; pip installs it into the venv), about four times faster than pip
# for this list on the 2-core machine: 9 s for the whole `make env` with uv's cache filled (52 s when
# it still compiled bytecode), against about 3 min 16 s with pip. uv reads no pip configuration, so
# pip's find-links (where a machine keeps local wheels, such as the CPU build of torch) are passed on. Where uv cannot be installed or fails (a private index
# that only pip knows, say), pip installs the same list.
UV_PIN := uv==0.13.10
PIP_FIND_LINKS_ALL = $(strip $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
UV_FIND_LINKS_ARGS = $(foreach dir,$(sort $(PIP_FIND_LINKS_ALL)),--find-links $(dir))

$(INSTALLED): requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "the course needs Python 3.11, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing requirements ($(FLAVOUR)) into $(VENV) ..."
	@if [ "$(FLAVOUR)" = gpu ]; then \
	  sed -e 's/^tensorflow-cpu==/tensorflow[and-cuda]==/' -e 's/^xgboost-cpu==/xgboost==/' requirements.txt > $(VENV)/requirements-gpu.txt; \
	  wanted=$(VENV)/requirements-gpu.txt; \
	else wanted=requirements.txt; fi; \
	if $(BIN)/python -m pip install -q "$(UV_PIN)" && \
	   $(BIN)/uv pip install --python $(BIN)/python -q $(UV_FIND_LINKS_ARGS) -r $$wanted; then :; \
	else \
	  echo "uv could not install the requirements (above); installing them with pip (slower)"; \
	  $(BIN)/python -m pip install -q -r $$wanted; \
	fi
	@rm -f $(VENV)/.installed-*
	@touch $@

book: env
	$(BIN)/jupyter-book build -W -n --keep-going .
	@echo "Book built. Open: file://$(CURDIR)/_build/html/index.html"

# Tests run with networking cut off wherever the machine allows it: a new network namespace
# that has only the loopback interface (kernels and local servers still work), so every CI run
# proves that the course needs no downloads.
CAN_UNSHARE := $(shell unshare -n sh -c 'ip link set lo up' 2>/dev/null && echo yes)
ifeq ($(CAN_UNSHARE),yes)
OFFLINE := unshare -n sh -c 'ip link set lo up && exec "$$0" "$$@"'
endif

# The browser tests (tests/test_book.py) drive Chrome or Chromium through Playwright.
# tools/find_chromium.py finds one before the tests cut the network: PLAYWRIGHT_CHROMIUM if set, one
# already installed (PATH, /Applications, Playwright's cache), else Playwright's download, else
# Debian's package with apt-get (root or sudo -n). CHROMIUM_SOURCES picks the steps (default
# path,playwright,apt; CI: path,apt). The path reaches pytest as PLAYWRIGHT_CHROMIUM.
#
# `make test NB=chapters/05_....ipynb` (several: NB="a.ipynb b.ipynb") runs one chapter's checks
# alone: the notebook re-run under nbval with its budget, and its tests in tests/test_notebooks.py
# (structure, pins, every check's verdict, sweep record and margin rule); no book, no browser.
NB_MISSING := $(strip $(foreach nb,$(NB),$(if $(wildcard $(nb)),,$(nb))))
NB_NOT_NOTEBOOK := $(strip $(foreach nb,$(NB),$(if $(filter %.ipynb,$(nb)),,$(nb))))
ifneq ($(NB_MISSING),)
$(error NB=$(NB_MISSING): no such file; NB takes chapter notebooks, e.g. NB=$(firstword $(wildcard chapters/*.ipynb)))
endif
ifneq ($(NB_NOT_NOTEBOOK),)
$(error NB=$(NB_NOT_NOTEBOOK): not a notebook; NB takes chapter notebooks, e.g. NB=$(firstword $(wildcard chapters/*.ipynb)))
endif
NB_STEMS := $(basename $(notdir $(NB)))
empty :=
space := $(empty) $(empty)
ifeq ($(strip $(NB)),)
TEST_TARGETS :=
else
TEST_TARGETS := $(NB) tests/test_notebooks.py -k '$(subst $(space), or ,$(strip $(NB_STEMS)))'
endif

# `make test` runs in two phases (tools/test_plan.py): tests/ and the notebooks that neither time
# anything nor compute on both cores share the machine, SHARED_WORKERS (2) pytest workers at a time;
# then the others run one after another with the machine to themselves. Both phases always run,
# and the target fails if either failed.
test: env
	@if [ -z "$(strip $(NB))" ]; then \
	  PLAYWRIGHT_CHROMIUM="$$($(BIN)/python tools/find_chromium.py)"; export PLAYWRIGHT_CHROMIUM; \
	  echo "Browser tests use $$PLAYWRIGHT_CHROMIUM"; \
	else echo "Checks of $(NB_STEMS) alone: nbval and tests/test_notebooks.py"; fi; \
	before="$$(git status --porcelain 2>/dev/null || true)"; \
	if [ -n "$(OFFLINE)" ]; then echo "Running tests offline: new network namespace with loopback only (unshare -n)"; \
	else echo "WARNING: unshare -n is not available here; tests run with the network up"; fi; \
	status=0; \
	if [ -n "$(strip $(NB))" ]; then \
	  $(OFFLINE) $(BIN)/python -m pytest -n $(NBVAL_WORKERS) --dist loadscope $(TEST_TARGETS) || status=$$?; \
	else \
	  shared="$$($(BIN)/python -m tools.test_plan shared)"; alone="$$($(BIN)/python -m tools.test_plan alone)"; \
	  echo "== make test, phase 1 of 2 (shared): $$(wc -w <<< "$$shared") notebooks (longest first) and tests/, $(SHARED_WORKERS) at a time (tools/test_plan.py says why)"; \
	  $(OFFLINE) $(BIN)/python -m pytest -n $(SHARED_WORKERS) --dist loadscope $$shared tests || status=$$?; \
	  echo "== make test, phase 2 of 2 (alone): $$(wc -w <<< "$$alone") notebooks one after another, each with the machine to itself"; \
	  $(OFFLINE) $(BIN)/python -m pytest -n $(NBVAL_WORKERS) --dist loadscope $$alone || status=$$?; \
	  if [ "$$status" != 0 ]; then echo "make test: FAILED (see the failures of phase 1 and phase 2 above)"; fi; \
	fi; \
	after="$$(git status --porcelain 2>/dev/null || true)"; \
	if [ "$$before" != "$$after" ]; then \
	  echo "ERROR: the tests changed files tracked by git:"; diff <(echo "$$before") <(echo "$$after") || true; exit 1; \
	fi; \
	exit $$status

# JupyterLab refuses to start as root without --allow-root; containers, dev boxes and cloud VMs
# often run as root, so `make lab` adds it there (and says so). jupyterlab/overrides.json (no
# "Jupyter news?" pop-up, no update checks) is copied into this virtual environment's JupyterLab
# settings, not into the user's own. LAB_ARGS passes more options, e.g. LAB_ARGS="--port=8890".
USER_ID ?= $(shell id -u)
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d
LAB_ALLOW_ROOT := $(if $(filter 0,$(USER_ID)),--allow-root)
LAB_ARGS ?=
ROOT_NOTE := make lab: you are root (a container or a VM?), so JupyterLab gets --allow-root

lab: env
	@mkdir -p $(LAB_SETTINGS) && cp jupyterlab/overrides.json $(LAB_SETTINGS)/ml-course.json
	@$(if $(LAB_ALLOW_ROOT),echo "$(ROOT_NOTE)")
	$(BIN)/jupyter lab --notebook-dir=chapters $(LAB_ALLOW_ROOT) $(LAB_ARGS)

execute: env
	$(BIN)/python -m tools.execute $(NB)

# The upgrade canary: a second environment (.venv-canary; .venv is never touched) with the newest release
# of every package in requirements.txt, every notebook run there with its checks, and a report in
# artifacts/canary/ (report.md, report.json). CANARY_ARGS passes options, e.g. CANARY_ARGS="--reuse".
CANARY_ARGS ?=
canary:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "the canary needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m tools.canary $(CANARY_ARGS)

clean:
	rm -rf _build artifacts .pytest_cache

distclean: clean
	rm -rf $(VENV) .venv-canary
