"""The schema as the model's prompt shows it (tools.schema.DatabaseSchema.to_compact_prompt)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from small_db import build_stores_sales_db
from tools.schema import load_schema


def test_one_line_per_table_with_few_values_dates_and_joins(tmp_path: Path) -> None:
    text = load_schema(build_stores_sales_db(tmp_path / "s.duckdb")).to_compact_prompt()
    lines = text.splitlines()
    assert lines[0] == "Tables:"
    assert 'stores(store_id INTEGER, region VARCHAR, "Store Name" VARCHAR, opened DATE)' in lines
    assert "sales(sale_id INTEGER, sale_date DATE, store_id INTEGER, amount DECIMAL)" in lines
    values = next(line for line in lines if line.startswith("Values: "))
    assert "stores.region: East, North, West" in values
    assert "sales.sale_date: 2024-01-02 to 2024-10-27" in values and "stores.opened: 2020-01-02 to 2020-01-11" in values
    assert "Store Name" not in values  # ten distinct names are not a dimension worth listing
    assert lines[-1] == "Joins: sales.store_id = stores.store_id"


def test_far_shorter_than_the_ddl(sales_db: Path) -> None:
    schema = load_schema(sales_db)
    compact, ddl = schema.to_compact_prompt(), schema.to_prompt()
    assert len(compact) * 2.5 < len(ddl)
    for table in schema.tables:
        assert all(column.name in compact for column in table.columns)


def test_a_join_declared_both_ways_is_listed_once(tmp_path: Path) -> None:
    path = tmp_path / "j.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, kind VARCHAR)")
    con.execute("CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id))")
    con.execute("INSERT INTO a VALUES (1, 'x'), (2, 'y')")
    con.execute("INSERT INTO b VALUES (1, 1)")
    con.close()
    text = load_schema(path).to_compact_prompt()
    assert text.count("b.a_id = a.id") + text.count("a.id = b.a_id") == 1
