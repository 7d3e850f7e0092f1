"""Retry training examples: gold queries broken as a model breaks them, with the errors the guard and DuckDB
really give, in the very prompt the graph builds for a retry."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from graph.state import State
from nodes.generate_sql import model_prompt
from tools.prompts import END, static_prefix
from tools.schema import load_schema
from training.repairs import BREAKERS, broken_queries, error_of, main, repair_pair

JOINED = ("SELECT stores.region, SUM(sales.amount) AS revenue FROM sales JOIN stores ON sales.store_id = stores.store_id "
          "WHERE YEAR(sales.sale_date) = 2023 GROUP BY stores.region ORDER BY revenue DESC")


@pytest.mark.parametrize("name, sql, message", [
    ("missing_join", JOINED, "unknown table or alias"),
    ("missing_group_by", JOINED, "GROUP BY"),
    ("grouped_aggregate", "SELECT COUNT(*) AS num_stores FROM stores", "aggregates"),
    ("misspelled_table", "SELECT COUNT(*) AS num_stores FROM stores", 'unknown table "store"'),
    ("wrong_column", "SELECT AVG(unit_price) AS avg_price FROM products", "unknown column"),
])
def test_each_breaker_breaks_the_query_as_the_guard_or_duckdb_says(sales_db: Path, name, sql, message) -> None:
    import sqlglot

    broken = BREAKERS[name](sqlglot.parse_one(sql, read="duckdb"), load_schema(sales_db), random.Random(0))
    assert broken is not None
    error = error_of(broken.sql(dialect="duckdb"), str(sales_db))
    assert error is not None and message in error, error
    assert error_of(sql, str(sales_db)) is None  # the gold query itself runs


def test_breakers_decline_what_they_cannot_break(sales_db: Path) -> None:
    plain = "SELECT COUNT(*) FROM stores"  # no join, no GROUP BY, no alias to group by
    names = {name for name, _ in broken_queries(plain, load_schema(sales_db), random.Random(0))}
    assert "missing_join" not in names and "missing_group_by" not in names and "grouped_aggregate" not in names


def test_the_retry_prompt_is_the_one_the_graph_builds(sales_db: Path) -> None:
    question = "Revenue by region in 2023"
    pair = repair_pair(question, JOINED, str(sales_db), random.Random(3))
    assert pair is not None and pair["completion"] == JOINED + END
    prompt = pair["prompt"]
    assert f"Question: {question}\n\nPrevious SQL: " in prompt and "\nError: " in prompt
    assert prompt.endswith(f"Write a corrected query.{END}\n<start_of_turn>model\n")
    previous = prompt.split("Previous SQL: ")[1].split("\nError: ")[0]
    error = prompt.split("\nError: ")[1].split("\nWrite a corrected query.")[0]
    assert previous != JOINED and error == error_of(previous, str(sales_db))
    # Rebuilt from a graph state holding that failed attempt, the prompt is the same text: one builder.
    retry_state = State(question=question, db=str(sales_db), schema_context=load_schema(sales_db).to_compact_prompt(),
                        retrieved={}, feedback=error, history=[{"engine": "finetuned", "sql": previous, "error": error}])
    rebuilt = model_prompt(retry_state)
    assert prompt.startswith(static_prefix(retry_state.schema_context)) and rebuilt.startswith(static_prefix(retry_state.schema_context))
    assert rebuilt.split(f"Question: {question}")[1] == prompt.split(f"Question: {question}")[1]


def test_main_writes_retry_prompts(sales_db: Path, tmp_path: Path, capsys) -> None:
    records = [{"question": "Revenue by region in 2023", "sql": JOINED, "db": "sales", "source": "sales", "template": "a"},
               {"question": "How many stores", "sql": "SELECT COUNT(*) AS num_stores FROM stores", "db": "sales",
                "source": "sales", "template": "b"}]
    data = tmp_path / "pairs_train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "pairs_dbs.json").write_text(json.dumps({"sales": str(sales_db)}))
    out = tmp_path / "repairs.jsonl"
    assert main(["--data", str(data), "--out", str(out), "--n", "2", "--mix", "sales=1"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 and all("Previous SQL: " in r["prompt"] and r["completion"].endswith(END) for r in rows)
    assert "2 retry prompts written" in capsys.readouterr().out


def test_a_querys_tables_come_in_the_order_it_names_them() -> None:
    """Not a set: the retry data must not change with Python's hash seed."""
    import sqlglot

    from training.repairs import _tables_of

    tree = sqlglot.parse_one("SELECT zeta.a FROM zeta JOIN alpha ON zeta.id = alpha.id JOIN zeta AS z2 ON 1 = 1",
                             read="duckdb")
    assert _tables_of(tree) == ["zeta", "alpha"]
