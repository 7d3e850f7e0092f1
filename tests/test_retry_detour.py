"""Retries that cannot repeat a failed query: the detour constraint, its place in the generation node, and
real decoding under it (transformers here; llama.cpp in tests/test_llama_backend.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake import FakeListLLM

from graph.context import Context
from tests.small_db import build_stores_sales_db
from tools.retry_detour import AllOf, RetryDetour, blamed_offsets, caret_offset
from tools.schema_constraint import SchemaConstraint

FAILED = "SELECT region, SUM(amount) AS revenue FROM sales ORDER BY revenue_total DESC"
UNKNOWN = 'unknown column "revenue_total" in table sales; its columns are: id, region, amount.'


def written(constraint, pieces: list[str]) -> bool:
    """Does every piece pass the constraint where it is written?"""
    text = ""
    for piece in pieces:
        if not constraint.allows(text, piece):
            return False
        text += piece
    return True


def test_blamed_offsets_find_the_name_the_error_gives() -> None:
    assert blamed_offsets(FAILED, UNKNOWN) == [FAILED.index("revenue_total")]
    ambiguous = "SELECT store_id, COUNT(*) FROM sales JOIN stores ON sales.store_id = stores.store_id GROUP BY store_id"
    error = 'Binder Error: Ambiguous reference to column name "store_id" (use: "sales.store_id" or "stores.store_id")'
    assert blamed_offsets(ambiguous, error) == [ambiguous.index("store_id")]  # the first unqualified use
    alias = "SELECT stores.region FROM sales WHERE region = 'stores'"
    assert blamed_offsets(alias, 'unknown table or alias "stores" in stores.region') == [7]  # not the literal
    assert blamed_offsets(FAILED, 'Binder Error: column "region" must appear in the GROUP BY clause') == []


def _duckdb_error(sql: str) -> str:
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE sales (id INTEGER, region TEXT, amount DOUBLE)")
    with pytest.raises(duckdb.Error) as caught:
        con.execute(sql)
    return str(caught.value)


@pytest.mark.parametrize("sql, blamed", [
    # DuckDB's caret, not the first use of the name: the aggregate is fine, the ORDER BY is not
    ("SELECT region, SUM(amount) AS revenue FROM sales GROUP BY region ORDER BY sales.amount DESC", "sales.amount DESC"),
    ("SELECT region, amount FROM sales GROUP BY region", "amount FROM"),
    # quoted with '...' at both ends, the caret well inside
    ("SELECT region, SUM(amount) FROM sales GROUP BY region HAVING amount > 3 AND id > 1 AND region IN "
     "(SELECT region FROM sales WHERE amount > 1 AND id > 2 AND amount < 100000) ORDER BY region", "amount > 3"),
    ("SELECT region,\n  SUM(amount)\nFROM sales\nGROUP BY region ORDER BY amount", "amount"),  # the 4th line
])
def test_blamed_offsets_follow_duckdbs_caret(sql: str, blamed: str) -> None:
    offset = sql.rindex(blamed) if blamed == "amount" else sql.index(blamed)
    assert blamed_offsets(sql, _duckdb_error(sql)) == [offset]


def test_a_caret_under_another_query_blames_nothing_by_it() -> None:
    error = _duckdb_error("SELECT region, amount FROM sales GROUP BY region")
    assert caret_offset("SELECT id FROM sales", error) is None


def test_the_detour_keeps_a_group_by_error_off_its_place() -> None:
    failed = "SELECT region, SUM(amount) AS revenue FROM sales GROUP BY region ORDER BY sales.amount DESC"
    detour = RetryDetour.from_history([{"engine": "finetuned", "sql": failed, "error": _duckdb_error(failed)}])
    before = failed[: failed.index("sales.amount")]
    assert not detour.allows(before, "sales")
    assert detour.allows(before, "revenue") and written(detour, [before, "revenue", " DESC"])
    assert detour.allows("SELECT region, SUM(", "amount")  # the aggregate was never the problem


def test_a_failed_query_cannot_end_where_it_ended() -> None:
    detour = RetryDetour.from_history([{"engine": "finetuned", "sql": FAILED, "error": UNKNOWN}])
    assert detour.repeats(FAILED.lower() + " ;") and not detour.repeats("SELECT 1")
    for ending in ("", ";", " ", "```"):  # '' is a special token: the end of the turn
        assert not detour.allows(FAILED, ending)
        assert not detour.allows(FAILED + " ", ending)
    assert detour.allows(FAILED, " LIMIT") and detour.allows("SELECT region", "")


def test_the_blamed_name_cannot_be_written_where_it_stood() -> None:
    detour = RetryDetour.from_history([{"engine": "finetuned", "sql": FAILED, "error": UNKNOWN}])
    before = FAILED[: FAILED.index("revenue_total")]
    assert not detour.allows(before.rstrip(), " revenue_total")
    assert not detour.allows(before.rstrip(), " rev")  # nor a piece that begins it
    assert not detour.allows(before.rstrip(), " revenue")  # it may yet become the name
    assert detour.allows(before.rstrip(), " amount")  # another name
    assert not detour.allows(before.rstrip(), " revenue_totals")  # nor the name grown by a suffix
    assert not detour.allows(before.rstrip() + " revenue_total", "s")
    assert written(detour, [before.rstrip(), " amount", " DESC"])
    assert detour.allows("SELECT", " revenue_total")  # elsewhere the name is the model's business
    assert detour.allows(before + "revenue,", " revenue_total")  # past the blamed place


def test_attempts_without_sql_or_error_are_not_failures() -> None:
    detour = RetryDetour.from_history([{"engine": "template", "sql": "", "error": "no template"},
                                       {"engine": "finetuned", "sql": "SELECT 1", "error": None}])
    assert detour.failures == () and detour.allows("SELECT 1", "")


def test_all_of_needs_every_constraint(tmp_path: Path) -> None:
    schema = SchemaConstraint.for_schema(__import__("tools.schema", fromlist=["load_schema"]).load_schema(
        build_stores_sales_db(tmp_path / "shop.duckdb")))
    detour = RetryDetour.from_history([{"engine": "finetuned", "sql": FAILED, "error": UNKNOWN}])
    both = AllOf((schema, detour))
    assert not both.allows(FAILED, "")  # the detour refuses
    assert not both.allows("SELECT SUM(", "revenue_x")  # the schema refuses
    assert both.allows("SELECT SUM(", "amount")


def test_the_node_decodes_around_a_repeated_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Graph wiring with a fake model: the retry that repeats the failed query is decoded again with the
    detour (and only that one), and its new query is the one that runs."""
    from graph import ask

    db = build_stores_sales_db(tmp_path / "shop.duckdb")
    bad = "SELECT SUM(revenue) FROM sales"
    calls: list[object] = []

    class Repeater(FakeListLLM):
        def _call(self, prompt: str, *args, **kwargs) -> str:
            calls.append(kwargs.get("constraint"))
            if isinstance(kwargs.get("constraint"), RetryDetour):
                return "SELECT SUM(amount) FROM sales"
            return bad

    monkeypatch.setattr("nodes.generate_sql.model_llm", lambda ctx: Repeater(responses=["unused"]))
    answer = ask("total revenue", Context(db_path=str(db), engine="finetuned", max_retries=2, constrain_retries=False))
    assert answer["error"] is None and answer["sql"] == "SELECT SUM(amount) FROM sales"
    assert answer["attempts"] == 2
    assert calls[0] is None and calls[1] is None and isinstance(calls[2], RetryDetour)


