"""Time expressions in a question: years, quarters, months and date ranges.

Relative phrases ("last year", "last 6 months", "year to date") are resolved against an *anchor*:
the latest date in the data, not today, because the bundled data is historical and "last year"
must mean a year the database actually covers.

Ranges are parsed first and their text is blanked out, so "between March 2023 and June 2024" yields
a date range but no stray months [3, 6] that would wrongly narrow a query. A range contributes its
years to ``years`` only when that list says the same thing as the range (whole years, or a single
year), so a consumer may apply both without contradiction.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
}
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
            "last": 4, "final": 4}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
                "thirty": 30, "a": 1, "an": 1}

_MONTH = r"(?P<{n}>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?P<{n}>(?:fy\s*)?(?:19|20)\d{{2}}(?!\d)|'\d{{2}}(?!\d)|fy\s*\d{{2}}(?!\d))"
_QUARTER = (r"(?:q(?P<{n}q>[1-4])|(?P<{n}o>first|1st|second|2nd|third|3rd|fourth|4th|last|final)\s+quarter"
            r"|quarter\s+(?P<{n}n>[1-4]))")
_ISO = r"(?P<{n}>(?:19|20)\d{{2}}-\d{{2}}-\d{{2}})"


def _point(name: str) -> str:
    """A regex for one point in time (ISO date, quarter [year], month [year], year), groups prefixed."""
    return (rf"(?:{_ISO.format(n=name + 'iso')}"
            rf"|{_QUARTER.format(n=name)}(?:\s*(?:of\s+|,\s*|-\s*)?{_YEAR.format(n=name + 'qy')})?"
            rf"|{_MONTH.format(n=name + 'm')}(?:\s*(?:of\s+|,\s*|-\s*)?{_YEAR.format(n=name + 'my')})?"
            rf"|{_YEAR.format(n=name + 'y')})")


_B = r"(?<![a-z0-9])"  # word boundaries that treat ' and - as separators
_E = r"(?![a-z0-9])"
_BETWEEN = re.compile(_B + rf"(?:between|from)\s+{_point('a')}\s*(?:and|to|until|till|through|thru|-|–)\s*"
                      rf"{_point('b')}" + _E)
_SPAN = re.compile(_B + rf"{_point('a')}\s*(?P<sep>to|until|through|thru|-|–)\s*{_point('b')}" + _E)
_SINCE = re.compile(_B + r"(?:(?P<word>since|after|starting(?:\s+(?:from|in))?|beginning(?:\s+(?:of|in))?)\s+"
                    + _point("a") + rf"|from\s+{_point('f')}\s+(?:on|onwards?|forward))" + _E)
_BEFORE = re.compile(_B + rf"(?P<word>before|prior\s+to|until|till|up\s+to|through)\s+{_point('a')}" + _E)
_HALF = re.compile(_B + r"(?:(?P<which>first|1st|second|2nd)\s+half|h(?P<h>[12]))(?:\s*(?:of\s+|,\s*|-\s*)?"
                   + _YEAR.format(n="y") + ")?" + _E)
_TRAILING = re.compile(_B + r"(?:last|past|previous|prior|trailing)\s+(?P<n>\d+|" + "|".join(NUMBER_WORDS)
                       + r")?\s*(?P<unit>days?|weeks?|months?|quarters?|years?)" + _E + r"(?!\s+of\s)")
_TO_DATE = re.compile(_B + r"(?:ytd|year\s+to\s+date)" + _E)
_THIS = re.compile(_B + r"(?:this|current)\s+(?P<unit>year|quarter|month)" + _E)
_ISO_ALONE = re.compile(_B + _ISO.format(n="d") + _E)
_QUARTER_2DIGIT = re.compile(_B + r"q(?P<q>[1-4])\s*(?:fy)?\s*[-/]?\s*'?(?P<y>\d{2})" + _E)
_MONTH_2DIGIT = re.compile(_B + _MONTH.format(n="m") + r"\s*(?:-\s*|')(?P<y>\d{2})" + _E)
_QUARTER_ALONE = re.compile(_B + _QUARTER.format(n="x") + _E)
_MONTH_ALONE = re.compile(_B + _MONTH.format(n="m") + _E)
_YEAR_ALONE = re.compile(_B + _YEAR.format(n="y") + _E)
# 'may' is a month only next to a year or after a preposition; otherwise it is the verb
_MAY_AFTER = re.compile(r"(?:in|of|during|since|from|until|to|and|between|before|after|for|vs\.?|versus)\s+$")
_MAY_BEFORE = re.compile(r"^\s*,?\s*(?:fy\s*)?(?:(?:19|20)\d{2}|'\d{2})")
# Comparisons name two points ('compare March 2023 to March 2024'), not the range between them
_COMPARING = re.compile(_B + r"(?:compar\w*|vs\.?|versus|growth|change|increase|decrease|grew|declined?)" + _E)
# '2000 units' or 'over 1500' are quantities, not years
_NOT_A_YEAR_BEFORE = re.compile(r"(?:\$|over|above|under|below|than|least|most|exceeding|exceeds|top|>|<|=)\s*$")
_NOT_A_YEAR_AFTER = re.compile(r"^\s*(?:units?|items?|dollars?|usd|%|percent|rows)")


@dataclass
class Periods:
    """The time expressions found in a question."""

    years: set[int] = field(default_factory=set)
    quarters: set[int] = field(default_factory=set)
    months: set[int] = field(default_factory=set)
    date_range: tuple[date, date] | None = None


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def shift_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def parse_year(text: str) -> int:
    """'2023', 'FY2023', "'23", 'fy23' -> 2023 (two digits are taken as 20xx)."""
    digits = re.sub(r"\D", "", text)
    return int(digits) if len(digits) == 4 else 2000 + int(digits)


def number(word: str | None) -> int | None:
    if not word:
        return None
    return int(word) if word.isdigit() else NUMBER_WORDS.get(word)


class _Bounds:
    """One parsed point of a range: its first and last day, and whether it named a year."""

    def __init__(self, m: re.Match, name: str, fallback_year: int) -> None:
        g = lambda key: m.group(name + key)  # noqa: E731 -- a short accessor keeps the cases readable
        self.has_year = True
        if g("iso"):
            self.kind = "day"
            self.start = self.end = date.fromisoformat(g("iso"))
        elif g("q") or g("o") or g("n"):
            self.kind = "quarter"
            quarter = int(g("q") or g("n") or ORDINALS[g("o")])
            year = parse_year(g("qy")) if g("qy") else fallback_year
            self.has_year = bool(g("qy"))
            self.start = date(year, 3 * quarter - 2, 1)
            self.end = month_end(year, 3 * quarter)
            self.quarter = quarter
        elif g("m"):
            self.kind = "month"
            month = MONTHS[g("m")]
            year = parse_year(g("my")) if g("my") else fallback_year
            self.has_year = bool(g("my"))
            self.start, self.end = date(year, month, 1), month_end(year, month)
            self.month = month
        else:
            self.kind = "year"
            year = parse_year(g("y"))
            self.start, self.end = date(year, 1, 1), date(year, 12, 31)


class PeriodParser:
    """Finds time expressions; relative ones resolve against ``anchor`` (the data's latest date)."""

    def __init__(self, anchor: date | None = None, earliest: date | None = None) -> None:
        self.anchor = anchor or date.today()
        self.earliest = earliest or date(self.anchor.year - 10, 1, 1)

    def parse(self, text: str) -> tuple[Periods, str]:
        """The periods in ``text`` (lower case) and the text with every consumed expression blanked."""
        found = Periods()
        masked = text
        finders = (self._ranges, self._halves_and_open_ranges, self._relative, self._two_digit_years, self._singles)
        for finder in finders:
            masked = finder(masked, found)
        if found.date_range:
            start, end = found.date_range
            whole_years = start == date(start.year, 1, 1) and end == date(end.year, 12, 31)
            if whole_years or start.year == end.year:
                found.years.update(range(start.year, end.year + 1))
        return found, masked

    # -- the finders, most specific first; each blanks what it used -------------------------------

    def _ranges(self, text: str, found: Periods) -> str:
        if _COMPARING.search(text):
            return text
        for pattern in (_BETWEEN, _SPAN):
            for m in list(pattern.finditer(text)):
                a, b = _Bounds(m, "a", self.anchor.year), _Bounds(m, "b", self.anchor.year)
                if a.kind != b.kind and m.groupdict().get("sep") in ("-", "–"):
                    continue  # 'Q3-2023' is one quarter, not a range
                if b.has_year and not a.has_year:  # 'between March and June 2023'
                    a = _Bounds(m, "a", b.start.year)
                elif a.has_year and not b.has_year:
                    b = _Bounds(m, "b", a.start.year)
                if not a.has_year and not b.has_year and a.kind == b.kind == "month":
                    found.months.update(_inclusive(a.month, b.month, 12))  # 'March to June': every year
                elif not a.has_year and not b.has_year and a.kind == b.kind == "quarter":
                    found.quarters.update(_inclusive(a.quarter, b.quarter, 4))
                elif a.start <= b.end:
                    found.date_range = (a.start, b.end)
                else:
                    continue  # backwards: not a range we understand
                text = _blank(text, m)
        return text

    def _halves_and_open_ranges(self, text: str, found: Periods) -> str:
        for m in list(_HALF.finditer(text)):
            year = parse_year(m.group("y")) if m.group("y") else self.anchor.year
            first = (m.group("which") or "").startswith(("first", "1")) or m.group("h") == "1"
            found.date_range = ((date(year, 1, 1), date(year, 6, 30)) if first
                                else (date(year, 7, 1), date(year, 12, 31)))
            text = _blank(text, m)
        for m in list(_SINCE.finditer(text)):
            point = _Bounds(m, "a" if m.group("word") else "f", self.anchor.year)
            start = point.end + timedelta(days=1) if m.group("word") == "after" else point.start
            _narrow(found, start, self.anchor)
            text = _blank(text, m)
        for m in list(_BEFORE.finditer(text)):
            point = _Bounds(m, "a", self.anchor.year)
            inclusive = m.group("word").split()[0] in ("until", "till", "through", "up")
            _narrow(found, self.earliest, point.end if inclusive else point.start - timedelta(days=1))
            text = _blank(text, m)
        return text

    def _relative(self, text: str, found: Periods) -> str:
        anchor = self.anchor
        for m in list(_TRAILING.finditer(text)):
            n, unit = number(m.group("n")), m.group("unit").rstrip("s")
            if n is None and unit in ("year", "quarter", "month") and not m.group(0).startswith(("past", "trailing")):
                # 'last year', 'previous quarter': the calendar period before the anchor's
                if unit == "year":
                    found.years.add(anchor.year - 1)
                elif unit == "quarter":
                    q = (anchor.month - 1) // 3  # zero-based index of the anchor's quarter
                    year, q = (anchor.year, q) if q else (anchor.year - 1, 4)
                    found.quarters.add(q)
                    found.years.add(year)
                else:
                    prev = shift_months(anchor, -1)
                    found.months.add(prev.month)
                    found.years.add(prev.year)
            else:
                found.date_range = _trailing(anchor, n or 1, unit)
            text = _blank(text, m)
        for m in list(_THIS.finditer(text)):
            found.years.add(anchor.year)
            if m.group("unit") == "quarter":
                found.quarters.add((anchor.month - 1) // 3 + 1)
            elif m.group("unit") == "month":
                found.months.add(anchor.month)
            text = _blank(text, m)
        for m in list(_TO_DATE.finditer(text)):
            found.date_range = (date(anchor.year, 1, 1), anchor)
            text = _blank(text, m)
        return text

    def _two_digit_years(self, text: str, found: Periods) -> str:
        for m in list(_QUARTER_2DIGIT.finditer(text)):
            found.quarters.add(int(m.group("q")))
            found.years.add(2000 + int(m.group("y")))
            text = _blank(text, m)
        for m in list(_MONTH_2DIGIT.finditer(text)):
            found.months.add(MONTHS[m.group("m")])
            found.years.add(2000 + int(m.group("y")))
            text = _blank(text, m)
        return text

    def _singles(self, text: str, found: Periods) -> str:
        for m in list(_ISO_ALONE.finditer(text)):
            day = date.fromisoformat(m.group("d"))
            found.date_range = (day, day)
            text = _blank(text, m)
        for m in list(_QUARTER_ALONE.finditer(text)):
            found.quarters.add(int(m.group("xq") or m.group("xn") or ORDINALS[m.group("xo")]))
            text = _blank(text, m)
        for m in list(_MONTH_ALONE.finditer(text)):
            word = m.group("m")
            if word == "may" and not (_MAY_AFTER.search(text[: m.start()]) or _MAY_BEFORE.match(text[m.end():])):
                continue
            found.months.add(MONTHS[word])
            text = _blank(text, m)
        for m in list(_YEAR_ALONE.finditer(text)):
            plain = m.group("y").isdigit()  # 'FY23' and "'23" are years whatever surrounds them
            if plain and (_NOT_A_YEAR_BEFORE.search(text[: m.start()]) or _NOT_A_YEAR_AFTER.match(text[m.end():])):
                continue
            found.years.add(parse_year(m.group("y")))
            text = _blank(text, m)
        return text


def _trailing(anchor: date, n: int, unit: str) -> tuple[date, date]:
    """The n units up to and including the anchor; whole months when the anchor ends a month."""
    if unit == "day":
        return anchor - timedelta(days=n - 1), anchor
    if unit == "week":
        return anchor - timedelta(days=7 * n - 1), anchor
    months = {"month": 1, "quarter": 3, "year": 12}[unit] * n
    if anchor == month_end(anchor.year, anchor.month):
        return shift_months(date(anchor.year, anchor.month, 1), 1 - months), anchor
    return shift_months(anchor, -months) + timedelta(days=1), anchor


def _inclusive(first: int, last: int, cycle: int) -> list[int]:
    """first..last, wrapping around the cycle ('November to February')."""
    if first <= last:
        return list(range(first, last + 1))
    return list(range(first, cycle + 1)) + list(range(1, last + 1))


def _narrow(found: Periods, start: date, end: date) -> None:
    """Intersect with a range found earlier: 'since 2023 and before July 2024' is one window."""
    if found.date_range:
        start, end = max(start, found.date_range[0]), min(end, found.date_range[1])
    found.date_range = (start, end)


def _blank(text: str, m: re.Match) -> str:
    return text[: m.start()] + " " * (m.end() - m.start()) + text[m.end():]
