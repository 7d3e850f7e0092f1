"""A small stores/sales database that the guard and executor tests share (independent of the real generator)."""

from __future__ import annotations

from pathlib import Path

import duckdb


def build_stores_sales_db(path: Path) -> Path:
    """A small stores/sales database: 10 stores, 300 sales over 2024."""
    con = duckdb.connect(str(path))
    con.execute('CREATE TABLE stores (store_id INTEGER PRIMARY KEY, region VARCHAR, "Store Name" VARCHAR, opened DATE)')
    con.execute("CREATE TABLE sales (sale_id INTEGER PRIMARY KEY, sale_date DATE, "
                "store_id INTEGER REFERENCES stores(store_id), amount DECIMAL(12,2))")
    con.execute("INSERT INTO stores SELECT i, ['West', 'East', 'North'][i % 3 + 1], 'Store ' || i, "
                "DATE '2020-01-01' + i::INTEGER FROM range(1, 11) t(i)")
    con.execute("INSERT INTO sales SELECT i, DATE '2024-01-01' + (i % 365)::INTEGER, i % 10 + 1, "
                "(i * 7.31)::DECIMAL(12,2) FROM range(1, 301) t(i)")
    con.close()
    return path
