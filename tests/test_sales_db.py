"""The bundled sales database: its schema contract, plausibility of the data, determinism and file handling."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb
import pytest

from tools.sales_db import build_sales_db, ensure_default_db
from tools.schema import load_schema

SMALL = 0.05

EXPECTED_COLUMNS = {
    "stores": [("store_id", "INTEGER"), ("store_name", "VARCHAR"), ("region", "VARCHAR"), ("city", "VARCHAR"),
               ("store_type", "VARCHAR"), ("opened_date", "DATE")],
    "products": [("product_id", "INTEGER"), ("product_name", "VARCHAR"), ("brand", "VARCHAR"),
                 ("category", "VARCHAR"), ("unit_price", "DECIMAL(10,2)")],
    "sales": [("sale_id", "BIGINT"), ("sale_date", "DATE"), ("store_id", "INTEGER"), ("product_id", "INTEGER"),
              ("quantity", "INTEGER"), ("amount", "DECIMAL(12,2)")],
    "active_store": [("month", "DATE"), ("store_id", "INTEGER"), ("region", "VARCHAR"), ("is_active", "BOOLEAN")],
}


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sales_db(tmp_path_factory.mktemp("sales") / "sales.duckdb", scale=SMALL)


@pytest.fixture
def con(small_db: Path):
    connection = duckdb.connect(str(small_db), read_only=True)
    yield connection
    connection.close()


def _values(con: duckdb.DuckDBPyConnection, sql: str) -> list:
    return [row[0] for row in con.execute(sql).fetchall()]


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with duckdb.connect(str(path), read_only=True) as connection:
        for table in EXPECTED_COLUMNS:
            digest.update(repr(connection.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()).encode())
    return digest.hexdigest()


def test_columns_names_types_and_order(con):
    for table, expected in EXPECTED_COLUMNS.items():
        actual = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                             "ORDER BY column_index", [table]).fetchall()
        assert actual == expected, table
    # Only the set: DuckDB lists tables by name once the file is reopened, whatever the creation order
    assert set(_values(con, "SELECT table_name FROM duckdb_tables()")) == set(EXPECTED_COLUMNS)


def test_every_table_and_column_is_commented(con):
    for table, comment in con.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall():
        assert comment and comment.strip(), table
    for table, column, comment in con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal").fetchall():
        assert comment and comment.strip(), f"{table}.{column}"
    amount = _values(con, "SELECT comment FROM duckdb_columns() WHERE table_name = 'sales' AND column_name = 'amount'")
    assert "revenue" in amount[0].lower()


def test_primary_keys_declared(con):
    rows = con.execute("SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                       "WHERE constraint_type = 'PRIMARY KEY'").fetchall()
    assert {t: list(c) for t, c in rows} == {"stores": ["store_id"], "products": ["product_id"],
                                             "sales": ["sale_id"]}


def test_dimension_values(con):
    assert set(_values(con, "SELECT DISTINCT region FROM stores")) == {"North", "South", "East", "West", "Central"}
    assert set(_values(con, "SELECT DISTINCT store_type FROM stores")) == {"Mall", "Street", "Outlet"}
    assert set(_values(con, "SELECT DISTINCT category FROM products")) == {
        "Electronics", "Apparel", "Home", "Beauty", "Grocery", "Sports"}
    assert 17 <= _values(con, "SELECT count(DISTINCT brand) FROM products")[0] <= 23
    assert 150 <= _values(con, "SELECT count(*) FROM products")[0] <= 250
    assert _values(con, "SELECT count(DISTINCT city) FROM stores")[0] >= 15
    # Category price levels differ: electronics is the dearest, grocery the cheapest
    by_price = _values(con, "SELECT category FROM products GROUP BY category ORDER BY avg(unit_price)")
    assert by_price[0] == "Grocery" and by_price[-1] == "Electronics"


def test_stores_open_in_range(con):
    count, first, last, late = con.execute(
        "SELECT count(*), min(opened_date), max(opened_date), count(*) FILTER (opened_date >= DATE '2022-01-01') "
        "FROM stores").fetchone()
    assert 45 <= count <= 55
    assert str(first) >= "2015-01-01" and str(last) <= "2024-12-31"
    assert 1 <= late <= 10
    assert _values(con, "SELECT count(DISTINCT store_name) FROM stores")[0] == count


def test_sales_rows_are_plausible(con):
    rows, first, last, bad_amount, bad_quantity, ids_ok = con.execute(
        "SELECT count(*), min(sale_date), max(sale_date), count(*) FILTER (amount <= 0), "
        "count(*) FILTER (quantity NOT BETWEEN 1 AND 10), max(sale_id) = count(*) AND min(sale_id) = 1 "
        "FROM sales").fetchone()
    assert rows == round(240_000 * SMALL)
    assert str(first) >= "2022-01-01" and str(last) <= "2024-12-31"
    assert bad_amount == 0 and bad_quantity == 0 and ids_ok
    assert _values(con, "SELECT count(*) FROM sales JOIN stores USING (store_id) WHERE sale_date < opened_date") == [0]
    assert _values(con, "SELECT count(*) FROM sales s JOIN products p USING (product_id) "
                        "WHERE s.amount > s.quantity * p.unit_price") == [0]
    # Stored in date order, numbered along it
    assert _values(con, "SELECT count(*) FROM (SELECT sale_date < lag(sale_date) OVER (ORDER BY sale_id) AS back "
                        "FROM sales) WHERE back") == [0]


def test_active_store_calendar(con):
    stores = _values(con, "SELECT count(*) FROM stores")[0]
    months, rows, distinct = con.execute(
        "SELECT count(DISTINCT month), count(*), count(DISTINCT (month, store_id)) FROM active_store").fetchone()
    assert months == 36 and rows == distinct == stores * 36
    assert _values(con, "SELECT count(*) FROM active_store WHERE day(month) <> 1 "
                        "OR month NOT BETWEEN DATE '2022-01-01' AND DATE '2024-12-01'") == [0]
    assert _values(con, "SELECT count(*) FROM active_store a JOIN stores s USING (store_id) "
                        "WHERE a.is_active AND a.month < date_trunc('month', s.opened_date)") == [0]
    assert _values(con, "SELECT count(*) FROM active_store a JOIN stores s USING (store_id) "
                        "WHERE a.region <> s.region") == [0]
    # Beyond not-yet-opened months, some stores pause (renovation, closure) -- and sell nothing then
    assert _values(con, "SELECT count(*) FROM active_store a JOIN stores s USING (store_id) "
                        "WHERE NOT a.is_active AND a.month >= date_trunc('month', s.opened_date)")[0] > 0
    assert _values(con, "SELECT count(*) FROM sales s JOIN active_store a "
                        "ON a.store_id = s.store_id AND a.month = date_trunc('month', s.sale_date) "
                        "WHERE NOT a.is_active") == [0]


def test_growth_and_seasonality(con):
    by_year = dict(con.execute("SELECT year(sale_date), sum(amount) FROM sales GROUP BY 1").fetchall())
    assert by_year[2023] > by_year[2022] and by_year[2024] > by_year[2023]
    december, average = con.execute(
        "SELECT sum(amount) FILTER (month(sale_date) = 12) / 3, sum(amount) / 36 FROM sales").fetchone()
    assert december > average
    summer, rest = con.execute(
        "SELECT count(*) FILTER (month(sale_date) IN (6, 7, 8)) / 3, count(*) FILTER (month(sale_date) "
        "NOT IN (6, 7, 8)) / 9 FROM sales JOIN products USING (product_id) WHERE category = 'Sports'").fetchone()
    assert summer > rest


def test_same_seed_same_contents(small_db, tmp_path):
    again = build_sales_db(tmp_path / "again.duckdb", scale=SMALL)
    assert _content_hash(again) == _content_hash(small_db)
    other = build_sales_db(tmp_path / "other.duckdb", scale=SMALL, seed=7)
    assert _content_hash(other) != _content_hash(small_db)


def test_refuses_to_overwrite(small_db, tmp_path):
    before = small_db.stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="overwrite=True"):
        build_sales_db(small_db, scale=SMALL)
    assert small_db.stat().st_mtime_ns == before
    target = tmp_path / "replace.duckdb"
    target.write_text("not a database")
    build_sales_db(target, scale=SMALL, overwrite=True)
    with duckdb.connect(str(target), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM sales").fetchone()[0] == round(240_000 * SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replace.duckdb"]  # no temp files left behind


@pytest.mark.parametrize("scale", [0, -1, 50.5, float("nan"), "1"])
def test_bad_scale(scale, tmp_path):
    with pytest.raises(ValueError, match="scale"):
        build_sales_db(tmp_path / "bad.duckdb", scale=scale)
    assert not (tmp_path / "bad.duckdb").exists()


def test_load_schema_reads_it(small_db):
    schema = load_schema(small_db)
    assert sorted(schema.table_names) == sorted(EXPECTED_COLUMNS)
    assert schema.table("sales").primary_key == ("sale_id",)
    assert schema.table("stores").column("region").values == ("Central", "East", "North", "South", "West")
    assert schema.joins_between("sales", "stores")


def test_ensure_default_db_builds_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMSQL_HOME", str(tmp_path))
    monkeypatch.setattr("tools.sales_db.ROWS_AT_SCALE_1", 2_000)  # the default build's size is tested below
    path = ensure_default_db(progress=False)
    assert path == tmp_path / "sales.duckdb" and path.is_file()
    mtime = path.stat().st_mtime_ns
    assert ensure_default_db(progress=False) == path
    assert path.stat().st_mtime_ns == mtime


def test_default_scale_size(tmp_path):
    path = build_sales_db(tmp_path / "full.duckdb", progress=True)
    with duckdb.connect(str(path), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM sales").fetchone()[0] >= 200_000
    assert os.path.getsize(path) > 0
