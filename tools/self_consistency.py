"""Self-consistency by execution: several answers to one prompt, run, and the result most of them agree on.

A small model's greedy answer is often one token away from another reading of the question (COUNT of
products where brands were asked, a filter on the wrong year). Sampled answers disagree where the model
is unsure and agree where it is not, so the result that most answers return is more often right than the
greedy one alone (Wang et al. 2023, "Self-Consistency"; for SQL, voting on execution results as in
DAIL-SQL and CHESS). Every candidate goes through the same guard and bounded executor as the answer
itself; one that fails or is refused has no vote. Used by the model's first attempt when
``Context.candidates`` > 1; retries stay single answers, steered by the error instead.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

SAMPLE_TEMPERATURE = 0.7
"""Softmax temperature of the sampled candidates: enough to disagree where the model is unsure."""
SAMPLE_TOP_K = 40
"""Only the 40 most likely tokens are sampled from, so that no candidate strays into junk."""


def sampling_seed(prompt: str) -> int:
    """A seed fixed by the prompt: the same question gets the same candidates in every process."""
    return zlib.crc32(prompt.encode("utf-8"))


class TokenSampler:
    """Chooses each answer's next token by temperature and top-k sampling, one random stream per answer."""

    def __init__(self, answers: int, temperature: float = SAMPLE_TEMPERATURE, top_k: int = SAMPLE_TOP_K,
                 seed: int = 0) -> None:
        if temperature <= 0:
            raise ValueError("the sampling temperature must be above 0")
        self.temperature = float(temperature)
        self.top_k = max(1, int(top_k))
        self.streams = [np.random.default_rng([seed, answer]) for answer in range(answers)]

    def __call__(self, answer: int, logits: np.ndarray, text: str = "") -> int:
        k = min(self.top_k, logits.shape[0])
        top = np.argpartition(logits, -k)[-k:]
        scaled = logits[top].astype(np.float64) / self.temperature
        weights = np.exp(scaled - scaled.max())
        return int(top[self.streams[answer].choice(k, p=weights / weights.sum())])


def result_signature(rows: Sequence[Sequence[Any]]) -> tuple:
    """What a result says, as something to count votes by: its columns' values, with the columns' names,
    their order and the rows' order left out (two queries that differ only in those agree), and numbers
    rounded to 6 significant digits (SUM over DECIMAL and over DOUBLE agree too)."""
    width = len(rows[0]) if rows else 0
    columns = (tuple(sorted((_comparable(row[i]) for row in rows), key=repr)) for i in range(width))
    return tuple(sorted(columns, key=repr))


def _comparable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        number = float(value)
        if math.isnan(number) or math.isinf(number):
            return repr(number)
        return float(f"{number:.6g}")
    return str(value)


def _says_nothing(rows: Sequence[Sequence[Any]]) -> bool:
    """No rows, or only NULLs: the answer to a filter that matched nothing (a value misspelt, a year the
    data lacks) rather than an answer to the question."""
    return all(value is None for row in rows for value in row)


def agreement_phrase(agreement: dict[str, int] | None) -> str:
    """'4 of 5 answers agree' for an answer's ``agreement``, '' without one: what every interface shows."""
    return f"{agreement['votes']} of {agreement['candidates']} answers agree" if agreement else ""


@dataclass(frozen=True)
class Vote:
    """The outcome of one self-consistent choice."""

    sql: str
    """The SQL chosen: the first candidate of the result with the most votes."""
    votes: int
    """How many candidates returned that result."""
    candidates: int
    """How many candidates there were (failed ones included)."""
    failed: int
    """How many of them were refused by the guard or failed to run."""


def _normalised(sql: str) -> str:
    return re.sub(r"\s+", " ", sql.strip().rstrip(";")).lower()


def choose_by_execution(candidates: Sequence[str], execute: Callable[[str], Sequence[Sequence[Any]]]) -> Vote:
    """The candidate whose result most candidates return.

    ``candidates`` come greedy answer first; ``execute(sql)`` returns a query's rows or raises. A candidate
    counts once per time it was written. A result with rows outvotes any number of empty ones; among the
    rest the most votes win, and a tie goes to the result of the earliest candidate (the greedy answer
    first). When every candidate fails, the first one is returned for the retry loop to correct.
    """
    sqls = [sql for sql in candidates if sql and sql.strip()]
    if not sqls:
        raise ValueError("no candidate SQL to choose from")
    keys = [_normalised(sql) for sql in sqls]
    outcome: dict[str, tuple | None] = {}
    empty: dict[str, bool] = {}
    for sql, key in zip(sqls, keys):
        if key in outcome:  # written again: run once, counted each time
            continue
        try:
            rows = execute(sql)
        except Exception:  # noqa: BLE001 - a refused or failing candidate simply has no vote
            outcome[key] = None
            continue
        outcome[key] = result_signature(rows)
        empty[key] = _says_nothing(rows)
    ran = [i for i, key in enumerate(keys) if outcome[key] is not None]
    failed = len(sqls) - len(ran)
    if not ran:
        return Vote(sql=sqls[0], votes=0, candidates=len(sqls), failed=failed)
    with_rows = [i for i in ran if not empty[keys[i]]]
    pool = with_rows or ran
    tally: dict[tuple, list[int]] = {}
    for i in pool:
        tally.setdefault(outcome[keys[i]], []).append(i)
    best = max(tally.values(), key=lambda members: (len(members), -members[0]))
    return Vote(sql=sqls[best[0]], votes=len(best), candidates=len(sqls), failed=failed)
