"""Training data: generated pairs run on their databases, no duplicates, stable output, clean splits,
domain databases, the Spider loader, and no overlap with the sales evaluation questions."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import duckdb
import pytest

from tools.schema import load_schema
from tools.sales_db import build_sales_db
from training.domains import DOMAINS, build_domain_db, ensure_domain_dbs
from training.generator import TrainingDataGenerator, main
from training.phrasing import normalise_question
from training.spider import SpiderNotFound, default_spider_root, read_spider

SCALE = 0.08  # template budgets in tests: a small fraction of the real data set
SALES_DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "sales_dev.jsonl"


@pytest.fixture(scope="module")
def small_sales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sales_db(tmp_path_factory.mktemp("train-sales") / "sales.duckdb", scale=0.05)


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("train-work")


@pytest.fixture(scope="module")
def generator(small_sales: Path, work_dir: Path):
    gen = TrainingDataGenerator(small_sales, seed=13, work_dir=work_dir, scale=SCALE, progress=False)
    yield gen
    gen.close()


@pytest.fixture(scope="module")
def generated(generator: TrainingDataGenerator) -> dict[str, list]:
    return {"sales": generator.generate_sales_examples(), "active_store": generator.generate_active_store_examples(),
            "domain": generator.generate_domain_examples()}


def _all(generated: dict[str, list]) -> list:
    return [e for examples in generated.values() for e in examples]


def test_sales_and_active_store_examples_are_many_and_varied(generated):
    sales, active = generated["sales"], generated["active_store"]
    assert len(sales) >= 600 and len(active) >= 80  # at 8% of the budgets; the full run makes >10,000
    assert {e.source for e in sales} == {"sales"} and {e.source for e in active} == {"active_store"}
    templates = {e.template for e in sales}
    for family in ("total", "breakdown", "top_n", "trend", "growth", "share", "having", "above_average", "distinct"):
        assert f"sales.{family}" in templates
    sql = " ".join(e.sql for e in sales)
    for construct in ("GROUP BY", "HAVING", "LIMIT", "JOIN", "QUARTER(", "DATE_TRUNC('month'", "COUNT(DISTINCT",
                      "OVER ()", "WITH totals AS", "BETWEEN DATE"):
        assert construct in sql, construct
    assert any("(SELECT MAX(month) FROM active_store)" in e.sql for e in active)  # 'currently' = latest month
    assert any("NOT is_active" in e.sql for e in active)
    questions = [e.question for e in sales]
    assert sum(q == q.lower() for q in questions) > len(questions) * 0.1  # lower-case variants
    assert any(re.search(r"\bQ[1-4] '\d\d\b|\bFY20\d\d\b", q) for q in questions)  # abbreviations


def test_database_values_in_sql_appear_verbatim_in_question(generated):
    """Typos never touch a value the SQL filters on: the model must see the literal it writes."""
    for e in generated["sales"]:
        for value in re.findall(r"= '((?:[^']|'')*)'", e.sql):
            assert value.replace("''", "'").lower() in e.question.lower(), (e.question, e.sql)


def test_every_sql_executes_on_its_database(generator, generated):
    sample = random.Random(0).sample(_all(generated), 300)
    connections: dict[str, duckdb.DuckDBPyConnection] = {}
    try:
        for e in sample:
            con = connections.setdefault(e.db, duckdb.connect(str(generator.registry.path(e.db)), read_only=True))
            con.execute(e.sql).fetchall()
    finally:
        for con in connections.values():
            con.close()


def test_no_duplicates(generated):
    examples = _all(generated)
    keys = [(e.db, normalise_question(e.question)) for e in examples]
    assert len(keys) == len(set(keys))
    assert len({(e.db, e.question, e.sql) for e in examples}) == len(examples)


def test_generation_is_deterministic(small_sales, work_dir):
    def run(seed: int, everything: bool = True) -> tuple[list, ...]:
        gen = TrainingDataGenerator(small_sales, seed=seed, work_dir=work_dir, scale=0.03, progress=False)
        try:
            if not everything:
                return (gen.generate_sales_examples(),)
            return gen.generate_sales_examples(), gen.generate_active_store_examples(), gen.generate_domain_examples()
        finally:
            gen.close()
    first = run(13)
    assert all(first) and run(13) == first
    assert run(14, everything=False)[0] != first[0]


def test_heldout_is_disjoint_by_shape_and_question_and_reproducible(generator, generated):
    examples = _all(generated)
    parts = generator.split(examples)
    train_val = parts["train"] + parts["val"]
    assert parts["heldout"] and parts["train"] and parts["val"]
    assert not {e.shape for e in parts["heldout"]} & {e.shape for e in train_val}
    assert not {normalise_question(e.question) for e in parts["heldout"]} & \
        {normalise_question(e.question) for e in train_val}
    assert 0.7 < len(parts["train"]) / len(train_val) < 0.9
    shuffled = examples[:]
    random.Random(1).shuffle(shuffled)
    again = generator.split(shuffled)
    for name in parts:
        assert {(e.db, e.question) for e in again[name]} == {(e.db, e.question) for e in parts[name]}
    # Whole shapes: every example of a held-out shape is held out
    held = {e.shape for e in parts["heldout"]}
    assert all(e in parts["heldout"] for e in examples if e.shape in held)


def test_save_to_jsonl_writes_gemma_turns_and_splits(generator, generated, tmp_path):
    examples = _all(generated)
    paths = generator.save_to_jsonl(tmp_path / "training_data.jsonl", examples)
    assert paths["all"] == tmp_path / "training_data.jsonl"
    for name in ("train", "val", "heldout"):
        assert paths[name] == tmp_path / f"training_data_{name}.jsonl"
    rows = {name: [json.loads(line) for line in paths[name].read_text().splitlines()]
            for name in ("all", "train", "val", "heldout")}
    assert len(rows["all"]) == len(examples)
    assert 0.7 < len(rows["train"]) / (len(rows["train"]) + len(rows["val"])) < 0.9
    for row in rows["all"][:: max(1, len(rows["all"]) // 200)]:
        assert set(row) == {"question", "sql", "db", "template", "shape", "source", "text"}
        text = row["text"]
        assert text.startswith("<start_of_turn>user") and text.endswith("<end_of_turn>")
        assert text.split("<start_of_turn>model\n", 1)[1] == row["sql"] + "<end_of_turn>"
        assert f"Question: {row['question']}" in text and "\nTables:\n" in text
    dbs = json.loads(paths["dbs"].read_text())
    assert set(dbs) == {e.db for e in examples} and all(Path(p).is_file() for p in dbs.values())


def test_domain_databases_build_with_comments_and_keys(tmp_path):
    # How fast they build is a benchmark's business, not a unit test's (it fails on a loaded machine).
    for name in DOMAINS:
        path = build_domain_db(name, tmp_path / f"{name}.duckdb")
        schema = load_schema(path)
        assert len(schema.tables) == 4
        for table in schema.tables:
            assert table.comment and table.row_count > 0 and table.primary_key, table.name
            assert all(c.comment for c in table.columns), table.name
        assert sum(j.declared for j in schema.joins) >= 3
        assert not re.search(r"clinic|hospital|patient|diagnos", schema.to_prompt(), re.I)
    with pytest.raises(FileExistsError):
        build_domain_db("library", tmp_path / "library.duckdb")
    first = ensure_domain_dbs(tmp_path / "root")
    assert set(first) == set(DOMAINS) and ensure_domain_dbs(tmp_path / "root") == first


def test_domain_generator_joins_filters_and_covers_every_domain(generated):
    domain = generated["domain"]
    assert len(domain) >= 250
    assert {e.source for e in domain} == {f"domain:{name}" for name in DOMAINS}
    sql = [e.sql for e in domain]
    assert sum(" JOIN " in s for s in sql) >= 30
    assert sum(re.search(r"WHERE .*= '", s) is not None for s in sql) >= 30
    assert any("YEAR(" in s for s in sql) and any("GROUP BY" in s for s in sql) and any("HAVING" in s for s in sql)
    for e in domain:
        if " JOIN " in e.sql:  # joins follow declared keys, spelled as in the schema prompt's join line
            assert re.search(r"JOIN \w+ ON \w+\.\w+ = \w+\.\w+", e.sql)


def test_schema_examples_on_any_database_run_on_it(generator, tmp_path):
    path = build_domain_db("hr", tmp_path / "people.duckdb")
    examples = generator.generate_schema_examples(load_schema(path))
    assert len(examples) >= 50
    assert {e.db for e in examples} == {"people"} and {e.source for e in examples} == {"schema:people"}
    con = duckdb.connect(str(path), read_only=True)
    try:
        for e in examples[::10]:
            con.execute(e.sql).fetchall()
    finally:
        con.close()


def _write_case(handle, db: str, question: str, executed: bool, unstable: bool | None) -> None:
    handle.write(json.dumps({"db": db, "question": question, "sql": "SELECT COUNT(*) FROM t", "hardness": "easy",
                             "executed": executed, "unstable": unstable}) + "\n")


def test_spider_loader_respects_flags_on_a_prepared_folder(tmp_path, work_dir):
    root = tmp_path / "spider_train"
    (root / "databases").mkdir(parents=True)
    with duckdb.connect(str(root / "databases" / "tiny.duckdb")) as con:
        con.execute("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1), (2)")
    with open(root / "cases.jsonl", "w") as handle:
        _write_case(handle, "tiny", "How many rows?", True, False)
        _write_case(handle, "tiny", "How many rows are there in t?", True, True)
        _write_case(handle, "missing_db", "How many?", False, None)
    cases, paths = read_spider(root)
    assert [c.question for c in cases] == ["How many rows?"] and set(paths) == {"tiny"}
    cases, _ = read_spider(root, include_unstable=True)
    assert len(cases) == 2
    gen = TrainingDataGenerator(tmp_path / "unused.duckdb", work_dir=work_dir, progress=False)
    try:
        examples = gen.load_spider_train(root)
        assert [(e.db, e.source) for e in examples] == [("tiny", "spider_train")]
        assert len(gen.load_spider_train(root, include_unstable=True)) == 2
        with pytest.raises(SpiderNotFound):
            gen.load_spider_train(tmp_path / "nowhere")
    finally:
        gen.close()


def test_spider_loader_converts_the_standard_release_layout(tmp_path, work_dir):
    import sqlite3

    root = tmp_path / "spider"
    (root / "database" / "pets").mkdir(parents=True)
    with sqlite3.connect(root / "database" / "pets" / "pets.sqlite") as con:
        con.execute("CREATE TABLE pet(name TEXT, age INTEGER, tag)")
        con.executemany("INSERT INTO pet VALUES (?, ?, ?)", [("Rex", 3, 1), ("Tom", 5, "x")])  # 'tag' mixes types
    (root / "train_spider.json").write_text(json.dumps([
        {"db_id": "pets", "question": "How many pets are older than 4?", "query": "SELECT count(*) FROM pet WHERE age  >  4"},
        {"db_id": "gone", "question": "Anything?", "query": "SELECT 1"}]))
    gen = TrainingDataGenerator(tmp_path / "unused.duckdb", work_dir=work_dir, progress=False)
    try:
        examples = gen.load_spider_train(root)
    finally:
        gen.close()
    assert [(e.db, e.question) for e in examples] == [("pets", "How many pets are older than 4?")]
    assert gen.registry.path("pets").suffix == ".duckdb" and gen.registry.path("pets").is_file()


@pytest.mark.skipif(not (default_spider_root() / "cases.jsonl").is_file(), reason="shared Spider train folder absent")
def test_spider_loader_reads_the_shared_folder(generator):
    root = default_spider_root()
    raw = [json.loads(line) for line in (root / "cases.jsonl").read_text().splitlines() if line.strip()]
    cases, paths = read_spider(root)
    allowed = {(c["db"], c["question"].strip()) for c in raw if c["executed"] and not c["unstable"]}
    unstable = {(c["db"], c["question"].strip()) for c in raw if c["executed"] and c["unstable"]} - allowed
    assert cases and all((c.db, c.question) in allowed for c in cases)
    assert unstable and not unstable & {(c.db, c.question) for c in cases}
    assert all(p.is_file() for p in paths.values())
    examples = generator.load_spider_train(limit=200)
    assert len(examples) >= 150 and {e.source for e in examples} == {"spider_train"}
    assert all(e.db in generator.registry for e in examples)


@pytest.mark.skipif(not SALES_DEV.is_file(), reason="sales evaluation set absent")
def test_no_generated_question_is_an_evaluation_question(small_sales):
    """The one place that reads the evaluation file: a leakage check on normalised question text.

    It compares every candidate question at full budgets (before execution, so a superset of what is
    kept); a failure names the templates, not the evaluation questions. Thresholds in questions come from
    the data, so $GEMSQL_LEAKAGE_DB can name a full-scale sales database to check as well.
    """
    from training.active_templates import ActiveStoreTemplates
    from training.sales_templates import SalesTemplates
    from training.sales_vocab import SalesValues

    evaluation = set()
    for line in SALES_DEV.read_text(encoding="utf-8").splitlines():
        if line.strip():
            question = json.loads(line).get("question")
            if question:
                evaluation.add(normalise_question(question))
    assert evaluation
    leaked = []
    for db in [small_sales] + ([Path(os.environ["GEMSQL_LEAKAGE_DB"])] if os.environ.get("GEMSQL_LEAKAGE_DB") else []):
        values = SalesValues.load(db)
        try:
            leaked += [c.template for cls in (SalesTemplates, ActiveStoreTemplates)
                       for _, batch in cls(values, 13).generate() for c in batch
                       if normalise_question(c.question) in evaluation]
        finally:
            values.close()
    assert not leaked, f"{len(leaked)} generated questions equal evaluation questions (templates: {sorted(set(leaked))})"


def test_cli_help_and_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "--no-spider" in capsys.readouterr().out
