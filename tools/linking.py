"""Link words of a question to the database: values of dimension columns, column names, typos.

This is the schema-driven half of entity extraction, and it knows nothing about sales: 'west' is a
region because some column holds the value 'West', and 'store type' is a column because one is
called store_type. Matching is case-insensitive, respects word boundaries, forgives plurals and
(for words long enough to make it safe) one typo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.schema import DatabaseSchema, Table

# Function words never count as a database value or a typo of one: a value 'All' or 'Other' would
# otherwise match half the questions, and 'these' is not a typo of 'there'.
STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be been before being below between both but
by can could did do does doing down during each every few for from further had has have having he her
here how i if in into is it its just me more most my no nor not of off on once only or other our out
over own per same she should show so some such than that the their them then there these they this
those through to too under until up very was we were what when where which while who whom why will
with would you your list give tell get find display much many number total overall please vs versus
""".split())

_TOKEN = re.compile(r"[a-z0-9]+|&")


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class ValueMatch:
    column: str  # "table.column"
    value: str  # as stored in the database
    start: int
    end: int
    exact: bool


def normalize(question: str) -> str:
    """Lower case, straight quotes, single spaces: the form every matcher works on."""
    text = question.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text).strip()


def tokens(text: str) -> list[Token]:
    """Alphanumeric words with their spans; '&' reads as 'and' so 'Maple & Finch' == 'maple and finch'."""
    return [Token("and" if m.group(0) == "&" else m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def words(text: str) -> list[str]:
    """The words of a stored value, in the form ``tokens`` gives a question's."""
    return [t.text for t in tokens(text.lower())]


def singular(word: str) -> str:
    """A crude English singular: enough to equate 'categories'/'category', 'malls'/'mall'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def plural(word: str) -> str:
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Optimal string alignment distance (a transposition costs 1), capped at ``limit``."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return min(prev[-1], limit)


def close_enough(word: str, target: str) -> bool:
    """One typo away, for words of five letters or more (shorter ones have too many neighbours).

    The first letter must agree: people rarely mistype it, and it keeps 'worth' from being 'North'.
    """
    return (len(target) >= 5 and len(word) >= 5 and word[0] == target[0]
            and edit_distance(word, target) <= 1)


def match_values(text: str, schema: DatabaseSchema, protected: frozenset[str] = frozenset()) -> list[ValueMatch]:
    """Every low-cardinality column value named in ``text`` (normalized), longest match winning.

    ``protected`` words (the question's keywords) are never read as a typo of a value.
    """
    toks = tokens(text)
    norm = [t.text for t in toks]
    found: list[ValueMatch] = []
    for table in schema.tables:
        for column in table.columns:
            for value in column.values:
                target = words(value)
                if not target or (len(target) == 1 and (target[0] in STOPWORDS or target[0] in protected)):
                    continue
                width = len(target)
                for i in range(len(toks) - width + 1):
                    exact = _same_words(norm[i:i + width], target, protected)
                    if exact is None:
                        continue
                    found.append(ValueMatch(f"{table.name}.{column.name}", value, toks[i].start,
                                            toks[i + width - 1].end, exact))
    return _longest(found)


def _same_words(window: list[str], target: list[str], protected: frozenset[str]) -> bool | None:
    """True: the same words; False: the same up to a plural or one typo; None: different."""
    if window == target:
        return True
    if window[:-1] == target[:-1] and singular(window[-1]) == singular(target[-1]):
        return False
    if any(w in STOPWORDS or w in protected or w.isdigit() for w in window):
        return None
    joined, wanted = " ".join(window), " ".join(target)
    if close_enough(singular(joined), singular(wanted)) or close_enough(joined, wanted):
        return False
    return None


def _longest(matches: list[ValueMatch]) -> list[ValueMatch]:
    """Drop matches inside a longer (or an exact over a fuzzy) one: 'Westfield Mall #16' is not 'Mall'."""
    rank = lambda m: (m.end - m.start, m.exact)  # noqa: E731
    kept: list[ValueMatch] = []
    for m in sorted(matches, key=rank, reverse=True):
        overlaps = [k for k in kept if k.start < m.end and m.start < k.end]
        if all(rank(k) == rank(m) and (k.start, k.end) == (m.start, m.end) for k in overlaps):
            kept.append(m)
    return sorted(kept, key=lambda m: (m.start, m.column))


def label_column(table: Table) -> str | None:
    """The text column that names a row of ``table``: store_name for stores, else name/title; or None."""
    stem = singular(table.name.lower())
    for candidate in (f"{stem}_name", "name", f"{stem}_title", "title", "label"):
        if table.column(candidate) is not None:
            return table.column(candidate).name
    named = [c for c in table.columns if c.is_text and c.name.lower().endswith("name")]
    # No key fallback: 'sales' would then name sales.sale_id, and 'sales' is nearly always the metric
    return named[0].name if named else None


def column_phrases(schema: DatabaseSchema, dimensions_only: bool = False) -> dict[str, list[str]]:
    """Spoken forms of columns ('store type', 'store types') -> the "table.column" keys they name.

    A table's own name ('store', 'stores') names its label column. When several tables share a
    column (stores.region, active_store.region) the dimension table, the one others join to, comes
    first, so that ``phrases[x][0]`` is the best reading.
    """
    referenced = {j.ref_table.lower() for j in schema.joins}
    ordered = sorted(schema.tables, key=lambda t: (t.name.lower() not in referenced, t.row_count))
    phrases: dict[str, list[str]] = {}

    def add(phrase: str, key: str) -> None:
        for form in {phrase, plural_phrase(phrase)}:
            keys = phrases.setdefault(form, [])
            if key not in keys:
                keys.append(key)

    for table in ordered:
        for column in table.columns:
            if dimensions_only and not (column.is_text or column.type.upper() == "BOOLEAN"
                                        or column.primary_key or column.name.lower().endswith("_id")):
                continue
            add(column.name.lower().replace("_", " "), f"{table.name}.{column.name}")
        label = label_column(table)
        if label is not None:
            for name in {table.name.lower().replace("_", " "), singular(table.name.lower()).replace("_", " ")}:
                add(name, f"{table.name}.{label}")
    return phrases


def plural_phrase(phrase: str) -> str:
    head, _, last = phrase.rpartition(" ")
    return (head + " " if head else "") + (plural(last) if singular(last) == last else singular(last))


def phrase_pattern(phrases: dict[str, list[str]]) -> re.Pattern[str]:
    """One regex for all phrases, longest first so that 'store type' beats 'store'."""
    alternatives = sorted(phrases, key=len, reverse=True)
    body = "|".join(re.escape(p).replace(r"\ ", r"[\s_]+") for p in alternatives)
    return re.compile(r"(?<![a-z0-9])(?:" + body + r")(?![a-z0-9])")


def correct_typos(text: str, vocabulary: frozenset[str], keep: set[tuple[int, int]]) -> str:
    """Replace words one typo away from exactly one vocabulary word ('revnue' -> 'revenue').

    Words inside ``keep`` spans (matched values) and known words are left alone.
    """
    out, last = [], 0
    for tok in tokens(text):
        word = tok.text
        if (len(word) < 5 or word in vocabulary or word in STOPWORDS or word.isdigit()
                or any(s <= tok.start < e for s, e in keep)):
            continue
        near = {v for v in vocabulary if abs(len(v) - len(word)) <= 1 and close_enough(word, v)}
        if len(near) == 1:
            out.append(text[last:tok.start] + near.pop())
            last = tok.end
    return "".join(out) + text[last:]
