"""The SQL-writing Gemma on llama.cpp: the same greedy answer as tools.llm, several times sooner.

The model file is the packaged GGUF with the adapter merged in (tools.gguf_export), built once and
cached. One llama.cpp context per model file stays loaded in the process; its KV cache keeps the last
prompt, and llama-cpp-python reuses the longest common token prefix of the next one. The prompt builder
puts the schema first, so a question on the same database pays only for its own tokens. The cache of a
process's first prompt is saved beside the model file, and the next process starts from it.

Decoding is greedy with prompt-lookup drafts: SQL mostly repeats names and whole phrases of its prompt
(the schema, the retrieved examples), so after each token the text that followed the same last few tokens
earlier in the prompt is proposed and verified in one batch; the longest run the model itself would have
chosen greedily is kept. The output is the greedy output, up to the rounding of a batched pass: where two
tokens tie to the last bits, the batch may pick the other one (3 of 25 dev answers differed from
one-token-per-pass decoding, in both directions of correctness).

Requires the optional package llama-cpp-python (built from source by the README's set-up, ~7 min on two
cores). Without it, :func:`available` is False and the engine stays on transformers.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from langchain_core.callbacks.manager import CallbackManagerForLLMRun
from langchain_core.language_models.llms import LLM
from pydantic import ConfigDict, Field, PrivateAttr

from tools.model_store import DEFAULT_MODEL, END_OF_TURN, ModelUnavailable
from tools.prompts import STOP_SEQUENCES, find_stop, not_a_query
from tools.schema_constraint import SchemaConstraint, constrained_argmax

log = logging.getLogger("gemsql")

CONTEXT_TOKENS = 4096
"""KV cache length: the longest prompt plus its answer. ~75 MB of cache for the 270M model."""

DRAFT_TOKENS = int(os.environ.get("GEMSQL_DRAFT_TOKENS", "3"))
"""Most tokens proposed per verification pass (GEMSQL_DRAFT_TOKENS; 0 turns drafting off). Every verified
position costs a full row of the 262k-entry LM head, so a pass of 1 + 3 costs about three single-token
passes: measured on the sales dev set, 3 beat 0, 6 and 10 (benchmarks/latency.py --draft)."""

BATCH_SEQUENCES = 8
"""Answers decoded together by :meth:`LlamaCppSQLLLM.prefetch` (benchmarks/batching.py: 8 positions per pass
gave 2.9x the tokens per second of one on two cores)."""

LOOKUP_NGRAM = 3
"""Longest suffix of the text so far that is looked up in the prompt to find a draft (down to 1 token)."""


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
        self.path = path
        self.save_after_call = False
        """Set by restore_prompt_state when no saved state served this process's first prompt."""
        self.batches: dict[int, Any] = {}
        """Batch contexts (tools.llama_batch) on this model, by number of sequences, made on first use."""
        self.stop_ids = {self.llama.token_eos()}
        end = self.llama.tokenize(END_OF_TURN.encode(), add_bos=False, special=True)
        if len(end) == 1:
            self.stop_ids.add(end[0])

    def batch_context(self, n_seq: int, threads: int) -> Any:
        """The batch context with ``n_seq`` sequences on this model, made on first use. Callers hold ``lock``."""
        from tools.llama_batch import BatchContext

        batch = self.batches.get(n_seq)
        if batch is None:
            batch = self.batches[n_seq] = BatchContext(self.llama, n_seq, threads)
        return batch


def _prompt_tokens(llama: Any, prompt: str, max_new_tokens: int) -> list[int]:
    """The prompt's tokens; a clear error when it and ``max_new_tokens`` more do not fit the context."""
    tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
    if len(tokens) + max_new_tokens > CONTEXT_TOKENS:
        raise ModelUnavailable(
            f"the prompt is {len(tokens)} tokens; with {max_new_tokens} new ones it exceeds the "
            f"{CONTEXT_TOKENS}-token context. Ask about fewer tables or use a smaller schema."
        )
    return tokens


