"""gemsql over HTTP: a FastAPI app around the same graph and answer object as the command line.

``create_app(context, api_key=...)`` builds the app; ``gemsql serve`` (gemsql/serve_cmd.py) runs it under
uvicorn. The model and the knowledge base are loaded once, at start, when the engine needs them; questions
are answered one at a time by a single worker (gemsql/server_worker.py), while /health and /schema answer
at once. Every error is a JSON body ``{"error": "..."}`` with a 4xx/5xx status, never a traceback.
"""

# No `from __future__ import annotations`: the endpoints are annotated with a request model made per app
# (the engines it offers), which FastAPI must see as a class, not as a name to look up in this module.

import contextlib
import hmac
import inspect
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from fastapi import FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from gemsql.server_models import ERROR_RESPONSES, Answer, AskRequest, GenerateSQLResponse, Health, SchemaBody, ask_request_for
from gemsql.server_worker import Busy, QuestionWorker, stream_answer
from graph.context import ENGINES, Context

log = logging.getLogger("gemsql.server")

MAX_BODY_BYTES = 64 * 1024
MODEL_ENGINES = ("finetuned", "ensemble", "hybrid")


class DatabaseUnavailable(RuntimeError):
    """The database file the server answers about is missing."""


@dataclass
class ServerState:
    context: Context
    api_key: Optional[str]
    worker: QuestionWorker = field(default_factory=QuestionWorker)
    model_status: str = "not loaded"


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(jsonable_encoder({"error": message, **extra}), status_code=status,
                        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


def _threads_supported() -> bool:
    from graph.orchestrator import ask

    return "thread_id" in inspect.signature(ask).parameters


def _warm(state: ServerState) -> None:
    """Load what the engine needs before the first question, on the worker thread that will use it."""
    from tools.schema import load_schema

    ctx = state.context
    load_schema(ctx.db_path)
    if ctx.engine not in MODEL_ENGINES:
        state.model_status = "not needed (template engine)"
        return
    state.model_status = "loading"
    try:
        # A one-word completion through the LLM the graph itself uses: the weights are loaded (and converted
        # once) here rather than during the first question.
        from nodes.generate_sql import model_llm

        model_llm(ctx).invoke("SELECT")
        state.model_status = "loaded"
    except Exception as exc:  # noqa: BLE001 - the ensemble still answers with its template fallback
        log.warning("model could not be loaded at start: %s", exc, exc_info=True)
        state.model_status = f"unavailable: {exc}"
    if ctx.use_rag:
        try:
            from kb.store import KnowledgeBase

            KnowledgeBase.open(ctx.db_path, progress=False)
        except Exception as exc:  # noqa: BLE001 - retrieval falls back to entity linking per question
            log.warning("knowledge base could not be opened at start: %s", exc, exc_info=True)


def _reload(state: ServerState) -> None:
    """Forget the loaded model and load it again from disk (a retrained adapter, say), then warm up."""
    from tools import llama_llm, model_store
    from tools.llm import get_llm

    get_llm.cache_clear()
    model_store.clear_cache()
    llama_llm.get_llama_llm.cache_clear()
    llama_llm.clear_cache()
    _warm(state)


def create_app(context: Context, *, api_key: str | None = None, warm: bool = True) -> FastAPI:
    """The HTTP API over ``context`` (its ``db_path`` must be set). ``api_key``: required on every request."""
    if not context.db_path:
        raise ValueError("create_app needs a context with db_path set")
    state = ServerState(context=context, api_key=api_key or None)
    # A template server offers only the template engine: a client must not make it load a model.
    engines = ("template",) if context.engine == "template" else ENGINES
    Ask = ask_request_for(engines)
    EngineParam = Literal[engines]  # type: ignore[valid-type]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm:
            await state.worker.run(_warm, state)
        yield
        state.worker.shutdown()

    app = FastAPI(title="gemsql", version="0.1.0", lifespan=lifespan,
                  description="Ask a DuckDB database questions in plain English: SQL, rows, a chart, an answer.")
    app.state.gemsql = state

    @app.middleware("http")
    async def guard(request: Request, call_next):
        # Checked before anything else, on every path (the docs included): a public server shows nothing
        # to a caller without the key.
        if state.api_key is not None:
            given = request.headers.get("x-api-key") or ""
            auth = request.headers.get("authorization") or ""
            if not given and auth.lower().startswith("bearer "):
                given = auth[7:].strip()
            if not hmac.compare_digest(given.encode(), state.api_key.encode()):
                return _error(401, "missing or wrong API key: send it as 'X-API-Key: <key>' or "
                                   "'Authorization: Bearer <key>'")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return _error(413, f"request body too large (at most {MAX_BODY_BYTES} bytes)")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in problems)
        return _error(422, f"invalid request: {summary}", detail=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})  # e.g. the Allow header of a 405
        return response

    @app.exception_handler(DatabaseUnavailable)
    async def database_missing(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return _error(503, str(exc))

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        return _error(503, f"server busy: {exc}")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")

    def database() -> str:
        path = state.context.db_path
        if not Path(path).is_file():
            raise DatabaseUnavailable(f"database unavailable: no DuckDB database at {path} "
                                      "(restore the file; the server answers again as soon as it is back)")
        return path

    async def answer(body: AskRequest) -> dict[str, Any]:
        from graph.orchestrator import ask

        database()
        kwargs: dict[str, Any] = body.overrides()
        if body.thread_id is not None:
            if not _threads_supported():
                raise StarletteHTTPException(501, "conversation threads are not available in this version")
            kwargs["thread_id"] = body.thread_id
        result = await state.worker.run(ask, body.question, state.context, **kwargs)
        if body.thread_id is not None:
            result["thread_id"] = body.thread_id
        if (result.get("error") or "").startswith("internal error"):
            raise RuntimeError(result["error"])  # already logged with its traceback by ask()
        return result

    @app.post("/ask", response_model=Answer, responses=ERROR_RESPONSES, tags=["questions"])
    async def ask_endpoint(body: Ask) -> dict[str, Any]:
        """Answer a question: the same object as `gemsql ask --json`. A refused or unanswerable question
        is still a 200 answer, with `error` saying why; HTTP errors are for the request itself."""
        return await answer(body)

    @app.post("/generate-sql", response_model=GenerateSQLResponse, responses=ERROR_RESPONSES,
              tags=["questions"])
    async def generate_sql(
        request: Request,
        query: Annotated[str, Query(min_length=1, max_length=2000, pattern=r"\S",
                                    description="The question (the original design's `query` parameter).")],
        use_rag: bool = True,
        # A query parameter cannot be null, so the server's engine is the documented default.
        engine: Annotated[EngineParam, Query(description="Who writes the SQL.")] = context.engine,
    ) -> dict[str, Any]:
        """The original design's endpoint: `POST /generate-sql?query=...` returns sql, results (records)
        and chart."""
        unknown = sorted(set(request.query_params) - {"query", "use_rag", "engine"})
        if unknown:  # a misspelt option would otherwise be ignored without a word
            return _error(422, f"invalid request: unknown query parameter(s): {', '.join(unknown)}; "
                               "known: query, use_rag, engine")
        if request.query_params.get("use_rag", "true") not in ("true", "false"):  # FastAPI would take 0, no, off...
            return _error(422, "invalid request: use_rag: must be true or false")
        if not query.strip():
            return _error(422, "invalid request: query: the question is blank")
        result = await answer(Ask(question=query, use_rag=use_rag, engine=engine))
        columns = result.get("columns") or []
        return {
            "sql": result.get("sql") or "",
            "results": [dict(zip(columns, row)) for row in result.get("rows") or []],
            "chart": result.get("chart"),
            "answer": result.get("answer"),
            "error": result.get("error"),
        }

    @app.post("/ask/stream", responses={200: {"content": {"text/event-stream": {}},
                                              "description": "Server-sent events: `node` per graph node, "
                                                             "then `answer`."}, **ERROR_RESPONSES},
              tags=["questions"])
    async def ask_stream(body: Ask) -> EventSourceResponse:
        """Server-sent events: one `node` event as each graph node finishes ({node, seconds, update}),
        then one `answer` event with the answer object of /ask."""
        database()
        if body.thread_id is not None and not _threads_supported():
            raise StarletteHTTPException(501, "conversation threads are not available in this version")
        question, thread_id, overrides = body.question, body.thread_id, body.overrides()

        def produce(cancelled):
            return stream_answer(question, state.context, cancelled, thread_id=thread_id, **overrides)

        async def events():
            async for kind, data in state.worker.stream(produce):
                yield {"event": kind, "data": json.dumps(data, default=str, ensure_ascii=False)}

        return EventSourceResponse(events(), ping=15)

    @app.post("/reload", response_model=Health, responses={401: ERROR_RESPONSES[401]}, tags=["service"])
    async def reload() -> dict[str, Any]:
        """Load the model (and adapter) again from disk, e.g. after training a new adapter. It takes its turn
        on the question worker: questions asked before it get the old model, questions after it the new one."""
        database()
        await state.worker.run(_reload, state)
        return await health()

    @app.get("/health", response_model=Health, responses={401: ERROR_RESPONSES[401]}, tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness and what the server runs; answers at once, even while a question is being answered."""
        present = Path(state.context.db_path).is_file()
        return {"status": "ok" if present else "degraded", "engine": state.context.engine,
                "database": state.context.db_path, "database_present": present, "model": state.model_status,
                "queued": state.worker.pending, "threads": _threads_supported()}

    @app.get("/schema", response_model=SchemaBody, responses={401: ERROR_RESPONSES[401],
                                                              503: ERROR_RESPONSES[503]}, tags=["service"])
    async def schema() -> dict[str, Any]:
        """Tables, columns (type, comment, known values) and join paths of the database."""
        from tools.schema import DatabaseNotFound, load_schema

        path = database()
        try:
            db_schema = await run_in_threadpool(load_schema, path)
        except DatabaseNotFound as exc:  # removed between the check and the read
            raise DatabaseUnavailable(f"database unavailable: {exc}") from exc
        return {
            "database": path,
            "tables": [{"name": t.name, "comment": t.comment, "row_count": t.row_count,
                        "columns": [{"name": c.name, "type": c.type, "comment": c.comment,
                                     "primary_key": c.primary_key, "values": list(c.values)} for c in t.columns]}
                       for t in db_schema.tables],
            "joins": [j.sql() for j in db_schema.joins],
        }

    return app
