"""Each engine through the compiled graph on a real DuckDB file; the model engine on a tiny real Gemma 3.

The tiny model has random weights, so its SQL is nonsense: what is tested is the real path (prompt,
generation, extraction, guard, retries with the error fed back, fallback), not its accuracy.
"""

from __future__ import annotations

from pathlib import Path

from graph.context import Context
from graph.orchestrator import ask


def test_template_engine(sales_db: Path) -> None:
    answer = ask("Total sales by region in 2024", Context(db_path=str(sales_db), engine="template"))
    assert answer["error"] is None
    assert sorted(r[0] for r in answer["rows"]) == ["Central", "East", "North", "South", "West"]
    assert answer["chart"]["kind"] == "bar" and answer["chart"]["figure"]["data"]


def test_model_engine_on_a_tiny_gemma(sales_db: Path, tiny_dir: Path) -> None:
    ctx = Context(db_path=str(sales_db), engine="finetuned", model=str(tiny_dir), max_retries=1, max_new_tokens=12)
    answer = ask("What were total sales in 2023?", ctx)
    assert answer["engine"] == "finetuned"
    assert answer["attempts"] == 2  # random weights: the first try fails and the retry runs
    assert answer["error"].startswith("Could not answer after 2 attempt(s)")


def test_model_engine_with_an_adapter(sales_db: Path, tiny_dir: Path, tiny_adapter: Path) -> None:
    ctx = Context(db_path=str(sales_db), engine="finetuned", model=str(tiny_dir), adapter=str(tiny_adapter),
                  max_retries=0, max_new_tokens=8)
    answer = ask("How many sales in 2024?", ctx)
    assert answer["engine"] == "finetuned" and answer["attempts"] == 1 and answer["error"]


def test_ensemble_with_a_tiny_gemma_falls_back(sales_db: Path, tiny_dir: Path) -> None:
    ctx = Context(db_path=str(sales_db), engine="ensemble", model=str(tiny_dir), max_retries=1, max_new_tokens=8)
    answer = ask("What were total sales in 2023?", ctx)
    assert answer["error"] is None and answer["engine"] == "template" and answer["attempts"] == 3
    assert answer["rows"][0][0] > 0


def test_user_typed_sql_goes_through_the_guard(sales_db: Path) -> None:
    ok = ask("SELECT region, COUNT(*) AS n FROM stores GROUP BY region ORDER BY region", Context(db_path=str(sales_db)))
    assert ok["error"] is None and ok["engine"] == "sql" and len(ok["rows"]) == 5
    bad = ask("SELECT * FROM sales; DELETE FROM sales", Context(db_path=str(sales_db)))
    assert bad["error"] and bad["rows"] == []
