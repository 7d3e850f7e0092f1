# Two commands from a fresh clone: `make chat` (the chat on the bundled sales database) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install chat test bench clean

install: $(STAMP)

# llama-cpp-python compiles llama.cpp: only the library the backend loads, on every core.
# For AVX2/FMA/F16C explicitly rather than -march=native: on Xeons with AMX a native build adds ggml's AMX
# weight buffers, which crash (SIGSEGV) on the first forward pass inside these VMs; AVX2 runs everywhere here.
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
	-DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

# torch is pinned to the local CPU wheel through constraints.txt; a loose torch pulls a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL="$$(nproc)" \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

chat: install
	$(BIN)/gemsql chat

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/foundation.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .langgraph_api
