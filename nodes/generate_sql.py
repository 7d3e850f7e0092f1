"""Write the SQL: the model (with the last error fed back) or the template engine, as the plan says."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import State
from nodes.common import settings, timed
from nodes.retrieve_context import context_text
from tools.retry_detour import AllOf, RetryDetour
from tools.schema import DatabaseSchema, load_schema

log = logging.getLogger(__name__)


@lru_cache(maxsize=16)
def _template_engine(schema: DatabaseSchema):
    from tools.templates import TemplateEngine

    return TemplateEngine(schema)


def _with_template(state: State) -> str:
    from tools.templates import CannotAnswer

    try:
        # A follow-up's entities are already merged into its base's; the base's wording keeps the SQL's shape.
        question = state.follow_up["shape"] if state.follow_up else state.question
        return _template_engine(load_schema(state.db)).generate(question, state.entities)
    except CannotAnswer as exc:
        raise _GenerationFailed(str(exc), skip_to_next_engine=True) from exc


def model_prompt(state: State) -> str:
    """The model's prompt for this state; training builds its prompts with this very function."""
    from tools.prompts import build_prompt

    last = state.history[-1] if state.history and state.feedback else None
    # A template engine that declined the question (the hybrid asks it first) left nothing to correct.
    declined = last is not None and last.get("engine") == "template" and not last.get("sql")
    last_sql = last["sql"] if last and not declined else None
    return build_prompt(
        state.question,
        state.schema_context,
        context=context_text(state.retrieved),
        feedback=None if declined else state.feedback,
        previous_sql=last_sql or None,
        previous_turn=(state.follow_up["question"], state.follow_up["sql"]) if state.follow_up else None,
    )


def model_llm(ctx: Context):
    """The shared LLM for these settings, on the backend they choose (both give the same greedy answer)."""
    if ctx.model_backend() == "llamacpp":
        from tools.llama_llm import get_llama_llm

        return get_llama_llm(ctx.model, ctx.model_adapter(), ctx.max_new_tokens)
    from tools.llm import get_llm

    return get_llm(ctx.model, ctx.model_adapter(), ctx.max_new_tokens)


def _with_model(state: State, ctx: Context) -> tuple[str, dict[str, int] | None]:
    from tools.model_store import ModelUnavailable
    from tools.prompts import extract_sql

    prompt = model_prompt(state)
    agreement = None
    detour = RetryDetour.from_history(state.history)
    schema_constraint = None
    if ctx.constrain_to_schema or (ctx.constrain_retries and detour.failures):
        from tools.schema_constraint import SchemaConstraint

        schema_constraint = SchemaConstraint.for_schema(load_schema(state.db))
    try:
        llm = model_llm(ctx)
        # An LLM that cannot sample (one a caller plugged in) gives its greedy answer alone.
        if ctx.candidates > 1 and not detour.failures and hasattr(llm, "candidates"):
            sql, agreement = _most_consistent(llm, prompt, schema_constraint, state, ctx)
        else:
            sql = extract_sql(llm.invoke(prompt, **({"constraint": schema_constraint} if schema_constraint else {})))
        if sql and detour.repeats(sql):
            # The retry copied a query that already failed: decode again around where its error points.
            constraint = AllOf((schema_constraint, detour)) if schema_constraint else detour
            sql = extract_sql(llm.invoke(prompt, constraint=constraint)) or sql
    except ModelUnavailable as exc:
        raise _GenerationFailed(str(exc), skip_to_next_engine=True) from exc
    if not sql:
        raise _GenerationFailed("the model wrote no SQL")
    return sql, agreement


# A sampled candidate that runs longer than this is dropped from the vote rather than waited for: on the
# databases a question is asked of, a query that needs seconds is almost always a runaway join.
CANDIDATE_TIMEOUT_S = 3.0


def _most_consistent(llm, prompt: str, constraint, state: State, ctx: Context) -> tuple[str, dict[str, int] | None]:
    """The model's greedy answer and ctx.candidates - 1 sampled ones, run read-only; the result most return.
    No SQL at all: '' (and no agreement), for the caller to report."""
    from tools.executor import get_executor
    from tools.prompts import extract_sql
    from tools.self_consistency import choose_by_execution

    written = [extract_sql(text) for text in llm.candidates(prompt, ctx.candidates, constraint=constraint)]
    if not any(sql.strip() for sql in written):
        return "", None
    executor = get_executor(state.db, memory_limit=ctx.memory_limit, timeout=ctx.timeout)
    vote = choose_by_execution(written, lambda sql: executor.run(sql, row_limit=ctx.row_limit,
                                                                 timeout=CANDIDATE_TIMEOUT_S).rows)
    log.debug("self-consistency: %d of %d candidates agree (%d failed)", vote.votes, vote.candidates, vote.failed)
    return vote.sql, {"votes": vote.votes, "candidates": vote.candidates, "failed": vote.failed}


class _GenerationFailed(Exception):
    def __init__(self, message: str, skip_to_next_engine: bool = False) -> None:
        super().__init__(message)
        self.skip_to_next_engine = skip_to_next_engine


@timed("generation")
def generate_sql(state: State, runtime: Runtime[Context] | None = None) -> dict[str, Any]:
    """One attempt of the plan: returns the SQL, or the reason there is none as ``feedback``."""
    ctx = settings(state, runtime)
    attempt = state.attempts
    engine = state.plan[attempt]
    agreement = None
    try:
        if engine == "sql":
            sql = state.question
        elif engine == "template":
            sql = _with_template(state)
        else:
            sql, agreement = _with_model(state, ctx)
    except _GenerationFailed as exc:
        plan = state.plan
        if exc.skip_to_next_engine:  # retrying the same engine cannot help: a missing model, an unknown shape
            plan = plan[: attempt + 1] + [e for e in plan[attempt + 1 :] if e != engine]
        return {
            "sql": "",
            "engine": engine,
            "attempts": attempt + 1,
            "plan": plan,
            "feedback": str(exc),
            "history": [{"engine": engine, "sql": "", "error": str(exc)}],
        }
    # A retry's answer is a single one: the agreement of the first attempt's candidates no longer describes it.
    return {"sql": sql, "engine": engine, "attempts": attempt + 1, "feedback": None, "agreement": agreement}
