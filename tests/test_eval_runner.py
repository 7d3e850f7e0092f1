"""The evaluation runner and `gemsql eval`, on tiny hand-written case files (template engine only).

Full evaluations are never run here: they are run by hand (`gemsql eval --cases sales-dev ...`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from evals.report import write_report
from evals.runner import CasesError, load_cases, resolve_configs, run_eval, select_cases

# Our own questions (not from any evaluation set), with gold SQL written for the sales schema.
ANSWERABLE = [
    {"question": "total sales in 2023", "sql": "SELECT SUM(amount) AS total FROM sales WHERE YEAR(sale_date) = 2023",
     "hardness": "easy"},
    {"question": "how many stores do we have", "sql": "SELECT COUNT(*) AS n FROM stores", "hardness": "easy"},
    {"question": "top 3 brands by revenue in 2023",
     "sql": "SELECT p.brand, SUM(s.amount) AS rev FROM sales s JOIN products p USING (product_id) "
            "WHERE YEAR(s.sale_date) = 2023 GROUP BY p.brand ORDER BY rev DESC LIMIT 3", "hardness": "medium"},
]
UNANSWERABLE = {"question": "what is the average wind speed on Mars", "sql": "SELECT 42.5 AS wind_speed",
                "hardness": "hard"}
GOLD_ERROR = {"question": "how many unicorns are in the stable", "sql": "SELECT COUNT(*) FROM unicorns"}


def write_cases(path: Path, cases: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


def gemsql(*args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("gemsql")
    env = {**os.environ, "GEMSQL_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def template_run(sales_db: Path, tmp_path_factory: pytest.TempPathFactory):
    """One run of template + a finetuned configuration whose adapter does not exist (with semantic match)."""
    cases = load_cases(write_cases(tmp_path_factory.mktemp("cases") / "mine.jsonl",
                                   [*ANSWERABLE, UNANSWERABLE, GOLD_ERROR]))
    configs = resolve_configs(["template", "finetuned"], adapter=tmp_path_factory.mktemp("x") / "no-adapter")
    return run_eval(cases, configs, db=sales_db, dataset="mine", progress=False)


def test_accuracy_is_computed_from_the_cases(template_run) -> None:
    result = template_run
    records = {r["question"]: r for r in result.records if r["config"] == "template"}
    assert set(records) == {c["question"] for c in [*ANSWERABLE, UNANSWERABLE]}
    for case in ANSWERABLE:
        assert records[case["question"]]["correct"], records[case["question"]]
    miss = records[UNANSWERABLE["question"]]
    assert not miss["correct"]
    s = result.summary["template"]
    assert (s["n"], s["correct"]) == (4, 3) and s["execution_accuracy"] == pytest.approx(0.75)
    assert s["execution_rate"] == pytest.approx(sum(r["executed"] for r in records.values()) / 4)
    assert s["by_hardness"]["easy"] == {"n": 2, "correct": 2, "accuracy": 1.0}
    assert s["by_hardness"]["hard"]["correct"] == 0
    assert s["by_shape"]["top_n"]["n"] == 1 and s["by_shape"]["date_filter"]["n"] == 2
    assert s["latency_p50_s"] is not None and s["latency_p95_s"] >= s["latency_p50_s"]
    assert s["retries_mean"] is None and s["fallback_rate"] is None  # not a model engine, not the ensemble
    # Semantic match: a cosine in [0, 1] for every answer with SQL
    assert all(0.0 <= r["semantic"] <= 1.0 for r in records.values())
    assert s["semantic_match"] == pytest.approx(sum(r["semantic"] for r in records.values()) / 4)
    assert records["top 3 brands by revenue in 2023"]["shapes"][:3] == ["group_by", "top_n", "join"]


def test_a_database_done_keeps_no_worker(template_run, sales_db: Path) -> None:
    from tools import executor

    assert not [key for key in executor._executors if key[0] == str(sales_db.resolve())]


def test_gold_error_is_skipped_and_counted(template_run) -> None:
    (skip,) = template_run.skipped
    assert skip["reason"] == "gold_error" and skip["line"] == 5 and "unicorns" in skip["error"]
    assert template_run.meta["skipped"] == {"gold_error": 1} and template_run.meta["scored_cases"] == 4
    assert all(r["question"] != GOLD_ERROR["question"] for r in template_run.records)


def test_missing_adapter_is_reported_not_faked(template_run) -> None:
    summary = template_run.summary["finetuned"]
    assert set(summary) == {"missing"} and "does not exist" in summary["missing"]
    assert not [r for r in template_run.records if r["config"] == "finetuned"]


def test_report_files(template_run, tmp_path: Path) -> None:
    paths = write_report(template_run, tmp_path / "report")
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| template | 75.0% |" in report and "MISSING" in report and "does not exist" in report
    assert "Template-Based" in report and "Novel Query Handling" in report and "see the Spider report" in report
    assert UNANSWERABLE["question"] in report and UNANSWERABLE["sql"] in report  # the miss, with its gold SQL
    assert "gold_error" in report and "cores" in report
    data = json.loads((tmp_path / "report" / "results.json").read_text())
    assert data["summary"]["template"]["correct"] == 3 and not data["partial"]
    for name in ("accuracy.html", "accuracy_by_shape.html", "accuracy_by_hardness.html", "latency.html"):
        html = paths[name].read_text()
        assert "Plotly.newPlot" in html and 'src="https://cdn' not in html  # opens offline


def test_reports_side_by_side_share_one_plotly(template_run, tmp_path: Path) -> None:
    write_report(template_run, tmp_path / "first")
    alone = tmp_path / "first" / "plotly.min.js"
    assert alone.is_file() and not alone.is_symlink()  # a report on its own opens offline by itself
    shutil.copy(alone, tmp_path / "plotly.min.js")
    write_report(template_run, tmp_path / "second")
    shared = tmp_path / "second" / "plotly.min.js"
    assert shared.is_symlink() and os.readlink(shared) == os.path.join("..", "plotly.min.js")
    assert shared.read_bytes() == alone.read_bytes()  # the charts still find plotly.js
    (tmp_path / "plotly.min.js").write_text("// another plotly version")
    write_report(template_run, tmp_path / "third")
    assert not (tmp_path / "third" / "plotly.min.js").is_symlink()  # never points at a different plotly.js


def test_select_cases_every_and_limit() -> None:
    cases = [{"question": str(i), "sql": "SELECT 1", "line": i} for i in range(1, 11)]
    assert [c["line"] for c in select_cases(cases, every=3)] == [1, 4, 7, 10]
    assert [c["line"] for c in select_cases(cases, every=3, limit=2)] == [1, 4]
    assert [c["line"] for c in select_cases(cases, limit=3)] == [1, 2, 3]
    assert [c["line"] for c in select_cases(cases, every=3, offset=1)] == [2, 5, 8]  # disjoint from every=3
    with pytest.raises(ValueError):
        select_cases(cases, offset=-1)
    with pytest.raises(ValueError):
        select_cases(cases, every=0)


def test_load_cases_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "q", "sql": "SELECT 1"}\n\n{"question": "oops"\n')
    with pytest.raises(CasesError, match="line 3"):
        load_cases(path)
    path.write_text('{"question": "q"}\n')
    with pytest.raises(CasesError, match='line 1: missing or empty "sql"'):
        load_cases(path)


def test_configurations() -> None:
    with pytest.raises(ValueError, match="unknown configuration"):
        resolve_configs(["template", "gpt-9"])
    configs = resolve_configs(["template", "base+rag", "ensemble", "finetuned+rag"], no_rag=True,
                              adapter="/nonexistent/adapter")
    assert [c.name for c in configs] == ["template", "ensemble"]
    assert configs[1].use_rag is False and configs[1].missing  # an explicit adapter that is absent
    base = resolve_configs(["base", "base+rag"])
    assert [(c.engine, c.adapter, c.use_rag, c.missing) for c in base] == [("finetuned", None, False, None),
                                                                           ("finetuned", None, True, None)]
    hybrid, = resolve_configs(["hybrid"], constrain_to_schema=True)
    assert hybrid.engine == "hybrid" and hybrid.uses_model and hybrid.use_rag
    assert hybrid.context("x.duckdb").constrain_to_schema is True
    assert resolve_configs(["template"], constrain_to_schema=True)[0].constrain_to_schema is None


def test_db_dir_groups_cases_by_database(sales_db: Path, tmp_path: Path) -> None:
    dbs = tmp_path / "dbs"
    dbs.mkdir()
    shutil.copy(sales_db, dbs / "alpha.duckdb")
    shutil.copy(sales_db, dbs / "beta.duckdb")
    con = duckdb.connect(str(dbs / "beta.duckdb"))
    con.execute("DELETE FROM sales WHERE YEAR(sale_date) = 2023")  # beta's answers differ from alpha's
    con.close()
    total = ANSWERABLE[0]
    cases = [{**total, "db": "alpha"}, {**total, "db": "beta"}, {**ANSWERABLE[1], "db": "alpha"},
             {**ANSWERABLE[1], "db": "beta"}, {**total, "db": "gamma"}]
    loaded = load_cases(write_cases(tmp_path / "two.jsonl", cases))
    result = run_eval(loaded, resolve_configs(["template"]), db_dir=dbs, semantic=False, progress=False)
    assert [(Path(r["db"]).stem, r["line"]) for r in result.records] == [("alpha", 1), ("alpha", 3),
                                                                          ("beta", 2), ("beta", 4)]
    assert all(r["correct"] for r in result.records), result.records
    (skip,) = result.skipped
    assert skip["reason"] == "db_missing" and skip["line"] == 5
    assert set(result.summary["template"]["by_db"]) == {"alpha", "beta"}
    assert result.summary["template"]["novel_n"] == 0  # both are the sales schema


def test_a_raising_case_is_an_error_and_ctrl_c_keeps_what_was_done(sales_db: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import graph.orchestrator

    real_ask = graph.orchestrator.ask
    calls = {"n": 0}

    def flaky_ask(question, context=None, **kw):
        if question == ANSWERABLE[1]["question"]:
            raise RuntimeError("boom")
        if question == ANSWERABLE[2]["question"]:
            calls["n"] += 1
            if calls["n"] > 1:  # line 3 is answered, line 4 is interrupted
                raise KeyboardInterrupt
        return real_ask(question, context, **kw)

    monkeypatch.setattr(graph.orchestrator, "ask", flaky_ask)
    cases = load_cases(write_cases(tmp_path / "c.jsonl", [ANSWERABLE[0], ANSWERABLE[1], ANSWERABLE[2], ANSWERABLE[2]]))
    result = run_eval(cases, resolve_configs(["template"]), db=sales_db, semantic=False, progress=False)
    assert result.partial
    assert [r["line"] for r in result.records] == [1, 2, 3]
    assert result.records[1]["error"].startswith("runner error (RuntimeError)") and not result.records[1]["correct"]
    write_report(result, tmp_path / "partial")
    assert "PARTIAL" in (tmp_path / "partial" / "report.md").read_text()


def test_cli_json_every_and_limit(sales_db: Path, gemsql_home: Path, tmp_path: Path) -> None:
    cases = write_cases(tmp_path / "c.jsonl", [*ANSWERABLE, UNANSWERABLE])
    run = gemsql("eval", "--cases", str(cases), "--db", str(sales_db), "--engine", "template", "--every", "2",
                 "--limit", "2", "--json", "--no-semantic", home=gemsql_home)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert [r["line"] for r in data["records"]] == [1, 3]
    assert data["meta"]["cases_in_file"] == 4 and data["meta"]["selected_cases"] == 2
    assert data["summary"]["template"]["execution_accuracy"] == 1.0


def test_cli_table_with_a_missing_configuration(sales_db: Path, gemsql_home: Path, tmp_path: Path) -> None:
    cases = write_cases(tmp_path / "c.jsonl", [ANSWERABLE[1], UNANSWERABLE])
    run = gemsql("eval", "--cases", str(cases), "--db", str(sales_db), "-e", "template", "-e", "finetuned",
                 "--adapter", str(tmp_path / "none"), "--no-semantic", "--report", str(tmp_path / "rep"),
                 home=gemsql_home)
    assert run.returncode == 0, run.stderr
    assert "Execution Accuracy" in run.stdout and "50.0%" in run.stdout
    assert "MISSING" in run.stdout and "does not exist" in run.stdout
    assert (tmp_path / "rep" / "report.md").is_file() and (tmp_path / "rep" / "results.json").is_file()


def test_cli_clear_errors(gemsql_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "sql": "SELECT 1"}\n{"question": "q2", "sql": \n')
    good = write_cases(tmp_path / "good.jsonl", [ANSWERABLE[0]])
    for args, expected in (
        (["--cases", str(bad)], "line 2"),
        (["--cases", str(tmp_path / "absent.jsonl")], "no cases file"),
        (["--cases", str(good), "--engine", "gpt-9"], "unknown configuration"),
        (["--cases", str(good), "--db", str(tmp_path / "absent.duckdb")], "no DuckDB database"),
    ):
        run = gemsql("eval", *args, home=gemsql_home)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        assert expected in run.stderr and "Traceback" not in run.stderr + run.stdout, run.stderr
