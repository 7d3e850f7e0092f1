"""The SQL-writing Gemma on llama.cpp: the same greedy answer as tools.llm, several times sooner.

The model file is the packaged GGUF with the adapter merged in (tools.gguf_export), built once and
cached. One llama.cpp context per model file stays loaded in the process; its KV cache keeps the last
prompt, and llama-cpp-python reuses the longest common token prefix of the next one. The prompt builder
puts the schema first, so a question on the same database pays only for its own tokens.

Requires the optional package llama-cpp-python (built from source by the README's set-up, ~7 min on two
cores). Without it, :func:`available` is False and the engine stays on transformers.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from typing import Any

from langchain_core.callbacks.manager import CallbackManagerForLLMRun
from langchain_core.language_models.llms import LLM
from pydantic import ConfigDict, PrivateAttr

from tools.model_store import DEFAULT_MODEL, END_OF_TURN, ModelUnavailable
from tools.prompts import STOP_SEQUENCES, find_stop, not_a_query

CONTEXT_TOKENS = 4096
"""KV cache length: the longest prompt plus its answer. ~75 MB of cache for the 270M model."""


def available() -> bool:
    """Is llama-cpp-python installed (without importing it: that loads a shared library)?"""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def default_threads() -> int:
    """One thread per core this process may use: more only queue behind each other."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class _Loaded:
    """One llama.cpp model and context; calls are serialised because a context holds one sequence."""

    def __init__(self, path: str, threads: int) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp._utils import suppress_stdout_stderr
        except ImportError as exc:
            raise ModelUnavailable("the llama.cpp backend needs llama-cpp-python (see the README's set-up)") from exc
        if not os.path.isfile(path):
            raise ModelUnavailable(f"no GGUF model at {path}")
        # llama.cpp prints a few lines about its caches while loading, verbose=False or not; the chat is no place for them.
        with suppress_stdout_stderr(disable=False):
            self.llama = Llama(
                model_path=path,
                n_ctx=CONTEXT_TOKENS,
                n_batch=512,
                n_threads=threads,
                n_threads_batch=threads,
                # Gemma 3's sliding-window layers otherwise keep only the last 512 positions, and a cached
                # prefix could no longer be continued from an earlier point than the last prompt's end.
                swa_full=True,
                verbose=False,
            )
        self.lock = threading.Lock()
        self.stop_ids = {self.llama.token_eos()}
        end = self.llama.tokenize(END_OF_TURN.encode(), add_bos=False, special=True)
        if len(end) == 1:
            self.stop_ids.add(end[0])


_LOADED: dict[tuple[str, int], _Loaded] = {}
_LOADED_LOCK = threading.Lock()


def _loaded(path: str, threads: int) -> _Loaded:
    with _LOADED_LOCK:
        hit = _LOADED.get((path, threads))
        if hit is None:
            hit = _LOADED[(path, threads)] = _Loaded(path, threads)
        return hit


def clear_cache() -> None:
    with _LOADED_LOCK:
        _LOADED.clear()


class LlamaCppSQLLLM(LLM):
    """Greedy completion with the (optionally LoRA-tuned) Gemma on llama.cpp; returns the raw continuation.

    The counterpart of tools.llm.GemmaSQLLLM with the same stops: the end of the turn, a ';' outside a
    literal, a closing fence, or a first word that is not SQL.
    """

    model_config = ConfigDict(protected_namespaces=())

    model_name: str = DEFAULT_MODEL
    adapter: str | None = None
    max_new_tokens: int = 160
    threads: int = 0
    """CPU threads; 0: one per core this process may use."""
    stop_when_not_sql: bool = True

    _last_stats: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "gemsql-gemma-llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "adapter": self.adapter, "max_new_tokens": self.max_new_tokens}

    @property
    def last_stats(self) -> dict[str, Any]:
        return self._last_stats

    def gguf_path(self) -> str:
        from tools.gguf_export import export_gguf

        return str(export_gguf(self.model_name, self.adapter, progress=False))

    def warm_up(self) -> None:
        """Load (and export, the first time) the model without answering anything."""
        _loaded(self.gguf_path(), self.threads or default_threads())

    def _call(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        loaded = _loaded(self.gguf_path(), self.threads or default_threads())
        llama = loaded.llama
        stops = list(dict.fromkeys([*STOP_SEQUENCES, *(stop or [])]))
        max_new_tokens = max(1, int(kwargs.get("max_new_tokens") or self.max_new_tokens))
        with loaded.lock:
            tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            if len(tokens) + max_new_tokens > CONTEXT_TOKENS:
                raise ModelUnavailable(
                    f"the prompt is {len(tokens)} tokens; with {max_new_tokens} new ones it exceeds the "
                    f"{CONTEXT_TOKENS}-token context. Ask about fewer tables or use a smaller schema."
                )
            # For the stats: how many prompt tokens the KV cache already holds (llama-cpp-python reuses them).
            reused = llama.longest_token_prefix(llama._input_ids[: llama.n_tokens], tokens)
            started = time.perf_counter()
            first_token_at = None
            new: list[int] = []
            text = ""
            for token in llama.generate(tokens, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                new.append(token)
                if token in loaded.stop_ids:
                    break
                text = llama.detokenize(new, special=True).decode("utf-8", errors="ignore")
                cut = find_stop(text, stops)
                if cut != -1:
                    text = text[:cut]
                    break
                if self.stop_when_not_sql and not_a_query(text):
                    break
                if len(new) >= max_new_tokens:
                    break
            seconds = time.perf_counter() - started
        prefill = (first_token_at or time.perf_counter()) - started
        self._last_stats = {"prompt_tokens": len(tokens), "new_tokens": len(new), "seconds": seconds,
                            "prefill_seconds": prefill, "decode_seconds": seconds - prefill,
                            "cached_prompt_tokens": reused}
        return text


@functools.lru_cache(maxsize=16)
def get_llama_llm(model: str = DEFAULT_MODEL, adapter: str | None = None, max_new_tokens: int = 160) -> LlamaCppSQLLLM:
    """A shared LlamaCppSQLLLM for these settings (the model itself is cached per file)."""
    return LlamaCppSQLLLM(model_name=model, adapter=adapter, max_new_tokens=max_new_tokens)
