"""The Streamlit page under Streamlit's AppTest: the real script, the real graph, a real DuckDB file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = Path(__file__).resolve().parents[1] / "gemsql" / "ui.py"
# The first run of a test session imports the graph and its nodes; later runs take a second or two.
TIMEOUT = 120


@pytest.fixture()
def page(sales_db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    from streamlit.runtime.caching import cache_resource

    monkeypatch.setenv("GEMSQL_UI_DB", str(sales_db))
    # Settings are cached per server: a test that changes them must not see another test's.
    cache_resource.clear()
    app = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT).run()
    assert not app.exception, app.exception
    return app


def ask(app: AppTest, question: str, model: str = "Template", use_rag: bool = True) -> AppTest:
    app.text_input(key="question").input(question)
    app.radio(key="model").set_value(model)
    app.checkbox(key="use_rag").set_value(use_rag)
    app.button(key="analyze").click().run()
    assert not app.exception, app.exception
    return app


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_design_widgets_are_there(page: AppTest) -> None:
    assert page.text_input(key="question").label == "Question"
    assert page.radio(key="model").options == ["Template", "Fine-Tuned", "Ensemble", "Hybrid"]
    assert page.checkbox(key="use_rag").label == "Use RAG context" and page.checkbox(key="use_rag").value is True
    assert page.button(key="analyze").label == "Analyze"
    assert page.button(key="new_conversation").disabled  # nothing to forget yet
    assert not page.code and not page.dataframe and not page.error  # nothing answered yet


def test_analyze_shows_engine_sql_table_chart_and_answer(page: AppTest) -> None:
    ask(page, "Top 5 brands by revenue", use_rag=False)
    assert not page.error, [e.value for e in page.error]
    assert page.info[0].value.startswith("Model used: **template**")
    assert page.code[0].language == "sql" and "GROUP BY p.brand" in page.code[0].value

    table = page.dataframe[0].value
    assert list(table.columns) == ["brand", "revenue"] and len(table) == 5
    assert table["revenue"].is_monotonic_decreasing

    (chart,) = page.get("plotly_chart")
    spec = chart.proto.spec.replace(" ", "")
    assert '"type":"bar"' in spec and all(brand in spec for brand in table["brand"])

    leader = table["brand"].iloc[0]
    assert page.success[0].value.startswith(f"Highest revenue: {leader} (")


def test_the_csv_download_serves_the_table_shown(page: AppTest) -> None:
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    ask(page, "monthly revenue in 2023")
    shown = page.dataframe[0].value
    assert len(shown) == 12
    (download,) = page.get("download_button")
    assert download.label == "Download the rows (CSV)"
    # Streamlit names a served file by the hash of its bytes: the URL proves what the button hands out.
    expected = shown.to_csv(index=False).encode("utf-8")
    assert download.proto.url == f"/mock/media/{_calculate_file_id(expected, 'text/csv', 'gemsql-answer-1.csv')}.csv"
    assert expected.startswith(b"month,revenue\n2023-01-01")


def test_a_refusal_is_an_error_and_the_database_is_untouched(page: AppTest, sales_db: Path) -> None:
    before = sha256(sales_db)
    ask(page, "DROP TABLE sales")
    (error,) = page.error
    assert error.value.startswith("Refused: ") and "only reads" in error.value
    assert not page.code and not page.dataframe and not page.get("plotly_chart") and not page.exception
    assert sha256(sales_db) == before


def test_an_unanswerable_question_is_a_clear_error(page: AppTest) -> None:
    ask(page, "what is the meaning of life")
    (error,) = page.error
    assert "not a question about the database" in error.value
    assert not page.get("download_button")


def test_the_conversation_keeps_earlier_answers_newest_first(page: AppTest) -> None:
    ask(page, "Top 5 brands by revenue")
    ask(page, "total revenue by region")
    assert page.subheader[0].value == "total revenue by region"
    assert [s.value for s in page.subheader][1] == "Conversation so far"
    (earlier,) = page.expander
    assert earlier.label == "1. Top 5 brands by revenue"
    assert "GROUP BY p.brand" in earlier.code[0].value and len(earlier.dataframe[0].value) == 5
    # Each answer keeps its own chart and download.
    assert len(page.get("plotly_chart")) == 2 and len(page.get("download_button")) == 2


def test_an_empty_question_asks_for_one(page: AppTest) -> None:
    ask(page, "   ")
    assert "Type a question first" in page.warning[0].value
    assert not page.session_state["gemsql_history"]


def test_a_missing_database_is_reported_on_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    gemsql_home: Path) -> None:
    from streamlit.runtime.caching import cache_resource

    missing = tmp_path / "nowhere.duckdb"
    monkeypatch.setenv("GEMSQL_UI_DB", str(missing))
    cache_resource.clear()
    app = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT).run()
    assert app.error[0].value == f"No DuckDB database at {missing}."
    ask(app, "Top 5 brands by revenue")
    assert [e.value for e in app.error] == [f"No DuckDB database at {missing}."] * 2
    assert not missing.exists()


def test_a_follow_up_builds_on_the_earlier_question_of_the_session(page: AppTest) -> None:
    ask(page, "top 5 brands by revenue in 2023")
    ask(page, "and in 2024?")
    assert not page.error, [e.value for e in page.error]
    sql = page.code[0].value
    assert "2024" in sql and "2023" not in sql and "brand" in sql and "LIMIT 5" in sql
    assert len(page.dataframe[0].value) == 5
    history = page.session_state["gemsql_history"]
    assert history[0]["thread_id"] == history[1]["thread_id"] == page.session_state["thread_id"]


def test_a_new_conversation_forgets_the_earlier_questions(page: AppTest) -> None:
    ask(page, "top 5 brands by revenue in 2023")
    first_thread = page.session_state["thread_id"]
    page.button(key="new_conversation").click().run()
    assert not page.code and not page.session_state["gemsql_history"]
    assert page.session_state["thread_id"] != first_thread
    # With nothing before it, a follow-up has nothing to build on.
    ask(page, "and in 2024?")
    assert not page.dataframe and page.error[0].value.startswith("Could not answer")
