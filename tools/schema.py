"""What a DuckDB database holds: tables, columns, comments, keys, join paths and sample values.

Everything downstream reads the schema from here: the guard (does this column exist?), entity
extraction (is 'west' a region?), the prompt builder (the schema part of the prompt) and the template
engine. It is read once per database file and cached until the file changes.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import duckdb

# A text column with at most this many distinct values is treated as a dimension whose values are
# worth knowing (regions, categories); above it the values are names, ids or free text.
LOW_CARDINALITY = 60
# The compact prompt lists a column's values only when they are this few: regions, categories, formats.
COMPACT_VALUES = 8


class DatabaseNotFound(FileNotFoundError):
    """The database file does not exist or cannot be opened as DuckDB."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str = ""
    primary_key: bool = False
    values: tuple[str, ...] = ()
    """Distinct values of a low-cardinality text column, sorted; empty otherwise."""
    minimum: str | None = None
    maximum: str | None = None

    @property
    def is_numeric(self) -> bool:
        t = self.type.upper()
        return t.startswith(("INT", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER",
                             "DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL"))

    @property
    def is_temporal(self) -> bool:
        return self.type.upper().startswith(("DATE", "TIMESTAMP", "TIME"))

    @property
    def is_text(self) -> bool:
        return self.type.upper().startswith(("VARCHAR", "TEXT", "STRING", "CHAR"))


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    comment: str = ""
    row_count: int = 0

    def column(self, name: str) -> Column | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.primary_key)


@dataclass(frozen=True)
class Join:
    """``table.column = ref_table.ref_column``, declared as a foreign key or inferred from names."""

    table: str
    column: str
    ref_table: str
    ref_column: str
    declared: bool = True

    def sql(self) -> str:
        return f"{self.table}.{self.column} = {self.ref_table}.{self.ref_column}"


@dataclass(frozen=True)
class DatabaseSchema:
    path: str
    tables: tuple[Table, ...]
    joins: tuple[Join, ...] = ()
    fingerprint: str = ""
    _by_name: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({t.name.lower(): t for t in self.tables})

    def table(self, name: str) -> Table | None:
        return self._by_name.get(name.lower())

    @property
    def table_names(self) -> list[str]:
        return [t.name for t in self.tables]

    def joins_between(self, a: str, b: str) -> list[Join]:
        a, b = a.lower(), b.lower()
        return [j for j in self.joins if {j.table.lower(), j.ref_table.lower()} == {a, b}]

    def to_compact_prompt(self) -> str:
        """The schema as the model's prompt shows it: one line per table, then the few values and joins.

        A third of the tokens of :meth:`to_prompt` on the sales database (~260 against ~880): training
        on a CPU buys examples by the token, and every answer pays the prefill. Column comments are left
        out on purpose: the retrieved glossary and examples carry their meaning for the question at hand.
        """
        lines = ["Tables:"]
        facts: list[str] = []
        for table in self.tables:
            columns = ", ".join(f"{_ident(c.name)} {_short_type(c.type)}" for c in table.columns)
            lines.append(f"{_ident(table.name)}({columns})")
            for col in table.columns:
                if col.values and len(col.values) <= COMPACT_VALUES and all(len(v) <= 24 for v in col.values):
                    facts.append(f"{table.name}.{col.name}: " + ", ".join(col.values))
                elif col.is_temporal and col.minimum:
                    facts.append(f"{table.name}.{col.name}: {str(col.minimum)[:10]} to {str(col.maximum)[:10]}")
        if facts:
            lines.append("Values: " + "; ".join(facts))
        seen: set[frozenset] = set()
        joins = []
        for join in self.joins:
            key = frozenset({(join.table.lower(), join.column.lower()), (join.ref_table.lower(), join.ref_column.lower())})
            if key not in seen:
                seen.add(key)
                joins.append(join.sql())
        if joins:
            lines.append("Joins: " + "; ".join(joins))
        return "\n".join(lines)

    def to_prompt(self, tables: list[str] | None = None, with_values: bool = True) -> str:
        """The schema as compact DDL with comments: what a model needs to write SQL against it."""
        chosen = [t for t in self.tables if tables is None or t.name.lower() in {x.lower() for x in tables}]
        blocks = []
        for table in chosen:
            head = f"CREATE TABLE {table.name} ("
            if table.comment:
                head += f"  -- {table.comment}"
            lines = [head]
            for i, col in enumerate(table.columns):
                line = f"  {col.name} {col.type}"
                if col.primary_key:
                    line += " PRIMARY KEY"
                if i < len(table.columns) - 1:
                    line += ","
                notes = [col.comment] if col.comment else []
                if with_values and col.values:
                    notes.append("values: " + ", ".join(col.values[:12]) + (", ..." if len(col.values) > 12 else ""))
                elif with_values and col.is_temporal and col.minimum:
                    notes.append(f"from {col.minimum} to {col.maximum}")
                if notes:
                    line += "  -- " + "; ".join(notes)
                lines.append(line)
            lines.append(");")
            blocks.append("\n".join(lines))
        relevant = [j for j in self.joins if tables is None
                    or {j.table.lower(), j.ref_table.lower()} <= {t.name.lower() for t in chosen}]
        if relevant:
            blocks.append("-- joins: " + "; ".join(j.sql() for j in relevant))
        return "\n".join(blocks)


