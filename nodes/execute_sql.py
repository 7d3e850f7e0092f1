"""Run the validated SQL in the bounded, read-only executor."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import State
from nodes.common import settings, timed
from tools.executor import QueryError, get_executor
from tools.sql_guard import GuardError


@timed("execution")
def execute_sql(state: State, runtime: Runtime[Context] | None = None) -> dict[str, Any]:
    """Rows, columns and the truncation flag; DuckDB's error text as ``feedback`` when it fails."""
    ctx = settings(state, runtime)
    executor = get_executor(state.db, memory_limit=ctx.memory_limit, timeout=ctx.timeout)
    try:
        result = executor.run(state.sql, row_limit=ctx.row_limit)
    except (QueryError, GuardError) as exc:
        message = str(exc)
        return {"feedback": message, "columns": [], "rows": [], "truncated": False,
                "history": [{"engine": state.engine, "sql": state.sql, "error": message}]}
    return {
        "columns": result.columns,
        "rows": result.rows,
        "truncated": result.truncated,
        "feedback": None,
        "history": [{"engine": state.engine, "sql": state.sql, "error": None}],
    }
