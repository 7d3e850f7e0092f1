"""Take docs/streamlit.png: `gemsql ui` on the bundled sales database, two questions asked in Chromium.

    .venv/bin/python docs/screenshot.py [--db FILE] [--out docs/streamlit.png]

Needs Debian's chromium at /usr/bin/chromium (as the browser test does).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the browser helpers live with the test that uses them too

from browser import CHROMIUM, ask_on_page, chromium_page, ui_server  # noqa: E402

QUESTIONS = ("top 5 brands by revenue in 2023", "and in 2024?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="DuckDB file (default: the bundled sales database)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "streamlit.png")
    args = parser.parse_args()
    if not CHROMIUM.is_file():
        print(f"error: no Chromium at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    if args.db is None:
        from tools.sales_db import ensure_default_db

        args.db = ensure_default_db(progress=True)
    log = Path(tempfile.mkdtemp(prefix="gemsql-ui-")) / "server.log"
    # Tall enough for the answer, its table and chart, and the folded earlier question below them.
    with ui_server(args.db, log) as url, chromium_page(width=1400, height=1440) as page:
        ask_on_page(page, url, QUESTIONS[0])
        for question in QUESTIONS[1:]:
            ask_on_page(page, None, question)
        page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)  # plotly animates its first draw
        page.screenshot(path=str(args.out))
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
