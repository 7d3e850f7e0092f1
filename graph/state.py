"""The typed state that flows through the text-to-SQL graph."""

from __future__ import annotations

import operator
from dataclasses import MISSING, dataclass, field, fields
from typing import Annotated, Any, Literal, get_type_hints

from langgraph.types import Overwrite

Intent = Literal["data_question", "schema_question", "greeting", "write_request", "out_of_scope", "explanation"]

# Enough turns for any follow-up to resolve against, few enough that a long chat's checkpoints stay small.
MAX_TURNS = 20


def merge_dicts(left: dict, right: dict) -> dict:
    """Reducer: later nodes add keys (timings) without erasing earlier ones."""
    return {**(left or {}), **(right or {})}


def append_turns(left: list | None, right: list | None) -> list:
    """Reducer: a finished question adds its turn; only the last MAX_TURNS are kept."""
    return [*(left or []), *(right or [])][-MAX_TURNS:]


@dataclass(kw_only=True)
class InputState:
    """What a caller gives the graph."""

    question: str = ""
    """The analyst's question in plain English."""

    overrides: dict[str, Any] = field(default_factory=dict)
    """Per-question overrides of Context fields, e.g. {"engine": "template", "use_rag": False}."""


@dataclass(kw_only=True)
class OutputState:
    """What the graph gives back: the contract of `gemsql ask --json`."""

    question: str = ""
    """The question, as asked."""

    intent: Intent | None = None
    """What the question is: a data question, a question about the schema, a greeting, a write request, out of
    scope, or (in a conversation) a request to explain the last result ('why is that?')."""

    entities: dict[str, Any] = field(default_factory=dict)
    """Years, date range, regions, brands, categories, metric, top-N, grouping... resolved against the database."""

    sql: str = ""
    """The SQL that was run (or the last one tried)."""

    columns: list[str] = field(default_factory=list)
    """Column names of the result."""

    rows: list[list[Any]] = field(default_factory=list)
    """Result rows, JSON-safe: decimals as numbers, dates and timestamps as ISO strings."""

    truncated: bool = False
    """True when the result had more rows than row_limit."""

    chart: dict[str, Any] | None = None
    """Declarative chart spec {kind, x, y, color, title} plus the Plotly figure JSON under 'figure'."""

    answer: str = ""
    """The one-line answer for the analyst."""

    error: str | None = None
    """A clear message when no answer could be given; None on success."""

    engine: str = ""
    """The engine that wrote the final SQL: 'finetuned' or 'template' ('' when none ran)."""

    attempts: int = 0
    """How many SQL candidates were generated (the first try plus retries plus a fallback)."""

    agreement: dict[str, int] | None = None
    """Self-consistency (Context.candidates > 1): how many of the model's candidates returned the chosen
    result, of how many, and how many failed — {votes, candidates, failed}; None for a single answer."""

    db: str = ""
    """Absolute path of the database used."""

    timings: Annotated[dict[str, float], merge_dicts] = field(default_factory=dict)
    """Seconds spent in each node."""


@dataclass(kw_only=True)
class State(InputState, OutputState):
    """The full working state. Nodes return only the fields they change."""

    plan: list[str] = field(default_factory=list)
    """The engine to use for each attempt in turn, e.g. ['finetuned', 'finetuned', 'finetuned', 'template']."""

    schema_context: str = ""
    """The schema part of the prompt (static for a database)."""

    linked_tables: list[str] = field(default_factory=list)
    """Tables judged relevant to the question."""

    retrieved: dict[str, Any] = field(default_factory=dict)
    """Per-question context from retrieval: matching values, examples, glossary entries."""

    feedback: str | None = None
    """The last validation or execution error, fed back to the model on its next attempt."""

    history: Annotated[list[dict[str, Any]], operator.add] = field(default_factory=list)
    """Every attempt: {engine, sql, error}."""

    follow_up: dict[str, Any] | None = None
    """How this question builds on the conversation's last answered data question, or None when it stands
    alone: {kind, question, shape, sql, entities, title} (see tools.followups)."""

    turns: Annotated[list[dict[str, Any]], append_turns] = field(default_factory=list)
    """The conversation so far, oldest first: one {question, sql, answer, error, ...} per finished question.
    Unlike every other field it outlives the question: in a checkpointed thread the next question reads it."""


# Fields that are not about one question: the question itself and its overrides come with each input, and
# the conversation's turns are meant to carry over.
_CARRIED = frozenset({"question", "overrides", "turns"})


def fresh_question() -> dict[str, Any]:
    """An update that puts every per-question field back to its default.

    A checkpointed thread keeps the whole state between questions, so without this the SQL, rows, error,
    attempts, feedback, history and timings of the last question would leak into the next one. Fields
    with a reducer are overwritten rather than reduced (an empty list added to a list changes nothing).
    """
    hints = get_type_hints(State, include_extras=True)
    update: dict[str, Any] = {}
    for f in fields(State):
        if f.name in _CARRIED:
            continue
        value = f.default_factory() if f.default_factory is not MISSING else f.default
        reduced = bool(getattr(hints[f.name], "__metadata__", ()))
        update[f.name] = Overwrite(value) if reduced else value
    return update