PROMPT_STATES = 8
"""Saved prompt states kept per model file (the newest ones): one per database asked about recently."""
MIN_RESTORED_TOKENS = 64
"""A saved state is restored only if it shares at least this many tokens with the prompt (the schema's part)."""


def state_dir(gguf_path: str) -> Path:
    """Where the KV caches of earlier prompts on this model file are kept, beside the (cached) GGUF."""
    return Path(gguf_path).with_suffix(".kv")


def _saved_states(folder: Path) -> list[Path]:
    """The complete state files (another process's half-written .tmp files start with a dot)."""
    return sorted(f for f in folder.glob("*.npz") if not f.name.startswith("."))


def restore_prompt_state(loaded: _Loaded, prompt: Sequence[int]) -> int:
    """Fill an empty KV cache from the saved state that shares the longest prefix with ``prompt``.

    A new process otherwise evaluates the whole schema part of its first prompt again (~0.6 s of a ~5 s
    cold start here). Returns the number of tokens restored (0: nothing fitted, and the state of this
    call will be saved). A file that cannot be read or does not fit this context is removed.
    """
    import llama_cpp

    llama = loaded.llama
    best, best_shared = None, 0
    for file in _saved_states(state_dir(loaded.path)):
        try:
            with np.load(file) as saved:
                shared = llama.longest_token_prefix(saved["tokens"].tolist(), prompt)
        except Exception:  # noqa: BLE001 - a half-written or foreign file: forget it
            file.unlink(missing_ok=True)
            continue
        if shared > best_shared:
            best, best_shared = file, shared
    loaded.save_after_call = best_shared < MIN_RESTORED_TOKENS
    if best is None or best_shared < MIN_RESTORED_TOKENS:
        return 0
    try:
        with np.load(best) as saved:
            tokens, data = saved["tokens"], saved["state"].tobytes()
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_set_data(llama._ctx.ctx, buffer, len(data)) != len(data):
            raise RuntimeError("the saved state does not fit this context")
    except Exception:  # noqa: BLE001 - start from an empty cache instead
        best.unlink(missing_ok=True)
        llama._ctx.kv_cache_clear()
        llama.n_tokens = 0
        loaded.save_after_call = True
        return 0
    llama.input_ids[: len(tokens)] = tokens
    llama.n_tokens = len(tokens)
    os.utime(best)  # recently used: kept when older states are pruned
    return len(tokens)


def save_prompt_state(loaded: _Loaded) -> None:
    """Save the KV cache (prompt and answer so far) for the next process; keep the newest PROMPT_STATES."""
    import llama_cpp

    llama = loaded.llama
    n = llama.n_tokens
    if n < MIN_RESTORED_TOKENS:
        return
    size = llama_cpp.llama_state_get_size(llama._ctx.ctx)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llama._ctx.ctx, buffer, size)
    tokens = np.array(llama.input_ids[:n], dtype=np.int32)
    folder = state_dir(loaded.path)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (hashlib.sha256(tokens.tobytes()).hexdigest()[:16] + ".npz")
    tmp = folder / f".{target.stem}.{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, tokens=tokens, state=np.frombuffer(buffer, dtype=np.uint8, count=written))
        os.replace(tmp, target)  # a reader never sees half a file
    finally:
        tmp.unlink(missing_ok=True)
    for old in sorted(_saved_states(folder), key=lambda f: f.stat().st_mtime, reverse=True)[PROMPT_STATES:]:
        old.unlink(missing_ok=True)


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


def prompt_lookup(tokens: Sequence[int], max_draft: int, ngram: int = LOOKUP_NGRAM) -> list[int]:
    """The tokens that followed the latest earlier occurrence of the longest matching suffix of ``tokens``.

    Tries the last ``ngram`` tokens first, then shorter suffixes; returns at most ``max_draft`` tokens, or
    none when no suffix of length >= 1 occurs earlier.
    """
    if max_draft <= 0 or len(tokens) < 2:
        return []
    seq = np.asarray(tokens)
    n_total = len(seq)
    for n in range(min(ngram, n_total - 1), 0, -1):
        suffix = seq[n_total - n:]
        # candidate starts of an earlier copy of the suffix (the suffix itself excluded)
        starts = np.flatnonzero(seq[: n_total - n] == suffix[0])
        for start in starts[::-1]:
            if np.array_equal(seq[start:start + n], suffix):
                follow = seq[start + n: start + n + max_draft]
                if len(follow):
                    return follow.tolist()
    return []


