"""The rule-based template engine: deterministic SQL for the common shapes of sales questions.

It reads the entities of a question (tools.entities) and composes a query from the semantic layer
(tools.semantic): a measure, optional dimensions, a time grain, filters and a period, then a shape
(breakdown, trend, top-N, comparison, share, growth, active stores, entity counts, listings). When a
question falls outside those shapes it raises CannotAnswer with a reason the user can act on, rather
than guessing SQL that would answer a different question.
"""

from __future__ import annotations

import re
from typing import Any

from tools.entities import extract_entities
from tools.linking import column_phrases, normalize, phrase_pattern, plural, singular
from tools.schema import DatabaseSchema
from tools.semantic import (ACTIVE, REQUIRED, WEEKDAY, Dimension, Query, SalesModel, equals_any, grain_columns,
                            has_period, measure, period_conditions)

_UNSUPPORTED = ("The template engine only knows the bundled sales schema (tables sales, stores and products "
                "with their usual columns); this database is different, so only the model can write SQL for it.")
_NOT_UNDERSTOOD = ("The templates cover sales questions (totals, breakdowns, trends, top-N, comparisons, "
                   "active stores, store and product counts), and this question does not fit any of them.")

_WRITE = re.compile(r"\b(?:delete|drop|insert|update|truncate|alter|create|replace|grant|remove|erase)\b")
_SHARE = re.compile(r"\b(?:share|percent|percentage|pct|proportion|fraction|contribution|contribute[sd]?)\b|%")
_GROWTH = re.compile(r"\b(?:growth|grow|grew|growing|increase[sd]?|decrease[sd]?|decline[sd]?|change[sd]?)\b")
_LIST = re.compile(r"^(?:list|show|which|what|name|give)\b|\b(?:what|which)\s+(?:\w+\s+)?(?:are|exist|is)\b")
_DISTINCT = re.compile(r"\b(?:different|distinct|unique)\b")
_VIA_SALES = re.compile(r"\b(?:sold|sell|sells|selling|sales|sale|purchased|bought|transactions?|orders?|revenue)\b")
_WEEKDAY = re.compile(r"\b(?:days?\s+of\s+(?:the\s+)?week|weekdays?|day\s+names?)\b")
_INACTIVE = re.compile(r"\b(?:inactive|not\s+active|closed|non[\s-]?active)\b")
_COUNTING = re.compile(r"\b(?:how\s+many|number\s+of|count\s+of|count\s+the|total\s+number\s+of|count)\s+")
_TABLE_ALIAS = {table: alias for table, (alias, _, _) in REQUIRED.items()}


class CannotAnswer(Exception):
    """A clear user-facing reason why the templates do not cover this question."""


