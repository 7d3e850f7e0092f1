"""The template engine: every shape runs on a real sales database and returns what a hand-written query does."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import duckdb
import pytest

from tools.entities import extract_entities
from tools.schema import load_schema
from tools.templates import CannotAnswer, TemplateEngine


@pytest.fixture(scope="module")
def db(sales_db):
    """The bundled sales database at scale 0.05 (conftest's session fixture)."""
    return sales_db


@pytest.fixture(scope="module")
def engine(db):
    return TemplateEngine(load_schema(db))


@pytest.fixture(scope="module")
def con(db):
    connection = duckdb.connect(str(db), read_only=True)
    yield connection
    connection.close()


def _cell(value):
    if isinstance(value, (Decimal, float, int)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()  # DATE_TRUNC gives a timestamp, a reference may give a date
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _rows(con, sql):
    """Result rows with column order ignored: each row's cells sorted, then the rows sorted."""
    rows = [sorted((_cell(v) for v in row), key=lambda c: (isinstance(c, float), str(c)))
            for row in con.execute(sql).fetchall()]
    return sorted(rows, key=lambda r: [str(round(c, 2)) if isinstance(c, float) else str(c) for c in r])


def assert_same_result(con, sql, reference):
    got, want = _rows(con, sql), _rows(con, reference)
    assert len(got) == len(want), f"{len(got)} rows, expected {len(want)}\n{sql}"
    for g, w in zip(got, want):
        assert len(g) == len(w), f"{g} vs {w}\n{sql}"
        for a, b in zip(g, w):
            if isinstance(a, float) and isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6), f"{g} vs {w}\n{sql}"
            else:
                assert a == b, f"{g} vs {w}\n{sql}"


# -- the examples of the spec ------------------------------------------------------------------

SPEC_EXAMPLES = [
    ("What were total sales in 2023?",
     "SELECT SUM(amount) AS total_sales FROM sales WHERE YEAR(sale_date) = 2023"),
    ("Sales comparison 2023 vs 2024",
     "SELECT YEAR(sale_date) AS year, SUM(amount) AS total_sales FROM sales WHERE YEAR(sale_date) IN (2023, 2024) "
     "GROUP BY year ORDER BY year"),
    ("Top 5 brands by revenue",
     "SELECT p.brand, SUM(s.amount) AS revenue FROM sales s JOIN products p ON s.product_id = p.product_id "
     "GROUP BY p.brand ORDER BY revenue DESC LIMIT 5"),
    ("Active stores by region",
     "SELECT region, COUNT(DISTINCT store_id) AS active_stores FROM active_store WHERE is_active "
     "AND month = (SELECT MAX(month) FROM active_store) GROUP BY region"),
]


@pytest.mark.parametrize("question, reference", SPEC_EXAMPLES)
def test_spec_examples(engine, con, question, reference):
    assert_same_result(con, engine.generate(question), reference)


def test_single_table_when_nothing_needs_a_join(engine):
    assert engine.generate("What were total sales in 2023?") == SPEC_EXAMPLES[0][1]
    assert engine.generate("Sales comparison 2023 vs 2024") == SPEC_EXAMPLES[1][1]


# -- shapes, each against a hand-written reference --------------------------------------------

J_ST = "JOIN stores st ON s.store_id = st.store_id"
J_P = "JOIN products p ON s.product_id = p.product_id"

SHAPES = [
    # top-N and bottom-N
    ("which brand had the lowest revenue in 2022",
     f"SELECT p.brand, SUM(s.amount) FROM sales s {J_P} WHERE YEAR(s.sale_date) = 2022 GROUP BY 1 ORDER BY 2 LIMIT 1"),
    ("top 3 cities by units sold in 2024",
     f"SELECT st.city, SUM(s.quantity) FROM sales s {J_ST} WHERE s.sale_date >= '2024-01-01' AND s.sale_date < '2025-01-01' "
     "GROUP BY 1 ORDER BY 2 DESC LIMIT 3"),
    ("bottom 2 regions by qty", f"SELECT st.region, SUM(s.quantity) FROM sales s {J_ST} GROUP BY 1 ORDER BY 2 LIMIT 2"),
    ("which month had the highest revenue in 2023",
     "SELECT DATE_TRUNC('month', sale_date), SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023 GROUP BY 1 ORDER BY 2 DESC LIMIT 1"),
    # active stores
    ("how many active stores in March 2023",
     "SELECT COUNT(*) FROM active_store WHERE is_active AND month = DATE '2023-03-01'"),
    ("active stores per month in 2024",
     "SELECT month, COUNT(*) FROM active_store WHERE is_active AND month BETWEEN '2024-01-01' AND '2024-12-01' GROUP BY 1"),
    ("active stores in the West",
     "SELECT COUNT(*) FROM active_store WHERE is_active AND region = 'West' AND month = '2024-12-01'"),
    ("active mall stores by region",
     "SELECT a.region, COUNT(*) FROM active_store a JOIN stores st USING (store_id) WHERE a.is_active "
     "AND st.store_type = 'Mall' AND a.month = '2024-12-01' GROUP BY 1"),
    # breakdowns
    ("Total sales by region", f"SELECT st.region, SUM(s.amount) FROM sales s {J_ST} GROUP BY 1"),
    ("revenue per category", f"SELECT p.category, SUM(s.amount) FROM sales s {J_P} GROUP BY 1"),
    ("quantity by store type in 2024",
     f"SELECT st.store_type, SUM(s.quantity) FROM sales s {J_ST} WHERE YEAR(s.sale_date) = 2024 GROUP BY 1"),
    ("revenue by region and category",
     f"SELECT st.region, p.category, SUM(s.amount) FROM sales s {J_ST} {J_P} GROUP BY 1, 2"),
    ("revenue by store in Q1 2024",
     f"SELECT st.store_name, SUM(s.amount) FROM sales s {J_ST} WHERE s.sale_date BETWEEN '2024-01-01' AND '2024-03-31' GROUP BY 1"),
    # counts and averages
    ("How many sales in 2024", "SELECT COUNT(*) FROM sales WHERE YEAR(sale_date) = 2024"),
    ("number of transactions per region last year",
     f"SELECT st.region, COUNT(*) FROM sales s {J_ST} WHERE YEAR(s.sale_date) = 2023 GROUP BY 1"),
    ("how many stores", "SELECT COUNT(*) FROM stores"),
    ("how many stores per region", "SELECT region, COUNT(*) FROM stores GROUP BY 1"),
    ("how many products per category", "SELECT category, COUNT(*) FROM products GROUP BY 1"),
    ("how many brands", "SELECT COUNT(DISTINCT brand) FROM products"),
    ("how many stores had sales in March 2024",
     "SELECT COUNT(DISTINCT store_id) FROM sales WHERE sale_date BETWEEN '2024-03-01' AND '2024-03-31'"),
    ("average sale amount by region", f"SELECT st.region, AVG(s.amount) FROM sales s {J_ST} GROUP BY 1"),
    ("avg order value for electronics in 2023",
     f"SELECT AVG(s.amount) FROM sales s {J_P} WHERE p.category = 'Electronics' AND YEAR(s.sale_date) = 2023"),
    ("average unit price by category", "SELECT category, AVG(unit_price) FROM products GROUP BY 1"),
    ("average monthly revenue in 2024",
     "SELECT AVG(m) FROM (SELECT SUM(amount) m FROM sales WHERE YEAR(sale_date) = 2024 GROUP BY DATE_TRUNC('month', sale_date))"),
    ("largest single sale in 2023", "SELECT MAX(amount) FROM sales WHERE YEAR(sale_date) = 2023"),
    # trends
    ("monthly revenue in 2023",
     "SELECT DATE_TRUNC('month', sale_date), SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023 GROUP BY 1"),
    ("quarterly revenue in 2023",
     "SELECT YEAR(sale_date), QUARTER(sale_date), SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023 GROUP BY 1, 2"),
    ("yearly units by category",
     f"SELECT YEAR(s.sale_date), p.category, SUM(s.quantity) FROM sales s {J_P} GROUP BY 1, 2"),
    ("weekly sales in the last 30 days",
     "SELECT DATE_TRUNC('week', sale_date), SUM(amount) FROM sales WHERE sale_date > DATE '2024-12-01' GROUP BY 1"),
    # filters on dimension values
    ("revenue in the West region in 2024",
     f"SELECT SUM(s.amount) FROM sales s {J_ST} WHERE st.region = 'West' AND YEAR(s.sale_date) = 2024"),
    ("electronics sales by month",
     f"SELECT DATE_TRUNC('month', s.sale_date), SUM(s.amount) FROM sales s {J_P} WHERE p.category = 'Electronics' GROUP BY 1"),
    ("revenue of mall stores in the first half of 2024",
     f"SELECT SUM(s.amount) FROM sales s {J_ST} WHERE st.store_type = 'Mall' AND s.sale_date BETWEEN '2024-01-01' AND '2024-06-30'"),
    ("Voltrix units in the South since 2023",
     f"SELECT SUM(s.quantity) FROM sales s {J_ST} {J_P} WHERE p.brand = 'Voltrix' AND st.region = 'South' "
     "AND s.sale_date >= '2023-01-01'"),
    ("revenue in west vs east",
     f"SELECT st.region, SUM(s.amount) FROM sales s {J_ST} WHERE st.region IN ('West', 'East') GROUP BY 1"),
    ("compare revenue 2022 vs 2023 by category",
     f"SELECT p.category, YEAR(s.sale_date), SUM(s.amount) FROM sales s {J_P} WHERE YEAR(s.sale_date) IN (2022, 2023) GROUP BY 1, 2"),
    # rankings within groups, growth, weekdays
    ("best selling brand in each category",
     f"SELECT category, brand, r FROM (SELECT p.category, p.brand, SUM(s.amount) r, ROW_NUMBER() OVER "
     f"(PARTITION BY p.category ORDER BY SUM(s.amount) DESC) n FROM sales s {J_P} GROUP BY 1, 2) WHERE n = 1"),
    ("which region grew the most from 2023 to 2024",
     f"WITH y AS (SELECT st.region, YEAR(s.sale_date) y, SUM(s.amount) v FROM sales s {J_ST} GROUP BY 1, 2) "
     "SELECT a.region, 100.0 * (b.v - a.v) / a.v g FROM y a JOIN y b ON a.region = b.region AND a.y = 2023 "
     "AND b.y = 2024 ORDER BY g DESC LIMIT 1"),
    ("yoy revenue growth",
     "WITH y AS (SELECT YEAR(sale_date) y, SUM(amount) v FROM sales GROUP BY 1) "
     "SELECT y, v, 100.0 * (v - LAG(v) OVER (ORDER BY y)) / LAG(v) OVER (ORDER BY y) FROM y"),
    ("revenue by quarter and region in 2024",
     f"SELECT st.region, YEAR(s.sale_date), QUARTER(s.sale_date), SUM(s.amount) FROM sales s {J_ST} "
     "WHERE YEAR(s.sale_date) = 2024 GROUP BY 1, 2, 3"),
    ("sales by day of week", "SELECT DAYNAME(sale_date), SUM(amount) FROM sales GROUP BY 1"),
    # shares, listings
    ("share of revenue by category",
     f"SELECT p.category, SUM(s.amount), SUM(s.amount) * 100.0 / (SELECT SUM(amount) FROM sales) FROM sales s {J_P} GROUP BY 1"),
    ("list all regions", "SELECT DISTINCT region FROM stores"),
    ("which brands are in the grocery category", "SELECT DISTINCT brand FROM products WHERE category = 'Grocery'"),
]


@pytest.mark.parametrize("question, reference", SHAPES)
def test_shapes(engine, con, question, reference):
    assert_same_result(con, engine.generate(question), reference)


EXTRA = [
    "top 3 brands by revenue each year", "yoy revenue growth by region", "most expensive product",
    "what percentage of revenue came from electronics in 2024", "average revenue per store",
    "active stores per quarter", "how many inactive stores", "which stores opened in 2024",
    "daily revenue between 2024-12-01 and 2024-12-07", "top 10 sales in 2024", "revenue at Westfield Mall #16",
    "sales of maple & finch by quarter in 2023", "revenue in New York vs Boston", "average daily units in 2024",
    "which region had the most active stores in 2023", "how many different products were sold in 2023",
    "what's the St. Louis revenue this year", "revenue trend", "performance by store type",
]


@pytest.mark.parametrize("question", EXTRA)
def test_every_generated_query_runs(engine, con, question):
    con.execute(engine.generate(question)).fetchall()


def test_entities_may_be_passed_in(engine, con, db):
    question = "revenue per category"
    given = extract_entities(question, load_schema(db))
    assert engine.generate(question, given) == engine.generate(question)
    assert engine.generate(question, {}) == engine.generate(question)  # empty: extracted here


def test_quotes_in_values_are_escaped(engine, con):
    sql = engine.generate("revenue of brand x", {"metric": "revenue", "filters": {"products.brand": ["O'Brien"]}})
    assert "'O''Brien'" in sql
    assert con.execute(sql).fetchall() == [(None,)]


# -- refusals and determinism -----------------------------------------------------------------

@pytest.mark.parametrize("question, reason", [
    ("what is the meaning of life", "does not fit"),
    ("revenue by customer", "no column for 'customer'"),
    ("delete all sales from 2022", "only read"),
    ("active stores by brand", "per store"),
])
def test_cannot_answer(engine, question, reason):
    with pytest.raises(CannotAnswer, match=reason):
        engine.generate(question)


def test_other_schema_is_not_supported(tmp_path):
    path = tmp_path / "zoo.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE animals(animal_id INTEGER PRIMARY KEY, species VARCHAR, born DATE)")
    con.execute("INSERT INTO animals VALUES (1, 'Lion', DATE '2020-01-01')")
    con.close()
    engine = TemplateEngine(load_schema(path))
    assert engine.supported is False
    with pytest.raises(CannotAnswer, match="only knows the bundled sales schema"):
        engine.generate("how many lions were born in 2020")


def test_supported_on_sales(engine):
    assert engine.supported is True


def test_deterministic(engine, db):
    questions = [q for q, _ in SPEC_EXAMPLES + SHAPES] + EXTRA
    first = [engine.generate(q) for q in questions]
    again = TemplateEngine(load_schema(db))
    assert [again.generate(q) for q in questions] == first