def greedy_tokens(llama: Any, prompt: Sequence[int], draft_tokens: int = DRAFT_TOKENS,
                  stats: dict[str, Any] | None = None, constraint: SchemaConstraint | None = None) -> Iterator[int]:
    """Yield the greedy continuation of ``prompt`` token by token, verifying prompt-lookup drafts in batches.

    The KV cache keeps what it already holds of ``prompt`` (the longest common prefix with the last call)
    and, when the caller stops early, the tokens evaluated so far; both are reused by the next call. The
    caller decides when to stop; ``stats`` receives the prefill time, the cached prompt tokens and the
    number of forward passes. With a ``constraint``, each position takes the most likely token it allows
    (tools.schema_constraint), and a draft token is kept only where it is that choice.
    """
    n_vocab = llama.n_vocab()
    ctx, batch = llama._ctx, llama._batch
    piece = _piece_reader(llama)
    cached = llama.longest_token_prefix(llama._input_ids[: llama.n_tokens], prompt)
    keep = min(cached, len(prompt) - 1)  # the last prompt token is evaluated again for its logits
    started = time.perf_counter()
    llama.n_tokens = keep
    llama.eval(prompt[keep:])  # drops the cache past `keep`, then decodes in n_batch chunks, logits for the last
    text = ""
    nxt = constrained_argmax(np.ctypeslib.as_array(ctx.get_logits_ith(-1), shape=(n_vocab,)), text, piece, constraint)
    passes = 1
    if stats is not None:
        stats.update(cached_prompt_tokens=cached, prefill_seconds=time.perf_counter() - started, passes=passes)
    seen = list(prompt)
    while True:
        seen.append(nxt)
        text += piece(nxt)
        yield nxt
        room = llama._n_ctx - llama.n_tokens - 1
        draft = prompt_lookup(seen, min(draft_tokens, room)) if draft_tokens > 0 else []
        run = [nxt, *draft]
        n_past = llama.n_tokens
        if n_past + len(run) > llama._n_ctx:
            return
        batch.set_batch(batch=run, n_past=n_past, logits_all=True)
        ctx.decode(batch)
        passes += 1
        rows = np.ctypeslib.as_array(ctx.get_logits(), shape=(len(run), n_vocab))
        accepted, drafted = 0, text
        while True:
            choice = constrained_argmax(rows[accepted], drafted, piece, constraint)
            if accepted == len(draft) or choice != draft[accepted]:
                break
            drafted += piece(choice)
            accepted += 1
        llama.input_ids[n_past:n_past + 1 + accepted] = run[: 1 + accepted]
        llama.n_tokens = n_past + 1 + accepted
        if accepted < len(draft):  # the rejected drafts leave the cache
            ctx.kv_cache_seq_rm(-1, llama.n_tokens, -1)
        if stats is not None:
            stats["passes"] = passes
        for token in draft[:accepted]:
            seen.append(token)
            text += piece(token)
            yield token
        nxt = choice


