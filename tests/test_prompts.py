"""The shared prompt format and the SQL extraction from raw model output."""

from __future__ import annotations

import pytest

from tools.prompts import (
    END,
    START,
    STOP_SEQUENCES,
    build_prompt,
    build_training_example,
    extract_sql,
    find_stop,
    static_prefix,
)

SCHEMA = "CREATE TABLE sales (id INTEGER, region VARCHAR, amount DOUBLE);"
OTHER_SCHEMA = "CREATE TABLE users (id INTEGER, name VARCHAR);"
MODEL_TURN = f"{END}\n{START}model\n"


def test_prompt_is_a_gemma_user_turn_followed_by_the_model_turn() -> None:
    prompt = build_prompt("total sales?", SCHEMA)
    assert prompt.startswith(f"{START}user\n")
    assert prompt.endswith(MODEL_TURN)
    assert prompt.count(START) == 2 and prompt.count(END) == 1
    assert "You write one DuckDB SQL query that answers the question. Use only the tables and columns below." in prompt
    assert f"Schema:\n{SCHEMA}" in prompt
    assert "Question: total sales?" in prompt


def test_static_prefix_is_identical_across_questions_and_options() -> None:
    prefix = static_prefix(SCHEMA)
    prompts = [
        build_prompt("total sales?", SCHEMA),
        build_prompt("sales by region", SCHEMA, context="region values: north, south"),
        build_prompt("x", SCHEMA, feedback="Binder Error: column foo", previous_sql="SELECT foo FROM sales"),
    ]
    for prompt in prompts:
        assert prompt.startswith(prefix)
    # The question must not leak into the shared part.
    assert "Question" not in prefix and "Context" not in prefix
    assert static_prefix(OTHER_SCHEMA) != prefix
    # Deterministic: a KV cache keyed on the prefix text needs byte identity.
    assert static_prefix(SCHEMA) == prefix


def test_context_and_retry_come_after_the_static_part_in_order() -> None:
    prompt = build_prompt(
        "sales by region", SCHEMA, context="region values: north, south",
        feedback="Binder Error: column regin not found", previous_sql="SELECT regin FROM sales;",
    )
    rest = prompt[len(static_prefix(SCHEMA)):]
    positions = [rest.index(s) for s in (
        "Context:\nregion values: north, south", "Question: sales by region",
        "Previous SQL: SELECT regin FROM sales;", "Error: Binder Error: column regin not found",
        "Write a corrected query.", MODEL_TURN,
    )]
    assert positions == sorted(positions)
    assert rest.endswith(MODEL_TURN)


def test_optional_parts_are_absent_when_not_given() -> None:
    prompt = build_prompt("q", SCHEMA, context="   ")
    assert "Context:" not in prompt
    assert "Previous SQL" not in prompt and "Error:" not in prompt and "corrected" not in prompt
    # Either half of the retry information is enough for a correction request.
    assert "Write a corrected query." in build_prompt("q", SCHEMA, feedback="timeout")
    assert "Previous SQL: SELECT 1" in build_prompt("q", SCHEMA, previous_sql="SELECT 1")


def test_training_example_uses_the_inference_prompt() -> None:
    example = build_training_example("total?", "  SELECT SUM(amount) FROM sales \n", SCHEMA, context="c")
    assert example["prompt"] == build_prompt("total?", SCHEMA, context="c")
    assert example["completion"] == "SELECT SUM(amount) FROM sales" + END


def test_stop_sequences() -> None:
    assert STOP_SEQUENCES == [END, START, ";", "```"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SELECT 1", "SELECT 1"),
        ("  SELECT a FROM t  \n", "SELECT a FROM t"),
        (f"SELECT a FROM t{END}\n{START}user\nmore", "SELECT a FROM t"),
        (f"SELECT a FROM t<eos>junk", "SELECT a FROM t"),
        (f"SELECT a FROM t{START}model", "SELECT a FROM t"),
        ("```sql\nSELECT a FROM t;\n```\nThis returns a.", "SELECT a FROM t"),
        ("```\nSELECT a FROM t\n```", "SELECT a FROM t"),
        ("```sql\nSELECT a\nFROM t", "SELECT a\nFROM t"),  # fence never closed (cut by max_new_tokens)
        ("Here is the query:\n```sql\nSELECT 2\n```", "SELECT 2"),
        ("SQL: SELECT 3", "SELECT 3"),
        ("Answer: SELECT 4;", "SELECT 4"),
        ("answer: sql: SELECT 5", "SELECT 5"),
        ("SELECT a FROM t; SELECT b FROM t;", "SELECT a FROM t"),
        ("SELECT a FROM t;\nThis query selects a.", "SELECT a FROM t"),
        ("SELECT 'a;b' AS x FROM t; DROP TABLE t", "SELECT 'a;b' AS x FROM t"),
        ("SELECT 'it''s; fine' FROM t;", "SELECT 'it''s; fine' FROM t"),
        ('SELECT "odd;name" FROM t;', 'SELECT "odd;name" FROM t'),
        ("SELECT a\nFROM t\n\nThis query returns every a.", "SELECT a\nFROM t"),
        ("SELECT a\n\nFROM t\n\nWHERE a > 1", "SELECT a\n\nFROM t\n\nWHERE a > 1"),
        ("", ""),
        ("   ", ""),
        (END, ""),
        (";", ""),
        ("```sql\n```", ""),
    ],
)
def test_extract_sql(raw: str, expected: str) -> None:
    assert extract_sql(raw) == expected


