# The front door. A learner needs two verbs: `make lab` and `make test`.
# Everything else here is for instructors and course authors.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.freezelab-installed
# nbgrader runs `alembic` from PATH when it creates a gradebook: the venv's bin comes first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup lab instructor test test-fast notebooks check-notebooks grade grade-demo grade-check bench lint clean-state \
	setup-hub class

# Creates the virtual environment and installs the pins plus the course package, once.
# Runs again only when requirements.txt or pyproject.toml change.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt -e .
	touch $(STAMP)

setup: $(STAMP)

# JupyterHub's proxy for the class (configurable-http-proxy, pinned in hub/package.json), from npm.
PROXY := hub/node_modules/.bin/configurable-http-proxy
# Without npm the class cannot run; everything else can (the class tests then skip, and say why).
$(PROXY): hub/package.json hub/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd hub && npm ci --no-audit --no-fund --loglevel=error && touch ../$(PROXY); \
	else echo "npm not found: install Node.js 20 or later for make class (the class tests will be skipped)" >&2; fi

setup-hub: $(STAMP) $(PROXY)

## Open the course in JupyterLab, the learner's door: the start page, the learner notebooks
## (notebooks/ only: no masters, no question bank) and no instructor tool. Settings: jupyter/learner/.
## Extra options for jupyter lab go in LAB_ARGS, e.g. make lab LAB_ARGS="--port=8899 --no-browser".
lab: $(STAMP)
	$(PY) -m freezelab.lab $(LAB_ARGS)

## The instructor's door: the whole repository (masters, question bank, autograder/) with
## formgrader and Create Assignment. Settings: jupyter/instructor/.
instructor: $(STAMP)
	$(PY) -m freezelab.lab --instructor $(LAB_ARGS)

## A class on this machine (root): accounts from hub/class.toml, the nbgrader exchange and grading
## folders, then JupyterHub on http://127.0.0.1:8000 until Ctrl-C. See autograder/DEPLOY.md.
CLASS_DIR ?= /srv/freezelab-class
class: $(STAMP) $(PROXY)
	$(PY) -m freezelab.hub run --class-dir "$(CLASS_DIR)" $(CLASS_ARGS)

## Run the whole test suite (notebooks, quizzes, nbgrader end to end, the class hub, browser).
test: $(STAMP) $(PROXY)
	$(PY) -m pytest

## The quick part of the suite: no notebook execution, no nbgrader runs, no browser.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not browser"

## Regenerate the learner notebooks in notebooks/ from the masters in solutions/ (nbgrader),
## after refreshing the keyless question file of the graded quiz from quizzes/.
notebooks: $(STAMP)
	$(PY) -m freezelab.build generate

## Fail when notebooks/ is stale against solutions/.
check-notebooks: $(STAMP)
	$(PY) -m freezelab.build check

## Autograde everything collected under autograder/submitted: grades, feedback, CSV, summary plot.
grade: $(STAMP)
	$(PY) -m freezelab.grading all

## Sample submissions (correct, partial, wrong, broken, tampered) through the whole pipeline.
grade-demo: $(STAMP)
	$(PY) -m freezelab.grading demo

## Grade one notebook on its own, without the class's gradebook: make grade-check NOTEBOOK=path.ipynb
grade-check: $(STAMP)
	@test -n "$(NOTEBOOK)" || (echo "usage: make grade-check NOTEBOOK=path/to/notebook.ipynb" >&2; exit 2)
	$(PY) -m freezelab.grading check "$(NOTEBOOK)"

## Benchmarks: notebook run times and speed-ups, quiz feedback latency, autograding throughput.
bench: $(STAMP)
	$(PY) benchmarks/bench_notebooks.py
	$(PY) benchmarks/bench_autograde.py
	$(PY) benchmarks/bench_quiz_feedback.py

## ruff on every Python file of the course (pyproject.toml [tool.ruff] says which rules, and what is excluded).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
