"""Schema-constrained decoding: the model may only name tables and columns that the database has.

Most of the fine-tuned model's failed answers on unfamiliar schemas name a column or table that does not
exist (``unknown column "city"``, ``unknown table "cars"``): a neighbouring schema's word, remembered from
training. Validation catches them and a retry costs a whole new answer; here the choice is made at the
token where it happens. At each step the greedy token is checked against the SQL written so far; when it
would start or finish a word that cannot be a name here, the most likely token that can is taken instead.

The check is lexical, not a full SQL grammar, so that it never forbids valid SQL the model would write:

- after ``FROM`` / ``JOIN`` a word must be one of the database's tables (or a CTE named earlier);
- after ``<table>.`` a word must be one of that table's columns, after ``<alias>.`` any column;
- elsewhere a word must be a DuckDB keyword, function or type, a date part, a table, a column, or an
  alias declared earlier; aliases themselves (after ``AS``, after a table name, after ``WITH``), words
  inside string literals or quoted identifiers, and words of one or two characters (``s``, ``T1``) are
  free, as is a word directly followed by ``.`` (an alias used before the ``FROM`` that declares it).

A word still being written only has to be the prefix of an allowed one. Both backends apply it the same
way (:func:`constrained_argmax`), llama.cpp in its own greedy loop and transformers as a logits processor.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

CANDIDATES = 40
"""How many of the most likely tokens are tried, best first, when the greedy one is not allowed. If none of
them is, the greedy token is kept: the constraint steers, it never leaves the model without an answer."""

_WORD = re.compile(r"(?<![A-Za-z0-9_$])[A-Za-z_][A-Za-z0-9_$]*")
_CLOSED_LITERAL = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"")
_OPEN_LITERAL = re.compile(r"['\"]")
_LAST_WORD = re.compile(r"([A-Za-z_][A-Za-z0-9_$]*)\s*$")
_DECLARED = re.compile(
    r"\bAS\s+([A-Za-z_][A-Za-z0-9_$]*)"                                  # SUM(x) AS total, (...) AS sub
    r"|\bWITH\s+(?:RECURSIVE\s+)?([A-Za-z_][A-Za-z0-9_$]*)"             # WITH monthly AS (...)
    r"|\b(?:FROM|JOIN)\s+[A-Za-z_][A-Za-z0-9_$]*\s+([A-Za-z_][A-Za-z0-9_$]*)",  # FROM sales s
    re.IGNORECASE,
)
_FUNCTION_FROM = {"extract", "trim", "substring", "substr", "overlay", "position"}
"""Functions whose arguments use FROM (``EXTRACT(YEAR FROM sale_date)``): a column follows, not a table."""
_FREE_AFTER = {"as", "with", "recursive"}
_TABLE_AFTER = {"from", "join"}
_DATE_PARTS = {
    "year", "years", "quarter", "quarters", "month", "months", "week", "weeks", "day", "days", "hour", "hours",
    "minute", "minutes", "second", "seconds", "millisecond", "milliseconds", "microsecond", "microseconds",
    "dow", "doy", "isodow", "isoyear", "yearweek", "dayofweek", "dayofyear", "dayofmonth", "weekday",
    "weekofyear", "epoch", "decade", "decades", "century", "centuries", "millennium", "era", "timezone",
}


@functools.lru_cache(maxsize=1)
def duckdb_words() -> frozenset[str]:
    """Every keyword, function and type name DuckDB knows, lower case (asked of DuckDB itself, once)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        rows = con.execute(
            "SELECT lower(keyword_name) FROM duckdb_keywords() "
            "UNION SELECT lower(function_name) FROM duckdb_functions() "
            "UNION SELECT lower(type_name) FROM duckdb_types()"
        ).fetchall()
    finally:
        con.close()
    return frozenset(word for (word,) in rows if word and _WORD.fullmatch(word)) | _DATE_PARTS


def _prefixes(words: Iterable[str]) -> frozenset[str]:
    return frozenset(word[:i] for word in words for i in range(1, len(word) + 1))


