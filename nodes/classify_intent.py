"""First node: what kind of request is this? Also fixes the database and the engine plan."""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import Intent, State, fresh_question
from nodes.common import database_path, settings, timed
from tools.entities import extract_entities
from tools.followups import resolve
from tools.schema import DatabaseSchema, load_schema

_WRITE = re.compile(
    r"\b(delete|drop|truncate|insert|update|alter|upsert|merge into|erase|wipe|purge|overwrite|rename|grant|revoke)\b"
    r"|\b(create|add|make)\s+(a\s+|an\s+|new\s+)*(table|view|index|column|row|record|schema|database)s?\b"
    r"|\bremove\s+(all|the|every|rows?|records?|sales?|stores?|products?)\b"
    r"|\bset\s+\w+\s*=|\bchange\s+the\s+\w+\s+(of|to)\b",
    re.IGNORECASE,
)
# Reaching outside the database: files, extensions, settings. Refused like writes, before any SQL exists.
_OUTSIDE = re.compile(
    r"\b(read_\w+|parquet_scan|glob|getenv|system|load_extension|current_setting)\s*\("
    r"|\b(attach|detach|install|pragma)\s+['\"\w]|\bcopy\s+\w+\s+to\b|\bexport\s+database\b"
    r"|(^|[\s'\"(])/(etc|proc|sys|root|home|var|tmp|dev)/|\bpasswd\b|\w\.(csv|parquet|json)\b",
    re.IGNORECASE,
)
_SQL = re.compile(r"^\s*\(?\s*(select|with|from|table|values|pivot|unpivot|describe|summarize)\b", re.IGNORECASE)
_GREETING = re.compile(
    r"^\s*(hi|hello|hey|howdy|good (morning|afternoon|evening)|thanks?( you)?|thank you|help|/?help|"
    r"what can you do|who are you|how do (i|you) (use|work)( this)?)\b[\s!?.]*$",
    re.IGNORECASE,
)
_SCHEMA = re.compile(
    r"\b(what|which|list|show|describe)\b.*\b(tables?|columns?|fields?|schema)\b"
    r"|\bwhat data (do you have|is (there|available))\b|\bdescribe\b\s+\w+\s*$",
    re.IGNORECASE,
)
# Words that signal a question about data even when no table or column is named.
_DATA_WORDS = re.compile(
    r"\b(how many|how much|total|sum|count|number of|average|avg|mean|median|top|bottom|highest|lowest|"
    r"most|least|best|worst|max(imum)?|min(imum)?|trend|monthly|quarterly|yearly|per|by|each|compare|vs|"
    r"versus|growth|share|list|show|which|what were|what was|revenue|rev|sales?|sold|qty|quantity|units?|"
    r"orders?|stores?|products?|brands?|categor(y|ies)|regions?|price|amount|active)\b|\b(19|20)\d\d\b",
    re.IGNORECASE,
)


def classify(question: str, schema: DatabaseSchema | None = None) -> tuple[Intent, str]:
    """Rule-based intent with the reason, so refusals can say why."""
    text = question.strip()
    if not text:
        return "out_of_scope", "the question is empty"
    if match := _WRITE.search(text):
        return "write_request", f"it asks to change data ({match.group(0).strip().lower()!r})"
    if match := _OUTSIDE.search(text):
        return "write_request", f"it reaches outside the database ({match.group(0).strip().lower()!r})"
    if _GREETING.match(text):
        return "greeting", "a greeting or a request for help"
    if _SCHEMA.search(text):
        return "schema_question", "it asks about the database's structure"
    if is_sql(text) or _DATA_WORDS.search(text) or (schema is not None and _mentions_schema(text, schema)):
        return "data_question", "it asks about the data"
    return "out_of_scope", "it does not mention anything this database holds"


def _mentions_schema(text: str, schema: DatabaseSchema) -> bool:
    words = set(re.findall(r"[a-z0-9]+", text.lower()))
    for table in schema.tables:
        names = {table.name.lower(), *(c.name.lower() for c in table.columns)}
        for name in names:
            parts = set(name.split("_"))
            if parts <= words or name in words or name.rstrip("s") in words or f"{name}s" in words:
                return True
        for column in table.columns:
            if any(v.lower() in text.lower() for v in column.values if len(v) > 2):
                return True
    return False


def is_sql(question: str) -> bool:
    """Analysts may type SQL themselves: it then runs as written, through the same guard."""
    return bool(_SQL.match(question))


def engine_plan(ctx: Context, question: str = "") -> list[str]:
    """Engine for each attempt: the model gets 1 + max_retries tries; the ensemble then falls back to the
    template engine, the hybrid asks the template engine first (it skips straight to the model on a question
    it does not know)."""
    if is_sql(question):
        return ["sql"]
    if ctx.engine == "template":
        return ["template"]
    model_tries = ["finetuned"] * (1 + int(ctx.max_retries))
    if ctx.engine == "hybrid":
        return ["template", *model_tries]
    return model_tries + (["template"] if ctx.engine == "ensemble" else [])


@timed("intent")
def classify_intent(state: State, runtime: Runtime[Context] | None = None) -> dict[str, Any]:
    """Classify the question; settle the database and the engine plan for the rest of the run.

    As the first node it also clears what the previous question of a conversation left in the state.
    """
    fresh = fresh_question()
    try:
        ctx = settings(state, runtime)
        db = database_path(ctx)
        schema = load_schema(db)
    except (ValueError, OSError) as exc:
        return {**fresh, "question": state.question, "intent": None, "error": str(exc), "plan": []}
    intent, _reason = classify(state.question, schema)
    follow_up = None
    if state.turns and intent in ("data_question", "out_of_scope") and not is_sql(state.question):
        follow_up = resolve(state.question, extract_entities(state.question, schema), state.turns)
        if follow_up:
            intent = "explanation" if follow_up["kind"] == ["why"] else "data_question"
    return {**fresh, "question": state.question, "intent": intent, "db": db, "plan": engine_plan(ctx, state.question),
            "error": None, "follow_up": follow_up}
