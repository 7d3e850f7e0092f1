"""`gemsql ui` as a process: clear errors before start, and no streamlit left behind when it is stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from browser import free_port

GEMSQL = Path(sys.executable).with_name("gemsql")


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GEMSQL_HOME": str(home)}
    return subprocess.run([str(GEMSQL), "ui", *args], capture_output=True, text=True, env=env, timeout=120)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
            return reply.read() == b"ok"
    except OSError:
        return False


def test_a_missing_database_is_refused_before_anything_starts(tmp_path: Path, gemsql_home: Path) -> None:
    result = run("--db", str(tmp_path / "none.duckdb"), "--port", str(free_port()), home=gemsql_home)
    assert result.returncode == 2 and "no DuckDB database at" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_port_is_one_clear_line(sales_db: Path, gemsql_home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("--db", str(sales_db), "--port", str(port), home=gemsql_home)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "Traceback" not in result.stderr


def test_stopping_gemsql_alone_stops_the_page_too(sales_db: Path, gemsql_home: Path) -> None:
    port = free_port()
    env = {**os.environ, "GEMSQL_HOME": str(gemsql_home)}
    # Its own session: the signal below reaches gemsql only, as from a service manager, not a terminal.
    server = subprocess.Popen([str(GEMSQL), "ui", "--db", str(sales_db), "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not healthy(port):
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
            time.sleep(0.25)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert "Stopped." in server.stderr.read()
        # The streamlit child is gone with it: nothing listens on the port any more.
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
