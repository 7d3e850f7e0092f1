"""`gemsql serve`: refuses a public address without an API key; with one, every request needs it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from live_server import GEMSQL, ROOT, serve_process
from gemsql.serve_cmd import api_key_problem, is_loopback

KEY = "k3y-" + "x" * 28


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                             ("127.0.0.2", True), ("0.0.0.0", False), ("::", False),
                                             ("192.168.1.10", False), ("example.com", False)])
def test_only_loopback_counts_as_private(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert (api_key_problem(host, None) is None) is loopback
    assert api_key_problem(host, KEY) is None
    assert "too short" in api_key_problem(host, "short")


def run_serve(*args: str, api_key: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GEMSQL_API_KEY"}
    if api_key is not None:
        env["GEMSQL_API_KEY"] = api_key
    return subprocess.run([str(GEMSQL), "serve", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_refuses_to_start_on_a_public_address_without_a_key(sales_db: Path) -> None:
    result = run_serve("--host", "0.0.0.0", "--port", "0", "--db", str(sales_db), "--engine", "template",
                       api_key=None)
    assert result.returncode == 2, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "refusing to listen on 0.0.0.0 without an API key" in message and "GEMSQL_API_KEY" in message
    assert "Traceback" not in result.stderr and "Uvicorn running" not in result.stderr
    short = run_serve("--host", "0.0.0.0", "--port", "0", "--db", str(sales_db), api_key="abc")
    assert short.returncode == 2 and "too short" in short.stderr


@pytest.mark.slow
def test_with_a_key_every_request_needs_it(sales_db: Path, tmp_path: Path) -> None:
    good = {"X-API-Key": KEY}
    with serve_process("--host", "0.0.0.0", "--db", str(sales_db), "--engine", "template",
                       env={"GEMSQL_API_KEY": KEY}, log=tmp_path / "serve.log", headers=good) as url, \
            httpx.Client(base_url=url, timeout=60) as c:
        for method, path in (("GET", "/health"), ("GET", "/schema"), ("GET", "/docs"), ("GET", "/openapi.json"),
                             ("POST", "/ask"), ("POST", "/ask/stream"), ("POST", "/generate-sql")):
            for headers in ({}, {"X-API-Key": KEY[:-1] + "y"}, {"Authorization": "Bearer nope"}):
                response = c.request(method, path, headers=headers, json={"question": "total sales in 2023"})
                assert response.status_code == 401, (method, path, headers, response.text)
                assert "API key" in response.json()["error"]
        assert c.get("/health", headers=good).json()["status"] == "ok"
        answer = c.post("/ask", headers={"Authorization": f"Bearer {KEY}"},
                        json={"question": "total sales in 2023"}).json()
        assert answer["error"] is None and answer["rows"][0][0] > 0
        assert c.post("/generate-sql", headers=good, params={"query": "total sales in 2023"}).json()["results"]
        assert "swagger" in c.get("/docs", headers=good).text.lower()
