"""The SQL-writing Gemma as a LangChain LLM: greedy, float32, stops as soon as the SQL ends."""

from __future__ import annotations

import functools
import time
from typing import Any

import torch
from langchain_core.callbacks.manager import CallbackManagerForLLMRun
from langchain_core.language_models.llms import LLM
from pydantic import ConfigDict, PrivateAttr
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from tools.model_store import DEFAULT_MODEL, greedy_generation_config, load_model, stop_token_ids
from tools.prompts import STOP_SEQUENCES, find_stop, not_a_query
from tools.schema_constraint import SchemaConstraint, constrained_argmax


class StopOnText(StoppingCriteria):
    """Stop when the generated text (not the prompt) contains a stop string.

    Works on decoded text rather than token ids because a stop string such as ';' or '```' can be
    glued to other characters inside one token, or split over several. Uses prompts.find_stop, so a
    ';' inside a string literal and an opening ```sql fence do not stop generation.
    """

    def __init__(self, tokenizer: Any, prompt_length: int, stops: list[str]) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.stops = stops

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        # Re-decoding the whole continuation each step is O(n^2) in tokens, but n <= a few hundred and
        # a decode costs microseconds next to a forward pass; it keeps literal/fence state exact.
        done = [
            find_stop(self.tokenizer.decode(row[self.prompt_length:], skip_special_tokens=False), self.stops) != -1
            for row in input_ids
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class StopWhenNotSQL(StoppingCriteria):
    """Give up as soon as the continuation's first word shows it is not a query.

    An untuned base model answers a SQL prompt with prose or an echo of the prompt; generating the
    remaining tokens of such an answer only delays the retry or the fallback.
    """

    def __init__(self, tokenizer: Any, prompt_length: int) -> None:
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        done = [not_a_query(self.tokenizer.decode(row[self.prompt_length:], skip_special_tokens=True))
                for row in input_ids]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class SchemaConstrained(LogitsProcessor):
    """Schema-constrained greedy decoding (tools.schema_constraint), as the llama.cpp backend applies it.

    Where the greedy token would name something the database does not have, the most likely token the
    constraint allows is raised above it, so greedy decoding takes it.
    """

    def __init__(self, tokenizer: Any, prompt_length: int, constraint: SchemaConstraint) -> None:
        self.prompt_length = prompt_length
        self.constraint = constraint
        self.piece = token_piece_reader(tokenizer)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row in range(scores.shape[0]):
            text = "".join(self.piece(t) for t in input_ids[row, self.prompt_length:].tolist())
            logits = scores[row].detach().float().cpu().numpy()
            chosen = constrained_argmax(logits, text, self.piece, self.constraint)
            if chosen != int(logits.argmax()):
                scores[row, chosen] = scores[row].max() + 1.0
        return scores


def token_piece_reader(tokenizer: Any):
    """The text one token adds to the continuation ('' for special tokens), memoised per tokenizer.

    Decoded through the tokenizer's own decoder one token at a time, so that a leading space (SentencePiece's
    '\u2581', byte-level BPE's '\u0120') is kept rather than stripped as at the start of a text.
    """
    special = set(tokenizer.all_special_ids)
    cache: dict[int, str] = {}

    def piece(token: int) -> str:
        text = cache.get(token)
        if text is None:
            raw = tokenizer.convert_ids_to_tokens(token)
            text = cache[token] = "" if token in special or raw is None else tokenizer.convert_tokens_to_string([raw])
        return text

    return piece


class GemmaSQLLLM(LLM):
    """Greedy text completion with the (optionally LoRA-tuned) Gemma; returns the raw continuation.

    The weights load lazily on the first call and come from model_store's per-process cache, so many
    instances share one copy. ``last_stats`` holds prompt_tokens, new_tokens and seconds of the latest
    call (for benchmarks; with concurrent callers it is simply the last one to finish).
    """

    model_config = ConfigDict(protected_namespaces=())

    model_name: str = DEFAULT_MODEL
    adapter: str | None = None
    max_new_tokens: int = 160
    stop_when_not_sql: bool = True
    """Stop at once when the first word written is not the start of a query (see StopWhenNotSQL)."""

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _last_stats: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "gemsql-gemma"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "adapter": self.adapter, "max_new_tokens": self.max_new_tokens}

    @property
    def last_stats(self) -> dict[str, Any]:
        return self._last_stats

    def _handles(self) -> tuple[Any, Any]:
        # Asked on every call (a dictionary hit) rather than kept forever, so that an adapter retrained
        # in place is picked up: model_store keys its cache on the adapter files' mtime.
        self._model, self._tokenizer = load_model(self.model_name, self.adapter)
        return self._model, self._tokenizer

    def _encoded(self, prompt: str) -> tuple[Any, Any, Any, int]:
        """The model, its tokenizer, the encoded prompt and its length in tokens."""
        model, tokenizer = self._handles()
        # The prompt format has no <bos>; the tokenizer adds it. Do not add a second one if a caller did.
        add_special = not (tokenizer.bos_token and prompt.startswith(tokenizer.bos_token))
        encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=add_special).to(model.device)
        return model, tokenizer, encoded, int(encoded["input_ids"].shape[1])

    def _stopping(self, tokenizer: Any, prompt_length: int, stops: list[str]) -> StoppingCriteriaList:
        criteria = StoppingCriteriaList([StopOnText(tokenizer, prompt_length, stops)])
        if self.stop_when_not_sql:
            criteria.append(StopWhenNotSQL(tokenizer, prompt_length))
        return criteria

    def _call(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        model, tokenizer, encoded, prompt_length = self._encoded(prompt)
        stops = list(dict.fromkeys([*STOP_SEQUENCES, *(stop or [])]))
        max_new_tokens = max(1, int(kwargs.get("max_new_tokens") or self.max_new_tokens))

        config = greedy_generation_config(tokenizer)
        config.max_new_tokens = max_new_tokens
        criteria = self._stopping(tokenizer, prompt_length, stops)
        started = time.perf_counter()
        with torch.inference_mode():
            constraint = kwargs.get("constraint")
            processors = LogitsProcessorList([SchemaConstrained(tokenizer, prompt_length, constraint)] if constraint else [])
            output = model.generate(**encoded, generation_config=config, stopping_criteria=criteria,
                                    logits_processor=processors)
        seconds = time.perf_counter() - started

        new_ids = output[0, prompt_length:].tolist()
        self._last_stats = {"prompt_tokens": prompt_length, "new_tokens": len(new_ids), "seconds": seconds}
        return _answer_text(tokenizer, new_ids, stops)

    def candidates(self, prompt: str, n: int, *, constraint: SchemaConstraint | None = None,
                   temperature: float | None = None, top_k: int | None = None, seed: int | None = None) -> list[str]:
        """The greedy answer (under ``constraint`` if given), then ``n - 1`` sampled ones (see ``sample``)."""
        greedy = self.invoke(prompt, **({"constraint": constraint} if constraint else {}))
        return [greedy, *self.sample(prompt, n - 1, temperature=temperature, top_k=top_k, seed=seed)]

    def sample(self, prompt: str, n: int, *, temperature: float | None = None, top_k: int | None = None,
               seed: int | None = None) -> list[str]:
        """``n`` sampled answers to ``prompt`` for self-consistency (tools.self_consistency), generated as one
        batch; the seed defaults to one fixed by the prompt, as on the llama.cpp backend."""
        from tools.self_consistency import SAMPLE_TEMPERATURE, SAMPLE_TOP_K, sampling_seed

        if n < 1:
            return []
        model, tokenizer, encoded, prompt_length = self._encoded(prompt)
        stops = list(STOP_SEQUENCES)
        config = greedy_generation_config(tokenizer)
        config.max_new_tokens = self.max_new_tokens
        config.do_sample = True
        config.temperature = SAMPLE_TEMPERATURE if temperature is None else temperature
        config.top_k = SAMPLE_TOP_K if top_k is None else top_k
        config.num_return_sequences = n
        criteria = self._stopping(tokenizer, prompt_length, stops)
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(sampling_seed(prompt) if seed is None else seed)
            output = model.generate(**encoded, generation_config=config, stopping_criteria=criteria)
        return [_answer_text(tokenizer, row[prompt_length:].tolist(), stops) for row in output]


def _answer_text(tokenizer: Any, new_ids: list[int], stops: list[str]) -> str:
    """The answer's text: up to the first end-of-turn token (or padding after it) and the first stop string."""
    enders = set(stop_token_ids(tokenizer))
    if tokenizer.pad_token_id is not None:
        enders.add(tokenizer.pad_token_id)
    end = next((i for i, t in enumerate(new_ids) if t in enders), len(new_ids))
    text = tokenizer.decode(new_ids[:end], skip_special_tokens=False)
    cut = find_stop(text, stops)
    return text if cut == -1 else text[:cut]


@functools.lru_cache(maxsize=16)
def get_llm(model: str = DEFAULT_MODEL, adapter: str | None = None, max_new_tokens: int = 160) -> GemmaSQLLLM:
    """A shared GemmaSQLLLM for these settings (the weights themselves are cached by model_store)."""
    return GemmaSQLLLM(model_name=model, adapter=adapter, max_new_tokens=max_new_tokens)
