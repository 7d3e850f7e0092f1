"""gemsql: ask a DuckDB database questions in plain English; get SQL, rows, a chart and an answer."""

__version__ = "0.1.0"
