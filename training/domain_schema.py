"""What a schema offers a question generator: dimensions, measures, dates, flags, labels and join paths.

Everything is read from a :class:`tools.schema.DatabaseSchema` (types, comments, keys, the values of
low-cardinality columns, numeric and date ranges), so it works on any database, and names come from
the identifiers ('replacement_cost' -> 'replacement cost').
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from tools.schema import Column, DatabaseSchema, Join, Table
from training.phrasing import humanize, singular

__all__ = ["Attr", "SchemaView", "NAMEY", "SUMMABLE", "MONEY", "BIG", "article", "table_nouns"]

NAMEY = re.compile(r"(^|_)(name|title|first_name|last_name|full_name)$")
SUMMABLE = re.compile(r"cost|fee|salary|bonus|amount|budget|quantity|qty|weight|hours|value|pages|capacity|area|"
                      r"price|revenue|total|units|count|distance|duration", re.I)
MONEY = re.compile(r"cost|fee|salary|bonus|amount|budget|value|price|revenue", re.I)
BIG = 100  # tables with fewer rows are lookups: year filters and counts over them say little


def article(noun: str) -> str:
    """'a hire date', 'an opened date'."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


@dataclass(frozen=True)
class Attr:
    """A column reachable from a base table, through at most two foreign-key hops."""

    path: tuple[Join, ...]  # joins from the base table outwards; () for the base table's own columns
    table: Table
    column: Column

    @property
    def own(self) -> bool:
        return not self.path

    def noun(self, rng: random.Random) -> str:
        """'genre'; for a column of another table 'membership type' or 'member membership type'."""
        base = humanize(self.column.name)
        if self.own:
            return base
        owner = singular(humanize(self.table.name))
        if NAMEY.search(self.column.name):
            return rng.choice([owner, owner, base])  # branches.branch_name -> 'branch'
        return rng.choice([base, f"{owner} {base}", f"{owner}'s {base}"])


def table_nouns(table: Table) -> tuple[str, str]:
    """(plural, singular) for a table: 'loans'/'loan'; a mass noun like 'payroll' gets 'records'."""
    noun = humanize(table.name)
    one = singular(noun)
    if one == noun:
        return f"{noun} records", f"{noun} record"
    return noun, one


class SchemaView:
    """One database's schema, analysed for question generation."""

    def __init__(self, schema: DatabaseSchema) -> None:
        self.schema = schema
        self.fk_columns = {(j.table.lower(), j.column.lower()) for j in schema.joins}
        self.attrs = {t.name: self._reachable(t) for t in schema.tables}

    # -- schema analysis ---------------------------------------------------------------------------
    def _reachable(self, base: Table) -> list[Attr]:
        """Columns of the base table and of tables its foreign keys lead to (uniquely, up to two hops)."""
        paths: dict[str, list[tuple[Join, ...]]] = {}
        frontier: list[tuple[Table, tuple[Join, ...]]] = [(base, ())]
        for _ in range(2):
            nxt = []
            for table, path in frontier:
                for join in self.schema.joins:
                    if join.table.lower() != table.name.lower() or join.ref_table.lower() == base.name.lower():
                        continue
                    target = self.schema.table(join.ref_table)
                    if target is None or any(j.ref_table.lower() == target.name.lower() for j in path):
                        continue
                    paths.setdefault(target.name, []).append(path + (join,))
                    nxt.append((target, path + (join,)))
            frontier = nxt
        attrs = [Attr((), base, c) for c in base.columns]
        for name, found in paths.items():
            if len(found) != 1:  # two routes (loans->books->branches, loans->members->branches): ambiguous
                continue
            table = self.schema.table(name)
            attrs += [Attr(found[0], table, c) for c in table.columns]
        return attrs

    def _is_key(self, table: Table, column: Column) -> bool:
        return column.primary_key or (table.name.lower(), column.name.lower()) in self.fk_columns \
            or column.name.lower().endswith("_id")

    def dims(self, base: Table) -> list[Attr]:
        """Text attributes with a small set of known values: what one groups and filters by."""
        out = []
        for a in self.attrs[base.name]:
            if not a.column.is_text or not a.column.values or self._is_key(a.table, a.column):
                continue
            if NAMEY.search(a.column.name) and a.table.row_count > 60:
                continue  # people's first names are few but are no dimension
            if a.own and len(a.column.values) >= a.table.row_count:
                continue  # unique per row (a dimension table's own names): nothing to group or count
            out.append(a)
        return out

    def measures(self, base: Table) -> list[Column]:
        return [c for c in base.columns if c.is_numeric and not self._is_key(base, c) and c.minimum is not None
                and "year" not in c.name.lower()]

    def dates(self, base: Table) -> list[Column]:
        """Date columns worth filtering by year: only in tables big enough to have rows in most years."""
        if base.row_count < BIG:
            return []
        return [c for c in base.columns if c.is_temporal and c.minimum]

    def flags(self, base: Table) -> list[Column]:
        return [c for c in base.columns if c.type.upper().startswith("BOOL")]

    def label(self, table: Table) -> Column | None:
        return next((c for c in table.columns if c.is_text and NAMEY.search(c.name)), None)

    @staticmethod
    def nullable(column: Column) -> bool:
        return "null" in column.comment.lower()

    # -- SQL assembly -------------------------------------------------------------------------------
    @staticmethod
    def _from(base: Table, attrs: list[Attr]) -> tuple[str, Callable[[Attr | tuple[Table, Column]], str]]:
        joins: list[Join] = []
        for a in attrs:
            for j in a.path:
                if j not in joins:
                    joins.append(j)
        clause = f"FROM {base.name}" + "".join(f" JOIN {j.ref_table} ON {j.sql()}" for j in joins)

        def ref(item) -> str:
            table, column = (item.table, item.column) if isinstance(item, Attr) else item
            return f"{table.name}.{column.name}" if joins else column.name
        return clause, ref

    # -- drawing ----------------------------------------------------------------------------------------
    def _table(self, rng: random.Random, need: Callable[[Table], bool] = lambda t: True) -> Table | None:
        options = [t for t in self.schema.tables if t.row_count and need(t)]
        return rng.choice(options) if options else None

    def _value_filter(self, rng: random.Random, base: Table, exclude: Attr | None = None):
        """(attr, value, phrase maker) for a filter on a dimension value, or None."""
        dims = [d for d in self.dims(base) if exclude is None or d.column is not exclude.column]
        if not dims:
            return None
        attr = rng.choice(dims)
        value = rng.choice(attr.column.values)

        def phrase() -> str:
            col = attr.noun(rng)
            forms = [f"with {col} {value}", f"whose {col} is {value}", f"where {col} is '{value}'", f"for {col} {value}"]
            if attr.own:
                forms.append(f"({value})")
            return rng.choice(forms)
        return attr, value, phrase

    def _year(self, rng: random.Random, column: Column) -> int | None:
        lo, hi = int(column.minimum[:4]), int(column.maximum[:4])
        years = [y for y in range(lo, hi + 1) if 2021 <= y <= 2024] or list(range(lo, hi + 1))
        return rng.choice(years) if years else None
