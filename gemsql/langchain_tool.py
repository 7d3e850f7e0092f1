"""gemsql as a LangChain tool, for agents that need numbers from a DuckDB database.

    from gemsql.langchain_tool import as_tool
    from graph.context import Context

    tool = as_tool(Context(db_path="sales.duckdb", engine="template"))
    tool.invoke({"question": "revenue by region in 2023"})
    # {'question': ..., 'sql': 'SELECT ...', 'columns': ['region', 'revenue'], 'rows': [[...], ...],
    #  'row_count': 5, 'truncated': False, 'answer': 'Highest revenue: ...', 'error': None, 'engine': 'template'}

The tool runs the real graph (``graph.orchestrator.ask``: guard, read-only bounded execution, never
raises); a refused or unanswerable question comes back with ``error`` set, for the agent to read.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from graph.context import Context

DESCRIPTION = (
    "Answer a question about the data in a DuckDB database by writing and running a read-only SQL query. "
    "Input: one question in plain English (e.g. 'revenue by region in 2023', 'top 5 brands by revenue'). "
    "Output: the SQL, the result's columns and first rows, a one-line answer, or an error saying why there "
    "is no answer. It never changes data."
)


class GemsqlQuestion(BaseModel):
    """Arguments of the gemsql tool."""

    question: str = Field(min_length=1, max_length=2000,
                          description="A question about the data, in plain English.")
    engine: Optional[Literal["template", "finetuned", "ensemble", "hybrid"]] = Field(
        None, description="Who writes the SQL; leave empty for the configured engine.")


def compact(answer: dict[str, Any], max_rows: int) -> dict[str, Any]:
    """What an agent needs of an answer: small, JSON-able, no chart figure."""
    rows = answer.get("rows") or []
    return {
        "question": answer.get("question"),
        "sql": answer.get("sql") or "",
        "columns": answer.get("columns") or [],
        "rows": rows[:max_rows],
        "row_count": len(rows),
        "truncated": bool(answer.get("truncated")) or len(rows) > max_rows,
        "answer": answer.get("answer") or "",
        "error": answer.get("error"),
        "engine": answer.get("engine") or "",
    }


def as_tool(context: Context | None = None, *, name: str = "gemsql", description: str = DESCRIPTION,
            max_rows: int = 20, thread_id: str | None = None) -> BaseTool:
    """A LangChain tool that answers questions about ``context``'s database (default: the bundled sales one).

    ``max_rows`` bounds the rows handed to the agent (``row_count`` says how many there were);
    ``thread_id`` makes the tool's questions one conversation, so that follow-ups resolve.
    """
    from graph.orchestrator import ask

    base = context or Context()
    base.check()

    def run(question: str, engine: Optional[str] = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"thread_id": thread_id} if thread_id else {}
        return compact(ask(question, base, engine=engine, **extra), max_rows)

    return StructuredTool.from_function(func=run, name=name, description=description, args_schema=GemsqlQuestion)
