"""The knowledge base on real Chroma stores and the real embedding model (all-MiniLM-L6-v2).

The sales knowledge base is built once for the module on the session's small sales database, with a
reduced sample of generated examples (GEMSQL_KB_MAX_EXAMPLES) to keep the build short; schema-change
tests use a tiny database of their own, whose examples the schema-driven generator writes in seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from langchain_core.language_models.fake import FakeListLLM

from graph.context import Context
from graph.orchestrator import ask
from kb.store import KnowledgeBase
from tools.prompts import static_prefix
from tools.schema import load_schema

EXAMPLES_FOR_TESTS = "150"


@pytest.fixture(scope="module")
def kb(sales_db: Path) -> KnowledgeBase:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GEMSQL_KB_MAX_EXAMPLES", os.environ.get("GEMSQL_KB_MAX_EXAMPLES", EXAMPLES_FOR_TESTS))
        return KnowledgeBase.open(sales_db, progress=False)


@pytest.fixture
def library_db(tmp_path: Path) -> Path:
    path = tmp_path / "library.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE authors(author_id INTEGER PRIMARY KEY, name VARCHAR, country VARCHAR)")
    con.execute("CREATE TABLE books(book_id INTEGER PRIMARY KEY, title VARCHAR, genre VARCHAR, pages INTEGER, "
                "author_id INTEGER REFERENCES authors(author_id))")
    con.execute("COMMENT ON TABLE books IS 'Books in the catalogue'")
    con.execute("INSERT INTO authors VALUES (1, 'Frank Herbert', 'USA'), (2, 'Jane Austen', 'England')")
    con.execute("INSERT INTO books VALUES (1, 'Dune', 'Science fiction', 612, 1), (2, 'Emma', 'Romance', 474, 2)")
    con.close()
    return path


def test_build_creates_documents_of_every_kind(kb: KnowledgeBase) -> None:
    kinds = kb.counts_by_kind()
    assert kinds["table"] == 4 and kinds["join"] == 3
    assert kinds["column"] == sum(len(t.columns) for t in kb.schema.tables)
    assert kinds["value"] >= 5 + 6 + 3  # regions, categories, store types (and more)
    assert kinds["glossary"] >= 10 and kinds["idiom"] >= 8
    assert kinds.get("example", 0) > 0, kb.manifest()["examples"]
    assert kb.count() == sum(kinds.values())
    for kind in ("table", "column", "join", "value", "glossary", "idiom", "example"):
        got = kb.store(kind).get(where={"kind": kind}, limit=1)
        assert got["ids"], kind
    assert kb.directory.parent.name == "kb" and kb.directory.name.endswith(kb.schema.fingerprint)


def test_reopening_finds_the_store_without_embedding_again(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    from kb import store

    count = kb.count()

    def no_documents(*args, **kwargs):
        raise AssertionError("documents were embedded again")

    monkeypatch.setattr(type(store.embeddings()), "embed_documents", no_documents)
    KnowledgeBase.clear_cache()
    again = KnowledgeBase.open(kb.db_path, progress=False)
    assert again is not kb and again.count() == count and again.is_built()
    assert again.retrieve("total revenue")["tables"][0] == "sales"


def test_schema_change_rebuilds_and_keeps_user_examples(library_db: Path) -> None:
    first = KnowledgeBase.open(library_db, progress=False)
    first.add_example("which books are longest", "SELECT title FROM books ORDER BY pages DESC LIMIT 3")
    old_dir = first.directory
    assert first.retrieve("genre of the books")["tables"][0] == "books"

    con = duckdb.connect(str(library_db))
    con.execute("ALTER TABLE books ADD COLUMN published_year INTEGER")
    con.execute("UPDATE books SET published_year = 1965")
    con.close()
    second = KnowledgeBase.open(library_db, progress=False)
    assert second.schema.fingerprint != first.schema.fingerprint
    assert second.directory != old_dir and not old_dir.exists()
    assert any(h["kind"] == "column" and "published_year" in h["text"] for h in second.search("year of publication"))
    examples = second.retrieve("which books are the longest?")["examples"]
    assert examples and examples[0]["sql"].startswith("SELECT title FROM books ORDER BY pages")


def test_any_database_gets_examples_written_for_its_schema(library_db: Path) -> None:
    kb = KnowledgeBase.open(library_db, progress=False)
    assert kb.counts_by_kind().get("example", 0) > 0, kb.manifest()["examples"]
    assert "generate_schema_examples" in kb.manifest()["examples"]
    examples = kb.retrieve("how many books are there?")["examples"]
    assert examples, "no example retrieved"
    con = duckdb.connect(str(library_db), read_only=True)
    try:
        for example in examples:  # each one names this database's tables and runs on it
            assert "books" in example["sql"] or "authors" in example["sql"], example
            con.execute(example["sql"]).fetchall()
    finally:
        con.close()
    assert any("COUNT(" in example["sql"].upper() for example in examples), examples


def test_retrieve_links_tables_and_values(kb: KnowledgeBase) -> None:
    found = kb.retrieve("revenue in the west region by brand")
    assert {"sales", "stores", "products"} <= set(found["tables"])
    assert "stores.region = 'West'" in found["values"]
    assert "products.brand" in found["columns"]
    assert any("SUM(sales.amount)" in g for g in found["glossary"])
    assert set(found) == {"tables", "columns", "values", "examples", "glossary", "notes"}
    for example in found["examples"]:
        assert example["question"] and example["sql"].upper().startswith(("SELECT", "WITH")) and example["score"] > 0


def test_join_partners_are_added(kb: KnowledgeBase) -> None:
    # brand (products) by region (stores): only sales joins them
    found = kb.retrieve("brand breakdown for the North region", {"group_by": ["products.brand"],
                                                                  "filters": {"stores.region": ["North"]}})
    assert {"products", "stores", "sales"} <= set(found["tables"])


def test_glossary_for_active_stores(kb: KnowledgeBase) -> None:
    found = kb.retrieve("how many active stores were there in each region", entities={})  # by meaning alone
    assert any("is_active" in g and "active_store" in g for g in found["glossary"]), found["glossary"]
    assert found["tables"][0] == "active_store"
    hits = kb.search("currently active stores", k=5)
    assert any(h["kind"] == "glossary" and "MAX(month)" in h["text"] for h in hits)


def test_value_index_is_exact_and_forgiving(kb: KnowledgeBase) -> None:
    assert "products.category = 'Electronics'" in kb.lookup_values("electronic sales")
    assert "products.brand = 'Maple & Finch'" in kb.lookup_values("how did maple and finch do")
    assert kb.lookup_values("nothing to see here") == []


def test_added_example_is_the_top_example(kb: KnowledgeBase) -> None:
    question = "Which store sold the most umbrellas on rainy Tuesdays?"
    sql = "SELECT store_id, COUNT(*) AS n FROM sales WHERE DAYOFWEEK(sale_date) = 2 GROUP BY store_id ORDER BY n DESC LIMIT 1"
    kb.add_example(question, sql)
    top = kb.retrieve(question)["examples"][0]
    assert top["question"] == question and top["sql"] == sql
    KnowledgeBase.clear_cache()  # persisted: a fresh instance finds it too
    again = KnowledgeBase.open(kb.db_path, progress=False)
    assert again.retrieve("which store sold most umbrellas on rainy tuesdays")["examples"][0]["sql"] == sql
    assert any(json.loads(line)["question"] == question for line in again.user_file.path.read_text().splitlines())


def test_corrections(kb: KnowledgeBase) -> None:
    question = "what were refunds worth in the south last spring"
    kb.add_example(question, "SELECT 1")
    kb.add_correction(question, "SELECT 1", "SELECT SUM(amount) FROM sales WHERE amount < 0")
    examples = kb.retrieve(question)["examples"]
    assert examples[0]["sql"] == "SELECT SUM(amount) FROM sales WHERE amount < 0"
    assert all(e["sql"] != "SELECT 1" for e in examples)
    odd = "how many penguins visited the Boston stores in winter"
    kb.add_correction(odd, "SELECT COUNT(*) FROM stores", None, note="there is no visitor data")
    assert any("penguins" in n and "no visitor data" in n for n in kb.retrieve(odd)["notes"])


def test_every_note_is_found_again_for_its_own_question(library_db: Path) -> None:
    kb = KnowledgeBase.open(library_db, progress=False)
    topics = ["audiobooks", "e-book downloads", "library fines", "reading rooms", "book club meetings",
              "translators", "cover artists", "printing costs", "shelf locations", "loan periods",
              "reader reviews", "literary prizes"]
    questions = [f"how many {topic} did we have last month" for topic in topics]
    for topic, question in zip(topics, questions):
        kb.add_correction(question, "SELECT COUNT(*) FROM books", None, note=f"no data on {topic}")
    for topic, question in zip(topics, questions):
        notes = kb.retrieve(question)["notes"]
        assert any(f"no data on {topic})" in note for note in notes), (question, notes)
    assert not any("no data on" in n for n in kb.retrieve("which authors come from England")["notes"])


# --- the graph ------------------------------------------------------------------------------------

@pytest.fixture
def recorded_prompts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    prompts: list[str] = []

    class Recorder(FakeListLLM):
        def _call(self, prompt: str, *args, **kwargs) -> str:
            prompts.append(prompt)
            return super()._call(prompt, *args, **kwargs)

    llm = Recorder(responses=["SELECT SUM(amount) FROM sales"] * 4)
    monkeypatch.setattr("nodes.generate_sql.model_llm", lambda ctx: llm)
    return prompts


def test_graph_with_rag_puts_examples_and_glossary_in_the_prompt(kb: KnowledgeBase, recorded_prompts: list[str]) -> None:
    schema_text = load_schema(kb.db_path).to_compact_prompt()
    answer = ask("total revenue in the west region", Context(db_path=str(kb.db_path), engine="finetuned"))
    assert answer["error"] is None, answer
    (prompt,) = recorded_prompts
    assert prompt.startswith(static_prefix(schema_text))  # the static part is unchanged
    tail = prompt[len(static_prefix(schema_text)):]
    assert "Glossary: revenue" in tail and "Example: " in tail and "\nSQL: SELECT" in tail
    assert "stores.region = 'West'" in tail
    assert tail.index("Context:") < tail.index("Question: total revenue in the west region")


def test_graph_without_rag_has_no_context(kb: KnowledgeBase, recorded_prompts: list[str]) -> None:
    ask("total revenue in the west region", Context(db_path=str(kb.db_path), engine="finetuned", use_rag=False))
    (prompt,) = recorded_prompts
    assert "Context:" not in prompt and "Glossary" not in prompt and "Example:" not in prompt


def test_graph_falls_back_when_the_kb_cannot_open(kb: KnowledgeBase, recorded_prompts: list[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(KnowledgeBase, "open", broken)
    answer = ask("total revenue in the west region", Context(db_path=str(kb.db_path), engine="finetuned"))
    assert answer["error"] is None
    (prompt,) = recorded_prompts
    assert "Values in the question:" in prompt and "Glossary" not in prompt


# --- the original design's API ------------------------------------------------------------------

def test_original_design_api(kb: KnowledgeBase) -> None:
    from kb.rag import EnhancedRAGBuilder, RAGQueryEnhancer

    rag = EnhancedRAGBuilder(kb.db_path, progress=False)
    assert rag.create_knowledge_base() == kb.count()
    result = rag.retrieve("Total sales by region?")
    assert "CREATE TABLE sales" in result.schema_info and "CREATE TABLE stores" in result.schema_info
    assert "CREATE TABLE active_store" not in result.schema_info
    assert any("SUM(sales.amount)" in p for p in result.relevant_patterns)
    enhancer = RAGQueryEnhancer(rag)
    context = enhancer.get_context("Total sales 2023?")
    assert {"schema", "full_context", "examples"} <= set(context)
    prompt = enhancer.enhance_prompt("Sales comparison 2023 vs 2024")
    assert prompt.startswith(static_prefix(kb.schema.to_compact_prompt()))
    assert "Question: Sales comparison 2023 vs 2024" in prompt and "Context:" in prompt


# --- the command line ---------------------------------------------------------------------------

def gemsql(*args: str, home: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("gemsql")
    env = {**os.environ, "GEMSQL_HOME": str(home), "HF_HUB_OFFLINE": "1", "COLUMNS": "200",
           "GEMSQL_KB_MAX_EXAMPLES": os.environ.get("GEMSQL_KB_MAX_EXAMPLES", EXAMPLES_FOR_TESTS)}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=300)


def test_cli_kb_commands(kb: KnowledgeBase, gemsql_home: Path) -> None:
    db = str(kb.db_path)
    built = gemsql("kb", "build", "--db", db, home=gemsql_home)
    assert built.returncode == 0, built.stderr
    assert f"{kb.count()} documents" in built.stdout

    bad = gemsql("kb", "add", "--db", db, "--question", "total sales", "--sql", "SELECT SUM(amout) FROM sales",
                 home=gemsql_home)
    assert bad.returncode == 2 and "not added" in bad.stderr and "Traceback" not in bad.stderr
    hostile = gemsql("kb", "add", "--db", db, "--question", "drop it", "--sql", "DROP TABLE sales", home=gemsql_home)
    assert hostile.returncode == 2 and "not added" in hostile.stderr

    question = "What did the flagship stores turn over on bank holidays?"
    good = gemsql("kb", "add", "--db", db, "--question", question,
                  "--sql", "SELECT SUM(amount) AS revenue FROM sales WHERE store_id = 1", home=gemsql_home)
    assert good.returncode == 0, good.stderr
    assert "Added" in good.stdout

    found = gemsql("kb", "search", "flagship stores on bank holidays", "--db", db, "-k", "3", home=gemsql_home)
    assert found.returncode == 0, found.stderr
    assert "example" in found.stdout and "flagship" in found.stdout


def test_example_sample_takes_unfiltered_pairs_in_turn_with_filtered_ones() -> None:
    from kb.store import sample_examples

    pairs = [(f"revenue by region in {2000 + i}", f"SELECT region FROM sales WHERE y = {i} GROUP BY region", "breakdown")
             for i in range(90)]
    pairs += [(f"revenue by region, way {i}", "SELECT region, SUM(amount) FROM sales GROUP BY region", "breakdown")
              for i in range(10)]
    chosen = sample_examples(pairs, 20)
    assert len(chosen) == 20
    assert sum("WHERE" not in sql for _, sql in chosen) == 10  # half, though they are a tenth of the pool
    assert sample_examples(pairs, 20) == chosen


def test_unasked_constants() -> None:
    from kb.store import unasked_constants

    sql = ("SELECT p.brand, SUM(s.amount) AS revenue FROM sales s JOIN products p ON s.product_id = p.product_id "
           "JOIN stores st ON s.store_id = st.store_id WHERE st.region = 'Central' AND YEAR(s.sale_date) = 2023 "
           "GROUP BY p.brand HAVING SUM(s.quantity) > 17000 ORDER BY revenue DESC LIMIT 3")
    assert unasked_constants("revenue per brand", sql) == ["Central", "2023", "17000", "3"]
    assert unasked_constants("top three brands by revenue in the central region in 2023 above 17,000 units", sql) == []
    # formats, intervals, positional GROUP BY / ORDER BY, 0 and 1 are not constraints of the question
    assert unasked_constants("monthly revenue", "SELECT DATE_TRUNC('month', d) AS m, SUM(a) FROM t WHERE d > "
                                                "CURRENT_DATE - INTERVAL '3 month' AND f = 1 GROUP BY 1 ORDER BY 1") == []
    assert unasked_constants("active stores in march 2024", "SELECT COUNT(*) FROM a WHERE month = DATE '2024-03-01'") == []
    assert unasked_constants("active stores in march", "SELECT COUNT(*) FROM a WHERE month = DATE '2024-03-01'") == ["2024-03-01"]


def test_examples_without_unasked_constants_rank_first(kb: KnowledgeBase) -> None:
    from kb.store import Hit

    def hit(question: str, sql: str, score: float) -> Hit:
        return Hit("example", question, score, "", "", {"sql": sql, "source": "generated"})

    hits = [hit("revenue per brand in the Central region", "SELECT brand FROM t WHERE region = 'Central'", 0.80),
            hit("top 3 brands by revenue", "SELECT brand FROM t ORDER BY r DESC LIMIT 3", 0.78),
            hit("revenue for each brand", "SELECT brand, SUM(r) FROM t GROUP BY brand", 0.70)]
    ranked = [e["question"] for e in kb._examples(hits, 3, "revenue per brand")]
    assert ranked[0] == "revenue for each brand"
    ranked = [e["question"] for e in kb._examples(hits, 3, "top 3 brands by revenue")]
    assert ranked[0] == "top 3 brands by revenue"
