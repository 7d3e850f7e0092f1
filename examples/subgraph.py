"""gemsql's graph as one node of a bigger LangGraph graph.

The parent here is a tiny "analyst report" graph: gemsql answers the question (the compiled graph added
directly as a node: the keys both states share flow in and out), then a node of the parent's own writes a
short report from the result. The parent passes its Context down, so one setting picks the database.

    python examples/subgraph.py --db sales.duckdb "revenue by region in 2023"
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from graph import Context, build_graph


@dataclass(kw_only=True)
class Report:
    """The parent's state: gemsql's input (question) and part of its output, plus the parent's own field."""

    question: str = ""
    sql: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    answer: str = ""
    error: str | None = None
    report: str = ""


def write_report(state: Report) -> dict[str, Any]:
    if state.error:
        return {"report": f"No figures for {state.question!r}: {state.error}"}
    lines = [f"Report: {state.question}", f"  {state.answer}", f"  query: {state.sql}"]
    lines += ["  " + " | ".join(str(v) for v in row) for row in state.rows[:10]]
    return {"report": "\n".join(lines)}


def build_parent():
    parent = StateGraph(Report, context_schema=Context)
    parent.add_node("gemsql", build_graph())  # a compiled graph is a node like any other
    parent.add_node("write_report", write_report)
    parent.add_edge(START, "gemsql")
    parent.add_edge("gemsql", "write_report")
    parent.add_edge("write_report", END)
    return parent.compile(name="analyst_report")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="?", default="revenue by region in 2023")
    parser.add_argument("--db", type=Path, help="DuckDB file (default: the bundled sales database)")
    parser.add_argument("--engine", default="template", choices=("template", "finetuned", "ensemble", "hybrid"))
    args = parser.parse_args()
    context = Context(db_path=str(args.db.resolve()) if args.db else "", engine=args.engine)
    result = build_parent().invoke({"question": args.question}, context=context)
    print(result["report"])
    raise SystemExit(1 if result["error"] else 0)


if __name__ == "__main__":
    main()