class TemplateEngine:
    """SQL for sales questions from a few composable templates over the sales semantic layer."""

    def __init__(self, schema: DatabaseSchema) -> None:
        self.schema = schema
        self.model = SalesModel.build(schema)

    @property
    def supported(self) -> bool:
        """True when the schema has the sales, stores and products tables the templates need."""
        return self.model is not None

    def generate(self, question: str, entities: dict | None = None) -> str:
        """The SQL answering ``question``, or CannotAnswer with the reason there is none."""
        if self.model is None:
            raise CannotAnswer(_UNSUPPORTED)
        text = normalize(question)
        if _WRITE.search(text):
            raise CannotAnswer("The templates only read data; they never change the database.")
        e = _complete(entities or extract_entities(question, self.schema))
        if e["unresolved"]:
            raise CannotAnswer(f"The database has no column for '{e['unresolved'][0]}', so the templates "
                               "cannot group or filter by it.")
        metric = e["metric"]
        if metric == "active_stores":
            return self._active_stores(e, text)
        counted = self._counted(text)
        if counted and (metric in ("stores", "count") or _DISTINCT.search(text)):
            return self._count_entities(e, text, *counted)
        if metric == "stores":
            return self._count_entities(e, text, "stores", None)
        if metric is None:
            if e["group_by"] and _LIST.search(text) and not (e["top_n"] or e["order"]):
                return self._listing(e, text)
            if not (e["group_by"] or e["time_grain"] or e["top_n"] or e["order"] or e["filters"]):
                raise CannotAnswer(_NOT_UNDERSTOOD)
            metric = "revenue"  # 'which brand performed best': sales revenue is the default measure
        return self._measured(e, text, metric)

    # -- shapes -------------------------------------------------------------------------------

    def _measured(self, e: dict[str, Any], text: str, metric: str) -> str:
        """A measure over sales, by dimensions and/or time, filtered, ranked: most questions."""
        dims, filters = self._dimensions(e), self._filters(e)
        if _WEEKDAY.search(text):
            dims.append(WEEKDAY)
        if e["comparison"]:  # 'West vs East': the compared values become rows
            dims += [d for d, values in filters if len(values) > 1 and d not in dims]
        grain = e["time_grain"]
        if metric == "price" and not has_period(e) and not grain and all(
                d.table == "products" for d in dims + [d for d, _ in filters]):
            q = Query("products", "p")
        else:
            q = Query("sales", "s")
        priced = [Dimension("products", "unit_price")] if metric == "price" else []
        self._join(q, dims + [d for d, _ in filters] + priced)
        q.where += [equals_any(_expr(d), values) for d, values in filters]
        if q.table == "sales":
            q.where += period_conditions("{s}sale_date", e)
        average_over = self.model.dimension(e["average_over"]) if e["average_over"] else None
        if e["aggregation"] == "avg" and metric in ("revenue", "quantity", "count") and (grain or average_over):
            return self._average_of_totals(q, dims, grain, average_over, *measure(metric, "sum", text))
        expr, alias = measure(metric, e["aggregation"], text)
        if e["top_n"] and not dims and not grain and metric in ("revenue", "quantity", "average"):
            return self._top_rows(q, e, "quantity" if metric == "quantity" else "amount")

        q.select += [_selected(d) for d in dims]
        q.group_by += [_expr(d) for d in dims]
        if not grain and _GROWTH.search(text) and len(e["years"]) >= 2:
            grain = "year"  # 'growth from 2023 to 2024' compares the years
        buckets = grain_columns(grain, "{s}sale_date") if grain and q.table == "sales" else []
        growth = bool(_GROWTH.search(text)) and (len(e["years"]) >= 2 or bool(buckets))
        if growth and dims and e["top_n"] and len(e["years"]) == 2 and grain == "year":
            return self._growth_ranking(q, e, expr)
        q.select += [f"{b} AS {a}" for b, a in buckets]
        q.group_by += [a for _, a in buckets]
        if growth and buckets:
            partition = f"PARTITION BY {', '.join(_expr(d) for d in dims)} " if dims else ""
            previous = f"LAG({expr}) OVER ({partition}ORDER BY {', '.join(b for b, _ in buckets)})"
            q.select += [f"{expr} AS {alias}", f"100.0 * ({expr} - {previous}) / {previous} AS growth_pct"]
            q.order_by += [_expr(d) for d in dims] + [a for _, a in buckets]
            return q.sql()
        if _SHARE.search(text):
            return self._share(q, dims, buckets, filters, expr, alias)
        q.select.append(f"{expr} AS {alias}")
        self._order(q, e, text, dims, buckets, expr, alias)
        return q.sql()

    def _order(self, q: Query, e: dict[str, Any], text: str, dims: list[Dimension],
               buckets: list[tuple[str, str]], expr: str, alias: str) -> None:
        """Top-N (overall or within each period or group), else time order, else largest first."""
        direction = "ASC" if e["order"] == "asc" else "DESC"
        # 'top 3 brands each year', 'best-selling brand in each category': the ranking restarts per group
        each = self._each_dimension(text, dims) if len(dims) > 1 else None
        groups = ([b for b, _ in buckets] if dims else []) + ([_expr(each)] if each else [])
        if e["top_n"] and groups:
            q.qualify = (f"ROW_NUMBER() OVER (PARTITION BY {', '.join(groups)} ORDER BY {expr} {direction})"
                         f" <= {e['top_n']}")
            q.order_by += [a for _, a in buckets] + ([_expr(each)] if each else []) + [f"{alias} {direction}"]
        elif e["top_n"] and (dims or buckets):
            q.order_by.append(f"{alias} {direction}")
            q.limit = e["top_n"]
        elif buckets:
            q.order_by += [a for _, a in buckets] + [_expr(d) for d in dims]
        elif dims:
            q.order_by.append(f"{alias} {direction}")

    def _growth_ranking(self, q: Query, e: dict[str, Any], expr: str) -> str:
        """'which region grew the most from 2023 to 2024': percent change between two years, ranked."""
        summed = re.fullmatch(r"SUM\((.*)\)", expr)
        value = summed.group(1) if summed else "1" if expr == "COUNT(*)" else None
        if value is None:
            raise CannotAnswer("Growth is computed on totals (revenue, units, sales counts), not on averages.")
        first, last = sorted(e["years"])
        total = lambda year: f"SUM(CASE WHEN YEAR({{s}}sale_date) = {year} THEN {value} END)"  # noqa: E731
        q.select.append(f"100.0 * ({total(last)} - {total(first)}) / {total(first)} AS growth_pct")
        q.order_by.append(f"growth_pct {'ASC' if e['order'] == 'asc' else 'DESC'}")
        q.limit = e["top_n"]
        return q.sql()

    def _each_dimension(self, text: str, dims: list[Dimension]) -> Dimension | None:
        """The dimension named after 'each', 'every' or 'per': the groups a ranking restarts in."""
        phrases = column_phrases(self.schema, dimensions_only=True)
        for m in re.finditer(r"\b(?:each|every|per)\s+", text):
            hit = phrase_pattern(phrases).match(text, m.end())
            if hit:
                dim = self.model.dimension(phrases[re.sub(r"[\s_]+", " ", hit.group(0))][0])
                if dim in dims:
                    return dim
        return None

    def _average_of_totals(self, q: Query, dims: list[Dimension], grain: str | None,
                           unit: Dimension | None, expr: str, alias: str) -> str:
        """'average monthly revenue by region': totals per unit (month, store), then their mean."""
        if unit is not None:
            self._join(q, [unit])
            bucket = _expr(unit)
        else:
            bucket = ("YEAR({s}sale_date)" if grain == "year" else "{s}sale_date" if grain == "day"
                      else f"DATE_TRUNC('{grain}', {{s}}sale_date)")
        q.select += [_selected(d) for d in dims] + [f"{bucket} AS bucket", f"{expr} AS total"]
        q.group_by += [_expr(d) for d in dims] + ["bucket"]
        outer = Query(f"({q.sql()}) AS totals", "totals")
        names = [d.column for d in dims]
        outer.select += names + [f"AVG(total) AS avg_{alias}"]
        outer.group_by += names
        outer.order_by += names
        return outer.sql()

    def _top_rows(self, q: Query, e: dict[str, Any], column: str) -> str:
        """'top 10 sales in 2024' with nothing to group by: the largest sale lines themselves."""
        columns = ("sale_id", "sale_date", "store_id", "product_id", "quantity", "amount")
        q.select += [f"{{s}}{c}" for c in columns]
        q.order_by.append(f"{{s}}{column} {'ASC' if e['order'] == 'asc' else 'DESC'}")
        q.limit = e["top_n"]
        return q.sql()

    def _share(self, q: Query, dims: list[Dimension], buckets: list[tuple[str, str]],
               filters: list[tuple[Dimension, list[str]]], expr: str, alias: str) -> str:
        """Percent of the total: per dimension value, or for the filtered slice of everything."""
        if dims:
            partition = f"PARTITION BY {', '.join(b for b, _ in buckets)} " if buckets else ""
            total = f"SUM({expr}) OVER ({partition.strip()})"
            q.select += [f"{expr} AS {alias}", f"100.0 * {expr} / {total} AS pct_of_total"]
            q.order_by += [a for _, a in buckets] + ["pct_of_total DESC"]
            return q.sql()
        if not filters:
            raise CannotAnswer("A share needs a part and a whole: name the slice (e.g. a region) or a breakdown "
                               "(e.g. by category).")
        conditions = [equals_any(_expr(d), values) for d, values in filters]
        q.where = [w for w in q.where if w not in conditions]  # the slice is the numerator, not a filter
        summed = re.fullmatch(r"SUM\((.*)\)", expr)
        value = summed.group(1) if summed else "1" if expr == "COUNT(*)" else None
        if value is None:
            raise CannotAnswer("A share is a part of a total, and averages or extremes do not add up to one.")
        part = f"SUM(CASE WHEN {' AND '.join(conditions)} THEN {value} ELSE 0 END)"
        q.select += [f"100.0 * {part} / SUM({value}) AS pct_of_total"]
        q.order_by = [a for _, a in buckets]
        return q.sql()

    def _active_stores(self, e: dict[str, Any], text: str) -> str:
        """Stores active in the latest month of the period (or of each month/quarter/year)."""
        if not self.model.has_active_store:
            raise CannotAnswer("This database has no active_store table, so store activity is unknown.")
        dims, filters = self._dimensions(e), self._filters(e)
        if any(d.table == "products" for d in dims + [d for d, _ in filters]):
            raise CannotAnswer("Store activity is recorded per store, not per product, brand or category.")
        q = Query(ACTIVE[0], "a")
        for d in dims + [d for d, _ in filters]:
            if d.table == "stores" and d.column != "region":
                q.join("stores", "st", "a.store_id = st.store_id")
        col = lambda d: "{a}region" if d.key == "stores.region" else _expr(d)  # noqa: E731
        q.where.append("NOT {a}is_active" if _INACTIVE.search(text) else "{a}is_active")
        q.where += [equals_any(col(d), values) for d, values in filters]
        period = period_conditions("month", e)  # inside subqueries on active_store alone: unqualified
        in_period = f" WHERE {' AND '.join(period)}" if period else ""
        grain = e["time_grain"]
        q.select += [col(d) for d in dims]
        q.group_by += [col(d) for d in dims]
        if grain in ("quarter", "year"):
            buckets = grain_columns(grain, "{a}month")
            latest = ", ".join(b.replace("{a}", "") for b, _ in buckets)
            q.where.append(f"{{a}}month IN (SELECT MAX(month) FROM {ACTIVE[0]}{in_period} GROUP BY {latest})")
            q.select += [f"{b} AS {a}" for b, a in buckets]
            q.group_by += [a for _, a in buckets]
            q.order_by += [a for _, a in buckets]
        elif grain:  # monthly is the table's own grain; weekly or daily data does not exist
            q.select.append("{a}month")
            q.where += period_conditions("{a}month", e)
            q.group_by.append("{a}month")
            q.order_by.append("{a}month")
        else:
            q.where.append(f"{{a}}month = (SELECT MAX(month) FROM {ACTIVE[0]}{in_period})")
        alias = "inactive_stores" if _INACTIVE.search(text) else "active_stores"
        q.select.append(f"COUNT(DISTINCT {{a}}store_id) AS {alias}")
        if e["top_n"]:
            q.order_by.append(f"{alias} {'ASC' if e['order'] == 'asc' else 'DESC'}")
            q.limit = e["top_n"]
        return q.sql()

    def _count_entities(self, e: dict[str, Any], text: str, table: str, column: str | None) -> str:
        """'how many stores per region', 'how many brands', 'how many stores had sales in 2024'."""
        dims, filters = self._dimensions(e), self._filters(e)
        others = {d.table for d in dims + [d for d, _ in filters]} - {table}
        own_date = next((c.name for c in self.schema.table(table).columns if c.is_temporal), None)
        via_sales = bool(others) or (has_period(e) and (own_date is None or bool(_VIA_SALES.search(text))))
        alias = "num_" + (plural(column) if column else table)
        key = self.schema.table(table).primary_key[0]
        if via_sales:
            q = Query("sales", "s")
            self._join(q, dims + [d for d, _ in filters] + [Dimension(table, key)])
            q.where += period_conditions("{s}sale_date", e)
            counted = f"COUNT(DISTINCT {_expr(Dimension(table, column or key))})"
        else:
            q = Query(table, _TABLE_ALIAS[table])
            if own_date:
                q.where += period_conditions(f"{{{_TABLE_ALIAS[table]}}}{own_date}", e)
            counted = f"COUNT(DISTINCT {_expr(Dimension(table, column))})" if column else "COUNT(*)"
        q.where[:0] = [equals_any(_expr(d), values) for d, values in filters]
        q.select += [_expr(d) for d in dims] + [f"{counted} AS {alias}"]
        q.group_by += [_expr(d) for d in dims]
        if e["top_n"] and dims:
            q.order_by.append(f"{alias} {'ASC' if e['order'] == 'asc' else 'DESC'}")
            q.limit = e["top_n"]
        elif dims:
            q.order_by.append(f"{alias} DESC")
        return q.sql()

    def _listing(self, e: dict[str, Any], text: str) -> str:
        """'which brands are there', 'list the stores in the West': the distinct values."""
        dims, filters = self._dimensions(e), self._filters(e)
        tables = {d.table for d in dims + [d for d, _ in filters]}
        table = next(iter(tables)) if len(tables) == 1 else None
        own_date = table and next((c.name for c in self.schema.table(table).columns if c.is_temporal), None)
        if table and (not has_period(e) or (own_date and not _VIA_SALES.search(text))):
            q = Query(table, _TABLE_ALIAS[table])  # 'which stores opened in 2024': the table's own date
            if own_date:
                q.where += period_conditions(f"{{{_TABLE_ALIAS[table]}}}{own_date}", e)
        else:
            q = Query("sales", "s")
            self._join(q, dims + [d for d, _ in filters])
            q.where += period_conditions("{s}sale_date", e)
        q.distinct = True
        q.select += [_expr(d) for d in dims]
        q.where[:0] = [equals_any(_expr(d), values) for d, values in filters]
        q.order_by += [_expr(d) for d in dims]
        return q.sql()

    # -- helpers -------------------------------------------------------------------------------

    def _dimensions(self, e: dict[str, Any]) -> list[Dimension]:
        dims: list[Dimension] = []
        for key in e["group_by"]:
            dim = self.model.dimension(key)
            if dim is None:
                raise CannotAnswer(f"The templates cannot break sales down by {key}.")
            if dim not in dims:
                dims.append(dim)
        return dims

    def _filters(self, e: dict[str, Any]) -> list[tuple[Dimension, list[str]]]:
        merged: dict[Dimension, list[str]] = {}
        for key, values in e["filters"].items():
            dim = self.model.dimension(key)
            if dim is None:
                raise CannotAnswer(f"The templates cannot filter sales by {key}.")
            merged.setdefault(dim, [])
            merged[dim] += [v for v in values if v not in merged[dim]]
        return list(merged.items())

    def _join(self, q: Query, dims: list[Dimension]) -> None:
        for table in ("stores", "products"):
            if any(d.table == table for d in dims) and q.table != table:
                alias, _, on = REQUIRED[table]
                q.join(table, alias, on)

    def _counted(self, text: str) -> tuple[str, str | None] | None:
        """What 'how many X' counts when X is stores, products or one of their columns."""
        trigger = _COUNTING.search(text)
        if not trigger:
            return None
        phrases = {p: keys for p, keys in column_phrases(self.schema).items()
                   if keys[0].split(".")[0] in ("stores", "products") and not keys[0].endswith("_id")}
        window = text[trigger.end():]
        hit = phrase_pattern(phrases).search(window)
        skipped = window[: hit.start()] if hit else ""
        if not hit or len(skipped.split()) > 2 or _VIA_SALES.search(skipped):
            return None  # 'how many sales per store' counts sales, not stores
        table, column = phrases[re.sub(r"[\s_]+", " ", hit.group(0))][0].split(".")
        if singular(hit.group(0).split()[-1]) == singular(table):  # 'stores' counts rows, 'store types' values
            return table, None
        return table, column


def _expr(d: Dimension) -> str:
    """The dimension as an expression with alias placeholders: {st}region."""
    return d.sql or "{" + _TABLE_ALIAS[d.table] + "}" + d.column


def _selected(d: Dimension) -> str:
    """The dimension in a SELECT list: a derived one gets its name as the column alias."""
    return f"{d.sql} AS {d.column}" if d.sql else _expr(d)


def _complete(entities: dict[str, Any]) -> dict[str, Any]:
    """Entities with every key present, so callers may pass a partial dict."""
    empty: dict[str, Any] = {"years": [], "quarters": [], "months": [], "date_range": None, "filters": {},
                             "metric": None, "aggregation": None, "top_n": None, "order": None, "group_by": [],
                             "time_grain": None, "comparison": False, "columns_mentioned": [],
                             "average_over": None, "unresolved": []}
    return {**empty, **{k: v for k, v in entities.items() if v is not None}}
