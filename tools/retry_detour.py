"""Retries that cannot repeat themselves: decode around the place the error points at.

A small model asked to correct a query very often writes the very query that failed: its greedy
continuation of the retry prompt copies the "Previous SQL" line. Sampling would change that at random;
this module changes it where the error says the mistake is, and keeps greedy decoding's determinism.

When a retry repeats a failed query, the generation node decodes it again under a :class:`RetryDetour`,
a decoding constraint (the protocol of tools.schema_constraint: ``allows(text, piece)``) that forbids

- ending on a failed query (the end of turn, ';' or a closing fence right after it): the model has to
  go on, which is how a forgotten GROUP BY, WHERE or join condition gets written. It goes on with a
  clause: a word glued onto the query's last one, or a first word that is not a clause keyword (or a
  clause the query already has), is forbidden too. Without that the model, which wanted to stop, went on
  with whatever came next ("GROUP BY doctor_idFBSDKInternal", "ORDER BY month GROUP BY month ...");
- writing, at the place in a failed query where the error points, the name it complains about (or that
  name with a suffix, such as a plural)
  ('unknown column "revenue"', 'unknown table or alias "stores"', 'Ambiguous reference to column name
  "store_id"'), or whatever DuckDB's caret marks under the query it quotes (a column that "must appear in
  the GROUP BY clause" is blamed where it is used, not where it is aggregated): the model takes its next
  choice there.

Everything before that place is the model's own greedy text again, so the detour is the smallest
change to the failed query that the model itself finds likely.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Errors that name the offending identifier, from the guard (tools.sql_guard) and from DuckDB's binder.
_NAMED = [
    re.compile(r'unknown column "([^"]+)"'),
    re.compile(r'unknown table or alias "([^"]+)"'),
    re.compile(r'unknown table "([^"]+)"'),
    re.compile(r'Referenced column "([^"]+)" not found'),
    re.compile(r'Ambiguous reference to column name "([^"]+)"'),
    re.compile(r'Table "([^"]+)" does not have a column'),
    re.compile(r'Referenced table "([^"]+)" not found'),
]
_SPACE = re.compile(r"\s+")
_ENDINGS = ("", ";", "`", "``", "```")
# How a query that must not end may go on: a clause (each of these at most once) or a condition, join or set operation.
_ONCE_CLAUSES = frozenset({"where", "group", "having", "order", "limit"})
_GOING_ON = frozenset({"and", "or", "join", "left", "inner", "on", "union", "except", "intersect"})


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _code_only(sql: str) -> str:
    """``sql`` with string literals blanked (same length), so a name inside 'text' is not a match."""
    return re.sub(r"'(?:[^']|'')*'", lambda m: "'" + " " * (len(m.group()) - 2) + "'", sql)


# DuckDB quotes the failing line under the message, '...'-cut at either end, and marks the place with carets.
_QUOTED_LINE = re.compile(r"^LINE (\d+): (.*)\n( *)\^+", re.MULTILINE)
_QUOTE_PREFIX = len("LINE 1: ")


def caret_offset(sql: str, error: str) -> int | None:
    """Where in ``sql`` DuckDB's caret points, or None if the error has none or quotes another text."""
    hit = _QUOTED_LINE.search(error or "")
    if hit is None:
        return None
    line_no, quoted, pad = int(hit.group(1)), hit.group(2), hit.group(3)
    column = len(pad) - (_QUOTE_PREFIX + len(hit.group(1)) - 1)  # the caret's place in the quoted text
    lines = sql.split("\n")
    if not 1 <= line_no <= len(lines) or not 0 <= column < len(quoted):
        return None
    if quoted.startswith("..."):
        quoted, column = quoted[3:], column - 3
    if quoted.endswith("..."):
        quoted = quoted[:-3]
    line = lines[line_no - 1]
    start = line.find(quoted)
    if start == -1 or column < 0 or line.find(quoted, start + 1) != -1:  # not this query, or not one place in it
        return None
    return sum(len(earlier) + 1 for earlier in lines[: line_no - 1]) + start + column


