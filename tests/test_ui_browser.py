"""End to end: `gemsql ui` serving the page, Debian's Chromium driven by Playwright, a real DuckDB file."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import duckdb
import pytest

from browser import CHROMIUM, ask_on_page, chromium_page, ui_server

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(),
                                reason=f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium package)")


def test_a_question_typed_in_the_browser_gets_sql_table_chart_and_answer(sales_db: Path, gemsql_home: Path,
                                                                         tmp_path: Path) -> None:
    before = hashlib.sha256(sales_db.read_bytes()).hexdigest()
    with duckdb.connect(str(sales_db), read_only=True) as con:
        top5 = con.execute("SELECT p.brand, round(sum(s.amount), 2) FROM sales s JOIN products p USING (product_id) "
                           "GROUP BY 1 ORDER BY 2 DESC LIMIT 5").fetchall()
    expected = [(brand, float(revenue)) for brand, revenue in top5]
    started = time.monotonic()
    with ui_server(sales_db, tmp_path / "server.log", home=gemsql_home) as url, chromium_page() as page:
        # The default model is the template engine, so no model is loaded.
        ask_on_page(page, url, "Top 5 brands by revenue")
        code = page.locator('[data-testid="stCode"]')
        code.wait_for(timeout=30_000)
        assert "GROUP BY p.brand" in code.inner_text()

        table = page.locator('[data-testid="stDataFrame"]')
        table.wait_for(timeout=30_000)
        # The grid draws on a canvas; its hidden accessible mirror holds the cells (as displayed) in order.
        cells = table.locator('td[role="gridcell"]')
        cells.first.wait_for(state="attached", timeout=30_000)
        texts = cells.all_text_contents()
        assert [(b, float(r.replace(",", ""))) for b, r in zip(texts[::2], texts[1::2])] == expected

        chart = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')
        chart.wait_for(timeout=30_000)
        assert chart.locator(".bars .point").count() == 5  # one bar per brand, drawn by plotly.js

        answer = page.locator('[data-testid="stAlertContentSuccess"]')
        assert answer.inner_text().startswith(f"Highest revenue: {expected[0][0]} (")
        assert page.get_by_role("button", name="Download the rows (CSV)").is_visible()
        assert page.locator('[data-testid="stException"]').count() == 0

        # A write request is refused on the page, as one clear line.
        ask_on_page(page, None, "DROP TABLE sales")
        refusal = page.locator('[data-testid="stAlertContentError"]')
        refusal.wait_for(timeout=30_000)
        assert refusal.inner_text().startswith("Refused: ")
        assert page.get_by_text("Conversation so far").is_visible()
    print(f"browser round trip: {time.monotonic() - started:.1f} s")
    assert hashlib.sha256(sales_db.read_bytes()).hexdigest() == before
