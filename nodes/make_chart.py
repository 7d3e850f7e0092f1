"""Pick and draw the chart for the result (declarative; nothing a model wrote is executed)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import State
from nodes.common import timed
from tools.charts import ChartError, chart_payload, suggest_chart


@timed("chart")
def make_chart(state: State, runtime: Runtime[Context] | None = None) -> dict[str, Any]:
    """A chart spec with its Plotly figure, or None when the result is better read as a table."""
    try:
        title = state.follow_up["title"] if state.follow_up else state.question
        spec = suggest_chart(state.columns, state.rows, title=title)
        return {"chart": chart_payload(spec, state.columns, state.rows)}
    except ChartError:
        return {"chart": None}  # a result we cannot draw still answers the question
