"""Retries that cannot repeat themselves: decode around the place the error points at.

A small model asked to correct a query very often writes the very query that failed: its greedy
continuation of the retry prompt copies the "Previous SQL" line. Sampling would change that at random;
this module changes it where the error says the mistake is, and keeps greedy decoding's determinism.

When a retry repeats a failed query, the generation node decodes it again under a :class:`RetryDetour`,
a decoding constraint (the protocol of tools.schema_constraint: ``allows(text, piece)``) that forbids

- ending on a failed query (the end of turn, ';' or a closing fence right after it): the model has to
  go on, which is how a forgotten GROUP BY, WHERE or join condition gets written;
- writing, at the place in a failed query where the error points, the name it complains about
  ('unknown column "revenue"', 'unknown table or alias "stores"', 'Ambiguous reference to column name
  "store_id"'): the model takes its next choice there.

Everything before that place is the model's own greedy text again, so the detour is the smallest
change to the failed query that the model itself finds likely.
"""

from __future__ import annotations

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


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _code_only(sql: str) -> str:
    """``sql`` with string literals blanked (same length), so a name inside 'text' is not a match."""
    return re.sub(r"'(?:[^']|'')*'", lambda m: "'" + " " * (len(m.group()) - 2) + "'", sql)


def blamed_offsets(sql: str, error: str) -> list[int]:
    """Where in ``sql`` the error's named identifier is written (its first unqualified use for an ambiguity)."""
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
            for before, name in failure.blames:
                after = _word_at(full, before)
                # Forbidden: a piece that writes (part of) the blamed name where it stood. Once other text is
                # written there, or the model is elsewhere, anything goes.
                if after and name.startswith(after) and after != _word_at(written, before):
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
