"""The HTTP server with a model engine (a tiny random Gemma): loaded at start, reloaded while questions wait."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from live_server import serve_in_thread
from graph.context import Context


@pytest.mark.slow
def test_questions_asked_during_a_model_reload_are_answered(sales_db: Path, tiny_dir: Path) -> None:
    from gemsql.server import create_app

    # The tiny model writes no usable SQL, so the ensemble's template fallback gives the answers.
    context = Context(db_path=str(sales_db), engine="ensemble", model=str(tiny_dir), use_rag=False,
                      max_retries=0, max_new_tokens=8)
    # Generous limits: the CPU may be shared with other jobs.
    with serve_in_thread(create_app(context), startup_timeout=600) as url, \
            httpx.Client(base_url=url, timeout=600) as c:
        health = c.get("/health").json()
        assert health["model"] == "loaded", health  # warmed in the lifespan, before the first question
        spec = c.get("/openapi.json").json()
        assert "finetuned" in str(spec["components"]["schemas"]["AskRequest"])  # a model server offers all engines

        results: dict[str, httpx.Response] = {}
        calls = {"reload": lambda: c.post("/reload"),
                 "first": lambda: c.post("/ask", json={"question": "total sales in 2023"}),
                 "second": lambda: c.post("/ask", json={"question": "revenue by region in 2024"})}
        threads = [threading.Thread(target=lambda k=k, f=f: results.__setitem__(k, f())) for k, f in calls.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=900)
        assert all(r.status_code == 200 for r in results.values()), {k: r.text[:300] for k, r in results.items()}
        assert results["reload"].json()["model"] == "loaded"
        for name in ("first", "second"):
            answer = results[name].json()
            assert answer["error"] is None and answer["rows"], answer
        after = c.post("/ask", json={"question": "top 3 brands by revenue in 2024"}).json()
        assert after["error"] is None and len(after["rows"]) == 3
        assert c.get("/health").json()["queued"] == 0
