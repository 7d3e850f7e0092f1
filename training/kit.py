"""The small machinery every template family shares: seeded per-template randomness, sampling, emitting.

Each template gets its own ``random.Random`` derived from (seed, template id), so adding or resizing
one template never reshuffles the questions of another, and a seed reproduces everything.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from training.examples import Candidate
from training.phrasing import Phraser

__all__ = ["Emitter", "template_rng", "sample", "quote", "run_templates"]

T = TypeVar("T")
Field = str | Sequence[str] | Callable[[], str]


def template_rng(seed: int, template: str) -> random.Random:
    """A generator private to one template, stable across Python runs (crc32, not hash())."""
    return random.Random(seed * 1_000_003 + zlib.crc32(template.encode()))


def sample(rng: random.Random, combos: Iterable[T], budget: int | None) -> list[T]:
    """Up to ``budget`` of ``combos`` in a seeded random order (all of them, shuffled, when budget is None)."""
    items = list(combos)
    rng.shuffle(items)
    return items if budget is None else items[:budget]


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


class Emitter:
    """Turns question patterns plus one SQL query into one or two paraphrased candidates.

    A field may be a string, a list (one element drawn per paraphrase) or a callable (called per
    paraphrase), so synonyms and period wordings vary between the paraphrases of one query.
    """

    def __init__(self, template: str, rng: random.Random, *, second_rate: float = 0.35,
                 typo_rate: float = 0.06, lower_rate: float = 0.22) -> None:
        self.template = template
        self.rng = rng
        self.phraser = Phraser(rng, typo_rate=typo_rate, lower_rate=lower_rate)
        self.second_rate = second_rate

    def emit(self, patterns: Sequence[str], sql: str, *, protect: Iterable[str] = (), allow_empty: bool = False,
             variants: int | None = None, **fields: Field) -> list[Candidate]:
        count = variants if variants is not None else 1 + (self.rng.random() < self.second_rate)
        chosen = self.rng.sample(list(patterns), min(count, len(patterns)))
        protect = [p for p in protect if p]
        out = []
        for pattern in chosen:
            values = {name: self._draw(value) for name, value in fields.items()}
            text = self.phraser.fill(pattern, **values)
            out.append(Candidate(self.phraser.finish(text, protect), sql, self.template, allow_empty))
        return out

    def _draw(self, value: Field) -> str:
        if callable(value):
            return value()
        if isinstance(value, str):
            return value
        return self.rng.choice(list(value))


TemplateFn = Callable[["Emitter", int], Iterable[list[Candidate]]]


def run_templates(templates: Iterable[tuple[str, int, TemplateFn]], seed: int,
                  scale: float) -> Iterator[tuple[str, list[Candidate]]]:
    """Run each (template id, budget, fn) with its own seeded emitter; budgets are multiplied by ``scale``."""
    for template, budget, fn in templates:
        emitter = Emitter(template, template_rng(seed, template))
        out: list[Candidate] = []
        for batch in fn(emitter, max(1, round(budget * scale))):
            out.extend(batch)
        yield template, out
