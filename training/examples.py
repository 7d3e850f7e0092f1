"""The records training data is made of, where their databases live, and the checks every pair passes.

A question/SQL pair is only worth training on if its SQL runs on its database and answers something:
:class:`SqlChecker` executes every candidate on a read-only connection and drops the ones that fail or
come back empty. :func:`sql_shape` gives the SQL skeleton the held-out split is keyed on.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from training.phrasing import normalise_question

__all__ = ["Candidate", "Example", "DbRegistry", "SqlChecker", "sql_shape", "deduplicate"]


@dataclass(frozen=True)
class Candidate:
    """A generated pair before it is checked; ``allow_empty`` marks templates that ask about absence."""

    question: str
    sql: str
    template: str
    allow_empty: bool = False


@dataclass(frozen=True)
class Example:
    """One checked training pair."""

    question: str
    sql: str
    db: str  # a name a DbRegistry resolves to a DuckDB file
    template: str  # id of the template (or Spider case family) that made it
    shape: str  # the SQL skeleton: literals replaced by '?', identifiers kept
    source: str  # 'sales' | 'active_store' | 'domain:<name>' | 'spider_train'

    def to_dict(self) -> dict:
        return asdict(self)


class DbRegistry:
    """Database names used in training records -> DuckDB files.

    Records carry a short name rather than a path so that a data file stays valid when the databases
    move (another machine, another GEMSQL_HOME); whoever reads the data resolves names here.
    """

    def __init__(self, paths: dict[str, Path] | None = None) -> None:
        self._paths: dict[str, Path] = {}
        for name, path in (paths or {}).items():
            self.register(name, path)

    def register(self, name: str, path: str | os.PathLike) -> None:
        resolved = Path(path).expanduser().resolve()
        known = self._paths.get(name)
        if known is not None and known != resolved:
            raise ValueError(f"database name {name!r} already maps to {known}, not {resolved}")
        self._paths[name] = resolved

    def path(self, name: str) -> Path:
        try:
            return self._paths[name]
        except KeyError:
            raise KeyError(f"unknown training database {name!r}; known: {sorted(self._paths)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._paths

    def names(self) -> list[str]:
        return sorted(self._paths)

    def to_dict(self) -> dict[str, str]:
        return {name: str(path) for name, path in sorted(self._paths.items())}


_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])")
# String literals that sqlglot turns into structure (DATE_TRUNC('month', ...), date parts) stay in the key
_STRUCTURAL = re.compile(r"'(?:year|quarter|month|week|day|hour|minute|second|millisecond|microsecond|dow|doy|"
                         r"isodow|epoch|decade|century|millennium|yearweek|isoyear)s?'", re.IGNORECASE)


def sql_shape(sql: str) -> str:
    """The SQL skeleton: parsed by sqlglot, every literal replaced by '?', identifiers and structure kept.

    'top 5 stores by revenue in 2023' and 'top 10 stores by revenue in 2024' share a shape; holding
    out whole shapes tests whether the model writes a kind of query it has never seen, not one it has
    seen with other numbers. Unparseable SQL falls back to its whitespace-normalised text.
    """
    # Parsing dominates generation time, and most generated queries differ only in their literals:
    # queries equal up to literal values share one parse. INTERVAL literals carry structure ('3 months')
    # so such queries are always parsed.
    if "interval" in sql.lower():
        return _parse_shape(sql)
    key = _NUMBER.sub("0", _STRING.sub(lambda m: m.group(0) if _STRUCTURAL.fullmatch(m.group(0)) else "''", sql))
    shape = _SHAPES.get(key)
    if shape is None:
        if len(_SHAPES) > 200_000:  # a bound, not an eviction policy: generation never gets near it
            _SHAPES.clear()
        shape = _SHAPES[key] = _parse_shape(sql)
    return shape


_SHAPES: dict[str, str] = {}


def _parse_shape(sql: str) -> str:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except Exception:  # noqa: BLE001 -- a shape is a grouping key; it must never stop the pipeline
        return " ".join(sql.split())

    def blank(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Literal):
            return exp.Placeholder()
        return node

    try:
        return tree.transform(blank, copy=False).sql(dialect="duckdb")
    except Exception:  # noqa: BLE001
        return " ".join(sql.split())


class SqlChecker:
    """Runs candidate SQL on read-only connections with a time limit, in a few threads, caching by SQL.

    A query is kept when it runs and, unless empty answers are expected, returns at least one row that
    is not all NULL (a SUM over a filter that matched nothing says nothing worth learning). Results are
    cached per (database, SQL) because paraphrases of one query share their SQL.
    """

    def __init__(self, timeout_s: float = 10.0, workers: int | None = None) -> None:
        self.timeout_s = timeout_s
        # DuckDB runs small queries on one core; a second worker keeps the other core busy
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self._connections: dict[Path, duckdb.DuckDBPyConnection] = {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._cache: dict[tuple[Path, str], list[tuple] | None] = {}

    def connection(self, path: Path) -> duckdb.DuckDBPyConnection:
        with self._lock:
            con = self._connections.get(path)
            if con is None:
                con = duckdb.connect(str(path), read_only=True)
                self._connections[path] = con
            return con

    def _cursor(self, path: Path) -> duckdb.DuckDBPyConnection:
        cursors = getattr(self._local, "cursors", None)
        if cursors is None:
            cursors = self._local.cursors = {}
        cursor = cursors.get(path)
        if cursor is None:
            cursor = cursors[path] = self.connection(path).cursor()
        return cursor

    def rows(self, path: Path, sql: str, limit: int = 2) -> list[tuple] | None:
        """Up to ``limit`` rows of the result, or None when the query fails or runs too long."""
        key = (path, sql)
        if key in self._cache:
            return self._cache[key]
        cursor = self._cursor(path)
        # A runaway query (an accidental cross join in Spider SQL) must not stall generation
        timer = threading.Timer(self.timeout_s, cursor.interrupt)
        timer.start()
        try:
            result = cursor.execute(sql).fetchmany(limit)
        except (duckdb.Error, RuntimeError):
            result = None
        finally:
            timer.cancel()
        self._cache[key] = result
        return result

    @staticmethod
    def _judge(rows: list[tuple] | None, allow_empty: bool) -> bool:
        if rows is None:
            return False
        if allow_empty:
            return True
        if not rows:
            return False
        return not (len(rows) == 1 and all(v is None for v in rows[0]))

    def accepts(self, path: Path, sql: str, *, allow_empty: bool = False) -> bool:
        return self._judge(self.rows(path, sql), allow_empty)

    def accept_many(self, path: Path, items: list[tuple[str, bool]], on_done=None) -> list[bool]:
        """``accepts`` for many (sql, allow_empty) pairs on one database, run by the worker threads."""
        unique = list(dict.fromkeys(sql for sql, _ in items))

        def run(sql: str) -> None:
            self.rows(path, sql)
            if on_done is not None:
                on_done(1)
        if self.workers > 1 and len(unique) > 8:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.workers) as pool:
                list(pool.map(run, unique))
        else:
            for sql in unique:
                run(sql)
        return [self._judge(self._cache[(path, sql)], allow_empty) for sql, allow_empty in items]

    def close(self) -> None:
        for con in self._connections.values():
            con.close()
        self._connections.clear()
        self._cache.clear()
        self._local = threading.local()


def deduplicate(examples: Iterable[Example]) -> list[Example]:
    """First occurrence wins, by (db, normalised question) and by (db, question, sql).

    The first key already implies the second; both are named because they guard different mistakes:
    two templates phrasing the same request with different SQL (the model would see contradicting
    answers) and one template emitting the same pair twice.
    """
    seen_question: set[tuple[str, str]] = set()
    seen_pair: set[tuple[str, str, str]] = set()
    out = []
    for example in examples:
        q_key = (example.db, normalise_question(example.question))
        pair_key = (example.db, example.question, example.sql)
        if q_key in seen_question or pair_key in seen_pair or not q_key[1]:
            continue
        seen_question.add(q_key)
        seen_pair.add(pair_key)
        out.append(example)
    return out
