"""Self-consistency by execution: the vote (on a real DuckDB file through the guarded executor), the token
sampler, the generation node with it, and real sampling with the tiny transformers model (llama.cpp's
sampling is in tests/test_llama_backend.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tests.small_db import build_stores_sales_db
from tools.self_consistency import TokenSampler, choose_by_execution, result_signature


@pytest.fixture(scope="module")
def run_sql(tmp_path_factory: pytest.TempPathFactory):
    from tools.executor import SafeExecutor

    db = build_stores_sales_db(tmp_path_factory.mktemp("sc") / "shop.duckdb")
    executor = SafeExecutor(db, timeout=5)
    yield lambda sql: executor.run(sql).rows
    executor.close()


def test_signatures_ignore_names_and_orders_but_not_values() -> None:
    assert result_signature([["East", Decimal("10.50")], ["West", Decimal("3")]]) == \
        result_signature([[3.0, "West"], [10.5, "East"]])
    assert result_signature([["East", 10.5]]) != result_signature([["East", 10.6]])
    assert result_signature([[1], [1], [2]]) != result_signature([[1], [2]])  # a bag, not a set
    assert result_signature([[1 / 3]]) == result_signature([[0.333333333]])


def test_the_result_most_candidates_return_wins(run_sql) -> None:
    greedy = "SELECT COUNT(*) FROM stores"
    agreeing = ["SELECT COUNT(DISTINCT store_id) AS n FROM stores", "select count(store_id) from stores"]
    vote = choose_by_execution([greedy, "SELECT COUNT(*) FROM sales", *agreeing], run_sql)
    assert vote.sql == greedy and vote.votes == 3 and vote.candidates == 4 and vote.failed == 0
    outvoted = choose_by_execution(["SELECT COUNT(*) FROM sales", greedy, *agreeing], run_sql)
    assert outvoted.sql == greedy  # the first of the three that agree, not the greedy answer


def test_a_repeated_candidate_counts_each_time_and_ties_go_to_the_greedy_answer(run_sql) -> None:
    greedy, other = "SELECT MAX(amount) FROM sales", "SELECT MIN(amount) FROM sales"
    assert choose_by_execution([greedy, other], run_sql).sql == greedy
    assert choose_by_execution([greedy, other, other + " "], run_sql).sql == other


def test_failing_refused_and_empty_candidates_do_not_win(run_sql) -> None:
    right = "SELECT region, SUM(amount) FROM sales JOIN stores USING (store_id) GROUP BY region"
    empty = "SELECT region FROM stores WHERE region = 'Atlantis'"
    vote = choose_by_execution([
        "SELECT revenue FROM sales",  # no such column: the guard refuses it
        "DELETE FROM sales",  # a write: refused, never run
        empty, empty, empty,  # three votes for nothing
        right,
    ], run_sql)
    assert vote.sql == right and vote.votes == 1 and vote.failed == 2
    assert run_sql("SELECT COUNT(*) FROM sales")[0][0] == 300  # the write never ran
    only_empty = choose_by_execution(["SELECT nope FROM sales", empty], run_sql)
    assert only_empty.sql == empty  # when nothing has rows, what ran beats what failed


def test_when_every_candidate_fails_the_greedy_one_goes_to_the_retries(run_sql) -> None:
    vote = choose_by_execution(["SELECT revenue FROM sales", "SELECT nope FROM stores"], run_sql)
    assert vote.sql == "SELECT revenue FROM sales" and vote.votes == 0 and vote.failed == 2
    with pytest.raises(ValueError):
        choose_by_execution(["", "  "], run_sql)


def test_the_sampler_is_seeded_and_stays_in_the_top_k() -> None:
    logits = np.linspace(0.0, 5.0, 1000).astype(np.float32)
    first = TokenSampler(3, temperature=1.0, top_k=5, seed=7)
    again = TokenSampler(3, temperature=1.0, top_k=5, seed=7)
    draws = [first(answer, logits) for answer in (0, 1, 2) for _ in range(40)]
    assert draws == [again(answer, logits) for answer in (0, 1, 2) for _ in range(40)]
    assert set(draws) <= set(range(995, 1000)) and len(set(draws)) > 1
    cold = TokenSampler(1, temperature=0.01, top_k=50, seed=1)
    assert {cold(0, np.arange(1000.0)) for _ in range(20)} == {999}  # near zero temperature is greedy
    with pytest.raises(ValueError):
        TokenSampler(1, temperature=0)


def test_the_node_votes_among_the_models_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Graph wiring: the greedy answer is outvoted by two sampled ones that agree; retries never sample."""
    from graph.context import Context
    from graph.state import State
    import nodes.generate_sql as node

    db = str(build_stores_sales_db(tmp_path / "shop.duckdb"))

    class Written:
        samples_asked: list[int] = []

        def invoke(self, prompt: str, **kwargs) -> str:
            return "SELECT COUNT(*) FROM sales"

        def candidates(self, prompt: str, n: int, constraint=None) -> list[str]:
            self.samples_asked.append(n)
            return [self.invoke(prompt), "SELECT COUNT(*) FROM stores", "SELECT COUNT(store_id) FROM stores",
                    "SELECT nope FROM stores"]

    llm = Written()
    monkeypatch.setattr(node, "model_llm", lambda ctx: llm)
    state = State(question="how many stores", db=db, plan=["finetuned"], schema_context="stores(store_id)")
    update = node.generate_sql(state, _runtime(Context(db_path=db, engine="finetuned", candidates=4)))
    assert update["sql"] == "SELECT COUNT(*) FROM stores" and llm.samples_asked == [4]
    assert update["agreement"] == {"votes": 2, "candidates": 4, "failed": 1}
    alone = node.generate_sql(state, _runtime(Context(db_path=db, engine="finetuned", candidates=1)))
    assert alone["sql"] == "SELECT COUNT(*) FROM sales" and llm.samples_asked == [4]
    assert alone["agreement"] is None
    retry = State(question="how many stores", db=db, plan=["finetuned", "finetuned"], attempts=1,
                  schema_context="stores(store_id)", feedback="Binder Error: nope",
                  history=[{"engine": "finetuned", "sql": "SELECT nope FROM sales", "error": "Binder Error: nope"}])
    corrected = node.generate_sql(retry, _runtime(Context(db_path=db, engine="finetuned", candidates=4)))
    assert llm.samples_asked == [4] and corrected["agreement"] is None