def _ident(name: str) -> str:
    """The name as SQL must write it: quoted only when it is not a plain identifier ("Store Name")."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


def _short_type(sql_type: str) -> str:
    """DECIMAL(12,2) -> DECIMAL: precision is noise to the model, the kind of value is what matters."""
    return re.sub(r"\(.*\)$", "", sql_type)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _read(con: duckdb.DuckDBPyConnection, path: str) -> DatabaseSchema:
    rows = con.execute(
        "SELECT table_name, comment, estimated_size FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name = 'main' ORDER BY table_oid"
    ).fetchall()
    pk_rows = con.execute(
        "SELECT table_name, unnest(constraint_column_names) FROM duckdb_constraints() "
        "WHERE database_name = current_database() AND constraint_type = 'PRIMARY KEY'"
    ).fetchall()
    primary = {(t.lower(), c.lower()) for t, c in pk_rows}
    fk_rows = con.execute(
        "SELECT table_name, constraint_column_names, referenced_table, referenced_column_names "
        "FROM duckdb_constraints() WHERE database_name = current_database() AND constraint_type = 'FOREIGN KEY'"
    ).fetchall()

    tables: list[Table] = []
    for table_name, table_comment, _ in rows:
        cols = con.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ? "
            "ORDER BY column_index",
            [table_name],
        ).fetchall()
        row_count = con.execute(f"SELECT count(*) FROM {_q(table_name)}").fetchone()[0]
        columns = []
        for name, dtype, comment in cols:
            column = Column(name=name, type=dtype, comment=comment or "",
                            primary_key=(table_name.lower(), name.lower()) in primary)
            columns.append(_profile(con, table_name, column, row_count))
        tables.append(Table(name=table_name, columns=tuple(columns), comment=table_comment or "",
                            row_count=row_count))

    joins = [Join(t, c[0], rt, rc[0]) for t, c, rt, rc in fk_rows if len(c) == 1 and len(rc) == 1]
    joins += _inferred_joins(tables, {(j.table.lower(), j.column.lower()) for j in joins})
    digest = hashlib.sha256(
        repr([(t.name, [(c.name, c.type) for c in t.columns]) for t in tables]).encode()
    ).hexdigest()[:16]
    return DatabaseSchema(path=path, tables=tuple(tables), joins=tuple(joins), fingerprint=digest)


def _profile(con: duckdb.DuckDBPyConnection, table: str, column: Column, row_count: int) -> Column:
    """Attach sample values (dimensions) or the range (numbers, dates) that help link a question."""
    if row_count == 0:
        return column
    ident, tbl = _q(column.name), _q(table)
    try:
        if column.is_text:
            distinct = con.execute(f"SELECT approx_count_distinct({ident}) FROM {tbl}").fetchone()[0]
            if distinct and distinct <= LOW_CARDINALITY:
                values = con.execute(
                    f"SELECT DISTINCT CAST({ident} AS VARCHAR) v FROM {tbl} WHERE {ident} IS NOT NULL ORDER BY v "
                    f"LIMIT {LOW_CARDINALITY + 1}"
                ).fetchall()
                if len(values) <= LOW_CARDINALITY:
                    return _replace(column, values=tuple(v for (v,) in values))
        elif column.is_numeric or column.is_temporal:
            lo, hi = con.execute(f"SELECT CAST(min({ident}) AS VARCHAR), CAST(max({ident}) AS VARCHAR) FROM {tbl}").fetchone()
            return _replace(column, minimum=lo, maximum=hi)
    except duckdb.Error:
        pass  # exotic types: the column is still listed, just without a profile
    return column


def _replace(column: Column, **changes) -> Column:
    from dataclasses import replace

    return replace(column, **changes)


def _inferred_joins(tables: list[Table], declared: set[tuple[str, str]]) -> list[Join]:
    """``sales.store_id`` joins ``stores.store_id`` when store_id is the single-column key of stores."""
    keys = {t.primary_key[0].lower(): t for t in tables if len(t.primary_key) == 1}
    joins = []
    for table in tables:
        for column in table.columns:
            target = keys.get(column.name.lower())
            if target is None or target.name == table.name or (table.name.lower(), column.name.lower()) in declared:
                continue
            joins.append(Join(table.name, column.name, target.name, target.primary_key[0], declared=False))
    return joins


@lru_cache(maxsize=32)
def _load_cached(path: str, mtime_ns: int, size: int) -> DatabaseSchema:
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error as exc:
        raise DatabaseNotFound(f"cannot open {path} as a DuckDB database: {exc}") from exc
    try:
        return _read(con, path)
    finally:
        con.close()


def load_schema(db_path: str | os.PathLike) -> DatabaseSchema:
    """Read (or reuse) the schema of the DuckDB file at ``db_path``."""
    path = Path(db_path).expanduser().resolve()
    if not path.is_file():
        raise DatabaseNotFound(f"no DuckDB database at {path}")
    stat = path.stat()
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)
