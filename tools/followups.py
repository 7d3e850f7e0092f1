"""Follow-up questions in a conversation: 'and in 2024?', 'only the West region', 'top 3 instead'.

A follow-up names only what changes; the rest comes from the conversation's last answered data question
(its *base*). For the template engine the change is made on the entities: the follow-up's period, filters,
top-N, time grain, grouping or measure replace the base's, and the base's wording keeps deciding the shape
of the SQL (a share stays a share), joined by the follow-up's own words. The model engine is shown the
base question and SQL in its prompt.

'why is that?' is answered from the base's result alone: what the rows say drives it, never a cause the
data cannot show.
"""

from __future__ import annotations

import re
from typing import Any

from tools.answer import format_value

_WHY = re.compile(r"^\s*(?:(?:and|but|so|ok(?:ay)?)[\s,]+)?(?:why\b|how come\b|what explains\b|what(?:'s|\s+is)\s+"
                  r"driv(?:ing|es)\b|what drives\b|explain\b)", re.IGNORECASE)
# Openings and words that only make sense against something said before.
_MARKER = re.compile(r"^\s*(?:and|but|also|now|then|ok(?:ay)?|what about|how about|same|only|just|instead)\b"
                     r"|\binstead\b|\bthe same\b|\bas well\b", re.IGNORECASE)
_PRONOUN = re.compile(r"\b(?:it|that|those|these|them)\b", re.IGNORECASE)
# Short questions that open like this ask something new ('which brands are there?'), unless a marker says not.
_STANDALONE = re.compile(r"^\s*(?:list|show|which|what|who|name|give|how|count|total|sum|average)\b", re.IGNORECASE)
_ADD_GROUPING = re.compile(r"\b(?:also|too|as well|and by)\b", re.IGNORECASE)
# A short question is read as a follow-up only if it names nothing but changes ('2024?', 'by month').
_SHORT_WORDS = 6
_PERIOD_KEYS = ("years", "quarters", "months", "date_range")


