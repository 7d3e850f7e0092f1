"""Surface variety for generated questions: synonyms, periods, casing, typos and number formats.

A 270M model overfits to wording fast: if every training question says "total revenue in 2023", it
learns that string, not the request. Everything here is seeded (a ``random.Random`` handed in), so a
given seed always yields the same questions, and nothing here knows about SQL beyond the period
conditions, which live next to their phrasings so the two cannot drift apart.
"""

from __future__ import annotations

import calendar
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["Period", "Phraser", "normalise_question", "money", "number", "ordinal_word", "humanize",
           "plural", "singular", "periods_for_years"]

_NON_WORD = re.compile(r"[^a-z0-9]+")
QUARTER_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth"}
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th"}


def normalise_question(text: str) -> str:
    """The form questions are compared in (dedup, held-out split, leakage check): lower-case words only."""
    return _NON_WORD.sub(" ", text.lower().replace("'", "")).strip()


def humanize(identifier: str) -> str:
    """``replacement_cost`` -> ``replacement cost``; ``shipDate`` -> ``ship date``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", identifier)
    return re.sub(r"[_\s]+", " ", spaced).strip().lower()


def plural(noun: str) -> str:
    """English plural of the last word of ``noun``, good enough for table and column names."""
    head, _, last = noun.rpartition(" ")
    if last.endswith(("s", "x", "z", "ch", "sh")):
        word = last + "es" if not last.endswith("s") else last
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        word = last[:-1] + "ies"
    else:
        word = last + "s"
    return f"{head} {word}".strip()


def singular(noun: str) -> str:
    """Inverse of :func:`plural` for the common cases (loans -> loan, branches -> branch, ies -> y)."""
    head, _, last = noun.rpartition(" ")
    if last.endswith("ies") and len(last) > 4:
        word = last[:-3] + "y"
    elif last.endswith(("ches", "shes", "xes", "sses")):
        word = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")):
        word = last[:-1]
    else:
        word = last
    return f"{head} {word}".strip()


def ordinal_word(n: int) -> str:
    return QUARTER_WORDS.get(n, str(n))


def number(value: float, rng: random.Random) -> str:
    """A threshold as people type it: 50000, 50,000 or 50k (the SQL keeps the plain number)."""
    as_int = int(value) if float(value).is_integer() else None
    if as_int is None:
        return f"{value:g}"
    forms = [str(as_int)]
    if as_int >= 1000:
        forms.append(f"{as_int:,}")
        if as_int % 1000 == 0:
            forms.append(f"{as_int // 1000}k")
            forms.append(f"{as_int // 1000}K")
    return rng.choice(forms)


def money(value: float, rng: random.Random) -> str:
    """A dollar threshold: $50,000, 50000 dollars, $50k ..."""
    plain = number(value, rng)
    return rng.choice([f"${plain}", f"${plain}", f"{plain} dollars", plain])


@dataclass(frozen=True)
class Period:
    """A time window a question can name, with its SQL condition on a date column.

    ``kind`` is one of all, year, quarter, month, range, since. ``anchor`` is the latest date in the data:
    'this year' and 'last year' are resolved against it (the runtime's period parser does the same), never
    against today, because the data are historical.
    """

    kind: str
    year: int | None = None
    part: int | None = None  # the quarter or the month
    start: date | None = None
    end: date | None = None
    anchor: date | None = None

    def where(self, column: str) -> str:
        """The SQL condition on ``column`` (a DATE), '' for all time."""
        if self.kind == "all":
            return ""
        if self.kind == "year":
            return f"YEAR({column}) = {self.year}"
        if self.kind == "quarter":
            return f"YEAR({column}) = {self.year} AND QUARTER({column}) = {self.part}"
        if self.kind == "month":
            return f"YEAR({column}) = {self.year} AND MONTH({column}) = {self.part}"
        if self.kind == "since":
            return f"{column} >= DATE '{self.start.isoformat()}'"
        return f"{column} BETWEEN DATE '{self.start.isoformat()}' AND DATE '{self.end.isoformat()}'"

    @property
    def key(self) -> str:
        """A short stable id, used to seed and to tell periods apart."""
        return f"{self.kind}:{self.year}:{self.part}:{self.start}:{self.end}"

    def phrase(self, rng: random.Random, *, allow_relative: bool = True) -> str:
        """How a user might name this window, with its preposition ('in Q3 2023', 'since July 2024')."""
        y = self.year
        if self.kind == "all":
            return rng.choice(["", "", "", "overall", "in total", "across all years", "all time", "to date",
                               "over the whole period"])
        if self.kind == "year":
            forms = [f"in {y}", f"in {y}", f"for {y}", f"during {y}", f"in FY{y}", f"for FY{y}", f"in '{y % 100:02d}",
                     f"in the year {y}", f"{y}"]
            if allow_relative and self.anchor is not None:
                if y == self.anchor.year:
                    forms += ["this year", "in the current year"]
                elif y == self.anchor.year - 1:
                    forms += ["last year", "in the previous year"]
            return rng.choice(forms)
        if self.kind == "quarter":
            q = self.part
            return rng.choice([f"in Q{q} {y}", f"in Q{q} {y}", f"for Q{q} {y}", f"in Q{q} '{y % 100:02d}",
                               f"during the {ordinal_word(q)} quarter of {y}", f"in the {ORDINALS[q]} quarter of {y}",
                               f"in q{q} {y}", f"for Q{q}-{y}", f"in quarter {q} of {y}"])
        if self.kind == "month":
            full, short = calendar.month_name[self.part], calendar.month_abbr[self.part]
            return rng.choice([f"in {full} {y}", f"in {full} {y}", f"for {full} {y}", f"during {full} {y}",
                               f"in {short} {y}", f"in {full} of {y}", f"in {short} '{y % 100:02d}",
                               f"for {short}-{y}"])
        if self.kind == "since":
            return rng.choice([f"since {calendar.month_name[self.start.month]} {self.start.year}",
                               f"since {self.start.isoformat()}",
                               f"from {calendar.month_name[self.start.month]} {self.start.year} onwards",
                               f"starting {calendar.month_abbr[self.start.month]} {self.start.year}"])
        return self._range_phrase(rng)

    def _range_phrase(self, rng: random.Random) -> str:
        a, b = self.start, self.end
        forms = [f"between {a.isoformat()} and {b.isoformat()}", f"from {a.isoformat()} to {b.isoformat()}"]
        whole_months = a.day == 1 and b == _month_end(b.year, b.month)
        if whole_months:
            ma, mb = calendar.month_name[a.month], calendar.month_name[b.month]
            if a.year == b.year:
                forms += [f"between {ma} and {mb} {a.year}", f"from {ma} to {mb} {a.year}"]
                if (a.month, b.month) == (1, 6):
                    forms += [f"in the first half of {a.year}", f"in H1 {a.year}"]
                elif (a.month, b.month) == (7, 12):
                    forms += [f"in the second half of {a.year}", f"in H2 {a.year}"]
            forms += [f"between {ma} {a.year} and {mb} {b.year}", f"from {calendar.month_abbr[a.month]} {a.year} "
                      f"through {calendar.month_abbr[b.month]} {b.year}"]
        return rng.choice(forms)


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def periods_for_years(years: Sequence[int], anchor: date, rng: random.Random, *, months: bool = True,
                      ranges: int = 8) -> list[Period]:
    """Every year, quarter (and month) of ``years``, plus a few seeded ranges and 'since' windows."""
    out = [Period("all", anchor=anchor)]
    out += [Period("year", year=y, anchor=anchor) for y in years]
    out += [Period("quarter", year=y, part=q, anchor=anchor) for y in years for q in range(1, 5)]
    if months:
        out += [Period("month", year=y, part=m, anchor=anchor) for y in years for m in range(1, 13)]
    for _ in range(ranges):
        y = rng.choice(list(years))
        kind = rng.random()
        if kind < 0.3:
            first = rng.choice([1, 7])
            out.append(Period("range", start=date(y, first, 1), end=_month_end(y, first + 5), anchor=anchor))
        elif kind < 0.75:
            m1 = rng.randint(1, 10)
            m2 = rng.randint(m1 + 1, 12)
            out.append(Period("range", start=date(y, m1, 1), end=_month_end(y, m2), anchor=anchor))
        elif kind < 0.9:
            start = date(y, rng.randint(1, 12), rng.randint(1, 28))
            out.append(Period("range", start=start, end=start + timedelta(days=rng.randint(10, 120)), anchor=anchor))
        else:
            start = date(anchor.year, rng.randint(1, 10), 1)
            out.append(Period("since", start=start, anchor=anchor))
    unique: dict[str, Period] = {}
    for period in out:
        unique.setdefault(period.key, period)
    return list(unique.values())


class Phraser:
    """Finishing touches on a question: capitalisation, lower-case variants, trailing marks and typos.

    ``protect`` names substrings (database values, numbers) that must survive verbatim: a typo in
    'Electronics' would silently teach a different literal than the SQL uses.
    """

    def __init__(self, rng: random.Random, *, typo_rate: float = 0.06, lower_rate: float = 0.22) -> None:
        self.rng = rng
        self.typo_rate = typo_rate
        self.lower_rate = lower_rate

    def choice(self, options: Sequence):
        return self.rng.choice(options)

    def fill(self, pattern: str, **fields: str) -> str:
        """Format ``pattern`` and tidy the whitespace an empty field leaves behind."""
        text = pattern.format(**fields)
        text = re.sub(r"\s+", " ", text).strip()
        return re.sub(r"\s+([?,.:])", r"\1", text)

    def finish(self, text: str, protect: Iterable[str] = ()) -> str:
        text = text.strip()
        if not text:
            return text
        rng = self.rng
        if rng.random() < self.typo_rate:
            text = self._typo(text, [p for p in protect if p])
        roll = rng.random()
        if roll < self.lower_rate:
            text = text.lower()
            if rng.random() < 0.5:
                text = text.rstrip("?.").rstrip()
        else:
            text = text[0].upper() + text[1:]
        return text

    def _typo(self, text: str, protect: list[str]) -> str:
        """Swap two adjacent letters or drop one, in one ordinary word of five letters or more."""
        blocked = [(m.start(), m.end()) for p in protect for m in re.finditer(re.escape(p), text)]
        words = [m for m in re.finditer(r"[A-Za-z]{5,}", text)
                 if not any(s < m.end() and m.start() < e for s, e in blocked)]
        if not words:
            return text
        word = self.rng.choice(words)
        w = word.group(0)
        i = self.rng.randint(1, len(w) - 2)
        changed = w[:i] + w[i + 1] + w[i] + w[i + 2:] if self.rng.random() < 0.5 else w[:i] + w[i + 1:]
        if changed == w:
            changed = w[:i] + w[i + 1:]
        return text[:word.start()] + changed + text[word.end():]
