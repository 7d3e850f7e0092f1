"""Check the SQL with the guard before anything runs: one read-only query over existing tables and columns."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import State
from nodes.common import timed
from tools.schema import load_schema
from tools.sql_guard import GuardError, check_sql


@timed("validation")
def validate_sql(state: State, runtime: Runtime[Context] | None = None) -> dict[str, Any]:
    """The guard's verdict: the cleaned SQL, or the precise reason it was refused as ``feedback``."""
    try:
        return {"sql": check_sql(state.sql, load_schema(state.db)), "feedback": None}
    except GuardError as exc:
        return {"feedback": str(exc), "history": [{"engine": state.engine, "sql": state.sql, "error": str(exc)}]}
