"""Rich rendering of an answer for the terminal (shared by `gemsql ask` and the chat)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from tools.answer import format_value
from tools.self_consistency import agreement_phrase
from tools.charts import write_html
from tools.paths import charts_dir

MAX_TABLE_ROWS = 20


def save_chart(answer: dict[str, Any]) -> Path | None:
    """Write the answer's chart as a standalone HTML page; the name is stable for the same question and SQL."""
    if not answer.get("chart"):
        return None
    key = hashlib.sha256(f"{answer.get('question')}\n{answer.get('sql')}".encode()).hexdigest()[:12]
    return write_html(answer["chart"], charts_dir() / f"chart-{key}.html")


def result_table(columns: list[str], rows: list[list[Any]], truncated: bool = False) -> Table:
    table = Table(show_header=True, header_style="bold cyan", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows[:MAX_TABLE_ROWS]:
        table.add_row(*[format_value(v) for v in row])
    shown = min(len(rows), MAX_TABLE_ROWS)
    if len(rows) > shown or truncated:
        more = f"{len(rows):,}{'+ (truncated)' if truncated else ''}"
        table.caption = f"{shown} of {more} rows"
    return table


def render_answer(console: Console, answer: dict[str, Any], show_sql: bool = True) -> Path | None:
    """Print SQL, table, answer and chart path; returns the chart file, if any."""
    parts: list[Any] = []
    if show_sql and answer.get("sql"):
        parts.append(Syntax(answer["sql"], "sql", theme="ansi_dark", word_wrap=True))
    if answer.get("columns"):
        parts.append(result_table(answer["columns"], answer["rows"], bool(answer.get("truncated"))))
    if answer.get("error"):
        parts.append(Text(answer["error"], style="bold red"))
    elif answer.get("answer"):
        parts.append(Text(answer["answer"], style="bold green"))
    chart = save_chart(answer) if not answer.get("error") else None
    if chart:
        parts.append(Text(f"Chart: {chart}", style="dim"))
    meta = " · ".join(part for part in (f"engine: {answer.get('engine') or '-'}",
                                        f"attempts: {answer.get('attempts') or 0}",
                                        agreement_phrase(answer.get("agreement")),
                                        f"{answer.get('latency_s') or 0:.2f} s") if part)
    console.print(Panel(Group(*parts), title=Text(str(answer.get("question", "")), style="bold"), subtitle=meta,
                        subtitle_align="right", expand=True))
    return chart
