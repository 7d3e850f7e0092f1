"""A small chart drawn in the terminal (plotext) from the answer's declarative chart spec.

The chat shows it beside the path of the Plotly HTML page. It is a convenience: any result it cannot
draw legibly (too many bars or series, no numbers) gives None, and the table and the HTML page remain.
"""

from __future__ import annotations

import threading
from typing import Any

from tools.answer import format_value

MAX_BARS = 30
MAX_SERIES = 6
MIN_WIDTH = 40
# plotext draws on one module-level figure: two chats drawing at once in one process must take turns.
_lock = threading.Lock()


def terminal_chart(answer: dict[str, Any], width: int = 80, height: int = 15, color: bool = False) -> str | None:
    """The answer's bar, line or scatter chart as text, ``width`` x ``height`` characters, or None."""
    chart = answer.get("chart") or {}
    kind, x, y, series = chart.get("kind"), chart.get("x"), chart.get("y"), chart.get("color")
    columns, rows = list(answer.get("columns") or []), list(answer.get("rows") or [])
    if kind not in ("bar", "line", "scatter") or y not in columns or not rows or width < MIN_WIDTH:
        return None
    if (x is not None and x not in columns) or (series is not None and series not in columns):
        return None
    index = {c: i for i, c in enumerate(columns)}
    xs = [_tick(r[index[x]]) for r in rows] if x else [str(i) for i in range(1, len(rows) + 1)]
    ys = [r[index[y]] for r in rows]
    keys = [str(r[index[series]]) for r in rows] if series else [y] * len(rows)
    groups: dict[str, dict[str, float]] = {}
    for key, xv, yv in zip(keys, xs, ys):
        if isinstance(yv, (int, float)) and not isinstance(yv, bool):
            groups.setdefault(key, {})[xv] = float(yv)
    positions = list(dict.fromkeys(xs))  # the x values in the result's order, each once
    if not groups or len(groups) > MAX_SERIES or (kind == "bar" and len(positions) * len(groups) > MAX_BARS):
        return None
    with _lock:
        return _draw(kind, positions, groups, series is not None, chart.get("title") or "", x, y, width, height, color)


def _tick(value: Any) -> str:
    """An x value as a short label: dates without midnight, years without a thousands separator."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return format_value(value)


def _draw(kind: str, positions: list[str], groups: dict[str, dict[str, float]], legend: bool, title: str,
          x: str | None, y: str, width: int, height: int, color: bool) -> str:
    import plotext as plt

    fig = plt.figure
    fig.clear.all()
    fig.theme("simple" if color else "colorless")
    fig.plot_size(width, height)
    if title:
        fig.title(title[: width - 2])
    if kind == "bar":
        heights = [[values.get(p, 0.0) for p in positions] for values in groups.values()]
        labels = [_fit(p, max(3, (width - 10) // max(1, len(positions)) - 1)) for p in positions]
        signal = fig.bar(labels, heights if len(groups) > 1 else heights[0])
        fig.draw(signal)
    else:
        for name, values in groups.items():
            points = [(i, values[p]) for i, p in enumerate(positions) if p in values]
            signal = fig.signal([i for i, _ in points], [v for _, v in points])
            if kind == "line":
                signal.lines(True)
            if legend:
                signal.label(name)
            fig.draw(signal)
        step = max(1, len(positions) // 5)
        ticks = list(range(0, len(positions), step))
        fig.ruler(0).ticks(ticks, [_fit(positions[i], 12) for i in ticks])
    if x:
        fig.label(x, 0)
    try:
        return fig.build().string(colorless=not color).rstrip()
    finally:
        fig.clear.all()


def _fit(text: str, size: int) -> str:
    return text if len(text) <= size else text[: max(1, size - 1)] + "…"