def blamed_offsets(sql: str, error: str) -> list[int]:
    """Where in ``sql`` the error points: DuckDB's caret, else the identifier the error names (its first
    unqualified use for an ambiguity)."""
    caret = caret_offset(sql, error)
    if caret is not None:
        return [caret]
    offsets: list[int] = []
    code = _code_only(sql)
    for pattern in _NAMED:
        for name in pattern.findall(error or ""):
            bare = name.split(".")[-1] if "Ambiguous" in pattern.pattern else name
            lookbehind = r"(?<![\w.])" if "Ambiguous" in pattern.pattern else r"(?<![\w])"
            hit = re.search(lookbehind + re.escape(bare) + r"(?!\w)", code, re.IGNORECASE)
            if hit is None and "." in name:  # 'stores.region' blamed as a whole
                hit = re.search(r"(?<![\w])" + re.escape(name) + r"(?!\w)", code, re.IGNORECASE)
            if hit is not None and hit.start() not in offsets:
                offsets.append(hit.start())
    return offsets


@dataclass(frozen=True)
class _Failure:
    sql: str
    end: str  # the normalised failed query
    blames: tuple[tuple[str, str], ...]  # (normalised text before the blamed name, the name), per blamed place

    @functools.cached_property
    def words_going_on(self) -> frozenset[str]:
        """The words a continuation of this failed query may start with (the clauses it lacks and the rest)."""
        return _GOING_ON | (_ONCE_CLAUSES - set(re.findall(r"\w+", self.end)))

    def goes_on_with_a_clause(self, full: str) -> bool:
        """Does ``full`` (normalised), which extends this failed query, extend it with a clause so far?"""
        rest = full[len(self.end):]
        if rest.startswith(","):
            return True
        if not rest.startswith(" "):
            return False  # glued onto the last word
        word = re.match(r"\w*", rest[1:]).group()
        if len(rest) == 1 + len(word):  # the word may still grow
            return any(k.startswith(word) for k in self.words_going_on)
        return word in self.words_going_on or (not word and rest[1] == ",")


@dataclass(frozen=True)
class RetryDetour:
    """A decoding constraint that keeps a retry off the queries that already failed (see the module doc)."""

    failures: tuple[_Failure, ...]

    @classmethod
    def from_history(cls, history: Iterable[dict]) -> "RetryDetour":
        """From the graph's attempt history: every model attempt that wrote SQL and got an error."""
        failures = []
        for attempt in history:
            sql, error = (attempt.get("sql") or "").strip(), attempt.get("error") or ""
            if not sql or not error:
                continue
            blames = []
            for offset in blamed_offsets(sql, error):
                if offset == 0:
                    continue
                word = re.match(r"[\w.]+", sql[offset:])
                if word:
                    blames.append((_norm(sql[:offset]), word.group().lower()))
            failures.append(_Failure(sql, _norm(sql.rstrip(";")), tuple(blames)))
        return cls(tuple(failures))

    def repeats(self, sql: str) -> bool:
        """Is ``sql`` one of the failed queries (up to spacing and case)?"""
        return any(_norm(sql.rstrip(";")) == f.end for f in self.failures)

    def allows(self, text: str, piece: str) -> bool:
        """May ``piece`` follow ``text``: it neither ends on a failed query nor writes a blamed name where it failed."""
        written = _norm(text)
        for failure in self.failures:
            if written == failure.end and (not piece or piece.strip() in _ENDINGS or piece.strip().startswith(";")):
                return False
        if not piece.strip():
            return True
        full = _norm(text + piece)
        for failure in self.failures:
            if len(full) > len(failure.end) and full.startswith(failure.end) and not failure.goes_on_with_a_clause(full):
                return False
        for failure in self.failures:
            for before, name in failure.blames:
                after = _word_at(full, before)
                # Forbidden: a piece that writes (part of) the blamed name where it stood, or the name grown by a
                # suffix: the model's next choice after "revenue" was "revenues". Once other text is written
                # there, or the model is elsewhere, anything goes.
                if after and (name.startswith(after) or after.startswith(name)) and after != _word_at(written, before):
                    return False
        return True


_WORD_AT = re.compile(r"[\w.]*")


def _word_at(text: str, before: str) -> str | None:
    """The word ``text`` has at the place right after ``before`` (None if ``text`` does not get there)."""
    if not text.startswith(before):
        return None
    return _WORD_AT.match(text[len(before):].lstrip()).group()


@dataclass(frozen=True)
class AllOf:
    """Several decoding constraints at once: a piece must pass every one."""

    constraints: tuple

    def allows(self, text: str, piece: str) -> bool:
        return all(c.allows(text, piece) for c in self.constraints)
