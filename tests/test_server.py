"""The HTTP API on a real uvicorn server on loopback, over the small sales database, template engine."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from live_server import serve_in_thread, sse_events
from graph.context import Context
from graph.orchestrator import ANSWER_KEYS


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def app(sales_db: Path):
    from gemsql.server import create_app

    return create_app(Context(engine="template", db_path=str(sales_db)))


@pytest.fixture(scope="module")
def url(app) -> str:
    with serve_in_thread(app) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str):
    with httpx.Client(base_url=url, timeout=60) as c:
        yield c


def ask(client: httpx.Client, question: str, **extra) -> dict:
    response = client.post("/ask", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_health_and_schema(client: httpx.Client, sales_db: Path) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["engine"] == "template"
    assert health["database"] == str(sales_db) and health["database_present"] is True
    assert health["model"].startswith("not needed")
    schema = client.get("/schema").json()
    tables = {t["name"]: t for t in schema["tables"]}
    assert {"sales", "stores", "products", "active_store"} <= set(tables)
    region = next(c for c in tables["stores"]["columns"] if c["name"] == "region")
    assert "West" in region["values"]
    assert any("sales.store_id = stores.store_id" in j for j in schema["joins"])


def test_ask_returns_the_cli_answer_object(client: httpx.Client, sales_db: Path) -> None:
    from graph.orchestrator import ask as ask_directly

    answer = ask(client, "revenue by region in 2023")
    assert set(ANSWER_KEYS) <= set(answer)
    assert answer["error"] is None and answer["engine"] == "template"
    assert answer["columns"] == ["region", "revenue"] and len(answer["rows"]) == 5
    direct = ask_directly("revenue by region in 2023", Context(engine="template", db_path=str(sales_db)))
    assert answer["sql"] == direct["sql"] and answer["rows"] == direct["rows"]
    assert answer["chart"]["kind"] == "bar" and answer["answer"]


def test_generate_sql_keeps_the_original_contract(client: httpx.Client) -> None:
    response = client.post("/generate-sql", params={"query": "total sales by region in 2024"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"sql", "results", "chart"} <= set(body)
    assert "GROUP BY" in body["sql"].upper() and body["error"] is None
    assert len(body["results"]) == 5 and set(body["results"][0]) == {"region", "total_sales"}
    assert body["chart"]["kind"] == "bar"
    unknown = client.post("/generate-sql", params={"query": "total sales", "engin": "template"})
    assert unknown.status_code == 422 and "engin" in unknown.json()["error"]


def test_stream_sends_one_event_per_node_then_the_answer(client: httpx.Client) -> None:
    with client.stream("POST", "/ask/stream", json={"question": "monthly revenue in 2023"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.read().decode())
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1
    nodes = [json.loads(data)["node"] for kind, data in events if kind == "node"]
    assert nodes == ["classify_intent", "extract_entities", "retrieve_context", "generate_sql", "validate_sql",
                     "execute_sql", "make_chart", "respond"]
    answer = json.loads(events[-1][1])
    assert answer["error"] is None and len(answer["rows"]) == 12
    assert answer["sql"] == ask(client, "monthly revenue in 2023")["sql"]


def test_follow_up_through_thread_id(client: httpx.Client) -> None:
    thread = f"t-{uuid.uuid4().hex[:8]}"
    first = ask(client, "revenue by region in 2023", thread_id=thread)
    assert first["error"] is None and first["thread_id"] == thread
    follow = ask(client, "and in 2024?", thread_id=thread)
    assert follow["error"] is None, follow
    assert "2024" in follow["sql"] and "region" in follow["sql"].lower()
    assert follow["columns"] == first["columns"] and follow["rows"] != first["rows"]
    # The same words in a fresh conversation have nothing to build on.
    alone = ask(client, "and in 2024?", thread_id=f"t-{uuid.uuid4().hex[:8]}")
    assert alone["columns"] != first["columns"] or alone["error"]
    # The stream continues the same conversation.
    with client.stream("POST", "/ask/stream", json={"question": "and in 2022?", "thread_id": thread}) as response:
        answer = json.loads(sse_events(response.read().decode())[-1][1])
    assert "2022" in answer["sql"] and answer["columns"] == first["columns"], answer


@pytest.mark.parametrize("question", ["DROP TABLE sales", "delete all sales from 2022",
                                      "UPDATE sales SET amount = 0", "COPY sales TO '/tmp/leak.csv'"])
def test_hostile_questions_are_refused_and_the_file_is_untouched(client: httpx.Client, sales_db: Path,
                                                                 question: str) -> None:
    before = sha256(sales_db)
    answer = ask(client, question)
    assert answer["error"] and answer["rows"] == [], answer
    assert "refused" in answer["error"].lower() or "only reads" in answer["error"].lower()
    generated = client.post("/generate-sql", params={"query": question}).json()
    assert generated["error"] and generated["results"] == []
    with client.stream("POST", "/ask/stream", json={"question": question}) as response:
        streamed = json.loads(sse_events(response.read().decode())[-1][1])
    assert streamed["error"] and streamed["rows"] == []
    assert sha256(sales_db) == before
    assert ask(client, "total sales in 2022")["rows"][0][0] > 0  # the data are all still there


@pytest.mark.parametrize("body, field", [
    ({"question": ""}, "question"),
    ({"question": "   "}, "question"),
    ({"question": "x" * 2001}, "question"),
    ({"question": "total sales", "engine": "gpt"}, "engine"),
    ({"question": "total sales", "row_limit": 0}, "row_limit"),
    ({"question": "total sales", "row_limit": "5"}, "row_limit"),
    ({"question": "total sales", "use_rag": "yes"}, "use_rag"),
    ({"question": "total sales", "sql": "DROP TABLE sales"}, "sql"),
    ({"question": "total sales", "thread_id": "a b"}, "thread_id"),
])
def test_invalid_requests_get_a_clear_422(client: httpx.Client, body: dict, field: str) -> None:
    for path in ("/ask", "/ask/stream"):
        response = client.post(path, json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error.startswith("invalid request") and field in error and "Traceback" not in response.text


def test_every_http_error_is_json(client: httpx.Client) -> None:
    cases = [client.post("/ask", content=b"{not json", headers={"content-type": "application/json"}),
             client.post("/ask"), client.get("/ask"), client.get("/nowhere"),
             client.post("/ask", content=b"x" * 70_000, headers={"content-type": "application/json"})]
    assert [r.status_code for r in cases] == [422, 422, 405, 404, 413]
    for response in cases:
        assert response.headers["content-type"] == "application/json" and response.json()["error"]
    assert cases[2].headers["allow"] == "POST"


def test_docs_and_openapi(client: httpx.Client) -> None:
    assert "swagger" in client.get("/docs").text.lower()
    spec = client.get("/openapi.json").json()
    assert {"/ask", "/ask/stream", "/generate-sql", "/schema", "/health"} <= set(spec["paths"])


def test_health_and_schema_answer_while_a_question_holds_the_worker(app, client: httpx.Client) -> None:
    worker = app.state.gemsql.worker
    release = threading.Event()
    holding = worker.submit(release.wait, 30)  # the worker is busy, as with a slow model question
    waiting: dict = {}
    asker = threading.Thread(target=lambda: waiting.update(answer=ask(client, "total sales in 2023")))
    asker.start()
    try:
        time.sleep(0.3)
        started = time.perf_counter()
        health = client.get("/health")
        schema = client.get("/schema")
        elapsed = time.perf_counter() - started
        assert health.status_code == 200 and schema.status_code == 200
        assert elapsed < 1.0, f"/health and /schema took {elapsed:.2f} s behind a busy worker"
        assert health.json()["queued"] == 2  # the held job and the question behind it
        assert asker.is_alive() and "answer" not in waiting  # the question waits its turn
    finally:
        release.set()
    asker.join(timeout=30)
    holding.result(timeout=5)
    assert waiting["answer"]["error"] is None


def test_a_client_that_hangs_up_mid_stream_leaves_the_server_answering(app, url: str, client: httpx.Client) -> None:
    worker = app.state.gemsql.worker
    release = threading.Event()
    worker.submit(release.wait, 30)  # so that the stream is still waiting when the client goes
    with httpx.Client(base_url=url, timeout=10) as leaving:
        with leaving.stream("POST", "/ask/stream", json={"question": "revenue by brand in 2024"}) as response:
            assert response.status_code == 200
            release.set()
            next(response.iter_lines())  # the first line of the first event, then hang up
    deadline = time.monotonic() + 10
    while worker.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.pending == 0, "the abandoned stream still holds the worker"
    assert ask(client, "revenue by brand in 2024")["error"] is None


def test_a_database_that_disappears_gives_a_clear_503_then_comes_back(tmp_path: Path, sales_db: Path) -> None:
    from gemsql.server import create_app

    db = tmp_path / "sales.duckdb"
    shutil.copy(sales_db, db)
    with serve_in_thread(create_app(Context(engine="template", db_path=str(db)))) as base, \
            httpx.Client(base_url=base, timeout=60) as c:
        assert ask(c, "total sales in 2023")["error"] is None
        moved = db.rename(tmp_path / "elsewhere.duckdb")
        for response in (c.post("/ask", json={"question": "total sales in 2023"}),
                         c.post("/generate-sql", params={"query": "total sales in 2023"}),
                         c.post("/ask/stream", json={"question": "total sales in 2023"}), c.get("/schema")):
            assert response.status_code == 503, response.text
            assert f"no DuckDB database at {db}" in response.json()["error"]
        health = c.get("/health").json()
        assert health["status"] == "degraded" and health["database_present"] is False
        moved.rename(db)
        answer = ask(c, "total sales in 2023")
        assert answer["error"] is None and answer["rows"][0][0] > 0
        assert c.get("/health").json()["status"] == "ok"


def test_a_client_that_hangs_up_mid_stream_leaves_the_server_answering(url: str, client: httpx.Client) -> None:
    for _ in range(3):  # several times: a leaked worker slot or lock would show on the next request
        with httpx.Client(base_url=url, timeout=60) as impatient:
            with impatient.stream("POST", "/ask/stream", json={"question": "revenue by region in 2023"}) as response:
                assert response.status_code == 200
                first = next(response.iter_lines())  # the first event has arrived: hang up now
                assert first
    answer = ask(client, "top 3 brands by revenue in 2024")
    assert answer["error"] is None and len(answer["rows"]) == 3
    health = client.get("/health").json()
    assert health["queued"] == 0, health
