"""Conversations: questions in a checkpointed thread, on the small sales database, template engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.context import Context
from graph.orchestrator import ANSWER_KEYS, ask
from graph.threads import delete_thread, list_threads, thread_history


@pytest.fixture()
def ctx(sales_db: Path) -> Context:
    return Context(db_path=str(sales_db), engine="template")


def test_a_thread_keeps_its_turns_and_the_answer_names_it(ctx: Context) -> None:
    first = ask("top 5 brands by revenue in 2023", ctx, thread_id="contract-1")
    second = ask("how many stores per region", ctx, thread_id="contract-1")
    assert set(ANSWER_KEYS) | {"thread_id"} == set(first)
    assert first["thread_id"] == second["thread_id"] == "contract-1"
    assert first["error"] is None and second["error"] is None
    history = thread_history("contract-1")
    assert [t["question"] for t in history] == ["top 5 brands by revenue in 2023", "how many stores per region"]
    assert history[0]["sql"] == first["sql"] and history[1]["answer"] == second["answer"]
    assert {"question", "sql", "answer", "error"} <= set(history[0])
    listed = {t["thread_id"]: t for t in list_threads()}
    assert listed["contract-1"]["turns"] == 2
    assert listed["contract-1"]["last_question"] == "how many stores per region"


def test_without_a_thread_nothing_is_remembered(ctx: Context) -> None:
    answer = ask("total sales in 2023", ctx)
    assert answer["thread_id"] is None and answer["error"] is None
    assert all(t["last_question"] != "total sales in 2023" for t in list_threads())


def test_deleting_a_thread_forgets_it(ctx: Context) -> None:
    ask("total sales in 2023", ctx, thread_id="contract-gone")
    assert delete_thread("contract-gone") is True
    assert thread_history("contract-gone") == []
    assert "contract-gone" not in {t["thread_id"] for t in list_threads()}
    assert delete_thread("contract-gone") is False


def test_a_blank_thread_id_is_a_clear_error(ctx: Context) -> None:
    answer = ask("total sales in 2023", ctx, thread_id="  ")
    assert answer["error"] == "a conversation's thread id must be a non-empty string"