def test_the_answer_says_how_many_candidates_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the whole graph (fake LLM: wiring only): the answer object carries the agreement, and the
    Rich answer panel shows it."""
    from io import StringIO

    from rich.console import Console

    from gemsql.render import render_answer
    from graph.context import Context
    from graph.orchestrator import ask
    import nodes.generate_sql as node

    db = str(build_stores_sales_db(tmp_path / "shop.duckdb"))

    class Written:
        def invoke(self, prompt: str, **kwargs) -> str:
            return "SELECT COUNT(*) AS stores FROM stores"

        def candidates(self, prompt: str, n: int, constraint=None) -> list[str]:
            return [self.invoke(prompt)] + ["SELECT COUNT(store_id) FROM stores"] * (n - 2) + ["SELECT COUNT(*) FROM sales"]

    monkeypatch.setattr(node, "model_llm", lambda ctx: Written())
    answer = ask("how many stores are there", Context(db_path=db, engine="finetuned", use_rag=False, candidates=5))
    assert answer["error"] is None and answer["rows"] == [[10]]
    assert answer["agreement"] == {"votes": 4, "candidates": 5, "failed": 0}
    console = Console(file=StringIO(), width=120)
    render_answer(console, answer)
    assert "4 of 5 answers agree" in console.file.getvalue()


def _runtime(ctx):
    from types import SimpleNamespace

    return SimpleNamespace(context=ctx)


def test_candidates_are_checked() -> None:
    from graph.context import Context

    with pytest.raises(ValueError, match="candidates"):
        Context().with_overrides({"candidates": 0})


@pytest.mark.slow
def test_transformers_samples_are_seeded_and_differ(tiny_dir: Path) -> None:
    from tools.llm import GemmaSQLLLM

    llm = GemmaSQLLLM(model_name=str(tiny_dir), max_new_tokens=12, stop_when_not_sql=False)
    prompt = "<start_of_turn>user\nQuestion: how many stores<end_of_turn>\n<start_of_turn>model\n"
    first = llm.sample(prompt, 4, temperature=1.5)
    assert len(first) == 4 and all(isinstance(text, str) for text in first)
    assert first == llm.sample(prompt, 4, temperature=1.5)  # a seed fixed by the prompt
    assert len(set(first)) > 1  # random weights at a high temperature: the samples differ
    assert llm.sample(prompt, 4, temperature=1.5, seed=99) != first
    greedy, *sampled = llm.candidates(prompt, 3, temperature=1.5)
    assert greedy == llm.invoke(prompt) and len(sampled) == 2