def test_extract_sql_never_raises_on_odd_input() -> None:
    for raw in (None, "'unterminated; literal", "```", "\x00;\x00", "SQL:", "``` ``` ```"):
        assert isinstance(extract_sql(raw), str)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("SELECT 1", -1),
        ("SELECT 1;", 8),
        ("SELECT ';' FROM t", -1),          # ';' inside a literal does not stop
        ("SELECT ';' FROM t;", 17),
        (f"SELECT 1{END}", 8),
        ("```sql\nSELECT 1", -1),            # an opening fence does not stop ...
        ("```sql\nSELECT 1\n```", 16),       # ... the closing one does
        ("`", -1),                           # a fence still being written
        ("``", -1),
        (f"'unclosed {END}", 10),            # special tokens stop even inside a literal
    ],
)
def test_find_stop(text: str, index: int) -> None:
    assert find_stop(text, STOP_SEQUENCES) == index


def test_find_stop_with_extra_stop_strings() -> None:
    assert find_stop("SELECT a\nFROM t", [*STOP_SEQUENCES, "\n"]) == 8
    assert find_stop("SELECT a", []) == -1


# Prompts as they were before conversations existed, byte for byte: adapters are trained on exactly these.
_GOLDEN_PROMPTS = [
    (("total sales?",), {},
     "<start_of_turn>user\nYou write one DuckDB SQL query that answers the question. Use only the tables and "
     "columns below.\nSchema:\nCREATE TABLE sales (id INTEGER, region VARCHAR, amount DOUBLE);\n\n"
     "Question: total sales?<end_of_turn>\n<start_of_turn>model\n"),
    (("sales by region",), {"context": "Relevant tables: sales"},
     "<start_of_turn>user\nYou write one DuckDB SQL query that answers the question. Use only the tables and "
     "columns below.\nSchema:\nCREATE TABLE sales (id INTEGER, region VARCHAR, amount DOUBLE);\n\n"
     "Context:\nRelevant tables: sales\n\nQuestion: sales by region<end_of_turn>\n<start_of_turn>model\n"),
    (("x",), {"feedback": "Binder Error: column foo", "previous_sql": "SELECT foo FROM sales"},
     "<start_of_turn>user\nYou write one DuckDB SQL query that answers the question. Use only the tables and "
     "columns below.\nSchema:\nCREATE TABLE sales (id INTEGER, region VARCHAR, amount DOUBLE);\n\n"
     "Question: x\n\nPrevious SQL: SELECT foo FROM sales\nError: Binder Error: column foo\n"
     "Write a corrected query.<end_of_turn>\n<start_of_turn>model\n"),
]


@pytest.mark.parametrize(("args", "kwargs", "expected"), _GOLDEN_PROMPTS)
def test_without_a_previous_turn_the_prompt_is_byte_identical_to_before(args, kwargs, expected) -> None:
    assert build_prompt(*args, SCHEMA, **kwargs) == expected
    assert build_prompt(*args, SCHEMA, **kwargs, previous_turn=None) == expected


def test_a_follow_up_shows_the_earlier_turn_in_the_per_question_tail() -> None:
    earlier = ("total sales in 2023", "SELECT SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023")
    prompt = build_prompt("and in 2024?", SCHEMA, context="Relevant tables: sales", previous_turn=earlier,
                          feedback="Binder Error: x", previous_sql="SELECT x FROM sales")
    assert prompt.startswith(static_prefix(SCHEMA))  # the cached prefix is untouched
    rest = prompt[len(static_prefix(SCHEMA)):]
    positions = [rest.index(s) for s in (
        "Context:\nRelevant tables: sales",
        "Earlier question: total sales in 2023\nEarlier SQL: SELECT SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023",
        "Question: and in 2024?", "Previous SQL: SELECT x FROM sales", MODEL_TURN,
    )]
    assert positions == sorted(positions)


def test_not_a_query_decides_on_the_first_whole_word() -> None:
    from tools.prompts import not_a_query

    assert not not_a_query("SELECT ") and not not_a_query("```sql\nWITH x AS ")
    assert not not_a_query("The")  # undecided until the word ends
    assert not_a_query("The answer is") and not_a_query("Store:\n")
