"""Entity extraction: what a question asks for, resolved against the database's actual values.

``extract_entities`` turns "top 5 brands by rev in Q3 '23 in the west" into years, quarters, the
metric, top-N, the grouping and filters such as {"stores.region": ["West"]}. Everything but the
metric vocabulary is derived from the schema (tools.linking), so it works on any DuckDB database;
time expressions come from tools.periods, anchored at the data's latest date.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from tools.linking import (STOPWORDS, column_phrases, correct_typos, match_values, normalize, phrase_pattern,
                           singular)
from tools.periods import NUMBER_WORDS, PeriodParser
from tools.schema import DatabaseSchema

GRAINS = ("year", "quarter", "month", "week", "day")

_W = r"(?<![a-z0-9])"  # word boundaries that also hold next to punctuation and apostrophes
_X = r"(?![a-z0-9])"


def _words(*alternatives: str) -> re.Pattern[str]:
    """A regex matching any of the alternatives as whole words."""
    return re.compile(_W + "(?:" + "|".join(alternatives) + ")" + _X)


# The only domain vocabulary: how people name the measures of a sales database.
_STORE_NOUN = r"(?:stores?|locations?|shops?|branches|outlets?)"
_ACTIVE = _words(r"(?:in)?active\s+(?:\w+\s+){0,2}?" + _STORE_NOUN,
                 _STORE_NOUN + r"\s+(?:that\s+)?(?:were|are|was|is)\s+(?:still\s+)?(?:in)?active")
_HOW_MANY = r"(?:how\s+many|number\s+of|count\s+of|count\s+the|total\s+number\s+of)\s+(?:\w+\s+){0,2}?"
_STORES = _words(_HOW_MANY + _STORE_NOUN,
                 r"(?:most|fewest|more|fewer)\s+" + _STORE_NOUN, r"store\s+count")
_AVERAGE = _words("average", "avg", "mean", "typical")
_AVG_SALE = _words(r"(?:sale|order|transaction|basket|ticket|purchase|receipt)s?\s+(?:value|amount|size|total)s?",
                   r"(?:per|each|a|an)\s+(?:sale|order|transaction|purchase|receipt)",
                   "amount", "sale", "order", "transaction", "ticket", "basket", "aov")
_PRICE = _words(r"unit\s+prices?", "prices?", "priced", "pricing", "expensive", "cheap", "cheapest", "cheaper",
                "costly")
_QUANTITY = _words("units?", "qty", "quantity", "quantities", "volume", r"items?\s+sold", "pieces")
_HOW_MANY_SOLD = _words(r"how\s+many\s+(?:\w+\s+){0,4}?(?:sold|bought|purchased)")
_SALE_NOUN = r"(?:sales|transactions|orders|purchases|receipts|sale\s+lines|line\s+items)"
_COUNT = _words(r"(?:how\s+many|number\s+of|count\s+of|#\s*of|total\s+number\s+of)\s+(?:\w+\s+){0,2}?" + _SALE_NOUN,
                r"(?:sales|transaction|order|purchase)s?\s+counts?", r"how\s+many\s+times",
                r"count\s+(?:the\s+|all\s+)?(?:\w+\s+)?(?:sales|transactions|orders)")
_REVENUE = _words("sales", "sale", "revenues?", "rev", "turnover", "amount", "sold", "sells?", "selling", "income",
                  "earnings", "takings", "gmv", "money", "dollars?", "grossing", "gross", "made", "make", "earn",
                  "earned", r"perform\w*")
_COUNTING = _words(r"how\s+many", r"number\s+of", "count", "counts", r"total\s+number")
_EXTREME = _words(r"(?P<w>max|maximum|largest|biggest|highest|min|minimum|smallest|lowest)\s+"
                  r"(?:single\s+|individual\s+)?"
                  r"(?P<n>sale|order|transaction|purchase|amount|(?:sale|order|transaction)\s+(?:amount|value)"
                  r"|ticket|basket|quantity|unit\s+price|price)")
_METRIC_WORDS = frozenset("""sales sale revenue revenues rev turnover amount sold units unit qty quantity quantities
volume items orders order transactions transaction count average avg mean price prices total sum income
earnings value values""".split())

_NUM = r"(?P<n>\d+|" + "|".join(w for w in NUMBER_WORDS if len(w) > 2) + r")"
_TOP_N = _words(r"(?P<w>top|best|bottom|worst|highest|lowest|largest|smallest|biggest)[\s-]+" + _NUM)
_N_TOP = _words(_NUM + r"\s+(?P<w>best|worst|top|highest|lowest|largest|smallest|biggest|most|least)")
_DESC = _words("top", "best", "highest", "most", "largest", "biggest", "greatest", "leading", "strongest", "priciest",
               "max", "maximum", "descending", "desc")
_ASC = _words("bottom", "worst", "lowest", "least", "fewest", "smallest", "weakest", "cheapest", "min", "minimum",
              "ascending", "asc")
_NOT_ORDER = _words(r"at\s+(?:least|most)", r"most\s+recent", r"top\s+of")

_EACH = r"(?:by|per|each|every|for\s+each|in\s+each|which|what|best|worst)\s+"
_GRAIN = {
    "year": _words("yearly", "annual", "annually", r"year[\s-]+over[\s-]+year", "yoy", "y/y",
                   r"(?:by|per|each|every|for\s+each|in\s+each|which|what|across|over\s+the)\s+years?"),
    "quarter": _words("quarterly", r"quarter[\s-]+over[\s-]+quarter", "qoq", _EACH + "quarters?"),
    "month": _words("monthly", r"month[\s-]+over[\s-]+month", r"month[\s-]+by[\s-]+month", "mom", "m/m",
                    _EACH + "months?"),
    "week": _words("weekly", r"week[\s-]+over[\s-]+week", "wow", _EACH + "weeks?"),
    "day": _words("daily", r"day[\s-]+by[\s-]+day", _EACH + r"(?:days?|dates?)(?!\s+of\s+(?:the\s+)?week)",
                  r"by\s+sale\s+date"),
}
_TREND = _words("trends?", "trending", r"over\s+time", r"time\s+series", "evolution", r"evolve\w*", r"progress\w*")
_COMPARISON = _words(r"vs\.?", "versus", "compare[ds]?", "comparing", "comparison", "against", r"relative\s+to",
                     "yoy", r"year[\s-]+over[\s-]+year", "qoq", r"quarter[\s-]+over[\s-]+quarter",
                     r"month[\s-]+over[\s-]+month")
_AVG_OF_PERIOD = _words(r"(?:average|avg|mean)\s+(?:daily|weekly|monthly|quarterly|yearly|annual)",
                        r"(?:per|a|each)\s+(?:day|week|month|quarter|year)")
_AVG_PER = re.compile(_W + r"(?:average|avg|mean)\s+(?:\w+\s+){0,3}?(?:per|a|each)\s+(?P<unit>[a-z]+(?:\s+[a-z]+)?)")

# Words after which a dimension is a grouping: 'by region', 'each store type', 'which brand', 'top 5 cities'
_GROUP_BEFORE = "|".join([
    r"(?:list|show|name|display)(?:\s+me)?(?:\s+all)?(?:\s+of)?(?:\s+the)?",
    "most", "least", "highest", "lowest", "largest", "biggest", "smallest", "cheapest", "priciest",
    "by", "per", r"for\s+(?:each|every)", "each", "every", r"in\s+each", r"across(?!\s+all)",
    r"split\s+by", r"breakdown\s+by", r"broken\s+down\s+by", r"grouped\s+by", r"group\s+by",
    "which", "what", "top", "bottom", "best", "worst", r"(?:best|top|worst)[\s-]+selling", r"highest[\s-]+grossing",
])
_GRAIN_WORD = re.compile(r"(?:years?|quarters?|months?|weeks?|days?|dates?)(?![a-z0-9])")
_GROUP_AFTER = _words("breakdown", "wise", "level", "split")
# After 'by'/'per' these words are other parts of speech, not dimensions the database lacks
_NOT_A_DIMENSION = _METRIC_WORDS | set(GRAINS) | {g + "s" for g in GRAINS} | {
    "far", "the", "a", "an", "how", "much", "cent", "end", "start", "itself", "descending", "ascending", "name",
    "date", "line", "lines", "purchase", "purchases", "receipt", "capita", "head", "percent", "percentage", "share",
    "comparison", "period"}


def extract_entities(question: str, schema: DatabaseSchema) -> dict[str, Any]:
    """Years, quarters, months, date range, filters, metric, aggregation, top-N, order, grouping,
    time grain, comparison and mentioned columns of ``question``, as a JSON-safe dict.

    Keys are always present (empty or None when absent). Beyond the documented ones, ``average_over``
    names the unit of an average of totals ('average revenue per store' -> "stores.store_name") and
    ``unresolved`` lists words used as a grouping ('by customer') that match no column.
    """
    text = normalize(question)
    phrases = column_phrases(schema, dimensions_only=True)
    vocabulary = _vocabulary(schema)
    values = match_values(text, schema, protected=vocabulary)
    corrected = correct_typos(text, vocabulary, {(v.start, v.end) for v in values})
    if corrected != text:  # a correction moves the values' spans
        text, values = corrected, match_values(corrected, schema, protected=vocabulary)
    anchor, earliest = data_window(schema)
    periods, rest = PeriodParser(anchor, earliest).parse(text)

    filters: dict[str, list[str]] = {}
    for match in values:
        filters.setdefault(match.column, [])
        if match.value not in filters[match.column]:
            filters[match.column].append(match.value)

    grain = _time_grain(rest)
    group_by, unresolved, plural_dim = _group_by(rest, phrases, [(v.start, v.end) for v in values])
    metric, aggregation, average_over = _metric(rest, phrases, grain)
    if average_over in group_by:
        group_by.remove(average_over)
    top_n, order = _ranking(rest, bool(group_by) or grain is not None, plural_dim)
    comparison = bool(_COMPARISON.search(text))
    if grain is None and comparison:
        for name, found in (("year", periods.years), ("quarter", periods.quarters), ("month", periods.months)):
            if len(found) >= 2:
                grain = name
                break
    return {
        "years": sorted(periods.years),
        "quarters": sorted(periods.quarters),
        "months": sorted(periods.months),
        "date_range": ({"start": periods.date_range[0].isoformat(), "end": periods.date_range[1].isoformat()}
                       if periods.date_range else None),
        "filters": filters,
        "metric": metric,
        "aggregation": aggregation,
        "top_n": top_n,
        "order": order,
        "group_by": group_by,
        "time_grain": grain,
        "comparison": comparison,
        "columns_mentioned": _columns_mentioned(text, schema),
        "average_over": average_over,
        "unresolved": unresolved,
    }


def data_window(schema: DatabaseSchema) -> tuple[date | None, date | None]:
    """First and last date of the main fact table: the anchor for 'last year' and 'since'.

    The largest table with a date column is the fact table; its dates are what questions are about
    (a store's opening date in 2015 should not stretch 'before 2023' back to 2015).
    """
    for table in sorted(schema.tables, key=lambda t: -t.row_count):
        for column in table.columns:
            if column.is_temporal and column.maximum:
                try:
                    return (date.fromisoformat(column.maximum[:10]),
                            date.fromisoformat(column.minimum[:10]) if column.minimum else None)
                except ValueError:
                    continue
    return None, None


def _vocabulary(schema: DatabaseSchema) -> frozenset[str]:
    """Words a typo may be corrected to: the metric and time words plus every schema word."""
    words = set(_METRIC_WORDS) | {"monthly", "quarterly", "yearly", "weekly", "daily", "annual", "compare",
                                  "comparison", "between", "highest", "lowest", "average", "breakdown",
                                  "trend", "active", "stores", "quarter", "quarters", "month", "months"}
    for table in schema.tables:
        for part in re.split(r"[_\s]+", table.name.lower()) + [c for col in table.columns
                                                               for c in re.split(r"[_\s]+", col.name.lower())]:
            if part:
                words.update({part, singular(part), part + "s"})
    return frozenset(words)


def _metric(text: str, phrases: dict[str, list[str]], grain: str | None) -> tuple[str | None, str | None, str | None]:
    """(metric, aggregation, average_over): what is measured and how it is rolled up."""
    average_over = None
    extreme = _EXTREME.search(text)
    if _ACTIVE.search(text):
        return "active_stores", "count", None
    if _STORES.search(text) and not _QUANTITY.search(text):
        return "stores", "count", None
    if extreme:
        kind = "max" if extreme.group("w") in ("max", "maximum", "largest", "biggest", "highest") else "min"
        noun = extreme.group("n")
        metric = "quantity" if noun == "quantity" else "price" if "price" in noun else "revenue"
        return metric, kind, None
    if _AVERAGE.search(text):
        per = _AVG_PER.search(text)
        if per:
            unit = per.group("unit")
            first = unit.split()[0]
            if singular(first) in GRAINS or first in ("date", "dates"):
                grain = grain or singular(first).replace("date", "day")
            else:
                key = _phrase_key(unit, phrases)
                if key:
                    average_over = key
        if _PRICE.search(text):
            return "price", "avg", None
        if _QUANTITY.search(text):
            return "quantity", "avg", average_over
        totals = grain is not None and _AVG_OF_PERIOD.search(text)
        if (totals or average_over) and not _AVG_SALE.search(text.replace("sales", "")):
            counting = _COUNTING.search(text) or re.search(_W + r"(?:transactions|orders)" + _X, text)
            return ("count" if counting else "revenue"), "avg", average_over
        return "average", "avg", None
    if _PRICE.search(text):
        return "price", "avg", None
    if _QUANTITY.search(text) or (_HOW_MANY_SOLD.search(text) and not _COUNT.search(text)):
        return "quantity", "sum", None
    if _COUNT.search(text):
        return "count", "count", None
    if _REVENUE.search(text):
        return "revenue", "sum", None
    if _COUNTING.search(text):
        return "count", "count", None
    return None, None, None


def _phrase_key(words: str, phrases: dict[str, list[str]]) -> str | None:
    """The column a (one or two word) phrase names, trying the longer reading first."""
    parts = words.split()
    for n in (2, 1):
        candidate = " ".join(parts[:n])
        if len(parts) >= n and candidate in phrases:
            return phrases[candidate][0]
    return None


def _ranking(text: str, grouped: bool, plural_dimension: bool) -> tuple[int | None, str | None]:
    """(top_n, order): 'top 5' -> (5, desc); 'which brand had the lowest' -> (1, asc)."""
    text = _NOT_ORDER.sub(" ", text)
    explicit = _TOP_N.search(text) or _N_TOP.search(text)
    if explicit:
        n = int(explicit.group("n")) if explicit.group("n").isdigit() else NUMBER_WORDS[explicit.group("n")]
        asc = explicit.group("w") in ("bottom", "worst", "lowest", "smallest", "least")
        return n, "asc" if asc else "desc"
    desc, asc = _DESC.search(text), _ASC.search(text)
    if not (desc or asc):
        return None, None
    order = "asc" if asc and (not desc or asc.start() < desc.start()) else "desc"
    # A superlative over a singular dimension ('which brand had the lowest') asks for one row
    return (1 if grouped and not plural_dimension else None), order


def _time_grain(text: str) -> str | None:
    """The period rows are bucketed by; the earliest mention wins; a bare 'trend' means monthly."""
    found = [(m.start(), grain) for grain, pattern in _GRAIN.items() for m in [pattern.search(text)] if m]
    if found:
        return min(found)[1]
    return "month" if _TREND.search(text) else None


def _group_by(text: str, phrases: dict[str, list[str]],
              values: list[tuple[int, int]]) -> tuple[list[str], list[str], bool]:
    """(dimension columns, unresolved grouping words, whether the dimension was named in the plural).

    ``values`` are the spans of matched column values: 'by the West region' names no new dimension.
    """
    pattern = phrase_pattern(phrases)
    grain_words = {w for g in GRAINS for w in (g, g + "s", "date", "dates")}
    found: list[str] = []
    unresolved: list[str] = []
    plural_dim = False
    spans: list[tuple[int, int]] = list(values)
    head = re.compile(_W + "(?:" + _GROUP_BEFORE + r")\s+(?:of\s+)?(?:(?:the|a|an|its|their|different)\s+)?(?:(?:\d+|"
                      + "|".join(w for w in NUMBER_WORDS if len(w) > 2) + r")\s+)?")
    follow = re.compile(r"\s*(?:,|and|&|/|then)\s*(?:by\s+|per\s+)?")
    # A grain inside a list of dimensions ('by quarter and region') is stepped over, not a dimension
    dimension_or_grain = lambda pos: pattern.match(text, pos) or _GRAIN_WORD.match(text, pos)  # noqa: E731
    for m in head.finditer(text):
        hit = dimension_or_grain(m.end()) or _skip_one(text, m, pattern)
        if hit and hit.start() == m.end() and _COUNTED_AFTER.search(m.group(0)) and _is_plural(hit.group(0)):
            continue  # 'which city has the most stores': the stores are counted, not a dimension
        while hit:
            phrase = re.sub(r"[\s_]+", " ", hit.group(0))
            if phrase.split()[-1] not in grain_words:
                key = phrases[phrase][0]
                if key not in found:
                    found.append(key)
                # 'which of the regions' still asks for one of them
                plural_dim = plural_dim or (_is_plural(phrase) and "of" not in m.group(0).split())
                spans.append(hit.span())
            more = follow.match(text, hit.end())
            hit = dimension_or_grain(more.end()) if more else None
    for m in _GROUP_AFTER.finditer(text):
        before = list(pattern.finditer(text[: m.start()]))
        if before and before[-1].end() >= m.start() - 1:
            key = phrases[re.sub(r"[\s_]+", " ", before[-1].group(0))][0]
            if key not in found:
                found.append(key)
    for m in re.finditer(_W + r"(?:by|per|for\s+each|each)\s+(?:the\s+)?(?P<w>[a-z]+)" + _X, text):
        word = m.group("w")
        if (word not in _NOT_A_DIMENSION and word not in STOPWORDS and not pattern.match(text, m.start("w"))
                and not any(s <= m.start("w") < e for s, e in spans) and not word.isdigit()):
            unresolved.append(word)
    return found, unresolved, plural_dim


_COUNTED_AFTER = re.compile(r"\b(?:most|least)\s*$")


def _is_plural(phrase: str) -> bool:
    last = re.split(r"[\s_]+", phrase.strip())[-1]
    return singular(last) != last


def _skip_one(text: str, m: re.Match, pattern: re.Pattern[str]) -> re.Match | None:
    """'which Electronics brand': allow one word (often a value) between the trigger and the dimension."""
    words = re.match(r"\w+\s+", text[m.end():])
    return pattern.match(text, m.end() + words.end()) if words else None


def _columns_mentioned(text: str, schema: DatabaseSchema) -> list[str]:
    """Every "table.column" whose name (underscores as spaces, singular or plural) is in the text."""
    mentioned = []
    for table in schema.tables:
        for column in table.columns:
            name = column.name.lower()
            spoken = name.replace("_", " ")
            forms = {name, spoken, singular(spoken), spoken + "s", re.sub(r"y$", "ies", spoken)}
            if any(re.search(_W + re.escape(f).replace(r"\ ", r"[\s_]+") + _X, text) for f in forms):
                mentioned.append(f"{table.name}.{column.name}")
    return mentioned
