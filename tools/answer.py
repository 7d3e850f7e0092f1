"""The one-line answer: what the rows say, in words, computed from the rows themselves."""

from __future__ import annotations

import re
from typing import Any

from tools.charts import suggest_chart

_MIDNIGHT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]00:00:00$")


def format_value(value: Any) -> str:
    """Numbers with thousands separators (two decimals when fractional), everything else as text."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    if isinstance(value, str) and _MIDNIGHT.match(value):
        return value[:10]  # DATE_TRUNC gives timestamps; at midnight the date says it all
    return str(value)


def _label(column: str) -> str:
    words = re.sub(r"[_\s]+", " ", column).strip()
    return words[:1].upper() + words[1:] if words else column


def summarize(columns: list[str], rows: list[list[Any]], truncated: bool = False) -> str:
    """A sentence that states the result: a value, a leader and a laggard, or a change over time."""
    if not rows:
        return "No rows match the question."
    if len(rows) == 1:
        pairs = [f"{_label(c)}: {format_value(v)}" for c, v in zip(columns, rows[0])]
        return "; ".join(pairs) + "."
    count = f"{len(rows):,}{'+' if truncated else ''} rows"
    spec = suggest_chart(columns, rows)
    if spec is None or spec.kind == "indicator":
        return f"{count}; first: " + ", ".join(format_value(v) for v in rows[0]) + "."
    y = columns.index(spec.y)
    values = [(r, r[y]) for r in rows if isinstance(r[y], (int, float))]
    if not values:
        return f"{count}."
    if spec.kind == "line" and spec.color is None and spec.x:
        x = columns.index(spec.x)
        (first_row, first), (last_row, last) = values[0], values[-1]
        change = f" ({(last - first) / first:+.1%})" if first else ""
        return (f"{_label(spec.y)} went from {format_value(first)} in {format_value(first_row[x])} to "
                f"{format_value(last)} in {format_value(last_row[x])}{change}; {count}.")
    if spec.x is None:
        return f"{count}; {_label(spec.y)} ranges from {format_value(min(v for _, v in values))} to " \
               f"{format_value(max(v for _, v in values))}."
    describe = lambda row: " ".join(  # noqa: E731
        str(row[columns.index(c)]) for c in (spec.x, spec.color) if c is not None
    )
    top_row, top = max(values, key=lambda p: p[1])
    low_row, low = min(values, key=lambda p: p[1])
    return (f"Highest {_label(spec.y).lower()}: {describe(top_row)} ({format_value(top)}); "
            f"lowest: {describe(low_row)} ({format_value(low)}); {count}.")
