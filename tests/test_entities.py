"""Entity extraction against a real (small) sales database, and against an unrelated schema."""

from __future__ import annotations

import json

import duckdb
import pytest

from tools.entities import extract_entities
from tools.schema import load_schema


@pytest.fixture(scope="module")
def schema(sales_db):
    """The bundled sales database at scale 0.05 (conftest's session fixture)."""
    return load_schema(sales_db)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A different domain: nothing in extraction may depend on the sales tables."""
    path = tmp_path_factory.mktemp("library") / "library.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE authors(author_id INTEGER PRIMARY KEY, author_name VARCHAR, country VARCHAR)")
    con.execute("CREATE TABLE books(book_id INTEGER PRIMARY KEY, title VARCHAR, author_id INTEGER, genre VARCHAR, "
                "published DATE, price DOUBLE)")
    con.execute("INSERT INTO authors VALUES (1, 'Ada Byron', 'England'), (2, 'Jules Verne', 'France')")
    con.execute("INSERT INTO books VALUES (1, 'Engines', 1, 'Science', DATE '2019-05-01', 12.5), "
                "(2, 'Voyage', 2, 'Adventure', DATE '2021-03-01', 9.0), (3, 'Islands', 2, 'Adventure', DATE '2022-08-01', 11.0)")
    con.close()
    return load_schema(path)


def entities(question, schema):
    return extract_entities(question, schema)


# -- time -------------------------------------------------------------------------------------

@pytest.mark.parametrize("question, years, quarters, months", [
    ("What were total sales in 2023?", [2023], [], []),
    ("Sales comparison 2023 vs 2024", [2023, 2024], [], []),
    ("revenue in Q3 '23", [2023], [3], []),
    ("rev q3 2023", [2023], [3], []),
    ("sales in the third quarter of 2022", [2022], [3], []),
    ("q1 vs q2 2024 revenue", [2024], [1, 2], []),
    ("FY2024 revenue", [2024], [], []),
    ("fy23 units", [2023], [], []),
    ("sales in march 2023", [2023], [], [3]),
    ("revenue for Dec '22", [2022], [], [12]),
    ("revenue in sept and oct 2024", [2024], [], [9, 10]),
    ("sales last year", [2023], [], []),  # the data ends 2024-12-31
    ("sales this year vs last year", [2023, 2024], [], []),
    ("revenue last quarter", [2024], [3], []),
    ("units sold last month", [2024], [], [11]),
    ("sales in May 2024", [2024], [], [5]),
    ("may i see the revenue by region", [], [], []),  # 'may' the verb
    ("stores with over 2000 units", [], [], []),  # a quantity, not a year
])
def test_years_quarters_months(schema, question, years, quarters, months):
    e = entities(question, schema)
    assert (e["years"], e["quarters"], e["months"]) == (years, quarters, months)


@pytest.mark.parametrize("question, start, end", [
    ("revenue between March 2023 and June 2023", "2023-03-01", "2023-06-30"),
    ("sales from jan 2022 to mar 2023", "2022-01-01", "2023-03-31"),
    ("sales since 2023", "2023-01-01", "2024-12-31"),
    ("sales after March 2024", "2024-04-01", "2024-12-31"),
    ("revenue in the first half of 2024", "2024-01-01", "2024-06-30"),
    ("revenue in H2 2023", "2023-07-01", "2023-12-31"),
    ("sales in the last 6 months", "2024-07-01", "2024-12-31"),
    ("sales in the last 30 days", "2024-12-02", "2024-12-31"),
    ("revenue year to date", "2024-01-01", "2024-12-31"),
    ("sales on 2024-03-15", "2024-03-15", "2024-03-15"),
])
def test_date_range(schema, question, start, end):
    assert entities(question, schema)["date_range"] == {"start": start, "end": end}


def test_a_range_over_several_years_adds_no_months(schema):
    e = entities("revenue between March 2023 and June 2024", schema)
    assert e["date_range"] == {"start": "2023-03-01", "end": "2024-06-30"}
    assert e["months"] == [] and e["years"] == []


def test_compared_points_are_not_a_range(schema):
    e = entities("compare March 2023 to March 2024", schema)
    assert e["date_range"] is None and e["years"] == [2023, 2024] and e["months"] == [3]


# -- values -----------------------------------------------------------------------------------

@pytest.mark.parametrize("question, expected", [
    ("revenue in the west", {"stores.region": ["West"], "active_store.region": ["West"]}),
    ("electronics sales by month", {"products.category": ["Electronics"]}),
    ("revenue of mall stores", {"stores.store_type": ["Mall"]}),
    ("outlets revenue", {"stores.store_type": ["Outlet"]}),
    ("groceries sold in 2024", {"products.category": ["Grocery"]}),
    ("Electonics revenue", {"products.category": ["Electronics"]}),  # one typo
    ("Apparl sales in the Centrl region", {"products.category": ["Apparel"], "stores.region": ["Central"],
                                           "active_store.region": ["Central"]}),
    ("voltrix revenue", {"products.brand": ["Voltrix"]}),
    ("sales of maple and finch", {"products.brand": ["Maple & Finch"]}),
    ("revenue at Westfield Mall #16", {"stores.store_name": ["Westfield Mall #16"]}),
    ("revenue in New York vs Boston", {"stores.city": ["New York", "Boston"]}),
    ("home category revenue", {"products.category": ["Home"]}),
])
def test_filters(schema, question, expected):
    assert entities(question, schema)["filters"] == expected


@pytest.mark.parametrize("question", [
    "northern lights", "the southwestern stores", "homework", "total sales by region", "what is it worth",
    "sales to youth",
])
def test_no_value_inside_other_words(schema, question):
    assert entities(question, schema)["filters"] == {}


# -- metric, ranking, grouping ----------------------------------------------------------------

@pytest.mark.parametrize("question, metric, aggregation", [
    ("total sales in 2023", "revenue", "sum"),
    ("rev by region", "revenue", "sum"),
    ("turnover per category", "revenue", "sum"),
    ("units sold by brand", "quantity", "sum"),
    ("qty per store type", "quantity", "sum"),
    ("how many items sold in 2024", "quantity", "sum"),
    ("how many sales in 2024", "count", "count"),
    ("number of transactions per region", "count", "count"),
    ("how many orders last year", "count", "count"),
    ("average sale amount by region", "average", "avg"),
    ("avg order value", "average", "avg"),
    ("mean transaction value per store type", "average", "avg"),
    ("average unit price by category", "price", "avg"),
    ("active stores by region", "active_stores", "count"),
    ("how many stores are in the west", "stores", "count"),
    ("largest single sale in 2023", "revenue", "max"),
    ("average monthly revenue", "revenue", "avg"),
    ("what is the meaning of life", None, None),
])
def test_metric(schema, question, metric, aggregation):
    e = entities(question, schema)
    assert (e["metric"], e["aggregation"]) == (metric, aggregation)


@pytest.mark.parametrize("question, top_n, order", [
    ("Top 5 brands by revenue", 5, "desc"),
    ("top five cities by sales", 5, "desc"),
    ("best 3 categories", 3, "desc"),
    ("bottom 2 regions by qty", 2, "asc"),
    ("the 3 worst stores", 3, "asc"),
    ("which brand had the lowest revenue in 2022", 1, "asc"),
    ("which region had the highest sales", 1, "desc"),
    ("which brands sold the most", None, "desc"),
    ("which of the regions had the highest sales", 1, "desc"),
    ("stores with at least 100 sales", None, None),
    ("total sales by region", None, None),
])
def test_ranking(schema, question, top_n, order):
    e = entities(question, schema)
    assert (e["top_n"], e["order"]) == (top_n, order)


@pytest.mark.parametrize("question, group_by", [
    ("total sales by region", ["stores.region"]),
    ("revenue per category", ["products.category"]),
    ("quantity by store type in 2024", ["stores.store_type"]),
    ("revenue for each store type", ["stores.store_type"]),
    ("revenue by region and category", ["stores.region", "products.category"]),
    ("units by brand, category", ["products.brand", "products.category"]),
    ("sales in each city", ["stores.city"]),
    ("which Electronics brand sold the most units", ["products.brand"]),
    ("category breakdown of revenue", ["products.category"]),
    ("top 10 products by revenue", ["products.product_name"]),
    ("revenue by store", ["stores.store_name"]),
    ("revenue by regoin", ["stores.region"]),  # a typo in the dimension
    ("monthly revenue", []),
    ("revenue by quarter and region", ["stores.region"]),
])
def test_group_by(schema, question, group_by):
    assert entities(question, schema)["group_by"] == group_by


def test_unknown_dimension_is_reported(schema):
    assert entities("revenue by customer", schema)["unresolved"] == ["customer"]
    assert entities("revenue by region", schema)["unresolved"] == []


@pytest.mark.parametrize("question, grain", [
    ("monthly revenue in 2023", "month"),
    ("revenue by month", "month"),
    ("sales per quarter", "quarter"),
    ("quarterly units", "quarter"),
    ("revenue trend for electronics", "month"),
    ("year over year sales", "year"),
    ("yoy revenue", "year"),
    ("yearly sales by region", "year"),
    ("sales each year", "year"),
    ("weekly revenue", "week"),
    ("daily sales in december 2024", "day"),
    ("which month had the highest revenue", "month"),
    ("Sales comparison 2023 vs 2024", "year"),
    ("revenue this year", None),
])
def test_time_grain(schema, question, grain):
    assert entities(question, schema)["time_grain"] == grain


@pytest.mark.parametrize("question, comparison", [
    ("sales 2023 vs 2024", True), ("revenue 2022 versus 2023", True), ("compare revenue by region", True),
    ("revenue in 2023 compared to 2022", True), ("total sales by region", False),
])
def test_comparison(schema, question, comparison):
    assert entities(question, schema)["comparison"] is comparison


def test_columns_mentioned(schema):
    mentioned = entities("sum of amount by store type and category", schema)["columns_mentioned"]
    assert {"sales.amount", "stores.store_type", "products.category"} <= set(mentioned)


def test_the_full_dict_is_json_safe_and_complete(schema):
    e = entities("top 5 brnads by rev in Q3 '23 in the west", schema)
    assert json.loads(json.dumps(e)) == e
    assert e["years"] == [2023] and e["quarters"] == [3] and e["top_n"] == 5 and e["order"] == "desc"
    assert e["metric"] == "revenue" and e["group_by"] == ["products.brand"]
    assert e["filters"]["stores.region"] == ["West"]
    for key in ("years", "quarters", "months", "date_range", "filters", "metric", "aggregation", "top_n", "order",
                "group_by", "time_grain", "comparison", "columns_mentioned"):
        assert key in e


def test_lower_case_and_typos_in_keywords(schema):
    e = entities("qty sold by categroy last year", schema)
    assert (e["metric"], e["group_by"], e["years"]) == ("quantity", ["products.category"], [2023])
    assert entities("montly revnue", schema)["metric"] == "revenue"
    assert entities("montly revnue", schema)["time_grain"] == "month"


def test_deterministic(schema):
    q = "Top 3 brands by revenue in the West, monthly, since March 2023"
    assert entities(q, schema) == entities(q, schema)


# -- another database -------------------------------------------------------------------------

def test_generic_schema(library):
    e = extract_entities("number of adventure books by country since 2020", library)
    assert e["filters"] == {"books.genre": ["Adventure"]}
    assert e["group_by"] == ["authors.country"]
    assert e["date_range"] == {"start": "2020-01-01", "end": "2022-08-01"}  # anchored at the data's last date
    assert "books.genre" not in e["columns_mentioned"]
    assert extract_entities("books per genre", library)["group_by"] == ["books.genre"]
    assert extract_entities("titles by author", library)["group_by"] == ["authors.author_name"]
    assert extract_entities("books from France", library)["filters"] == {"authors.country": ["France"]}


@pytest.mark.parametrize("question, group_by", [
    ("which city has the most stores?", ["stores.city"]),               # the stores are counted
    ("which store type has the most products sold", ["stores.store_type"]),
    ("the most popular brand in 2024", ["products.brand"]),             # 'most' before one word, then the dimension
])
def test_the_counted_thing_after_most_is_not_a_dimension(schema, question, group_by):
    entities = extract_entities(question, schema)
    assert entities["group_by"] == group_by
    assert entities["top_n"] == 1  # 'which city': one of them
