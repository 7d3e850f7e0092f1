"""The words and SQL pieces of the bundled sales database: measures, dimensions, values, query assembly.

Templates combine these; keeping the synonyms next to the SQL they stand for is what guarantees that
'turnover' and 'rev' always mean SUM(amount) and 'qty' always SUM(quantity).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from training.kit import quote

__all__ = ["Measure", "Dim", "MEASURES", "DIMS", "SalesValues", "Qual", "select_sql"]


class Qual:
    """Column references for one query: qualified by table only when the query joins.

    Single-table queries stay short (``SUM(amount)``) and joined ones unambiguous
    (``SUM(sales.amount)``), and the join condition is spelled exactly as the schema prompt's
    '-- joins:' line spells it, so the model can copy it.
    """

    ORDER = ("stores", "products")
    JOINS = {"stores": "JOIN stores ON sales.store_id = stores.store_id",
             "products": "JOIN products ON sales.product_id = products.product_id"}

    def __init__(self, tables: Sequence[str] = ()) -> None:
        self.joined = [t for t in self.ORDER if t in set(tables)]

    def c(self, table: str, column: str) -> str:
        return f"{table}.{column}" if self.joined else column

    @property
    def date(self) -> str:
        return self.c("sales", "sale_date")

    def from_clause(self) -> str:
        return " ".join(["FROM sales"] + [self.JOINS[t] for t in self.joined])


@dataclass(frozen=True)
class Measure:
    """An aggregate over sales lines and every way a user names it."""

    key: str
    agg: Callable[[Qual], str]
    alias: str
    nouns: tuple[str, ...]
    unit: str  # money | count | units | avg
    how: tuple[str, ...] = ()  # whole-question forms with {f} (filter) and {p} (period)


MEASURES: dict[str, Measure] = {m.key: m for m in [
    Measure("revenue", lambda q: f"SUM({q.c('sales', 'amount')})", "revenue",
            ("revenue", "revenue", "sales", "total sales", "turnover", "rev", "income", "sales revenue",
             "gross sales", "sales amount"), "money",
            ("How much did we sell {f} {p}?", "How much revenue did we make {f} {p}?",
             "How much money came in {f} {p}?", "what did we earn {f} {p}", "how much did we make {f} {p}")),
    Measure("units", lambda q: f"SUM({q.c('sales', 'quantity')})", "units_sold",
            ("units sold", "units", "quantity sold", "qty", "items sold", "number of units sold", "sales volume",
             "qty sold", "total quantity"), "units",
            ("How many units did we sell {f} {p}?", "How many items were sold {f} {p}?",
             "how many units were sold {f} {p}", "what quantity did we sell {f} {p}?")),
    Measure("transactions", lambda q: "COUNT(*)", "num_sales",
            ("number of sales", "number of transactions", "# of transactions", "transaction count", "sale lines",
             "count of sales", "# sales", "sales count", "number of sale lines"), "count",
            ("How many sales were there {f} {p}?", "How many transactions happened {f} {p}?",
             "count the sales {f} {p}", "how many sale lines {f} {p}?")),
    Measure("avg_sale", lambda q: f"AVG({q.c('sales', 'amount')})", "avg_sale",
            ("average sale amount", "avg sale value", "average transaction value", "average ticket",
             "mean sale amount", "avg revenue per sale", "average sale"), "avg",
            ("What was the average sale amount {f} {p}?", "how big was the average sale {f} {p}?",
             "avg transaction value {f} {p}")),
    Measure("avg_units", lambda q: f"AVG({q.c('sales', 'quantity')})", "avg_units",
            ("average quantity per sale", "avg units per transaction", "average units per sale line",
             "mean quantity per sale"), "avg",
            ("How many units does an average sale have {f} {p}?", "average qty per sale {f} {p}")),
]}


@dataclass(frozen=True)
class Dim:
    """A column sales can be broken down or filtered by, with its nouns and filter phrasings."""

    key: str
    table: str
    column: str
    singular: tuple[str, ...]
    plural: tuple[str, ...]
    filters: tuple[str, ...]  # phrases with {v}, as in 'revenue {filter}'
    subjects: tuple[str, ...] = ()  # the value as a subject: '{v} stores', for 'how much did {f} sell'

    def ref(self, q: Qual) -> str:
        return q.c(self.table, self.column)


DIMS: dict[str, Dim] = {d.key: d for d in [
    Dim("region", "stores", "region", ("region", "region", "sales region", "area"),
        ("regions", "regions", "sales regions", "areas"),
        ("in the {v} region", "in {v}", "for the {v} region", "in region {v}", "for {v} stores", "in the {v}"),
        ("the {v} region", "{v} stores", "{v}")),
    Dim("city", "stores", "city", ("city", "city", "town"), ("cities", "cities", "towns"),
        ("in {v}", "in the city of {v}", "for stores in {v}", "at {v} stores", "in {v} stores"),
        ("{v} stores", "stores in {v}", "{v}")),
    Dim("store_type", "stores", "store_type", ("store type", "store format", "type of store", "format"),
        ("store types", "store formats", "types of store", "formats"),
        ("at {v} stores", "for {v} stores", "in {v} stores", "for the {v} format", "for store type {v}"),
        ("{v} stores", "the {v} format")),
    Dim("store", "stores", "store_name", ("store", "store", "shop", "location"), ("stores", "stores", "shops", "locations"),
        ("at {v}", "for store {v}", "at the {v} store", "for {v}"),
        ("{v}", "store {v}")),
    Dim("brand", "products", "brand", ("brand", "brand", "brand name"), ("brands", "brands", "brand names"),
        ("for {v}", "for the {v} brand", "for {v} products", "from brand {v}", "for brand {v}"),
        ("{v}", "{v} products", "the {v} brand")),
    Dim("category", "products", "category", ("category", "category", "product category", "product line"),
        ("categories", "categories", "product categories", "product lines"),
        ("in {v}", "in the {v} category", "for {v} products", "for category {v}", "for {v}"),
        ("{v}", "{v} products", "the {v} category")),
    Dim("product", "products", "product_name", ("product", "product", "item", "article"),
        ("products", "products", "items", "SKUs"),
        ("for {v}", "for the product {v}", "of {v}", "for product {v}"),
        ("{v}", "the product {v}")),
]}


@dataclass
class SalesValues:
    """What the templates need to know about one sales database: its values, years and latest dates."""

    path: Path
    values: dict[str, list[str]]  # dim key -> sorted distinct values
    years: list[int]
    anchor: date  # latest sale date
    latest_month: date  # latest month in active_store
    months: list[date]  # every month in active_store
    city_region: dict[str, str] = field(default_factory=dict)
    brand_categories: dict[str, list[str]] = field(default_factory=dict)
    opened_years: list[int] = field(default_factory=list)
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path) -> SalesValues:
        con = duckdb.connect(str(path), read_only=True)
        values = {key: [r[0] for r in con.execute(
            f"SELECT DISTINCT {d.column} FROM {d.table} WHERE {d.column} IS NOT NULL ORDER BY 1").fetchall()]
            for key, d in DIMS.items()}
        years = [r[0] for r in con.execute("SELECT DISTINCT YEAR(sale_date) FROM sales ORDER BY 1").fetchall()]
        anchor = con.execute("SELECT MAX(sale_date) FROM sales").fetchone()[0]
        months = [r[0] for r in con.execute("SELECT DISTINCT month FROM active_store ORDER BY 1").fetchall()]
        city_region = dict(con.execute("SELECT DISTINCT city, region FROM stores").fetchall())
        brand_categories: dict[str, list[str]] = {}
        for brand, category in con.execute("SELECT DISTINCT brand, category FROM products ORDER BY 1, 2").fetchall():
            brand_categories.setdefault(brand, []).append(category)
        opened = [r[0] for r in con.execute("SELECT DISTINCT YEAR(opened_date) FROM stores ORDER BY 1").fetchall()]
        return cls(path, values, years, anchor, months[-1], months, city_region, brand_categories, opened, con)

    def scalar_rows(self, sql: str) -> list[tuple]:
        """Rows of a helper query (thresholds), on the connection opened by load()."""
        return self._con.execute(sql).fetchall()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def select_sql(select: Sequence[str], q: Qual, *, where: Sequence[str] = (), group: Sequence[str] = (),
               having: str = "", order: str = "", limit: int | None = None) -> str:
    """One SELECT in the house style: upper-case keywords, one line, clauses only when needed."""
    parts = ["SELECT " + ", ".join(select), q.from_clause()]
    conditions = [w for w in where if w]
    if conditions:
        parts.append("WHERE " + " AND ".join(conditions))
    if group:
        parts.append("GROUP BY " + ", ".join(group))
    if having:
        parts.append("HAVING " + having)
    if order:
        parts.append("ORDER BY " + order)
    if limit is not None:
        parts.append(f"LIMIT {limit}")
    return " ".join(parts)


def value_filter(dim: Dim, value: str, q: Qual) -> str:
    return f"{dim.ref(q)} = {quote(value)}"
