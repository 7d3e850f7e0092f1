"""Schemathesis against the server's own OpenAPI document: no 5xx, and every response as documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from live_server import serve_in_thread
from graph.context import Context

TESTS = Path(__file__).resolve().parent


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(sales_db: Path) -> None:
    from gemsql.server import create_app

    schemathesis = Path(sys.executable).with_name("schemathesis")
    with serve_in_thread(create_app(Context(engine="template", db_path=str(sales_db)))) as url:
        # The first question starts the query worker process; schemathesis should not time that.
        assert httpx.post(f"{url}/ask", json={"question": "total sales"}, timeout=120).status_code == 200
        env = {**os.environ, "PYTHONPATH": str(TESTS), "SCHEMATHESIS_HOOKS": "schemathesis_hooks"}
        run = subprocess.run(
            [str(schemathesis), "run", f"{url}/openapi.json", "--checks", "all", "--phases", "examples,fuzzing",
             "--max-examples", "6", "--seed", "20240101", "--workers", "1", "--request-timeout", "60"],
            env=env, capture_output=True, text=True, timeout=300,
        )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert "Server error" not in output and "[500]" not in output
    assert re.search(r"Tested:\s+6\b", output), output[-3000:]  # every operation
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated and int(generated[1]) >= 20 and generated[1] == generated[2], output[-3000:]
