"""Last node: the one-line answer, a refusal that says why, or a clear error."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import State
from nodes.classify_intent import classify
from nodes.common import timed
from tools.answer import summarize
from tools.followups import explain, last_data_turn
from tools.schema import load_schema

HELP = (
    "Ask a question about the data in plain English, for example: 'total sales in 2023', "
    "'top 5 brands by revenue', 'monthly revenue in the West region', 'active stores by region'. "
    "Ask 'what tables are there?' to see the schema. gemsql only reads: it never changes the database."
)


def _refusal(state: State) -> str:
    _, reason = classify(state.question)
    if state.intent == "write_request":
        return (f"Refused: gemsql only reads the data in this database; it never changes data or settings and "
                f"never reads other files, and {reason}. Ask a question about the data instead.")
    return f"This is not a question about the database: {reason}. {HELP}"


def _schema_rows(db: str) -> tuple[list[str], list[list[Any]]]:
    schema = load_schema(db)
    rows = [[t.name, c.name, c.type, c.comment] for t in schema.tables for c in t.columns]
    return ["table", "column", "type", "description"], rows


# Rows kept with a turn: enough to explain a result ('why is that?'), small enough for every checkpoint.
TURN_ROWS = 100


def turn_record(state: State, update: dict[str, Any]) -> dict[str, Any]:
    """What the conversation remembers of this question once it is answered."""
    final = {**{k: getattr(state, k) for k in ("sql", "columns", "rows", "error", "answer")}, **update}
    follow_up = state.follow_up or {}
    return {
        "question": state.question,
        "sql": final["sql"] if not final["error"] else "",
        "answer": final["answer"],
        "error": final["error"],
        "intent": state.intent,
        "engine": state.engine,
        "entities": state.entities,
        # The wording that decides the SQL's shape: a follow-up's is the question it builds on.
        "shape": follow_up.get("shape") or state.question,
        # A follow-up's title says what it builds on: 'total sales by region in 2023 → and in 2024?'.
        "title": follow_up.get("title") if follow_up and "why" not in follow_up.get("kind", []) else state.question,
        "columns": list(final["columns"] or []),
        "rows": list(final["rows"] or [])[:TURN_ROWS],
        "row_count": len(final["rows"] or []),
        "truncated": bool(getattr(state, "truncated", False)),
    }


@timed("respond")
def respond(state: State, runtime: Runtime[Context] | None = None) -> dict[str, Any]:
    """Words for the analyst, whatever path the question took; the conversation gains the turn."""
    update = _respond(state)
    update["turns"] = [turn_record(state, update)]
    return update


def _respond(state: State) -> dict[str, Any]:
    if state.error:  # settings or database problems found before any work
        return {"answer": "", "error": state.error}
    if state.intent in ("write_request", "out_of_scope"):
        message = _refusal(state)
        return {"answer": message, "error": message}
    if state.intent == "greeting":
        return {"answer": HELP, "error": None}
    if state.intent == "explanation":  # 'why is that?': what the last result's own rows show
        answer, columns, rows = explain(last_data_turn(state.turns))
        return {"answer": answer, "columns": columns, "rows": rows, "error": None}
    if state.intent == "schema_question":
        columns, rows = _schema_rows(state.db)
        tables = sorted({r[0] for r in rows})
        return {"columns": columns, "rows": rows, "error": None,
                "answer": f"The database has {len(tables)} tables: {', '.join(tables)} ({len(rows)} columns)."}
    if state.feedback is not None or not state.sql:
        reason = state.feedback or "no SQL could be written for this question"
        message = f"Could not answer after {state.attempts} attempt(s): {reason}"
        return {"answer": "", "error": message, "columns": [], "rows": [], "chart": None}
    return {"answer": summarize(state.columns, state.rows, state.truncated), "error": None}
