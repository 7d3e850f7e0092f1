"""The graph's wiring: routers, the retry loop, the ensemble fallback and refusals, on a real DuckDB file.

A fake LLM stands in for the model here only to steer the retry loop (the model engine itself is
tested on a tiny real Gemma in test_integration.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from langchain_core.language_models.fake import FakeListLLM

from graph import build_graph
from graph.context import Context
from graph.orchestrator import MultiAgentOrchestrator, ask
from graph.routers import route_after_execution, route_after_generation, route_after_intent, route_after_validation
from graph.state import State
from nodes.classify_intent import classify, engine_plan


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch):
    """Make the model engine answer from a fixed list of completions."""

    def install(*completions: str) -> FakeListLLM:
        llm = FakeListLLM(responses=list(completions))
        monkeypatch.setattr("nodes.generate_sql.model_llm", lambda ctx: llm)
        return llm

    return install


# --- routers: pure functions of the state -------------------------------------------------------

def test_route_after_intent() -> None:
    assert route_after_intent(State(intent="data_question")) == "extract_entities"
    for intent in ("write_request", "out_of_scope", "greeting", "schema_question"):
        assert route_after_intent(State(intent=intent)) == "respond"
    assert route_after_intent(State(intent="data_question", error="no database")) == "respond"


def test_retry_routers_follow_the_plan() -> None:
    plan = ["finetuned", "finetuned", "template"]
    ok = State(plan=plan, attempts=1, sql="SELECT 1", feedback=None)
    failed = State(plan=plan, attempts=1, sql="SELECT 1", feedback="boom")
    exhausted = State(plan=plan, attempts=3, sql="SELECT 1", feedback="boom")
    assert route_after_generation(ok) == "validate_sql"
    assert route_after_generation(State(plan=plan, attempts=1, sql="", feedback="no SQL")) == "generate_sql"
    assert route_after_validation(ok) == "execute_sql"
    assert route_after_validation(failed) == "generate_sql"
    assert route_after_validation(exhausted) == "respond"
    assert route_after_execution(ok) == "make_chart"
    assert route_after_execution(failed) == "generate_sql"
    assert route_after_execution(exhausted) == "respond"


def test_engine_plan() -> None:
    assert engine_plan(Context(engine="template")) == ["template"]
    assert engine_plan(Context(engine="finetuned", max_retries=2)) == ["finetuned"] * 3
    assert engine_plan(Context(engine="ensemble", max_retries=1)) == ["finetuned", "finetuned", "template"]
    assert engine_plan(Context(engine="ensemble", max_retries=0)) == ["finetuned", "template"]
    assert engine_plan(Context(engine="hybrid", max_retries=1)) == ["template", "finetuned", "finetuned"]


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("What were total sales in 2023?", "data_question"),
        ("top 3 brands by rev", "data_question"),
        ("DROP TABLE sales", "write_request"),
        ("delete all sales from 2022", "write_request"),
        ("please update the price of product 3 to 10", "write_request"),
        ("create a table of my favourite stores", "write_request"),
        ("hello", "greeting"),
        ("what can you do?", "greeting"),
        ("what tables are there?", "schema_question"),
        ("which columns does the stores table have", "schema_question"),
        ("what is the capital of France", "out_of_scope"),
        ("write me a poem about cats", "out_of_scope"),
        ("", "out_of_scope"),
    ],
)
def test_classify(question: str, intent: str) -> None:
    assert classify(question)[0] == intent


# --- the compiled graph on a real database --------------------------------------------------------

def test_template_engine_end_to_end(sales_db: Path) -> None:
    answer = ask("What were total sales in 2023?", Context(db_path=str(sales_db), engine="template"))
    assert answer["error"] is None
    assert answer["engine"] == "template" and answer["attempts"] == 1
    assert answer["columns"] and len(answer["rows"]) == 1 and answer["rows"][0][0] > 0
    assert answer["intent"] == "data_question" and 2023 in answer["entities"]["years"]
    assert answer["db"] == str(sales_db.resolve())
    assert answer["answer"] and answer["chart"]["kind"] == "indicator"
    assert set(answer["timings"]) >= {"intent", "entities", "retrieval", "generation", "validation", "execution"}


def test_model_corrects_itself_after_an_execution_error(sales_db: Path, fake_model) -> None:
    fake_model("SELECT SUM(amount) AS total FROM sales WHERE YEAR(sale_date) = 'x'",
                     "SELECT SUM(amount) AS total FROM sales WHERE YEAR(sale_date) = 2023")
    answer = ask("total sales in 2023", Context(db_path=str(sales_db), engine="finetuned"))
    assert answer["error"] is None, answer["error"]
    assert answer["engine"] == "finetuned" and answer["attempts"] == 2
    assert "2023" in answer["sql"]


def test_model_corrects_itself_after_a_validation_error(sales_db: Path, fake_model) -> None:
    fake_model("SELECT SUM(amout) FROM sales", "SELECT SUM(amount) FROM sales")
    answer = ask("total sales", Context(db_path=str(sales_db), engine="finetuned"))
    assert answer["error"] is None and answer["attempts"] == 2


def test_retry_prompt_carries_the_error(sales_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []

    class Recorder(FakeListLLM):
        def _call(self, prompt: str, *args, **kwargs) -> str:
            prompts.append(prompt)
            return super()._call(prompt, *args, **kwargs)

    llm = Recorder(responses=["SELECT SUM(amout) FROM sales", "SELECT SUM(amount) FROM sales"])
    monkeypatch.setattr("nodes.generate_sql.model_llm", lambda ctx: llm)
    ask("total sales", Context(db_path=str(sales_db), engine="finetuned"))
    assert len(prompts) == 2
    assert "amout" not in prompts[0].split("Question:")[0]
    assert "amout" in prompts[1] and "Error" in prompts[1]


def test_ensemble_falls_back_to_the_template_engine(sales_db: Path, fake_model) -> None:
    fake_model("SELEC nonsense", "SELECT nothing FROM nowhere", "DROP TABLE sales")
    answer = ask("What were total sales in 2023?", Context(db_path=str(sales_db), engine="ensemble", max_retries=2))
    assert answer["error"] is None
    assert answer["engine"] == "template" and answer["attempts"] == 4


def test_hybrid_answers_with_the_template_engine_where_it_knows_the_question(sales_db: Path, fake_model) -> None:
    model = fake_model("SELECT nothing FROM nowhere", "SELECT nothing FROM nowhere")
    answer = ask("What were total sales in 2023?", Context(db_path=str(sales_db), engine="hybrid"))
    assert answer["error"] is None and answer["engine"] == "template" and answer["attempts"] == 1
    assert model.i == 0  # the model was never asked


def test_hybrid_asks_the_model_what_the_templates_do_not_know(sales_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []

    class Recorder(FakeListLLM):
        def _call(self, prompt: str, *args, **kwargs) -> str:
            prompts.append(prompt)
            return super()._call(prompt, *args, **kwargs)

    llm = Recorder(responses=["SELECT store_name FROM stores WHERE store_name LIKE '%Plaza%'", "SELECT 1"])
    monkeypatch.setattr("nodes.generate_sql.model_llm", lambda ctx: llm)
    answer = ask("stores whose name contains Plaza", Context(db_path=str(sales_db), engine="hybrid"))
    assert answer["error"] is None, answer["error"]
    assert answer["engine"] == "finetuned" and answer["attempts"] == 2 and len(prompts) == 1
    # the templates' refusal is not an error for the model to correct: its prompt is the first-attempt prompt
    assert "Error" not in prompts[0] and "templates" not in prompts[0]


def test_finetuned_engine_gives_a_clear_error_after_its_retries(sales_db: Path, fake_model) -> None:
    fake_model("SELEC nonsense", "SELEC nonsense", "SELEC nonsense")
    before = sha256(sales_db)
    answer = ask("total sales in 2023", Context(db_path=str(sales_db), engine="finetuned", max_retries=2))
    assert answer["error"].startswith("Could not answer after 3 attempt(s)")
    assert answer["rows"] == [] and sha256(sales_db) == before


def test_unavailable_model_skips_straight_to_the_template(sales_db: Path) -> None:
    ctx = Context(db_path=str(sales_db), engine="ensemble", model=str(sales_db.parent / "no-such-model"))
    answer = ask("What were total sales in 2023?", ctx)
    assert answer["error"] is None and answer["engine"] == "template" and answer["attempts"] == 2


@pytest.mark.parametrize(
    "question",
    ["DROP TABLE sales", "delete all sales from 2022", "SELECT 1; DROP TABLE sales",
     "update stores set region = 'North'"],
)
def test_write_requests_are_refused_and_change_nothing(sales_db: Path, question: str) -> None:
    before = sha256(sales_db)
    answer = ask(question, Context(db_path=str(sales_db)))
    assert answer["intent"] == "write_request"
    assert "only reads" in answer["error"] and answer["sql"] in ("", None)
    assert sha256(sales_db) == before


def test_schema_question_and_greeting(sales_db: Path) -> None:
    schema = ask("what tables are there?", Context(db_path=str(sales_db)))
    assert schema["error"] is None and "sales" in schema["answer"]
    assert {r[0] for r in schema["rows"]} == {"stores", "products", "sales", "active_store"}
    hello = ask("hello", Context(db_path=str(sales_db)))
    assert hello["error"] is None and "Ask a question" in hello["answer"]


def test_bad_settings_and_missing_database_are_clear_errors(tmp_path: Path) -> None:
    missing = ask("total sales", Context(db_path=str(tmp_path / "nope.duckdb")))
    assert "no DuckDB database" in missing["error"]
    assert "unknown engine" in ask("total sales", engine="gpt")["error"]
    not_duckdb = tmp_path / "text.duckdb"
    not_duckdb.write_text("hello")
    assert "cannot open" in ask("total sales", Context(db_path=str(not_duckdb)))["error"]


def test_overrides_in_the_input(sales_db: Path) -> None:
    result = build_graph().invoke(
        {"question": "How many sales in 2024?", "overrides": {"engine": "template"}},
        context=Context(db_path=str(sales_db), engine="finetuned", model="/nonexistent"),
    )
    assert result["engine"] == "template" and result["error"] is None


def test_orchestrator_facade(sales_db: Path) -> None:
    state = MultiAgentOrchestrator(db_path=str(sales_db), engine="template").process(
        query="Top 5 brands by revenue", use_rag=True)
    assert state.sql.upper().startswith("SELECT")
    assert len(state.results_df) == 5 and list(state.results_df.columns) == state.columns
    assert state.chart_data["kind"] == "bar"


def test_the_shipped_adapter_is_the_default_for_the_default_model_only(tmp_path: Path) -> None:
    from graph.context import DEFAULT_ADAPTER_DIR, USE_SHIPPED_ADAPTER_BY_DEFAULT

    shipped = USE_SHIPPED_ADAPTER_BY_DEFAULT and (DEFAULT_ADAPTER_DIR / "adapter_config.json").is_file()
    assert Context().model_adapter() == (str(DEFAULT_ADAPTER_DIR) if shipped else None)
    assert Context(adapter="none").model_adapter() is None  # the base model, asked for by name
    assert Context(adapter=str(tmp_path)).model_adapter() == str(tmp_path)
    assert Context(model=str(tmp_path)).model_adapter() is None  # another base never gets our adapter
