"""Shape tags of a gold SQL query, to break accuracy down by the kind of query asked."""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

__all__ = ["SHAPES", "query_shapes"]

# Every tag query_shapes can return, in the order it returns them.
SHAPES = ("aggregate", "group_by", "top_n", "join", "date_filter", "nested", "set_operation", "window",
          "having", "distinct", "order_by", "active_stores", "simple")

# Function classes / names that make a WHERE clause a date filter (YEAR, MONTH, QUARTER, DATE_TRUNC,
# STRFTIME, DATE_PART, CURRENT_DATE, ...): matched on sqlglot's class name or, for functions sqlglot
# does not model, on the function name. EXTRACT is matched by class: JSON/regexp/struct "extract"
# functions are not dates.
_DATE_FUNC = re.compile(r"date|time|year|quarter|month|week|day|hour|minute|epoch", re.IGNORECASE)
_DATE_ANONYMOUS = re.compile(
    r".*(date|time|year|quarter|month|week|day|hour|minute|epoch).*|now|today|strftime|strptime", re.IGNORECASE)
_DATE_LITERAL = re.compile(r"\d{4}-\d{2}-\d{2}([ T].*)?")
_TEMPORAL_TYPES = {exp.DataType.Type.DATE, exp.DataType.Type.DATETIME, exp.DataType.Type.TIMESTAMP,
                   exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ, exp.DataType.Type.TIME}


def _scope_nodes(query: exp.Expression):
    """Nodes of one SELECT's own scope: its subqueries are not descended into."""
    stack = list(query.iter_expressions())
    while stack:
        node = stack.pop()
        if isinstance(node, (exp.Query, exp.Subquery)):
            continue
        yield node
        stack.extend(node.iter_expressions())


def _is_date_node(node: exp.Expression) -> bool:
    if isinstance(node, exp.Anonymous):
        return bool(_DATE_ANONYMOUS.fullmatch(node.name or ""))
    if isinstance(node, (exp.Extract, exp.Interval)):
        return True
    if isinstance(node, exp.Func) and _DATE_FUNC.search(type(node).__name__):
        return True
    if isinstance(node, exp.Cast):
        to = node.args.get("to")
        return isinstance(to, exp.DataType) and to.this in _TEMPORAL_TYPES
    if isinstance(node, exp.Literal) and node.is_string:
        return bool(_DATE_LITERAL.fullmatch(node.this))
    return False


def _is_nested(node: exp.Expression, root: exp.Expression) -> bool:
    """Whether a query node sits inside an expression of another query (not just a set-op branch)."""
    parent = node.parent
    while parent is not None and parent is not root:
        if isinstance(parent, exp.SetOperation):
            parent = parent.parent
            continue
        if isinstance(parent, exp.Subquery) and not parent.alias \
                and isinstance(parent.parent, exp.SetOperation):
            parent = parent.parent  # a parenthesised UNION branch
            continue
        return True
    return False


def query_shapes(sql: str) -> list[str]:
    """Shape tags of a (gold) SQL query, in the order of :data:`SHAPES`; never raises.

    * ``aggregate``: some SELECT uses an aggregate function (outside a window) without GROUP BY;
    * ``group_by``, ``having``, ``window`` (OVER), ``join`` (explicit or comma joins);
    * ``top_n``: a SELECT or set operation with both ORDER BY and LIMIT;
    * ``order_by``: an ORDER BY of a SELECT or set operation (not of a window or an aggregate);
    * ``date_filter``: a WHERE clause with a date function (YEAR, MONTH, QUARTER, EXTRACT,
      DATE_TRUNC, STRFTIME, DATE_PART, ...), a cast to a date/time type, an interval, or a
      'YYYY-MM-DD' literal (which covers BETWEEN dates);
    * ``nested``: a subquery anywhere (FROM, IN, EXISTS, scalar) or a CTE;
    * ``set_operation``: UNION / INTERSECT / EXCEPT;
    * ``distinct``: SELECT DISTINCT or an aggregate over DISTINCT values;
    * ``active_stores``: the query reads the ``active_store`` table;
    * ``simple`` when nothing else applies; ``['unparsed']`` when the SQL does not parse.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
        if not statements:
            return ["unparsed"]
        return _shapes(statements)
    except Exception:  # noqa: BLE001 -- tagging must never break an evaluation run
        return ["unparsed"]


def _shapes(statements: list[exp.Expression]) -> list[str]:
    tags: set[str] = set()
    for root in statements:
        while isinstance(root, exp.Subquery) and not root.args.get("order") and not root.args.get("limit"):
            root = root.this
        for select in root.find_all(exp.Select):
            own = list(_scope_nodes(select))
            aggs = [n for n in own if isinstance(n, exp.AggFunc) and not isinstance(n.parent, exp.Window)]
            if select.args.get("group"):
                tags.add("group_by")
            elif aggs:
                tags.add("aggregate")
            if select.args.get("distinct"):
                tags.add("distinct")
        for query in root.find_all(exp.Query):
            if isinstance(query, (exp.Select, exp.SetOperation, exp.Subquery)) and query.args.get("order"):
                tags.add("order_by")
                if query.args.get("limit"):
                    tags.add("top_n")
            if query is not root and isinstance(query, (exp.Select, exp.SetOperation)) \
                    and _is_nested(query, root):
                tags.add("nested")
        if any(isinstance(n.this, exp.Distinct) for n in root.find_all(exp.AggFunc)):
            tags.add("distinct")
        if root.find(exp.Join):
            tags.add("join")
        if root.find(exp.CTE):
            tags.add("nested")
        if root.find(exp.SetOperation):
            tags.add("set_operation")
        if root.find(exp.Window):
            tags.add("window")
        if root.find(exp.Having):
            tags.add("having")
        if any(_is_date_node(n) for where in root.find_all(exp.Where) for n in where.walk()):
            tags.add("date_filter")
        if any(t.name.lower() == "active_store" for t in root.find_all(exp.Table)):
            tags.add("active_stores")
    return [t for t in SHAPES if t in tags] or ["simple"]
