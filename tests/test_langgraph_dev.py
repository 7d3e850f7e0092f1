"""`langgraph dev` serves the graph offline on loopback and answers a run through langgraph-sdk."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path, gemsql_home: Path):
    langgraph = Path(sys.executable).with_name("langgraph")
    if not langgraph.exists():
        langgraph = Path(shutil.which("langgraph") or "langgraph")
    port = free_port()
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "GEMSQL_HOME": str(gemsql_home),
           "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    # a scratch copy of langgraph.json, so that the server's .langgraph_api/ lands in tmp_path
    config = (ROOT / "langgraph.json").read_text()
    (tmp_path / "langgraph.json").write_text(config.replace('"./', f'"{ROOT}/').replace('"."', f'"{ROOT}"'))
    log = (tmp_path / "langgraph.log").open("w")
    proc = subprocess.Popen(
        [str(langgraph), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("langgraph dev exited:\n" + (tmp_path / "langgraph.log").read_text()[-3000:])
        try:
            if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        pytest.fail("langgraph dev did not start:\n" + (tmp_path / "langgraph.log").read_text()[-3000:])
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.mark.slow
def test_langgraph_dev_answers_a_run(server: str, sales_db: Path) -> None:
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server)
    assistants = client.assistants.search(graph_id="gemsql")
    assert assistants, "the gemsql graph is not registered"
    result = client.runs.wait(
        None, "gemsql",
        input={"question": "What were total sales in 2023?"},
        context={"db_path": str(sales_db), "engine": "template"},
    )
    assert result["error"] is None, result
    assert result["engine"] == "template"
    assert result["rows"][0][0] > 0 and "SUM" in result["sql"].upper()
