"""The one-line answer and the chart choice, from rows alone."""

from __future__ import annotations

from tools.answer import format_value, summarize
from tools.charts import ChartError, ChartSpec, suggest_chart, to_figure, validate_spec

import pytest


def test_format_value() -> None:
    assert format_value(1234567.891) == "1,234,567.89"
    assert format_value(12.0) == "12" and format_value(3) == "3"
    assert format_value("2024-01-01T00:00:00") == "2024-01-01"
    assert format_value("2024-01-01T10:30:00") == "2024-01-01T10:30:00"


def test_summaries() -> None:
    assert summarize(["total"], []) == "No rows match the question."
    assert summarize(["total_sales"], [[1500.5]]) == "Total sales: 1,500.50."
    trend = summarize(["month", "revenue"], [["2024-01-01T00:00:00", 100.0], ["2024-02-01T00:00:00", 150.0]])
    assert "from 100 in 2024-01-01 to 150 in 2024-02-01 (+50.0%)" in trend
    ranking = summarize(["region", "revenue"], [["West", 5.0], ["East", 9.0], ["North", 1.0]])
    assert ranking.startswith("Highest revenue: East (9); lowest: North (1)")


def test_chart_choice() -> None:
    assert suggest_chart(["total"], [[1.0]]).kind == "indicator"
    assert suggest_chart(["month", "revenue"], [["2024-01-01", 1.0], ["2024-02-01", 2.0]]).kind == "line"
    assert suggest_chart(["region", "revenue"], [["West", 1.0], ["East", 2.0]]).kind == "bar"
    assert suggest_chart(["year", "total"], [[2023, 1.0], [2024, 2.0]]).kind == "bar"
    assert suggest_chart(["name"], [["a"], ["b"]]) is None
    assert suggest_chart([], []) is None


def test_specs_are_validated_against_the_result() -> None:
    with pytest.raises(ChartError):
        validate_spec(ChartSpec(kind="bar", x="region", y="nope"), ["region", "revenue"])
    figure = to_figure(ChartSpec(kind="bar", x="region", y="revenue"), ["region", "revenue"], [["West", 1.0]])
    assert figure["data"][0]["type"] == "bar"
