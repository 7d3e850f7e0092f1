"""A real `gemsql ui` server and a real headless Chromium, shared by the browser test and docs/screenshot.py."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

CHROMIUM = Path("/usr/bin/chromium")
# Root in a container, no GPU, and a closed network: without the background-networking flags Chromium
# keeps retrying refused connections (updates, sync, QUIC) and a page load can hang.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def ui_server(db: Path, log: Path, *, home: Path | None = None, startup_s: float = 90) -> Iterator[str]:
    """`gemsql ui --db DB --port N`, exactly as an analyst starts it; yields the page's URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("gemsql")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if home is not None:
        env["GEMSQL_HOME"] = str(home)
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        server = subprocess.Popen([str(exe), "ui", "--db", str(db), "--port", str(port)], env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + startup_s
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"gemsql ui exited with {server.returncode}:\n{log.read_text()}")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                        if reply.read() == b"ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gemsql ui did not answer on {url} in {startup_s:.0f} s:\n{log.read_text()}")
                time.sleep(0.25)
            yield url
        finally:
            # Ctrl-C as an analyst would stop it: gemsql waits for streamlit, which shuts down cleanly.
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@contextlib.contextmanager
def chromium_page(width: int = 1280, height: int = 1000, timeout_ms: float = 240_000):
    """A Playwright page in Debian's Chromium (Playwright gives each launch a fresh profile directory).

    Waits are long by default: on a busy machine the first load of Streamlit's scripts can take a while.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_ms)
            page.set_default_navigation_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


def ask_on_page(page, url: str | None, question: str, timeout_ms: float = 90_000) -> None:
    """Type a question, press Analyze, and wait until the answer's subheader shows that question."""
    if url:
        page.goto(url, timeout=timeout_ms)
    page.get_by_label("Question").fill(question, timeout=timeout_ms)
    page.get_by_role("button", name="Analyze").click(timeout=timeout_ms)
    page.locator('[data-testid="stHeading"]', has_text=question).first.wait_for(timeout=timeout_ms)
