"""The `gemsql` command, run as a user runs it: a subprocess, real files, JSON on stdout."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DEV = ROOT.parent / "shared" / "eval" / "sales_dev.jsonl"
JSON_KEYS = {"question", "sql", "columns", "rows", "error", "db", "engine", "attempts", "latency_s", "chart",
             "answer", "intent", "entities"}


def gemsql(*args: str, home: Path, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("gemsql")
    env = {**os.environ, "GEMSQL_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, input=stdin, timeout=timeout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_ask_json_contract(sales_db: Path, gemsql_home: Path) -> None:
    run = gemsql("ask", "--json", "--engine", "template", "--db", str(sales_db), "Top 5 brands by revenue",
                 home=gemsql_home)
    assert run.returncode == 0, run.stderr
    (answer,) = json_lines(run.stdout)
    assert JSON_KEYS <= set(answer)
    assert answer["db"] == str(sales_db.resolve()) and answer["engine"] == "template"
    assert len(answer["rows"]) == 5 and all(isinstance(r[1], float) for r in answer["rows"])
    assert answer["chart"]["kind"] == "bar" and Path(answer["chart_html"]).is_file()


def test_rows_are_json_safe(sales_db: Path, gemsql_home: Path) -> None:
    run = gemsql("ask", "--json", "--engine", "template", "--db", str(sales_db), "monthly revenue in 2023",
                 home=gemsql_home)
    (answer,) = json_lines(run.stdout)
    assert answer["error"] is None, answer
    first = answer["rows"][0]
    assert isinstance(first[0], str) and first[0].startswith("2023-01-01")
    assert isinstance(first[-1], float)


@pytest.mark.skipif(not SHARED_DEV.is_file(), reason="../shared/eval is not beside this checkout")
def test_template_engine_answers_the_first_four_dev_questions(sales_db: Path, gemsql_home: Path,
                                                             tmp_path: Path) -> None:
    from evals.metrics import execute_for_eval, gold_orders_result, results_match

    cases = [json.loads(line) for line in SHARED_DEV.read_text().splitlines()[:4]]
    questions = tmp_path / "questions.txt"
    questions.write_text("\n".join(c["question"] for c in cases) + "\n")
    run = gemsql("ask", "--json", "--engine", "template", "--db", str(sales_db), "--file", str(questions),
                 home=gemsql_home)
    assert run.returncode == 0, run.stderr
    answers = json_lines(run.stdout)
    assert [a["question"] for a in answers] == [c["question"] for c in cases]
    con = duckdb.connect(str(sales_db), read_only=True)
    for case, answer in zip(cases, answers):
        gold = execute_for_eval(con, case["sql"])
        assert results_match(answer["columns"], answer["rows"], gold.columns, gold.rows,
                             order_matters=gold_orders_result(case["sql"])), (case, answer["sql"])


@pytest.mark.parametrize(
    "question",
    ["DROP TABLE sales", "delete all sales from 2022", "SELECT 1; DROP TABLE sales",
     "show me SELECT * FROM read_csv('/etc/passwd')"],
)
def test_hostile_questions_are_refused(sales_db: Path, gemsql_home: Path, question: str) -> None:
    before = sha256(sales_db)
    run = gemsql("ask", "--json", "--db", str(sales_db), "--engine", "template", question, home=gemsql_home)
    (answer,) = json_lines(run.stdout)
    assert answer["error"], answer
    assert answer["rows"] == [] and "Traceback" not in run.stderr + run.stdout
    assert sha256(sales_db) == before


def test_hostile_sql_from_the_model_is_refused(sales_db: Path) -> None:
    """The same guard stops SQL whoever wrote it: here straight through the executor."""
    from tools.executor import get_executor
    from tools.sql_guard import GuardError

    before = sha256(sales_db)
    executor = get_executor(str(sales_db))
    for sql in ("DROP TABLE sales", "DELETE FROM sales WHERE YEAR(sale_date) = 2022",
                "SELECT 1; DROP TABLE sales", "SELECT * FROM read_csv('/etc/passwd')"):
        with pytest.raises(GuardError):
            executor.run(sql)
    assert sha256(sales_db) == before


def test_other_schema_database(tmp_path: Path, gemsql_home: Path) -> None:
    other = tmp_path / "library.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE books(book_id INTEGER PRIMARY KEY, title VARCHAR, genre VARCHAR, pages INTEGER)")
    con.execute("INSERT INTO books VALUES (1, 'Dune', 'Science fiction', 612), (2, 'Emma', 'Romance', 474)")
    con.close()
    run = gemsql("ask", "--json", "--engine", "template", "--db", str(other), "how many books per genre",
                 home=gemsql_home)
    (answer,) = json_lines(run.stdout)
    assert answer["db"] == str(other.resolve())
    assert answer["error"] and "template" in answer["error"].lower() and "Traceback" not in run.stderr
    schema = gemsql("ask", "--json", "--db", str(other), "what tables are there", home=gemsql_home)
    (listing,) = json_lines(schema.stdout)
    assert listing["error"] is None and listing["rows"][0][:2] == ["books", "book_id"]


def test_bad_input_gets_a_clear_error(tmp_path: Path, gemsql_home: Path, sales_db: Path) -> None:
    missing = gemsql("ask", "--db", str(tmp_path / "nope.duckdb"), "total sales", home=gemsql_home)
    assert missing.returncode == 2 and "no DuckDB database" in missing.stderr and "Traceback" not in missing.stderr
    engine = gemsql("ask", "--engine", "gpt5", "total sales", home=gemsql_home)
    assert engine.returncode == 2 and "template" in engine.stderr
    empty = gemsql("ask", "  ", home=gemsql_home)
    assert empty.returncode == 2 and "ask a question" in empty.stderr
    no_file = gemsql("ask", "--file", str(tmp_path / "none.txt"), home=gemsql_home)
    assert no_file.returncode == 2 and "cannot read" in no_file.stderr


def test_rich_output(sales_db: Path, gemsql_home: Path) -> None:
    run = gemsql("ask", "--engine", "template", "--db", str(sales_db), "Total sales by region", home=gemsql_home)
    assert run.returncode == 0, run.stderr
    assert "SELECT" in run.stdout and "West" in run.stdout and "Chart:" in run.stdout


def test_db_build(tmp_path: Path, gemsql_home: Path) -> None:
    target = tmp_path / "built.duckdb"
    run = gemsql("db", "build", "--scale", "0.01", "--out", str(target), home=gemsql_home)
    assert run.returncode == 0, run.stderr
    tables = duckdb.connect(str(target), read_only=True).execute("SHOW TABLES").fetchall()
    assert {t for (t,) in tables} == {"stores", "products", "sales", "active_store"}
    again = gemsql("db", "build", "--scale", "0.01", "--out", str(target), home=gemsql_home)
    assert again.returncode == 2 and "exists" in again.stderr


def test_chat_session(sales_db: Path, gemsql_home: Path) -> None:
    script = "/help\nTotal sales by region\n/sql\n/engine template\n/engine bogus\n/quit\n"
    run = gemsql("chat", "--engine", "template", "--db", str(sales_db), home=gemsql_home, stdin=script)
    assert run.returncode == 0, run.stderr
    assert "Commands" in run.stdout and "GROUP BY" in run.stdout
    assert "Unknown engine" in run.stdout and "Bye." in run.stdout
