"""gemsql inside other LangChain/LangGraph apps: the tool, the graph as a subgraph, the two examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from pydantic import ValidationError

from gemsql.langchain_tool import as_tool
from graph import Context, build_graph
from graph.orchestrator import ask

ROOT = Path(__file__).resolve().parents[1]


def test_tool_schema_and_description(sales_db: Path) -> None:
    tool = as_tool(Context(db_path=str(sales_db), engine="template"))
    assert tool.name == "gemsql" and "read-only SQL" in tool.description
    schema = tool.args_schema.model_json_schema()
    assert schema["required"] == ["question"] and set(schema["properties"]) == {"question", "engine"}
    with pytest.raises(ValidationError):
        tool.invoke({"question": ""})
    with pytest.raises(ValidationError):
        tool.invoke({"question": "total sales", "engine": "gpt"})


def test_tool_runs_the_real_graph_and_returns_a_compact_result(sales_db: Path) -> None:
    context = Context(db_path=str(sales_db), engine="template")
    tool = as_tool(context, max_rows=5)
    result = tool.invoke({"question": "monthly revenue in 2023"})
    assert json.loads(json.dumps(result)) == result  # JSON-able as it is
    assert set(result) == {"question", "sql", "columns", "rows", "row_count", "truncated", "answer", "error", "engine"}
    direct = ask("monthly revenue in 2023", context)
    assert result["sql"] == direct["sql"] and result["rows"] == direct["rows"][:5]
    assert result["row_count"] == 12 and result["truncated"] is True and result["error"] is None
    refused = tool.invoke({"question": "delete all sales from 2022"})
    assert refused["error"].startswith("Refused") and refused["rows"] == []


def test_tool_in_a_thread_resolves_follow_ups(sales_db: Path) -> None:
    tool = as_tool(Context(db_path=str(sales_db), engine="template"), thread_id=f"tool-{os.getpid()}")
    first = tool.invoke({"question": "revenue by region in 2023"})
    follow = tool.invoke({"question": "and in 2024?"})
    assert first["error"] is None and follow["error"] is None
    assert "2024" in follow["sql"] and follow["columns"] == first["columns"]


@dataclass(kw_only=True)
class Parent:
    question: str = ""
    sql: str = ""
    rows: list[list[Any]] = field(default_factory=list)
    error: str | None = None
    note: str = ""


def _note(state: Parent) -> dict[str, Any]:
    return {"note": f"{len(state.rows)} rows" if not state.error else "no answer"}


def test_compiled_graph_as_a_node_of_a_parent_graph(sales_db: Path) -> None:
    parent = StateGraph(Parent, context_schema=Context)
    parent.add_node("gemsql", build_graph())
    parent.add_node("note", _note)
    parent.add_edge(START, "gemsql")
    parent.add_edge("gemsql", "note")
    parent.add_edge("note", END)
    # The parent's context reaches the subgraph's nodes: it picks the database and the engine.
    context = Context(db_path=str(sales_db), engine="template")
    result = parent.compile().invoke({"question": "revenue by region in 2023"}, context=context)
    direct = ask("revenue by region in 2023", context)
    assert result["sql"] == direct["sql"] and result["rows"] == direct["rows"]
    assert result["note"] == "5 rows" and result["error"] is None
    streamed = [next(iter(chunk)) for chunk in parent.compile().stream(
        {"question": "revenue by region in 2023"}, context=context, stream_mode="updates", subgraphs=False)]
    assert streamed == ["gemsql", "note"]


def test_compiled_graph_invoked_from_a_parent_node(sales_db: Path) -> None:
    gemsql = build_graph()

    def answer(state: Parent) -> dict[str, Any]:
        out = gemsql.invoke({"question": state.question, "overrides": {"engine": "template"}},
                            context=Context(db_path=str(sales_db)))
        return {"sql": out["sql"], "rows": out["rows"], "error": out["error"]}

    parent = StateGraph(Parent)
    parent.add_node("answer", answer)
    parent.add_node("note", _note)
    parent.add_edge(START, "answer")
    parent.add_edge("answer", "note")
    parent.add_edge("note", END)
    result = parent.compile().invoke({"question": "DROP TABLE sales"})
    assert result["error"].startswith("Refused") and result["note"] == "no answer"
    result = parent.compile().invoke({"question": "total sales in 2024"})
    assert result["error"] is None and result["rows"][0][0] > 0 and result["note"] == "1 rows"


def run_example(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.mark.slow
def test_subgraph_example(sales_db: Path) -> None:
    ran = run_example("subgraph.py", "--db", str(sales_db), "revenue by region in 2023")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "Report: revenue by region in 2023" and "Highest revenue" in lines[1]
    assert "GROUP BY st.region" in lines[2] and len(lines) == 8  # five regions
    refused = run_example("subgraph.py", "--db", str(sales_db), "DROP TABLE sales")
    assert refused.returncode == 1 and "Refused" in refused.stdout


@pytest.mark.slow
def test_agent_tool_example(sales_db: Path) -> None:
    ran = run_example("agent_tool.py", "--db", str(sales_db), "top 3 brands by revenue in 2024")
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout
    assert 'agent -> gemsql({"question": "top 3 brands by revenue in 2024"})' in out
    assert "tool  -> 3 row(s): ['brand', 'revenue']" in out
    assert "agent: Highest revenue:" in out and "LIMIT 3" in out
