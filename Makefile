# Two commands from a fresh clone: `make chat` (the chat on the bundled sales database) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install chat test bench train-cpu clean

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

# The CPU recipe: data and training in under an hour on two cores (README, Fine-tuning). The shipped adapter
# is the GPU one, which measures better; this one lands in data/cpu60/adapter.
CPU_MIX := sales=0.3,active_store=0.05,domain=0.3,spider_train=0.35
train-cpu: install
	$(BIN)/python -m training.generator --out data/training_data.jsonl
	$(BIN)/python -m training.contextualize --data data/training_data_train.jsonl --mix $(CPU_MIX) \
		--unfiltered 0.35 --n 1300 --seed 101 --out data/cpu60/train_rag.jsonl
	$(BIN)/python -m training.repairs --data data/training_data_train.jsonl --mix $(CPU_MIX) --n 260 --seed 103 \
		--out data/cpu60/repairs.jsonl
	$(BIN)/python -m training.combine --out data/cpu60/train.jsonl --seed 7 data/cpu60/train_rag.jsonl \
		data/cpu60/repairs.jsonl
	$(BIN)/python -m training.contextualize --data data/training_data_val.jsonl --mix $(CPU_MIX) \
		--unfiltered 0.35 --n 40 --seed 17 --out data/val_rag5.jsonl
	$(BIN)/gemsql train --data data/cpu60/train.jsonl --val data/val_rag5.jsonl --val-limit 24 --eval-steps 170 \
		--save-steps 85 --keep-checkpoints 0 --lora-layers last:6 --lr 4e-4 --batch-size 2 --grad-accum 2 \
		--max-length 1024 --max-steps 340 --group-by-length --seed 101 --max-minutes 52 --out data/cpu60/adapter

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .langgraph_api
