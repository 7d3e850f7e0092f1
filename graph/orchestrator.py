"""Calling the graph: ``ask`` (the answer object every interface shares) and the original design's facade."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from graph.context import Context

log = logging.getLogger("gemsql")

ANSWER_KEYS = ("question", "sql", "columns", "rows", "truncated", "error", "db", "engine", "attempts",
               "latency_s", "chart", "answer", "intent", "entities", "timings", "agreement")


def ask(question: str, context: Context | None = None, *, thread_id: str | None = None, compiled=None,
        config: dict | None = None, **overrides: Any) -> dict[str, Any]:
    """Answer one question through the graph; never raises: failures come back under ``error``.

    With ``thread_id`` the question is a turn of that conversation (graph.threads): it runs on the
    checkpointed graph, so follow-ups ('and in 2024?') resolve against the earlier turns, and the turn is
    saved for the next one. Without it the question stands alone. The answer carries ``thread_id`` either way.
    """
    from graph.pipeline import graph as default_graph

    started = time.perf_counter()
    context = context or Context()
    answer: dict[str, Any] = {key: None for key in ANSWER_KEYS}
    answer.update(question=question, columns=[], rows=[], entities={}, attempts=0, truncated=False)
    answer["thread_id"] = thread_id
    try:
        context = context.with_overrides(overrides)
        context.check()
        if thread_id is None:
            result = (compiled or default_graph).invoke({"question": question}, config=config, context=context)
        else:
            result = _ask_in_thread(question, context, thread_id, compiled, config)
        answer.update({k: v for k, v in dict(result).items() if k in ANSWER_KEYS})
    except (ValueError, OSError) as exc:
        answer["error"] = str(exc)
    except Exception as exc:  # a bug of ours must not reach the analyst as a traceback
        log.exception("internal error while answering %r", question)
        answer["error"] = f"internal error ({type(exc).__name__}): {exc}"
    answer["latency_s"] = round(time.perf_counter() - started, 4)
    return answer


def _ask_in_thread(question: str, context: Context, thread_id: str, compiled, config: dict | None) -> dict:
    from graph.threads import check_thread_id, conversation_graph, one_question_at_a_time

    thread_id = check_thread_id(thread_id)
    config = dict(config or {})
    config["configurable"] = {**config.get("configurable", {}), "thread_id": thread_id}
    # Overrides are per question: the input sets them every time, or the last question's would carry over.
    with one_question_at_a_time(thread_id):
        return (compiled or conversation_graph()).invoke({"question": question, "overrides": {}}, config=config,
                                                         context=context)


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