def last_data_turn(turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest turn that answered a data question with SQL: what follow-ups build on."""
    for turn in reversed(turns or []):
        if turn.get("intent") == "data_question" and turn.get("sql") and not turn.get("error"):
            return turn
    return None


def is_why(question: str) -> bool:
    """'why is that?', 'what explains it?': a question about the last result, not a new query."""
    return bool(_WHY.match(question))


def changes(entities: dict[str, Any]) -> list[str]:
    """What a question's entities would change in a base question, in a fixed order."""
    kinds = []
    if any(entities.get(k) for k in _PERIOD_KEYS):
        kinds.append("period")
    if entities.get("filters"):
        kinds.append("filter")
    if entities.get("top_n") or entities.get("order"):
        kinds.append("top_n")
    if entities.get("time_grain"):
        kinds.append("grain")
    if entities.get("group_by"):
        kinds.append("group_by")
    if entities.get("metric"):
        kinds.append("metric")
    return kinds


def is_follow_up(question: str, entities: dict[str, Any]) -> bool:
    """Does this question only make sense against the previous one?"""
    if not changes(entities):
        return False  # nothing to change: 'and?' is no edit of anything
    words = len(question.split())
    if _MARKER.search(question) or (words <= 8 and _PRONOUN.search(question)):
        return True
    return words <= _SHORT_WORDS and not entities.get("metric") and not _STANDALONE.match(question)


def merge(base: dict[str, Any], change: dict[str, Any], question: str = "") -> dict[str, Any]:
    """The base's entities with the follow-up's changes: what it names replaces what the base had."""
    merged = {**base, "filters": dict(base.get("filters") or {}), "group_by": list(base.get("group_by") or [])}
    if change.get("date_range"):
        merged.update({k: [] for k in ("years", "quarters", "months")}, date_range=change["date_range"])
    elif any(change.get(k) for k in ("years", "quarters", "months")):
        merged["date_range"] = None  # 'and in 2024?' after 'last 90 days': the year replaces the range
        for key in ("years", "quarters", "months"):
            if change.get(key):
                merged[key] = list(change[key])
    merged["filters"].update(change.get("filters") or {})
    if change.get("top_n"):
        merged["top_n"] = change["top_n"]
    if change.get("order"):
        merged["order"] = change["order"]
    if change.get("time_grain"):
        merged["time_grain"] = change["time_grain"]
    if change.get("group_by"):
        kept = merged["group_by"] if _ADD_GROUPING.search(question) else []
        merged["group_by"] = kept + [g for g in change["group_by"] if g not in kept]
    if change.get("metric"):
        merged["metric"], merged["aggregation"] = change["metric"], change.get("aggregation")
    merged["unresolved"] = list(change.get("unresolved") or [])  # the base's were resolved, or it had failed
    merged["columns_mentioned"] = sorted({*(base.get("columns_mentioned") or []),
                                          *(change.get("columns_mentioned") or [])})
    return merged


def resolve(question: str, entities: dict[str, Any], turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The follow-up record for the state, or None when the question stands alone (or has nothing before)."""
    base = last_data_turn(turns)
    if base is None:
        return None
    if is_why(question):
        return {"kind": ["why"], "question": base["question"], "shape": base.get("shape") or base["question"],
                "sql": base["sql"], "entities": base.get("entities") or {}, "title": title(base)}
    if not is_follow_up(question, entities):
        return None
    # The follow-up's own words join the base's: 'what about units?' names its column 'units'.
    shape = f"{base.get('shape') or base['question']} {question.strip()}"
    return {"kind": changes(entities), "question": base["question"], "shape": shape, "sql": base["sql"],
            "entities": merge(base.get("entities") or {}, entities, question),
            "title": f"{title(base)} → {question.strip()}"}


def title(turn: dict[str, Any]) -> str:
    """What a turn asked, readable on its own: 'total sales by region in 2023 → and in 2024?'."""
    return turn.get("title") or turn.get("question", "")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _measure_column(columns: list[str], rows: list[list[Any]]) -> int | None:
    """The last column whose values are all numbers: the measure of a typical result."""
    for i in range(len(columns) - 1, -1, -1):
        if rows and all(_is_number(r[i]) or r[i] is None for r in rows) and any(_is_number(r[i]) for r in rows):
            return i
    return None


def _label(row: list[Any], skip: int | set[int]) -> str:
    skipped = {skip} if isinstance(skip, int) else skip
    return " / ".join(format_value(v) for i, v in enumerate(row) if i not in skipped)


_NO_CAUSES = "The data shows what makes up the result, not its causes"
_TIME_COLUMNS = {"year", "quarter", "month", "week", "day", "date", "sale_date", "bucket"}
# Averages, extremes, percentages and growth rates do not add up to a total, so they have no shares.
_NOT_ADDITIVE = re.compile(r"^(?:avg|max|min|pct|growth|mean|median)_|_pct$|^pct|price", re.IGNORECASE)


def explain(turn: dict[str, Any] | None) -> tuple[str, list[str], list[list[Any]]]:
    """An honest 'why' from the base turn's rows: (answer, columns, rows).

    For a breakdown it names the rows that drive the total and their shares (over the periods, when the
    result is also split by time); for a series, the highest and lowest points and the change from first
    to last; for a single number, it says that one number cannot explain itself and which breakdowns would.
    """
    if turn is None:
        return ("There is no earlier result in this conversation to explain: ask a question about the data "
                "first.", [], [])
    columns, rows = list(turn.get("columns") or []), list(turn.get("rows") or [])
    asked = title(turn)
    measure = _measure_column(columns, rows)
    if not rows or measure is None:
        return (f"The last result ('{asked}') has no numbers to break down, so there is nothing the data can "
                "say about why.", columns, rows)
    name = columns[measure]
    if len(rows) == 1 or len(columns) == 1:
        value = format_value(rows[0][measure])
        return (f"The last result ('{asked}') is a single value ({name} = {value}), and one number cannot "
                f"show what drives it. Ask for a breakdown, e.g. 'show it by region', 'by category' or "
                "'by month'.", columns, rows)
    values = [float(r[measure]) if _is_number(r[measure]) else 0.0 for r in rows]
    labels = [i for i in range(len(columns)) if i != measure and (
        not _is_number_column(rows, i) or columns[i].lower() in _TIME_COLUMNS or columns[i].lower().endswith("_id"))]
    times = {i for i in labels if columns[i].lower() in _TIME_COLUMNS}
    if times and len(times) == len(labels):
        return _explain_series(asked, name, rows, times, values), columns, rows
    if _NOT_ADDITIVE.search(name) or any(v < 0 for v in values) or sum(values) <= 0:
        ranked = sorted(zip(values, rows), key=lambda p: p[0], reverse=True)
        others = set(range(len(columns))) - set(labels)
        return (f"{_NO_CAUSES}. In '{asked}', the highest {name} is {_label(ranked[0][1], others)} "
                f"({format_value(ranked[0][0])}) and the lowest {_label(ranked[-1][1], others)} "
                f"({format_value(ranked[-1][0])}).", columns, rows)
    # Split by time too ('by brand and month'): what drives it is each brand over all the periods.
    keys = [i for i in labels if i not in times]
    totals: dict[tuple, float] = {}
    for row, value in zip(rows, values):
        key = tuple(row[i] for i in keys)
        totals[key] = totals.get(key, 0.0) + value
    total = sum(totals.values())
    shares = sorted(((100.0 * v / total, v, key) for key, v in totals.items()), key=lambda p: p[0], reverse=True)
    leaders, covered = [], 0.0
    for pct, _, key in shares:  # the fewest rows that make up half of the total, three at most
        leaders.append(f"{' / '.join(_period(k) for k in key)} {pct:.1f}%")
        covered += pct
        if covered >= 50 or len(leaders) == 3:
            break
    partial = turn.get("truncated") or (turn.get("row_count") or 0) > len(rows)
    top_n = (turn.get("entities") or {}).get("top_n")
    # Shares of a top-N are shares of those N rows only, not of everything: say so.
    scope = (f" over the first {len(rows)} rows" if partial else
             f" (the {len(rows)} rows shown, not all)" if top_n and top_n == len(rows) else "")
    who = "it makes" if len(leaders) == 1 else "together they make"
    smallest = " / ".join(_period(k) for k in shares[-1][2])
    out_columns = [columns[i] for i in keys] + [name, "pct_of_total"]
    out_rows = [[*key, round(v, 2), round(pct, 1)] for pct, v, key in shares]
    return (f"{_NO_CAUSES}. Of the {format_value(total)} {name} in '{asked}'{scope}, {', '.join(leaders)}: "
            f"{who} {covered:.1f}%; the smallest is {smallest} at {shares[-1][0]:.1f}%.", out_columns, out_rows)


def _period(value: Any) -> str:
    """A period as people write it: 2024, not 2,024."""
    return str(value) if isinstance(value, int) else format_value(value)


def _is_number_column(rows: list[list[Any]], i: int) -> bool:
    return all(_is_number(r[i]) or r[i] is None for r in rows)


def _explain_series(asked: str, name: str, rows: list[list[Any]], times: set[int], values: list[float]) -> str:
    """A result over time alone: its highest and lowest points and the change from first to last."""
    when = lambda row: " ".join(_period(row[i]) for i in sorted(times))  # noqa: E731
    hi = max(range(len(values)), key=values.__getitem__)
    lo = min(range(len(values)), key=values.__getitem__)
    first, last = values[0], values[-1]
    change = f"changes {100.0 * (last - first) / first:+.1f}%" if first else "starts from zero"
    return (f"{_NO_CAUSES}. Over '{asked}', {name} peaks at {when(rows[hi])} ({format_value(values[hi])}) and is "
            f"lowest at {when(rows[lo])} ({format_value(values[lo])}); from the first to the last point it {change}.")
