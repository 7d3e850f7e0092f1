"""End to end: `gemsql ui` serving the page, Debian's Chromium driven by Playwright, a real DuckDB file."""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import expect

from browser import CHROMIUM, ask_on_page, chromium_page, ui_server

# Generous: the machine may be busy (a training job, other test runs); a healthy run takes a few seconds.
WAIT_MS = 240_000

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
        try:
            # The default model is the template engine, so no model is loaded.
            ask_on_page(page, url, "Top 5 brands by revenue", timeout_ms=WAIT_MS)
            # Retrying assertions: the page redraws while the script reruns, so an element found once may be
            # replaced by its equal a moment later.
            expect(page.locator('[data-testid="stCode"]')).to_contain_text("GROUP BY p.brand", timeout=WAIT_MS)

            # The grid draws on a canvas; its hidden accessible mirror holds the cells in order.
            cells = page.locator('[data-testid="stDataFrame"] td[role="gridcell"]')
            expect(cells).to_have_count(10, timeout=WAIT_MS)
            texts = cells.all_text_contents()  # the mirror may carry the raw or the formatted number
            assert [(b, float(r.replace(",", ""))) for b, r in zip(texts[::2], texts[1::2])] == expected

            # One bar per brand, drawn by plotly.js from the answer's figure.
            bars = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot .bars .point')
            expect(bars).to_have_count(5, timeout=WAIT_MS)

            expect(page.locator('[data-testid="stAlertContentSuccess"]')).to_contain_text(
                f"Highest revenue: {expected[0][0]} (", timeout=WAIT_MS)
            expect(page.get_by_role("button", name="Download the rows (CSV)")).to_be_visible(timeout=WAIT_MS)
            assert page.locator('[data-testid="stException"]').count() == 0

            # A write request is refused on the page, as one clear line.
            ask_on_page(page, None, "DROP TABLE sales", timeout_ms=WAIT_MS)
            expect(page.locator('[data-testid="stAlertContentError"]')).to_contain_text("Refused: ", timeout=WAIT_MS)
            expect(page.get_by_text("Conversation so far")).to_be_visible(timeout=WAIT_MS)
        except Exception:
            # What the browser showed, beside the server's log, for whoever reads a CI failure.
            with contextlib.suppress(Exception):  # a busy browser must not hide the first error
                page.screenshot(path=str(tmp_path / "failure.png"), timeout=10_000)
            raise
    print(f"browser round trip: {time.monotonic() - started:.1f} s")
    assert hashlib.sha256(sales_db.read_bytes()).hexdigest() == before
