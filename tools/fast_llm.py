"""The SQL-writing Gemma on CTranslate2: the same weights and prompt as tools.llm, several times faster.

Two things make it fast on two CPU cores besides CTranslate2's kernels. The static part of the prompt
(instruction + schema, see tools.prompts.static_prefix) is given as CTranslate2's ``static_prompt`` with
its KV cache kept, so a question only pays for its own tokens after the first one on a database. And
it imports neither torch nor transformers (the tokenizer is the ``tokenizers`` library reading the
same tokenizer.json), which keeps a cold ``gemsql ask`` short.

Decoding is greedy and stops at the end of the model's turn or of the statement, exactly like the
transformers path (same stop strings, same "not a query" early exit).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from pathlib import Path
from typing import Any

from langchain_core.callbacks.manager import CallbackManagerForLLMRun
from langchain_core.language_models.llms import LLM
from pydantic import ConfigDict, PrivateAttr

from tools.model_store import DEFAULT_MODEL
from tools.prompts import END, EOS, STOP_SEQUENCES, find_stop, not_a_query, split_static


@functools.lru_cache(maxsize=4)
def _load(folder: str, compute_type: str, threads: int) -> tuple[Any, Any]:
    import ctranslate2
    from tokenizers import Tokenizer

    generator = ctranslate2.Generator(folder, device="cpu", compute_type=compute_type, intra_threads=threads)
    return generator, Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))


class FastSQLLLM(LLM):
    """Greedy completion on CTranslate2; the export is made (and cached) on first use by tools.fast_export."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str = DEFAULT_MODEL
    adapter: str | None = None
    max_new_tokens: int = 160
    quantization: str = "float32"
    """CTranslate2 weight type: float32 (the reference's numbers) or int8 (smaller, faster, may differ)."""
    threads: int = 0
    """Intra-op threads; 0: one per core."""
    stop_when_not_sql: bool = True

    _last_stats: dict[str, Any] = PrivateAttr(default_factory=dict)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "gemsql-gemma-ctranslate2"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "adapter": self.adapter, "quantization": self.quantization,
                "max_new_tokens": self.max_new_tokens}

    @property
    def last_stats(self) -> dict[str, Any]:
        return self._last_stats

    def handles(self) -> tuple[Any, Any]:
        from tools.fast_export import export_dir

        folder = export_dir(self.model_name, self.adapter, self.quantization)
        compute = "int8_float32" if self.quantization.startswith("int8") else "float32"
        return _load(str(folder), compute, self.threads or os.cpu_count() or 1)

    def _call(self, prompt: str, stop: list[str] | None = None,
              run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> str:
        generator, tokenizer = self.handles()
        stops = list(dict.fromkeys([*STOP_SEQUENCES, *(stop or [])]))
        max_new_tokens = max(1, int(kwargs.get("max_new_tokens") or self.max_new_tokens))
        static, rest = split_static(prompt)
        full_ids = tokenizer.encode(prompt).ids
        options: dict[str, Any] = {}
        tokens = [tokenizer.id_to_token(i) for i in full_ids]
        if static:
            static_ids = tokenizer.encode(static).ids
            # The cache is only sound when the two halves tokenize exactly like the whole prompt.
            if full_ids[: len(static_ids)] == static_ids:
                options = {"static_prompt": tokens[: len(static_ids)], "cache_static_prompt": True}
                tokens = tokens[len(static_ids):]
        enders = [t for t in (END, EOS) if tokenizer.token_to_id(t) is not None]
        new_ids: list[int] = []
        text = ""
        first_token = 0.0
        started = time.perf_counter()
        with self._lock:  # a CTranslate2 generator and its static-prompt cache serve one call at a time here
            for step in generator.generate_tokens(tokens, max_length=max_new_tokens, sampling_topk=1,
                                                  end_token=enders, **options):
                if not new_ids:
                    first_token = time.perf_counter() - started  # the prefill of the question's own tokens
                new_ids.append(step.token_id)
                text = tokenizer.decode(new_ids, skip_special_tokens=False)
                if find_stop(text, stops) != -1:
                    break
                if self.stop_when_not_sql and not_a_query(tokenizer.decode(new_ids, skip_special_tokens=True)):
                    break
        seconds = time.perf_counter() - started
        cut = find_stop(text, stops)
        if cut != -1:
            text = text[:cut]
        self._last_stats = {"prompt_tokens": len(full_ids), "new_tokens": len(new_ids), "seconds": seconds,
                            "prefill_seconds": first_token, "cached_prefix_tokens": len(full_ids) - len(tokens)}
        return text


@functools.lru_cache(maxsize=16)
def get_fast_llm(model: str = DEFAULT_MODEL, adapter: str | None = None, max_new_tokens: int = 160,
                 quantization: str = "float32") -> FastSQLLLM:
    return FastSQLLLM(model_name=model, adapter=adapter, max_new_tokens=max_new_tokens, quantization=quantization)
