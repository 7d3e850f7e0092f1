"""Load on the HTTP API: N concurrent clients asking questions for a fixed time.

    .venv/bin/python benchmarks/http_load.py [--clients 8] [--seconds 60] [--engine template ...]
                                             [--url http://127.0.0.1:8000 --pid PID] [--db PATH]

Without --url it starts `gemsql serve` itself on a free loopback port (the first --engine is the server's;
several engines need a model engine first, e.g. --engine ensemble --engine template). Each client sends
the questions of the sales dev set (../shared/eval/sales_dev.jsonl, read at run time: measurement only)
in turn to POST /ask, one engine after the other for --seconds each, after one warm-up question. It prints the requests served,
p50/p95 latency per engine, the errors (HTTP errors, transport errors and answers with an internal error;
must be 0) and the server process's RSS before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT.parent / "shared" / "eval" / "sales_dev.jsonl"


def questions(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]


def rss_mib(pid: int | None) -> str:
    """Resident memory of the server process and its children (the query worker), in MiB."""
    if pid is None:
        return "n/a (give --pid)"
    try:
        out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True,
                             text=True, check=True).stdout
        own = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True,
                             check=True).stdout
    except (subprocess.CalledProcessError, OSError):
        return "n/a (process gone)"
    total = sum(int(x) for x in out.split()) / 1024
    return f"{int(own.strip()) / 1024:.0f} MiB (with its query worker: {total:.0f} MiB)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(engine: str, db: Path | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    gemsql = Path(sys.executable).with_name("gemsql")
    args = [str(gemsql), "serve", "--port", str(port), "--engine", engine, "--log-level", "warning"]
    if db:
        args += ["--db", str(db)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # a model engine converts and loads the model first
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gemsql serve exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit("gemsql serve did not start in 10 minutes")


def load(url: str, engine: str, qs: list[str], clients: int, seconds: float, headers: dict) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=max(120.0, seconds), headers=headers) as http:
            i = index
            while time.monotonic() < stop_at:
                question = qs[i % len(qs)]
                i += 1
                started = time.perf_counter()
                try:
                    response = http.post("/ask", json={"question": question, "engine": engine})
                    problem = None if response.status_code == 200 else f"HTTP {response.status_code}: {response.text[:200]}"
                    if problem is None and (response.json().get("error") or "").startswith("internal error"):
                        problem = response.json()["error"]
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - started
                with lock:
                    (errors.append(f"{question!r}: {problem}") if problem else latencies.append(elapsed))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    quantiles = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [float("nan")] * 19
    return {"engine": engine, "served": len(latencies), "errors": errors, "wall_s": wall,
            "p50": statistics.median(latencies) if latencies else float("nan"), "p95": quantiles[18]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="Seconds of load per engine.")
    parser.add_argument("--engine", action="append", choices=("template", "finetuned", "ensemble", "hybrid"))
    parser.add_argument("--url", help="A running server (default: start one).")
    parser.add_argument("--pid", type=int, help="The running server's process id, for its RSS.")
    parser.add_argument("--db", type=Path, help="DuckDB file for the server it starts.")
    parser.add_argument("--cases", type=Path, default=CASES)
    args = parser.parse_args()
    engines = args.engine or ["template"]
    qs = questions(args.cases)
    headers = {"X-API-Key": os.environ["GEMSQL_API_KEY"]} if os.environ.get("GEMSQL_API_KEY") else {}

    proc = None
    url, pid = args.url, args.pid
    if url is None:
        proc, url = start_server(engines[0], args.db)
        pid = proc.pid
    try:
        print(f"server {url}: {len(qs)} questions from {args.cases.name}, {args.clients} clients, "
              f"{args.seconds:.0f} s per engine")
        for engine in engines:  # the first question imports the graph and starts the query worker
            started = time.perf_counter()
            httpx.post(f"{url}/ask", json={"question": qs[0], "engine": engine}, headers=headers, timeout=600)
            print(f"warm-up ({engine}): {time.perf_counter() - started:.1f} s")
        print(f"server RSS before: {rss_mib(pid)}")
        results = [load(url, engine, qs, args.clients, args.seconds, headers) for engine in engines]
        print(f"server RSS after:  {rss_mib(pid)}")
        for r in results:
            print(f"{r['engine']:>9}: {r['served']} requests served in {r['wall_s']:.1f} s "
                  f"({r['served'] / r['wall_s']:.1f}/s), p50 {r['p50'] * 1000:.0f} ms, "
                  f"p95 {r['p95'] * 1000:.0f} ms, errors {len(r['errors'])}")
            for error in r["errors"][:5]:
                print(f"           {error}")
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    raise SystemExit(1 if any(r["errors"] for r in results) else 0)


if __name__ == "__main__":
    main()
