"""Calling the graph: ``ask`` (the answer object every interface shares) and the original design's facade."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from graph.context import Context

log = logging.getLogger("gemsql")

ANSWER_KEYS = ("question", "sql", "columns", "rows", "truncated", "error", "db", "engine", "attempts",
               "latency_s", "chart", "answer", "intent", "entities", "timings")


def ask(question: str, context: Context | None = None, *, compiled=None, config: dict | None = None,
        **overrides: Any) -> dict[str, Any]:
    """Answer one question through the graph; never raises: failures come back under ``error``."""
    from graph.pipeline import graph as default_graph

    started = time.perf_counter()
    context = context or Context()
    answer: dict[str, Any] = {key: None for key in ANSWER_KEYS}
    answer.update(question=question, columns=[], rows=[], entities={}, attempts=0, truncated=False)
    try:
        context = context.with_overrides(overrides)
        context.check()
        result = (compiled or default_graph).invoke({"question": question}, config=config, context=context)
        answer.update({k: v for k, v in dict(result).items() if k in ANSWER_KEYS})
    except (ValueError, OSError) as exc:
        answer["error"] = str(exc)
    except Exception as exc:  # a bug of ours must not reach the analyst as a traceback
        log.exception("internal error while answering %r", question)
        answer["error"] = f"internal error ({type(exc).__name__}): {exc}"
    answer["latency_s"] = round(time.perf_counter() - started, 4)
    return answer


@dataclass
class OrchestratorResult:
    """The original design's state object: ``.sql``, ``.results_df`` and ``.chart_data``, plus the rest."""

    answer: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        if name in self.answer:
            return self.answer[name]
        raise AttributeError(name)

    @property
    def sql(self) -> str:
        return self.answer.get("sql") or ""

    @property
    def results_df(self):
        import pandas as pd

        return pd.DataFrame(self.answer.get("rows") or [], columns=self.answer.get("columns") or [])

    @property
    def chart_data(self) -> dict[str, Any] | None:
        return self.answer.get("chart")


class MultiAgentOrchestrator:
    """The original design's entry point, kept as a thin facade over the graph."""

    def __init__(self, context: Context | None = None, **settings: Any) -> None:
        self.context = (context or Context()).with_overrides(settings)

    def process(self, query: str, use_rag: bool = True, **overrides: Any) -> OrchestratorResult:
        return OrchestratorResult(ask(query, self.context, use_rag=use_rag, **overrides))