@dataclass(frozen=True)
class SchemaConstraint:
    """Which words the SQL may contain on one database: :meth:`allows` checks a next piece of text."""

    columns_by_table: dict[str, frozenset[str]]
    """Lower-case table name -> its lower-case column names."""
    sql_words: frozenset[str] = field(default_factory=duckdb_words)
    _tables: frozenset[str] = field(init=False, repr=False)
    _columns: frozenset[str] = field(init=False, repr=False)
    _anywhere: frozenset[str] = field(init=False, repr=False)
    _prefix: dict[str, frozenset[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        tables = frozenset(self.columns_by_table)
        columns = frozenset(c for cols in self.columns_by_table.values() for c in cols)
        anywhere = self.sql_words | tables | columns
        set_ = object.__setattr__  # frozen: derived sets are computed once here
        set_(self, "_tables", tables)
        set_(self, "_columns", columns)
        set_(self, "_anywhere", anywhere)
        prefixes = {"table": _prefixes(tables), "column": _prefixes(columns), "any": _prefixes(anywhere)}
        prefixes.update({f"column:{t}": _prefixes(cols) for t, cols in self.columns_by_table.items()})
        set_(self, "_prefix", prefixes)

    @classmethod
    def for_schema(cls, schema) -> "SchemaConstraint":
        """From a tools.schema.DatabaseSchema (cached per schema: built once per database)."""
        return _for_schema(schema)

    def allows(self, text: str, piece: str) -> bool:
        """May ``piece`` follow the SQL ``text`` written so far?

        Every word that ``piece`` finishes or extends is checked: a finished word must be allowed where it
        stands, an unfinished one must begin an allowed word.
        """
        if not piece:
            return True
        full = text + piece
        code = _mask_literals(full)
        words = [m for m in _WORD.finditer(code) if m.end() >= len(text)]
        if not words:
            return True
        declared = _declared(code[: words[0].start()])
        for match in words:
            word = match.group().lower()
            finished = match.end() < len(full)
            if finished and code[match.end()] == ".":
                continue  # a qualifier: an alias may be declared only later, in FROM
            if len(word) <= 2 or word == "sql":  # short aliases (s, T1); a fence's language tag
                continue
            kind = self._kind(code, match.start(), declared)
            if kind == "free" or word in declared or any(alias.startswith(word) for alias in declared if not finished):
                continue
            if finished and word not in self._words(kind):
                return False
            if not finished and word not in self._prefix.get(kind, self._prefix["any"]):
                return False
        return True

    def _words(self, kind: str) -> frozenset[str]:
        if kind == "table":
            return self._tables
        if kind == "column":
            return self._columns
        if kind.startswith("column:"):
            return self.columns_by_table[kind[7:]]
        return self._anywhere

    def _kind(self, code: str, start: int, declared: set[str]) -> str:
        """What may stand at ``start``: 'table', 'column', 'column:<table>', 'free' (a new name) or 'any'."""
        before = code[:start].rstrip()
        if before.endswith("."):
            qualifier = _LAST_WORD.search(before[:-1])
            table = qualifier.group(1).lower() if qualifier else ""
            return f"column:{table}" if table in self.columns_by_table else "column"
        last = _LAST_WORD.search(before)
        if last is None:
            return "any"
        previous = last.group(1).lower()
        if previous in _FREE_AFTER:
            return "free"
        if previous in _TABLE_AFTER:
            if previous == "from" and (_innermost_call(before) in _FUNCTION_FROM or _ends_with_distinct(before[: last.start()])):
                return "any"
            return "table"
        if previous in self._tables or previous in declared:
            ahead = _LAST_WORD.search(before[: last.start()].rstrip())
            if ahead and ahead.group(1).lower() in _TABLE_AFTER:
                return "free"  # FROM sales s: the alias of the table just named
        return "any"


@functools.lru_cache(maxsize=16)
def _for_schema(schema) -> SchemaConstraint:
    return SchemaConstraint({t.name.lower(): frozenset(c.name.lower() for c in t.columns) for t in schema.tables})


def _mask_literals(text: str) -> str:
    """``text`` with string literals and quoted identifiers blanked (an unclosed one to the end)."""
    code = _CLOSED_LITERAL.sub(lambda m: " " * len(m.group()), text)
    opened = _OPEN_LITERAL.search(code)
    if opened:
        code = code[: opened.start()] + " " * (len(code) - opened.start())
    return code


def _declared(code: str) -> set[str]:
    """Names the SQL so far has declared: column and subquery aliases, CTEs, table aliases."""
    return {name.lower() for match in _DECLARED.finditer(code) for name in match.groups() if name}


def _innermost_call(code: str) -> str:
    """The lower-case function name before the innermost parenthesis still open at the end of ``code``."""
    depth = 0
    for i in range(len(code) - 1, -1, -1):
        if code[i] == ")":
            depth += 1
        elif code[i] == "(":
            if depth == 0:
                name = _LAST_WORD.search(code[:i])
                return name.group(1).lower() if name else ""
            depth -= 1
    return ""


def _ends_with_distinct(code: str) -> bool:
    """``x IS [NOT] DISTINCT FROM y``: a value follows that FROM."""
    return code.rstrip().lower().endswith("distinct") and not code.rstrip().lower().endswith("select distinct")


def constrained_argmax(
    logits: np.ndarray,
    text: str,
    piece: Callable[[int], str],
    constraint: SchemaConstraint | None,
    candidates: int = CANDIDATES,
) -> int:
    """The greedy token, or the most likely of the top ``candidates`` that ``constraint`` allows after ``text``.

    ``piece(token)`` is the text a token adds ('' for special tokens, which are always allowed). Costs one
    check when the greedy token is allowed, as it nearly always is.
    """
    best = int(np.argmax(logits))
    if constraint is None or constraint.allows(text, piece(best)):
        return best
    top = np.argpartition(logits, -candidates)[-candidates:]
    for token in top[np.argsort(-logits[top], kind="stable")]:
        token = int(token)
        if token != best and constraint.allows(text, piece(token)):
            return token
    return best
