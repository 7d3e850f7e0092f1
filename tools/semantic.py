"""The semantic layer of the bundled sales database: measures, dimensions, joins and SQL assembly.

The template engine speaks in business terms (revenue by region in 2024); this module knows what
those mean in SQL: which table and alias a dimension lives in, how it joins to the fact table, how a
period becomes a WHERE clause. It is built from a DatabaseSchema and refuses schemas that lack what
the sales templates need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tools.schema import DatabaseSchema

# table: (alias, columns the templates rely on, join condition to the fact table)
REQUIRED = {
    "sales": ("s", ("sale_date", "store_id", "product_id", "quantity", "amount"), None),
    "stores": ("st", ("store_id", "store_name", "region", "city", "store_type"), "s.store_id = st.store_id"),
    "products": ("p", ("product_id", "product_name", "brand", "category", "unit_price"),
                 "s.product_id = p.product_id"),
}
ACTIVE = ("active_store", "a", ("month", "store_id", "region", "is_active"))

# Wording that names the measure 'revenue' rather than 'total_sales' in the result's column name
_REVENUE_WORDS = re.compile(r"\b(?:revenue|revenues|rev|turnover|income|earnings)\b")

# Columns of other tables that mean the same dimension (active_store.region is stores.region)
SYNONYMS = {"active_store.region": "stores.region", "sales.store_id": "stores.store_id",
            "sales.product_id": "products.product_id", "active_store.store_id": "stores.store_id"}


@dataclass(frozen=True)
class Dimension:
    """A column rows can be grouped or filtered by: 'stores.region' lives at st.region.

    A derived dimension (the weekday of a sale) has an ``sql`` expression and ``column`` as its name.
    """

    table: str
    column: str
    sql: str = ""

    @property
    def key(self) -> str:
        return f"{self.table}.{self.column}"


WEEKDAY = Dimension("sales", "weekday", "DAYNAME({s}sale_date)")


class SalesModel:
    """Dimensions and joins of the sales schema; ``None`` from ``build`` when the schema lacks them."""

    def __init__(self, schema: DatabaseSchema) -> None:
        self.schema = schema
        self.has_active_store = _has(schema, ACTIVE[0], ACTIVE[2])
        self.dimensions = {f"{t}.{c.name}": Dimension(t, c.name) for t in ("stores", "products", "sales")
                           for c in schema.table(t).columns}

    @staticmethod
    def build(schema: DatabaseSchema) -> "SalesModel | None":
        if all(_has(schema, table, cols) for table, (_, cols, _) in REQUIRED.items()):
            return SalesModel(schema)
        return None

    def dimension(self, key: str) -> Dimension | None:
        """The sales-side dimension for an entity key ("active_store.region" -> stores.region)."""
        key = SYNONYMS.get(key, key)
        return self.dimensions.get(key)


def _has(schema: DatabaseSchema, table: str, columns: tuple[str, ...]) -> bool:
    found = schema.table(table)
    return found is not None and all(found.column(c) is not None for c in columns)


@dataclass
class Query:
    """One SELECT, assembled clause by clause, with table aliases only when it joins.

    Expressions are written with alias placeholders ``{s}``, ``{st}``, ``{p}``, ``{a}``; ``sql()``
    fills them with 's.' and friends when the query joins, or with nothing when it reads one table,
    so a single-table query reads naturally: SUM(amount) FROM sales.
    """

    table: str
    alias: str
    joins: dict[str, tuple[str, str]] = field(default_factory=dict)  # table -> (alias, ON condition)
    select: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    order_by: list[str] = field(default_factory=list)
    qualify: str | None = None
    limit: int | None = None
    distinct: bool = False

    def join(self, table: str, alias: str, on: str) -> None:
        self.joins.setdefault(table, (alias, on))

    def fill(self, expr: str) -> str:
        """Resolve alias placeholders in ``expr`` for this query's shape."""
        for alias in ("st", "s", "p", "a"):
            expr = expr.replace("{" + alias + "}", f"{alias}." if self.joins else "")
        return expr

    def sql(self) -> str:
        parts = ["SELECT " + ("DISTINCT " if self.distinct else "") + ", ".join(self.fill(e) for e in self.select)]
        parts.append(f"FROM {self.table} {self.alias}" if self.joins else f"FROM {self.table}")
        for table, (alias, on) in self.joins.items():
            parts.append(f"JOIN {table} {alias} ON {on}")
        if self.where:
            parts.append("WHERE " + " AND ".join(self.fill(w) for w in self.where))
        if self.group_by:
            parts.append("GROUP BY " + ", ".join(self.fill(g) for g in self.group_by))
        if self.qualify:
            parts.append("QUALIFY " + self.fill(self.qualify))
        if self.order_by:
            parts.append("ORDER BY " + ", ".join(self.fill(o) for o in self.order_by))
        if self.limit is not None:
            parts.append(f"LIMIT {int(self.limit)}")
        return " ".join(parts)


def literal(value: Any) -> str:
    """A SQL literal: quoted text with quotes doubled, numbers as they are."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def equals_any(expr: str, values: list[Any]) -> str:
    """``expr = v`` for one value, ``expr IN (...)`` for several."""
    if len(values) == 1:
        return f"{expr} = {literal(values[0])}"
    return f"{expr} IN ({', '.join(literal(v) for v in values)})"


def period_conditions(date_expr: str, entities: dict[str, Any]) -> list[str]:
    """WHERE conditions for the years, quarters, months and date range of the entities."""
    conditions = []
    if entities.get("date_range"):
        rng = entities["date_range"]
        conditions.append(f"{date_expr} BETWEEN DATE '{rng['start']}' AND DATE '{rng['end']}'")
    for part, key in (("YEAR", "years"), ("QUARTER", "quarters"), ("MONTH", "months")):
        if entities.get(key):
            conditions.append(equals_any(f"{part}({date_expr})", [int(v) for v in entities[key]]))
    return conditions


def has_period(entities: dict[str, Any]) -> bool:
    return bool(entities.get("date_range") or entities.get("years") or entities.get("quarters")
                or entities.get("months"))


def grain_columns(grain: str, date_expr: str) -> list[tuple[str, str]]:
    """(expression, alias) of the period buckets for a time grain; quarters come as year + quarter."""
    if grain == "year":
        return [(f"YEAR({date_expr})", "year")]
    if grain == "quarter":
        return [(f"YEAR({date_expr})", "year"), (f"QUARTER({date_expr})", "quarter")]
    if grain == "day":
        return [(date_expr, "day")]
    return [(f"DATE_TRUNC('{grain}', {date_expr})", grain)]


def measure(metric: str, aggregation: str | None, text: str) -> tuple[str, str]:
    """(SQL aggregate with alias placeholders, output column name) of a metric."""
    if metric == "count":
        return "COUNT(*)", "num_sales"
    if metric == "average":
        return "AVG({s}amount)", "avg_amount"
    if metric == "price":
        func = {"max": "MAX", "min": "MIN"}.get(aggregation or "", "AVG")
        return f"{func}({{p}}unit_price)", f"{func.lower()}_unit_price"
    column = "quantity" if metric == "quantity" else "amount"
    if aggregation in ("max", "min", "avg"):  # per sale line: 'average quantity per sale', 'largest sale'
        return f"{aggregation.upper()}({{s}}{column})", f"{aggregation}_{column}"
    if metric == "quantity":
        return "SUM({s}quantity)", "units" if re.search(r"\bunits?\b", text) else "quantity"
    return "SUM({s}amount)", "revenue" if _REVENUE_WORDS.search(text) else "total_sales"