@pytest.mark.parametrize("constrain_retries", [False, True])
def test_retries_may_be_schema_constrained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           constrain_retries: bool) -> None:
    """Graph wiring with a fake model: with constrain_retries the first answer is free and the correction
    after its error decodes under the schema constraint."""
    from graph import ask

    db = build_stores_sales_db(tmp_path / "shop.duckdb")
    calls: list[object] = []

    class Corrector(FakeListLLM):
        def _call(self, prompt: str, *args, **kwargs) -> str:
            calls.append(kwargs.get("constraint"))
            return "SELECT SUM(amount) FROM sales" if len(calls) > 1 else "SELECT SUM(revenue) FROM sales"

    monkeypatch.setattr("nodes.generate_sql.model_llm", lambda ctx: Corrector(responses=["unused"]))
    ctx = Context(db_path=str(db), engine="finetuned", max_retries=2, constrain_retries=constrain_retries)
    answer = ask("total revenue", ctx)
    assert answer["error"] is None and answer["attempts"] == 2
    assert calls[0] is None
    assert isinstance(calls[1], SchemaConstraint) if constrain_retries else calls[1] is None


def test_transformers_decoding_takes_the_detour(tmp_path: Path) -> None:
    """A tiny random Gemma: its greedy text, declared a failure, is not what it writes under the detour."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

    from tests.tiny_model import build_tiny_gemma
    from tools.llm import SchemaConstrained, token_piece_reader

    model_dir = build_tiny_gemma(tmp_path / "tiny")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    piece = token_piece_reader(tokenizer)
    encoded = tokenizer("SELECT SUM(", return_tensors="pt")
    length = encoded["input_ids"].shape[1]

    def decode(processors: list) -> list[str]:
        out = model.generate(**encoded, max_new_tokens=12, do_sample=False, logits_processor=LogitsProcessorList(processors))
        return [piece(t) for t in out[0, length:].tolist()]

    greedy = decode([])
    text = "".join(greedy)
    import re

    name = next(m.group() for m in re.finditer(r"[A-Za-z_]{2,}", text) if m.start() > 0)
    detour = RetryDetour.from_history([{"engine": "finetuned", "sql": text, "error": f'unknown column "{name}"'}])
    assert detour.failures[0].blames, text
    taken = decode([SchemaConstrained(tokenizer, length, detour)])
    assert taken != greedy and written(detour, taken)


def test_a_query_that_must_not_end_goes_on_with_a_clause() -> None:
    failed = "SELECT doctor_id, visit_type, AVG(fee) FROM appointments WHERE status = 'Completed' GROUP BY doctor_id"
    detour = RetryDetour.from_history([{"engine": "finetuned", "sql": failed, "error": "Parser Error: at the end"}])
    assert not detour.allows(failed, "FBSDK") and not detour.allows(failed[:-3], "_idFBSDK")  # glued on
    assert not detour.allows(failed, " Leagues")  # not a clause
    assert not detour.allows(failed, " GROUP") and not detour.allows(failed + " ", "WHERE")  # it has them
    assert written(detour, [failed, " HAV", "ING", " COUNT(*) > 1"])
    assert written(detour, [failed, ",", " visit_type"]) and written(detour, [failed, " ORDER BY", " 1"])
    assert detour.allows(failed[:-3], "_id")  # the query itself may be written again, up to its end
