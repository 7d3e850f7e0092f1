"""The chat's commands on a real database and a real knowledge base (no terminal needed)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from gemsql.repl import Chat
from graph.context import Context


def make_chat(sales_db: Path) -> tuple[Chat, io.StringIO]:
    buffer = io.StringIO()
    return Chat(Context(db_path=str(sales_db), engine="template"), Console(file=buffer, width=120)), buffer


def test_good_keeps_the_answer_as_an_example(sales_db: Path) -> None:
    from kb.store import KnowledgeBase

    chat, screen = make_chat(sales_db)
    question = "revenue of each store type during 2023"
    answer = chat.question(question)
    assert answer and answer["error"] is None
    chat.command("/good")
    assert "Saved as an example" in screen.getvalue()
    examples = KnowledgeBase.open(str(sales_db)).retrieve(question)["examples"]
    assert examples[0]["question"] == question and examples[0]["sql"] == answer["sql"]


def test_bad_records_a_correction_after_checking_it(sales_db: Path) -> None:
    from kb.store import KnowledgeBase

    chat, screen = make_chat(sales_db)
    question = "units sold per brand in 2022"
    chat.question(question)
    chat.command("/bad DROP TABLE sales")
    assert "Could not record that" in screen.getvalue()
    right = "SELECT p.brand, SUM(s.quantity) AS units FROM sales s JOIN products p USING (product_id) " \
            "WHERE YEAR(s.sale_date) = 2022 GROUP BY p.brand"
    chat.command(f"/bad {right}")
    assert "Correction recorded" in screen.getvalue()
    top = KnowledgeBase.open(str(sales_db)).retrieve(question)["examples"][0]
    assert top["sql"] == right


def test_commands_before_any_question(sales_db: Path) -> None:
    chat, screen = make_chat(sales_db)
    chat.command("/good")
    chat.command("/sql")
    assert "Nothing to rate yet" in screen.getvalue() and "No SQL yet" in screen.getvalue()
    assert chat.command("/quit") is False