def _piece_reader(llama: Any) -> Callable[[int], str]:
    """The text one token adds ('' for special tokens), memoised per model: asked for every candidate."""
    cache = llama.__dict__.setdefault("_gemsql_pieces", {})

    def piece(token: int) -> str:
        text = cache.get(token)
        if text is None:
            text = cache[token] = llama.detokenize([token], special=False).decode("utf-8", errors="ignore")
        return text

    return piece


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
    draft_tokens: int = DRAFT_TOKENS
    """Prompt-lookup tokens verified per forward pass; 0: one token per pass (plain greedy)."""
    keep_prompt_states: bool = Field(default_factory=lambda: os.environ.get("GEMSQL_PROMPT_STATES", "0") == "1")
    """Restore the KV cache of an earlier process's prompt on this model (and save one for the next).

    Off unless GEMSQL_PROMPT_STATES=1: it saves ~1.8 s of a cold start, but a process that starts from a
    restored state does not always write what one that computed the same prefix writes (the 297th Spider dev
    case, 37th of an every-8th evaluation, took three attempts instead of one after a restore; not yet traced
    to its cause), and the same question should get the same SQL in every process."""

    _last_stats: dict[str, Any] = PrivateAttr(default_factory=dict)
    _prefetched: dict[tuple[str, bool], str] = PrivateAttr(default_factory=dict)

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
        prefetched = self._prefetched.pop((prompt, kwargs.get("constraint") is not None), None) if not stop else None
        if prefetched is not None:
            self._last_stats = {"prefetched": True}
            return prefetched
        loaded = _loaded(self.gguf_path(), self.threads or default_threads())
        llama = loaded.llama
        stops = list(dict.fromkeys([*STOP_SEQUENCES, *(stop or [])]))
        max_new_tokens = max(1, int(kwargs.get("max_new_tokens") or self.max_new_tokens))
        with loaded.lock:
            tokens = _prompt_tokens(llama, prompt, max_new_tokens)
            started = time.perf_counter()
            stats: dict[str, Any] = {}
            new: list[int] = []
            text = ""
            if llama.n_tokens == 0 and self.keep_prompt_states:
                restore_prompt_state(loaded, tokens)
            stream = greedy_tokens(llama, tokens, self.draft_tokens, stats, kwargs.get("constraint"))
            for token in stream:
                new.append(token)
                done, text = answer_text(llama, new, loaded.stop_ids, stops, self.stop_when_not_sql)
                if done or len(new) >= max_new_tokens:
                    break
            stream.close()
            seconds = time.perf_counter() - started
            if loaded.save_after_call and self.keep_prompt_states:
                loaded.save_after_call = False
                try:
                    save_prompt_state(loaded)
                except OSError as exc:  # a read-only home: the next cold start is slower, nothing worse
                    log.warning("could not save the prompt state: %s", exc)
        prefill = stats.get("prefill_seconds", seconds)
        self._last_stats = {"prompt_tokens": len(tokens), "new_tokens": len(new), "seconds": seconds,
                            "prefill_seconds": prefill, "decode_seconds": seconds - prefill,
                            "cached_prompt_tokens": stats.get("cached_prompt_tokens", 0),
                            "forward_passes": stats.get("passes", 0)}
        return text

    def sample(self, prompt: str, n: int, *, temperature: float | None = None, top_k: int | None = None,
               seed: int | None = None) -> list[str]:
        """``n`` sampled answers to ``prompt`` for self-consistency (tools.self_consistency), decoded together:
        the prompt is computed once and every pass decodes a token of each answer. The seed defaults to
        one fixed by the prompt, so a question gets the same answers in every process."""
        return self._together(prompt, n, greedy=False, temperature=temperature, top_k=top_k, seed=seed)

    def candidates(self, prompt: str, n: int, *, constraint: SchemaConstraint | None = None,
                   temperature: float | None = None, top_k: int | None = None, seed: int | None = None) -> list[str]:
        """The greedy answer (under ``constraint`` if given) and ``n - 1`` sampled ones, all decoded in one batch:
        one prefill and one pass per token for all of them, instead of a greedy call and then a batch; while
        the answers agree token for token, one position of the pass serves them all.

        The greedy answer is that of a single call up to a near-tie (a batched pass rounds differently); an
        answer prefetched for this prompt is used as it is."""
        prefetched = self._prefetched.pop((prompt, constraint is not None), None)
        if prefetched is not None:
            return [prefetched, *self.sample(prompt, n - 1, temperature=temperature, top_k=top_k, seed=seed)]
        return self._together(prompt, n, greedy=True, constraint=constraint, temperature=temperature, top_k=top_k,
                              seed=seed)

    def _together(self, prompt: str, n: int, *, greedy: bool, constraint: SchemaConstraint | None = None,
                  temperature: float | None, top_k: int | None, seed: int | None) -> list[str]:
        from tools.self_consistency import SAMPLE_TEMPERATURE, SAMPLE_TOP_K, TokenSampler, sampling_seed

        if n < 1:
            return []
        threads = self.threads or default_threads()
        loaded = _loaded(self.gguf_path(), threads)
        llama = loaded.llama
        piece = _piece_reader(llama)
        sampler = TokenSampler(n, SAMPLE_TEMPERATURE if temperature is None else temperature,
                               SAMPLE_TOP_K if top_k is None else top_k,
                               sampling_seed(prompt) if seed is None else seed)

        def pick(seq: int, logits: np.ndarray, text: str) -> int:
            if greedy and seq == 0:
                return constrained_argmax(logits, text, piece, constraint)
            return sampler(seq, logits, text)

        with loaded.lock:
            tokens = _prompt_tokens(llama, prompt, self.max_new_tokens)
            answers = loaded.batch_context(n, threads).generate(
                [tokens] * n, self._stopper(loaded), [None] * n, piece, self.max_new_tokens, pick=pick,
                draft_tokens=self.draft_tokens)
            return [self._text(loaded, answer) for answer in answers]

    def _stopper(self, loaded: _Loaded) -> Callable[[int, list[int]], bool]:
        """Is a batched answer complete: the same stops as one call's."""
        return lambda i, answer: self._done_and_text(loaded, answer)[0]

    def _text(self, loaded: _Loaded, answer: list[int]) -> str:
        return self._done_and_text(loaded, answer)[1]

    def _done_and_text(self, loaded: _Loaded, answer: list[int]) -> tuple[bool, str]:
        return answer_text(loaded.llama, answer, loaded.stop_ids, STOP_SEQUENCES, self.stop_when_not_sql)

    def prefetch(self, prompts: Sequence[str], constraints: Sequence[SchemaConstraint | None] | None = None,
                 batch_size: int = BATCH_SEQUENCES) -> None:
        """Answer ``prompts`` several per forward pass (tools.llama_batch) and keep the answers for the calls
        that ask for them next, each answer once. Replaces whatever an earlier prefetch kept."""
        self._prefetched.clear()
        if not prompts:
            return
        constraints = list(constraints) if constraints is not None else [None] * len(prompts)
        threads = self.threads or default_threads()
        loaded = _loaded(self.gguf_path(), threads)
        llama = loaded.llama
        with loaded.lock:
            batch = loaded.batch_context(batch_size, threads)
            piece = _piece_reader(llama)
            for start in range(0, len(prompts), batch_size):
                chunk = list(prompts[start:start + batch_size])
                tokens = [llama.tokenize(p.encode("utf-8"), add_bos=True, special=True) for p in chunk]
                answers = batch.generate(tokens, self._stopper(loaded), constraints[start:start + batch_size], piece,
                                         self.max_new_tokens)
                for prompt, constraint, answer in zip(chunk, constraints[start:start + batch_size], answers):
                    self._prefetched[(prompt, constraint is not None)] = self._text(loaded, answer)


def answer_text(llama: Any, tokens: list[int], stop_ids: set[int], stops: list[str],
                stop_when_not_sql: bool) -> tuple[bool, str]:
    """Is the answer made of ``tokens`` complete, and its text: up to a stop token or string, or as soon as
    it shows it is not a query."""
    if tokens and tokens[-1] in stop_ids:
        return True, llama.detokenize(tokens[:-1], special=True).decode("utf-8", errors="ignore")
    text = llama.detokenize(tokens, special=True).decode("utf-8", errors="ignore")
    cut = find_stop(text, stops)
    if cut != -1:
        return True, text[:cut]
    return stop_when_not_sql and not_a_query(text), text


@functools.lru_cache(maxsize=16)
def get_llama_llm(model: str = DEFAULT_MODEL, adapter: str | None = None, max_new_tokens: int = 160) -> LlamaCppSQLLLM:
    """A shared LlamaCppSQLLLM for these settings (the model itself is cached per file)."""
    return LlamaCppSQLLLM(model_name=model, adapter=adapter, max_new_tokens=max_new_tokens)
