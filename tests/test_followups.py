"""Follow-up questions through the compiled graph with a real SQLite checkpointer on the small sales database.

The template engine answers them; the check is that a follow-up gives the same SQL and rows as the
standalone question it stands for, asked without a conversation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from graph.context import Context
from graph.orchestrator import ask
from graph.pipeline import build_graph
from graph.state import MAX_TURNS, State, append_turns
from graph.threads import open_checkpointer
from nodes.generate_sql import model_prompt
from tools.followups import explain, is_follow_up, merge

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saver(tmp_path_factory: pytest.TempPathFactory):
    saver = open_checkpointer(tmp_path_factory.mktemp("threads") / "threads.sqlite")
    yield saver
    saver.conn.close()


@pytest.fixture(scope="module")
def chat_graph(saver):
    return build_graph(checkpointer=saver)


@pytest.fixture(scope="module")
def ctx(sales_db: Path) -> Context:
    return Context(db_path=str(sales_db), engine="template")


def converse(chat_graph, ctx: Context, thread: str, *questions: str) -> list[dict[str, Any]]:
    answers = [ask(q, ctx, thread_id=thread, compiled=chat_graph) for q in questions]
    for answer in answers:
        assert answer["error"] is None, answer
    return answers


def same_as_alone(answer: dict[str, Any], standalone: str, ctx: Context) -> None:
    alone = ask(standalone, ctx)
    assert alone["error"] is None
    assert answer["sql"] == alone["sql"]
    assert answer["rows"] == alone["rows"]


def test_another_year(chat_graph, ctx: Context) -> None:
    first, second = converse(chat_graph, ctx, "year", "top 5 brands by revenue in 2023", "and in 2024?")
    assert "= 2024" in second["sql"] and "2023" not in second["sql"]
    assert second["rows"] != first["rows"]
    same_as_alone(second, "top 5 brands by revenue in 2024", ctx)


def test_an_added_filter_keeps_the_rest(chat_graph, ctx: Context) -> None:
    *_, west = converse(chat_graph, ctx, "filter", "top 5 brands by revenue in 2024", "only the West region")
    assert "st.region = 'West'" in west["sql"] and "= 2024" in west["sql"] and "LIMIT 5" in west["sql"]
    same_as_alone(west, "top 5 brands by revenue in 2024 in the West region", ctx)


def test_another_top_n(chat_graph, ctx: Context) -> None:
    *_, top3 = converse(chat_graph, ctx, "top-n", "top 5 brands by revenue in 2023", "top 3 instead")
    assert len(top3["rows"]) == 3
    same_as_alone(top3, "top 3 brands by revenue in 2023", ctx)


def test_another_time_grain(chat_graph, ctx: Context) -> None:
    *_, monthly = converse(chat_graph, ctx, "grain", "total sales in 2023", "show it by month")
    assert monthly["columns"] == ["month", "total_sales"] and len(monthly["rows"]) == 12
    same_as_alone(monthly, "monthly total sales in 2023", ctx)


def test_another_measure_and_a_chain_of_follow_ups(chat_graph, ctx: Context) -> None:
    answers = converse(chat_graph, ctx, "chain", "share of revenue by region in 2023", "and in 2024?",
                       "by category instead", "what about units?")
    assert all("pct_of_total" in a["columns"] for a in answers)  # the base's shape carries down the chain
    same_as_alone(answers[2], "share of revenue by category in 2024", ctx)
    same_as_alone(answers[3], "share of units by category in 2024", ctx)


def test_why_names_what_drives_the_last_result_from_its_rows(chat_graph, ctx: Context) -> None:
    by_region, why = converse(chat_graph, ctx, "why", "total sales by region in 2023", "why is that?")
    assert why["intent"] == "explanation" and why["sql"] in ("", None) and why["engine"] in ("", None)
    top_region, top_value = by_region["rows"][0]
    total = sum(r[1] for r in by_region["rows"])
    assert why["answer"].startswith("The data shows what makes up the result, not its causes.")
    assert f"{top_region} {100 * top_value / total:.1f}%" in why["answer"]
    assert why["columns"] == ["region", "total_sales", "pct_of_total"]
    assert sum(r[2] for r in why["rows"]) == pytest.approx(100, abs=0.5)


def test_why_after_a_follow_up_says_which_result_it_explains(chat_graph, ctx: Context) -> None:
    *_, why = converse(chat_graph, ctx, "why-chain", "total sales by region in 2023", "and in 2024?", "why?")
    assert "total_sales in 'total sales by region in 2023 → and in 2024?'" in why["answer"]
    alone = ask("total sales by region in 2024", ctx)
    assert [r[:2] for r in why["rows"]] == alone["rows"]  # the shares are of the 2024 rows


def test_why_of_a_single_number_says_so_instead_of_guessing(chat_graph, ctx: Context) -> None:
    _, why = converse(chat_graph, ctx, "why-one", "total sales in 2023", "why is that?")
    assert "single value" in why["answer"] and "by region" in why["answer"]


def test_why_with_nothing_before_is_not_answered_from_thin_air(chat_graph, ctx: Context) -> None:
    why = ask("why is that?", ctx, thread_id="why-first", compiled=chat_graph)
    assert why["intent"] == "out_of_scope" and why["error"]


def test_follow_ups_skip_explanations_and_failures(chat_graph, ctx: Context) -> None:
    answers = [ask(q, ctx, thread_id="skip", compiled=chat_graph)
               for q in ("top 5 brands by revenue in 2023", "why is that?", "revenue by shoe size", "and in 2024?")]
    assert answers[2]["error"]  # no such column: the turn fails, and is no base for the next one
    same_as_alone(answers[3], "top 5 brands by revenue in 2024", ctx)


def test_a_new_question_in_a_thread_stands_alone(chat_graph, ctx: Context) -> None:
    *_, brands = converse(chat_graph, ctx, "alone", "total sales in 2023", "which brands are there?")
    same_as_alone(brands, "which brands are there?", ctx)


def test_nothing_of_the_last_question_leaks_into_the_next(chat_graph, ctx: Context) -> None:
    config = {"configurable": {"thread_id": "leak"}}
    # A question that fails after an attempt leaves sql, feedback, history, attempts and overrides behind.
    chat_graph.invoke({"question": "revenue by shoe size", "overrides": {"use_rag": False}}, config, context=ctx)
    left = chat_graph.get_state(config).values
    assert left["feedback"] and left["history"] and left["attempts"] == 1 and left["overrides"]
    chat_graph.invoke({"question": "total sales in 2023", "overrides": {}}, config, context=ctx)
    state = chat_graph.get_state(config).values
    assert state["error"] is None and state["feedback"] is None and state["attempts"] == 1
    assert [h["sql"] for h in state["history"]] == [state["sql"]]
    greeting = ask("hello", ctx, thread_id="leak", compiled=chat_graph)
    state = chat_graph.get_state(config).values
    assert greeting["sql"] in ("", None) and greeting["rows"] == [] and greeting["chart"] is None
    assert set(greeting["timings"]) == {"intent", "respond"}  # no execution time from the question before
    assert state["history"] == [] and state["attempts"] == 0 and state["entities"] == {}
    assert state["plan"] == ["template"]
    assert [t["question"] for t in state["turns"]] == ["revenue by shoe size", "total sales in 2023", "hello"]


def test_a_thread_resumes_after_a_restart(tmp_path: Path, sales_db: Path, ctx: Context) -> None:
    script = ("from graph.context import Context; from graph.orchestrator import ask; "
              f"a = ask('top 5 brands by revenue in 2023', Context(db_path={str(sales_db)!r}, engine='template'), "
              "thread_id='resumed'); assert a['error'] is None, a")
    env = {**os.environ, "GEMSQL_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    reopened = open_checkpointer(tmp_path / "threads.sqlite")
    try:
        answer = ask("and in 2024?", ctx, thread_id="resumed", compiled=build_graph(checkpointer=reopened))
        assert answer["error"] is None
        same_as_alone(answer, "top 5 brands by revenue in 2024", ctx)
    finally:
        reopened.conn.close()


def test_the_model_sees_the_turn_a_follow_up_builds_on() -> None:
    alone = State(question="and in 2024?", schema_context="CREATE TABLE sales (amount DOUBLE);")
    follow_up = State(question="and in 2024?", schema_context="CREATE TABLE sales (amount DOUBLE);",
                      follow_up={"kind": ["period"], "question": "total sales in 2023", "shape": "total sales in 2023",
                                 "sql": "SELECT SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023", "entities": {}})
    assert "Earlier" not in model_prompt(alone)
    assert ("Earlier question: total sales in 2023\nEarlier SQL: SELECT SUM(amount) FROM sales WHERE "
            "YEAR(sale_date) = 2023\n\nQuestion: and in 2024?") in model_prompt(follow_up)


@pytest.mark.parametrize(("question", "expected"), [
    ("and in 2024?", True), ("only the West region", True), ("top 3 instead", True), ("show it by month", True),
    ("by category", True), ("what about units?", True), ("2024?", True),
    ("total sales in 2024", False), ("which brands are there?", False), ("and?", False),
    ("how many stores per region in 2023", False),
])
def test_what_reads_as_a_follow_up(question: str, expected: bool, sales_db: Path) -> None:
    from tools.entities import extract_entities
    from tools.schema import load_schema

    assert is_follow_up(question, extract_entities(question, load_schema(str(sales_db)))) is expected


def test_merge_replaces_what_the_follow_up_names() -> None:
    base = {"years": [2023], "months": [3], "date_range": None, "filters": {"stores.region": ["East"]},
            "top_n": 5, "order": "desc", "group_by": ["products.brand"], "metric": "revenue", "aggregation": "sum"}
    merged = merge(base, {"years": [2024], "filters": {"products.category": ["Toys"]}, "top_n": 3,
                          "group_by": ["products.category"], "unresolved": []}, "top 3 toys by category in 2024")
    assert merged["years"] == [2024] and merged["months"] == [3] and merged["top_n"] == 3
    assert merged["filters"] == {"stores.region": ["East"], "products.category": ["Toys"]}
    assert merged["group_by"] == ["products.category"] and merged["metric"] == "revenue"
    added = merge(base, {"group_by": ["stores.region"]}, "by region too")
    assert added["group_by"] == ["products.brand", "stores.region"]
    ranged = merge(base, {"date_range": {"start": "2024-01-01", "end": "2024-03-31"}})
    assert ranged["years"] == [] and ranged["months"] == [] and ranged["date_range"]["start"] == "2024-01-01"
    assert base["years"] == [2023] and base["filters"] == {"stores.region": ["East"]}  # the base is not changed


def test_explaining_a_series_names_its_peak_and_its_change() -> None:
    turn = {"question": "yearly revenue", "columns": ["year", "revenue"],
            "rows": [[2022, 100.0], [2023, 150.0], [2024, 125.0]]}
    answer, columns, rows = explain(turn)
    assert "peaks at 2023 (150)" in answer and "lowest at 2022 (100)" in answer and "+25.0%" in answer
    assert (columns, rows) == (turn["columns"], turn["rows"])


def test_explaining_averages_gives_no_shares_of_them() -> None:
    answer, columns, _ = explain({"question": "average sale by region", "columns": ["region", "avg_amount"],
                                  "rows": [["West", 150.0], ["East", 90.0]]})
    assert "highest avg_amount is West (150)" in answer and "%" not in answer and "pct_of_total" not in columns


def test_the_conversation_keeps_its_latest_turns_only() -> None:
    turns = append_turns([{"question": str(i)} for i in range(MAX_TURNS)], [{"question": "new"}])
    assert len(turns) == MAX_TURNS and turns[-1]["question"] == "new" and turns[0]["question"] == "1"


def test_shares_of_a_top_n_say_they_are_of_those_rows_only() -> None:
    turn = {"question": "top 2 brands", "columns": ["brand", "revenue"], "rows": [["A", 30.0], ["B", 10.0]],
            "entities": {"top_n": 2}, "row_count": 2}
    answer, _, rows = explain(turn)
    assert "Of the 40 revenue in 'top 2 brands' (the 2 rows shown, not all), A 75.0%" in answer
    assert rows == [["A", 30.0, 75.0], ["B", 10.0, 25.0]]
