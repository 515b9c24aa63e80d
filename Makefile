# One-command set-up for the MLOps course.
#
#   make lab       set up .venv on first run, then open JupyterLab on labs/ (INSTRUCTOR=1: the instructor's)
#   make test      set up .venv, then run the whole test suite (LAB=name: one lab's proofs alone)
#   make book      build the course book into book/_build/html
#   make release   regenerate labs/ from solutions/ with nbgrader (LAB=name for one)
#   make bench     time every lab in CI mode and the whole test suite (LAB=name: one lab's tests)
#   make class-server STUDENTS=10   start a class server on this machine (as root; stop: make class-server-stop)
#   make mutants   the mutation report: small slips in every answer, caught or not (LAB=name for one)
#   make canary    the course proved on the newest release of every dependency, in a throwaway venv
#   make upgrade   after a passing canary, move the pins to the versions it proved
#
# Everything runs offline once the packages are installed (the canary installs from the registry).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PORT ?= 8888
# Extra flags for `jupyter lab`, e.g. LAB_FLAGS=--no-browser on a headless machine.
LAB_FLAGS ?=
# Extra flags for pytest, e.g. PYTEST_FLAGS="-k lab01 -x".
PYTEST_FLAGS ?=
LAB ?=
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# Tools run each other by name (nbgrader runs alembic, MLflow runs uvicorn): the venv comes first.
export PATH := $(abspath $(BIN)):$(PATH)

# Nothing in the course may phone home: MLflow and DVC send telemetry unless told not to.
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: lab test book release bench setup system constraints clean help classroom class-server class-server-stop canary upgrade mutants

help:
	@sed -n '3,13p' Makefile

setup: $(STAMP)

# jsonschema's format checks (an extra that jupyter-events asks for) pull in rfc3987-syntax, which builds
# 38 lark parsers when it is imported: about 2.3 CPU-seconds in every process that imports nbformat
# (nbgrader, papermill, every Jupyter server), a fifth of the test suite's CPU time. Nothing in the course
# checks the "iri" format, and jsonschema skips that one check without it (`pip check` stays clean).
SLOW_UNUSED := rfc3987-syntax lark

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: the course needs Python 3.11 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Run: make PYTHON=python3.11 $(MAKECMDGOALS)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,classroom]'
	$(PY) -m pip uninstall --quiet --yes $(SLOW_UNUSED)
	$(BIN)/mlops-course install-kernel
	$(BIN)/jupyter labextension enable --level=sys_prefix @jupyter/nbgrader > /dev/null
	$(BIN)/jupyter labextension disable --level=sys_prefix "@jupyterlab/apputils-extension:announcements" > /dev/null
	$(BIN)/jupyter labextension disable --level=sys_prefix $(INSTRUCTOR_TOOLS) > /dev/null
	@touch $(STAMP)
	@echo "Course environment ready in $(VENV)."

# A learner's JupyterLab shows nbgrader's assignment list and validate button only. INSTRUCTOR=1 opens
# the instructor's: the whole course, with Create Assignment, Formgrader and Course List shown again
# (mlops_course/grading/instructor_lab/labconfig/page_config.json, as installed; also used by `mlops-course formgrade`).
INSTRUCTOR_TOOLS := @jupyter/nbgrader:create-assignment @jupyter/nbgrader:formgrader @jupyter/nbgrader:course-list
INSTRUCTOR ?=
lab: $(STAMP)
	@echo "Starting JupyterLab on $(if $(INSTRUCTOR),the course (instructor),labs/) (port $(PORT)). Open the URL printed below; stop with Ctrl-C."
	$(if $(INSTRUCTOR),JUPYTER_CONFIG_PATH="$$($(PY) -c 'from mlops_course.grading.formgrade import INSTRUCTOR_LAB_CONFIG as c; print(c)')") $(BIN)/jupyter lab \
	  --ServerApp.root_dir=$(if $(INSTRUCTOR),.,labs) --port=$(PORT) $(ALLOW_ROOT) $(LAB_FLAGS)

# Debian packages for the browser, sandbox and database tests (skipped with a reason without them).
system:
	@scripts/install-system-packages.sh

# JupyterHub's proxy for the class server, pinned in classroom/package-lock.json (node and npm from system-packages.txt).
CHP := classroom/node_modules/.bin/configurable-http-proxy
classroom: $(CHP)

$(CHP): classroom/package.json classroom/package-lock.json
	@command -v npm > /dev/null || { echo "warning: npm is not installed (apt-get install nodejs npm); the class-server tests will be skipped." >&2; exit 0; }
	npm ci --prefix classroom --no-audit --no-fund --loglevel=error
	@touch $(CHP)

STUDENTS ?= 10
class-server: $(STAMP) system classroom
	$(BIN)/mlops-course class-server start --students $(STUDENTS)

class-server-stop: $(STAMP)
	$(BIN)/mlops-course class-server stop

test: $(STAMP) system classroom
	@$(PY) -m pytest $(PYTEST_FLAGS) $(if $(LAB),--lab=$(LAB),--beside); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests; the suite must not be empty."; exit 1; fi; \
	  exit $$rc

book: $(STAMP)
	$(BIN)/mlops-course book

release: $(STAMP)
	$(BIN)/mlops-course release $(LAB)

bench: $(STAMP) system classroom
	$(PY) benchmarks/bench_labs.py $(if $(LAB),--lab $(LAB))
	$(PY) benchmarks/bench_suite.py $(if $(LAB),--lab $(LAB))

constraints:
	rm -rf /tmp/mlops-course-resolve
	$(PYTHON) -m venv /tmp/mlops-course-resolve
	/tmp/mlops-course-resolve/bin/pip install --quiet -e '.[test,classroom]'
	{ echo "# Every package of the course environment, pinned (pip freeze of a fresh 'make lab')."; \
	  echo "# Regenerate with 'make constraints' after changing pyproject.toml."; \
	  /tmp/mlops-course-resolve/bin/pip freeze --exclude-editable; } > constraints.txt

clean:
	rm -rf book/_build test-artifacts autograder/submitted autograder/autograded autograder/feedback autograder/gradebook.db

# The dependency canary: the newest release of every direct dependency (below holds.toml's bounds) in a
# throwaway venv, proved by every lab, its grading, the quiz keys and the book; report in $(CANARY_DIR).
CANARY_DIR ?= /tmp/mlops-course-canary
canary: $(STAMP) system
	$(BIN)/mlops-course canary --folder $(CANARY_DIR)

# After a passing canary: move the pins of pyproject.toml, constraints.txt and the environment files to its versions.
upgrade: $(STAMP)
	$(BIN)/mlops-course upgrade --report $(CANARY_DIR)/report.json

# Mutation report (issue #24): small slips in every autograded answer, each through its question's tests
# on the shared prefix; what survives, per question, in test-artifacts/mutants/<lab>.md. LAB=<lab> for one.
mutants: $(STAMP)
	$(BIN)/mlops-course mutants $(LAB)
