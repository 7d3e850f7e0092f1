"""The chat as a conversation: /new, /threads, /thread, /history, follow-ups, and the terminal chart."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from gemsql.repl import Chat
from gemsql.termchart import terminal_chart
from graph.context import Context
from graph.orchestrator import ask
from graph.threads import thread_history


def make_chat(sales_db: Path, thread_id: str | None = None, charts: bool | None = None,
              console: Console | None = None) -> tuple[Chat, io.StringIO]:
    buffer = io.StringIO()
    console = console or Console(file=buffer, width=300)  # wide enough that no SQL is wrapped
    return Chat(Context(db_path=str(sales_db), engine="template"), console, thread_id=thread_id,
                charts=charts), console.file


def test_a_chat_is_a_conversation_follow_ups_included(sales_db: Path) -> None:
    chat, _ = make_chat(sales_db)
    first = chat.question("top 5 brands by revenue in 2023")
    second = chat.question("and in 2024?")
    assert first["thread_id"] == second["thread_id"] == chat.thread_id
    assert second["error"] is None and "= 2024" in second["sql"] and "LIMIT 5" in second["sql"]
    assert [t["question"] for t in thread_history(chat.thread_id)] == ["top 5 brands by revenue in 2023",
                                                                       "and in 2024?"]


def test_new_starts_a_conversation_that_knows_nothing_of_the_last(sales_db: Path) -> None:
    chat, screen = make_chat(sales_db)
    chat.question("top 5 brands by revenue in 2023")
    before = chat.thread_id
    assert chat.command("/new") is True
    assert chat.thread_id != before and f"New conversation {chat.thread_id}" in screen.getvalue()
    alone = chat.question("and in 2024?")  # nothing to follow up on: the templates need more than a year
    assert alone["error"] and alone["thread_id"] == chat.thread_id
    assert len(thread_history(before)) == 1


def test_history_shows_the_questions_answers_and_sql(sales_db: Path) -> None:
    chat, screen = make_chat(sales_db)
    chat.command("/history")
    assert "has no questions yet" in screen.getvalue()
    answer = chat.question("total sales by region in 2023")
    chat.question("revenue by shoe size")
    chat.command("/history")
    out = screen.getvalue().split("has no questions yet")[1]
    assert "1. total sales by region in 2023" in out and answer["answer"] in out and answer["sql"] in out
    failed = out.split("2. revenue by shoe size")[1]
    assert "Could not answer" in failed and "'shoe'" in failed  # the error, where an answer would be


def test_threads_lists_the_conversations_and_thread_switches(sales_db: Path) -> None:
    first, _ = make_chat(sales_db, thread_id="repl-north")
    first.question("total sales in 2023")
    chat, screen = make_chat(sales_db, thread_id="repl-south")
    chat.question("top 3 brands by revenue in 2024")
    chat.command("/threads")
    listing = screen.getvalue()
    row = next(line for line in listing.splitlines() if "repl-south" in line)
    assert "*" in row and "top 3 brands by revenue in 2024" in row
    assert "repl-north" in listing
    chat.command("/thread repl-north")
    assert chat.thread_id == "repl-north" and "Resumed conversation repl-north (1 questions" in screen.getvalue()
    monthly = chat.question("show it by month")  # builds on repl-north's question, not repl-south's
    assert monthly["columns"] == ["month", "total_sales"] and "= 2023" in monthly["sql"]


def test_chat_thread_resumes_after_a_restart(sales_db: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("gemsql")
    env = {**os.environ, "GEMSQL_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    command = [str(exe), "chat", "--engine", "template", "--db", str(sales_db), "--thread", "weekly-review"]
    first = subprocess.run(command, input="top 5 brands by revenue in 2023\n/quit\n", capture_output=True, text=True,
                           env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "conversation weekly-review" in first.stdout
    again = subprocess.run(command, input="and in 2024?\n/history\n/quit\n", capture_output=True, text=True, env=env,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resumed, 1 questions" in again.stdout
    assert "YEAR(s.sale_date) = 2024" in again.stdout
    assert "1. top 5 brands by revenue in 2023" in again.stdout and "2. and in 2024?" in again.stdout


def test_the_chat_draws_the_chart_in_a_terminal_and_not_in_a_pipe(sales_db: Path) -> None:
    drawn, screen = make_chat(sales_db, charts=True)
    drawn.question("total sales by region in 2023")
    assert "Chart: " in screen.getvalue() and "┤" in screen.getvalue() and "███" in screen.getvalue()
    piped, screen = make_chat(sales_db)  # a StringIO console is no terminal: no chart by default
    piped.question("total sales by region in 2023")
    assert "Chart: " in screen.getvalue() and "┤" not in screen.getvalue()


def test_a_chart_that_cannot_be_drawn_never_ends_the_chat(sales_db: Path) -> None:
    chat, screen = make_chat(sales_db, charts=True)
    broken = {"question": "q", "chart": {"kind": "bar", "x": "region", "y": "total"}, "columns": ["region", "total"],
              "rows": [["West"], ["East", 2.0]], "error": None}  # a short row: drawing it fails inside
    chat.draw_chart(broken)
    assert chat.command("/help") is True and "Commands" in screen.getvalue()


@pytest.fixture(scope="module")
def by_region(sales_db: Path) -> dict[str, Any]:
    return ask("total sales by region in 2023", Context(db_path=str(sales_db), engine="template"))


def test_terminal_bar_chart(by_region: dict[str, Any]) -> None:
    text = terminal_chart(by_region, width=80, height=16)
    lines = text.splitlines()
    assert len(lines) == 16 and max(len(line) for line in lines) <= 80
    assert "total sales by region in 2023" in lines[0]
    assert all(region in text for region, _ in by_region["rows"]) and "█" in text
    assert "\x1b[" not in text and "\x1b[" in terminal_chart(by_region, width=80, height=16, color=True)


def test_terminal_line_chart_over_time(sales_db: Path) -> None:
    monthly = ask("monthly revenue in 2023", Context(db_path=str(sales_db), engine="template"))
    text = terminal_chart(monthly, width=90, height=14)
    assert "2023-01-01" in text and "T00:00" not in text and "month" in text
    assert any(ch in text for ch in "▗▖▄▀▘▝▚▞")  # a drawn line, not bars
    assert "█" not in text


def test_terminal_chart_skips_what_it_cannot_draw_legibly(by_region: dict[str, Any]) -> None:
    assert terminal_chart(by_region, width=30) is None  # too narrow for a readable chart
    assert terminal_chart({**by_region, "chart": {"kind": "indicator", "y": "total_sales"}}) is None
    assert terminal_chart({**by_region, "chart": None}) is None
    assert terminal_chart({**by_region, "chart": {"kind": "bar", "x": "nope", "y": "total_sales"}}) is None
    many = {"columns": ["store", "sales"], "rows": [[f"s{i}", i] for i in range(40)],
            "chart": {"kind": "bar", "x": "store", "y": "sales"}}
    assert terminal_chart(many) is None
    assert terminal_chart({**many, "rows": many["rows"][:10]}) is not None
