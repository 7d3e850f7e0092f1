"""Declarative charts: a kind and column names, checked against the result, drawn by our code.

No model ever writes chart code: a chart is a small spec (kind, x, y, color), chosen from the shape of
the result, validated against its columns, and turned into Plotly figure JSON here.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

ChartKind = Literal["bar", "line", "scatter", "indicator"]
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_MAX_POINTS = 1000


class ChartError(ValueError):
    """A chart spec that does not fit the result it should draw."""


@dataclass(frozen=True)
class ChartSpec:
    kind: ChartKind
    y: str
    x: str | None = None
    color: str | None = None
    title: str = ""


def _role(values: list[Any], name: str) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "empty"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        looks_like_year = all(isinstance(v, int) and 1900 <= v <= 2100 for v in present)
        if looks_like_year and re.search(r"year|yr", name, re.IGNORECASE):
            return "period"
        if re.search(r"(^|_)(id|key)$", name, re.IGNORECASE):
            return "category"
        return "number"
    if all(isinstance(v, str) and _ISO_DATE.match(v) for v in present):
        return "time"
    return "category"


def suggest_chart(columns: list[str], rows: list[list[Any]], title: str = "") -> ChartSpec | None:
    """The chart a careful analyst would draw for this result, or None when a table says it all."""
    if not rows or not columns:
        return None
    roles = {c: _role([r[i] for r in rows], c) for i, c in enumerate(columns)}
    numbers = [c for c in columns if roles[c] == "number"]
    times = [c for c in columns if roles[c] == "time"]
    periods = [c for c in columns if roles[c] == "period"]
    categories = [c for c in columns if roles[c] == "category"]
    if not numbers:
        return None
    y = numbers[-1]
    if len(rows) == 1 and len(columns) == 1:
        return ChartSpec(kind="indicator", y=y, title=title)
    if times:
        return ChartSpec(kind="line", x=times[0], y=y, color=(categories or periods or [None])[0], title=title)
    if periods and categories:
        return ChartSpec(kind="bar", x=categories[0], y=y, color=periods[0], title=title)
    if periods:
        # year and quarter as two columns: one line per year over the quarters reads best
        others = [c for c in numbers if c != y]
        if others and len(rows) > 1:
            return ChartSpec(kind="line", x=others[0], y=y, color=periods[0], title=title)
        return ChartSpec(kind="bar", x=periods[0], y=y, title=title)
    if categories:
        return ChartSpec(kind="bar", x=categories[0], y=y, color=categories[1] if len(categories) > 1 else None,
                         title=title)
    if len(numbers) >= 2:
        return ChartSpec(kind="scatter", x=numbers[0], y=y, title=title)
    if len(rows) > 1:
        return ChartSpec(kind="bar", x=None, y=y, title=title)
    return None


def validate_spec(spec: ChartSpec, columns: list[str]) -> ChartSpec:
    """Every column the spec names must be a column of the result."""
    for role, column in (("y", spec.y), ("x", spec.x), ("color", spec.color)):
        if column is not None and column not in columns:
            raise ChartError(f"chart {role} column {column!r} is not in the result ({', '.join(columns)})")
    if spec.kind not in ("bar", "line", "scatter", "indicator"):
        raise ChartError(f"unknown chart kind {spec.kind!r}")
    return spec


def to_figure(spec: ChartSpec, columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """Plotly figure JSON for a validated spec (drawn with plotly's own classes, nothing evaluated)."""
    import plotly.graph_objects as go

    validate_spec(spec, columns)
    index = {c: i for i, c in enumerate(columns)}
    rows = rows[:_MAX_POINTS]
    column = lambda name: [r[index[name]] for r in rows]  # noqa: E731
    figure = go.Figure()
    if spec.kind == "indicator":
        figure.add_trace(go.Indicator(mode="number", value=column(spec.y)[0], title={"text": spec.y}))
    else:
        xs = column(spec.x) if spec.x else list(range(1, len(rows) + 1))
        groups: dict[Any, list[int]] = {}
        for i, key in enumerate(column(spec.color) if spec.color else [None] * len(rows)):
            groups.setdefault(key, []).append(i)
        ys = column(spec.y)
        for key, members in groups.items():
            name = str(key) if key is not None else spec.y
            x_values = [xs[i] if spec.kind != "bar" else str(xs[i]) for i in members]
            y_values = [ys[i] for i in members]
            if spec.kind == "bar":
                figure.add_trace(go.Bar(x=x_values, y=y_values, name=name))
            elif spec.kind == "line":
                figure.add_trace(go.Scatter(x=x_values, y=y_values, name=name, mode="lines+markers"))
            else:
                figure.add_trace(go.Scatter(x=x_values, y=y_values, name=name, mode="markers"))
        figure.update_layout(xaxis_title=spec.x or "", yaxis_title=spec.y, barmode="group",
                             showlegend=spec.color is not None)
    figure.update_layout(title=spec.title or None, template="plotly_white")
    return json.loads(figure.to_json())


def chart_payload(spec: ChartSpec | None, columns: list[str], rows: list[list[Any]]) -> dict[str, Any] | None:
    """What goes into the answer: the spec's fields plus ``figure``."""
    if spec is None:
        return None
    return {**asdict(spec), "figure": to_figure(spec, columns, rows)}


def write_html(chart: dict[str, Any], path: str | Path) -> Path:
    """A self-contained HTML page of the chart (plotly.js inlined: it must open offline)."""
    import plotly.io as pio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    html = pio.to_html(chart["figure"], include_plotlyjs=True, full_html=True)
    path.write_text(html, encoding="utf-8")
    return path
