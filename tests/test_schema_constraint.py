"""Schema-constrained decoding: which words may follow the SQL so far, and the token chosen when one may not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from langchain_core.language_models.fake import FakeListLLM

from graph.context import Context
from tests.small_db import build_stores_sales_db
from tools.schema import load_schema
from tools.schema_constraint import SchemaConstraint, constrained_argmax


@pytest.fixture(scope="module")
def constraint(tmp_path_factory: pytest.TempPathFactory) -> SchemaConstraint:
    db = build_stores_sales_db(tmp_path_factory.mktemp("constraint") / "shop.duckdb")
    return SchemaConstraint.for_schema(load_schema(db))


@pytest.mark.parametrize("text, piece", [
    ("SELECT SUM(", "amount"),
    ("SELECT SUM(", "amo"),                                       # a prefix of a column
    ("SELECT SUM(amount) AS", " revenue"),                        # a new alias is free
    ("SELECT SUM(amount) AS revenue FROM sales ORDER BY", " revenue"),  # and usable once declared
    ("SELECT s.amount FROM", " sales"),
    ("SELECT s.amount FROM sales", " s"),
    ("SELECT st.region, SUM(s.amount) FROM sales s JOIN", " stores"),
    ("SELECT stores.", "region"),
    ("SELECT x.", "amount"),                                      # an alias not declared yet: any column
    ("SELECT sal", ".amount"),                                    # a word followed by '.' is a qualifier
    ("SELECT EXTRACT(YEAR FROM", " sale_date"),                   # FROM inside EXTRACT takes a column
    ("SELECT DATE_TRUNC('month', sale_date) AS m FROM sales GROUP BY", " m"),
    ("SELECT * FROM stores WHERE region = '", "Northeast"),       # string literals are not checked
    ("WITH monthly AS (SELECT 1 AS x) SELECT x FROM", " monthly"),
    ("SELECT COUNT(*) FILTER (WHERE", " amount > 10)"),
    ("SELECT CAST(amount AS", " DOUBLE)"),
    ("SELECT 1", "e5"),                                           # part of a number
    ("SELECT", ""),                                               # a special token adds no text
])
def test_allowed(constraint: SchemaConstraint, text: str, piece: str) -> None:
    assert constraint.allows(text, piece)


@pytest.mark.parametrize("text, piece", [
    ("SELECT SUM(", "revenue"),                                   # no such column
    ("SELECT SUM(rev", "enue"),                                   # nor any word that begins so
    ("SELECT SUM(amount) FROM", " orders"),                       # no such table
    ("SELECT SUM(amount) FROM", " ord"),
    ("SELECT stores.", "amount"),                                 # a column of another table
    ("SELECT region, customer_name", " FROM"),                    # an unknown word finished by the next piece
])
def test_refused(constraint: SchemaConstraint, text: str, piece: str) -> None:
    assert not constraint.allows(text, piece)


def test_constrained_argmax_takes_the_best_allowed_token(constraint: SchemaConstraint) -> None:
    pieces = {0: " revenue", 1: " amount", 2: " orders", 3: ""}
    logits = np.array([5.0, 3.0, 4.0, 1.0])
    assert constrained_argmax(logits, "SELECT SUM(", pieces.__getitem__, None) == 0
    assert constrained_argmax(logits, "SELECT SUM(", pieces.__getitem__, constraint, candidates=4) == 1
    assert constrained_argmax(logits, "SELECT SUM(amount) FROM", pieces.__getitem__, constraint, candidates=4) == 3
    # when no candidate is allowed, the greedy token stays: the constraint never leaves the model without a choice
    assert constrained_argmax(np.array([5.0, 1.0]), "SELECT SUM(", {0: " revenue", 1: " orders"}.__getitem__,
                              constraint, candidates=2) == 0


def test_the_constraint_is_built_once_per_schema(tmp_path: Path) -> None:
    db = build_stores_sales_db(tmp_path / "a.duckdb")
    assert SchemaConstraint.for_schema(load_schema(db)) is SchemaConstraint.for_schema(load_schema(db))
    assert set(SchemaConstraint.for_schema(load_schema(db)).columns_by_table) == {"stores", "sales"}


def test_the_generation_node_hands_the_constraint_to_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from graph import ask

    db = build_stores_sales_db(tmp_path / "shop.duckdb")
    seen: list[object] = []

    class Recorder(FakeListLLM):
        def _call(self, prompt: str, *args, **kwargs) -> str:
            seen.append(kwargs.get("constraint"))
            return super()._call(prompt, *args, **kwargs)

    llm = Recorder(responses=["SELECT SUM(amount) FROM sales"] * 2)
    monkeypatch.setattr("nodes.generate_sql.model_llm", lambda ctx: llm)
    ask("total amount", Context(db_path=str(db), engine="finetuned", constrain_to_schema=True))
    ask("total amount", Context(db_path=str(db), engine="finetuned", constrain_to_schema=False))
    assert isinstance(seen[0], SchemaConstraint) and "sales" in seen[0].columns_by_table
    assert seen[1] is None


def follows_constraint(constraint: SchemaConstraint, pieces: list[str]) -> bool:
    """Did every token of a generated text pass the constraint at the point it was written?"""
    text = ""
    for piece in pieces:
        if not constraint.allows(text, piece):
            return False
        text += piece
    return True


def test_transformers_decoding_follows_the_constraint(tmp_path: Path, constraint: SchemaConstraint) -> None:
    """The logits processor on a tiny random Gemma: every token it lets through is allowed where it stands."""
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
    outputs = {}
    for name, processors in (("free", []), ("constrained", [SchemaConstrained(tokenizer, length, constraint)])):
        out = model.generate(**encoded, max_new_tokens=24, do_sample=False, logits_processor=LogitsProcessorList(processors))
        outputs[name] = [piece(t) for t in out[0, length:].tolist()]
    assert follows_constraint(constraint, outputs["constrained"])
    if follows_constraint(constraint, outputs["free"]):
        assert outputs["constrained"] == outputs["free"]  # nothing to correct: greedy decoding unchanged
