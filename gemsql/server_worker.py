"""The HTTP server's question worker: one thread answers questions one after another.

The model is a single set of weights on a 2-core CPU: two questions generating at once would only slow
each other down and double the memory of the activations, so every question (whatever its engine) waits
its turn on one worker thread. Requests that do not need the model (/health, /schema) never touch it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from typing import Any, AsyncIterator, Callable, Iterator

from graph.context import Context
from graph.orchestrator import ANSWER_KEYS

log = logging.getLogger("gemsql.server")

# Chunks of a node's update that are too bulky for a progress event (they come in the final answer).
_BULKY = ("schema_context",)
_EVENT_ROWS = 20


class Busy(RuntimeError):
    """Too many questions are already waiting."""


class QuestionWorker:
    """A single worker thread with a bounded waiting line."""

    def __init__(self, max_waiting: int = 64) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="gemsql-worker")
        self._max_waiting = max_waiting
        self._pending = 0
        self._count_lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Questions waiting or being answered."""
        return self._pending

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        with self._count_lock:
            if self._pending >= self._max_waiting:
                raise Busy(f"{self._pending} questions are already waiting; retry in a few seconds")
            self._pending += 1
        future = self._pool.submit(fn, *args, **kwargs)
        # Counted down when the work ends, not when the caller stops waiting: a client that hung up
        # still leaves its question running on the worker.
        future.add_done_callback(lambda _: self._done())
        return future

    def _done(self) -> None:
        with self._count_lock:
            self._pending -= 1

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    async def stream(self, produce: Callable[[threading.Event], Iterator[Any]]) -> AsyncIterator[Any]:
        """Items of ``produce(cancelled)`` (run on the worker) as they come; stops it when the consumer goes."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        end = object()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is closed: the server is shutting down
                cancelled.set()

        def work() -> None:
            try:
                for item in produce(cancelled):
                    put(item)
                    if cancelled.is_set():
                        break
            finally:
                put(end)

        self.submit(work)
        try:
            while (item := await queue.get()) is not end:
                yield item
        finally:
            # The client disconnected (or the stream ended): the graph stops at its next node boundary.
            cancelled.set()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _plain(value: Any) -> Any:
    # A node that starts a question afresh overwrites reduced fields (timings, history) with an Overwrite.
    return getattr(value, "value", value) if type(value).__name__ == "Overwrite" else value


def _compact(update: Any) -> Any:
    """A node's update, small enough for a progress event."""
    if not isinstance(update, dict):
        return update
    out = {k: _plain(v) for k, v in update.items() if k not in _BULKY}
    if isinstance(out.get("rows"), list) and len(out["rows"]) > _EVENT_ROWS:
        out["rows"] = out["rows"][:_EVENT_ROWS]
        out["rows_shown"] = _EVENT_ROWS
    if isinstance(out.get("chart"), dict):
        out["chart"] = {k: v for k, v in out["chart"].items() if k != "figure"}
    return out


def stream_answer(question: str, context: Context, cancelled: threading.Event, *, thread_id: str | None = None,
                  **overrides: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("node", {...})`` as each graph node finishes, then ``("answer", answer)``; never raises.

    The same answer object as ``graph.orchestrator.ask`` (a turn of conversation ``thread_id`` when given,
    on the checkpointed graph as ``ask`` does it). A cancelled stream stops between two nodes and yields
    nothing more.
    """
    started = time.perf_counter()
    answer: dict[str, Any] = {key: None for key in ANSWER_KEYS}
    answer.update(question=question, columns=[], rows=[], entities={}, attempts=0, truncated=False,
                  thread_id=thread_id)
    try:
        context = context.with_overrides(overrides)
        context.check()
        with _graph_for(thread_id) as (compiled, inputs, config):
            runs = compiled.stream({"question": question, **inputs}, config=config, context=context,
                                   stream_mode=["updates", "values"])
            try:
                for mode, chunk in runs:
                    if cancelled.is_set():
                        return
                    if mode == "values":
                        answer.update({k: v for k, v in dict(chunk).items() if k in ANSWER_KEYS})
                        continue
                    for node, update in chunk.items():
                        spent = _plain(update.get("timings")) if isinstance(update, dict) else None
                        yield "node", {"node": node, "seconds": round(sum(spent.values()), 4) if spent else None,
                                       "update": _compact(update)}
            finally:
                runs.close()  # a cancelled run releases the graph's resources now, not at garbage collection
    except (ValueError, OSError) as exc:
        answer["error"] = str(exc)
    except Exception as exc:  # a bug of ours must not reach the client as a traceback
        log.exception("internal error while streaming %r", question)
        answer["error"] = f"internal error ({type(exc).__name__}): {exc}"
    answer["latency_s"] = round(time.perf_counter() - started, 4)
    yield "answer", answer


@contextlib.contextmanager
def _graph_for(thread_id: str | None) -> Iterator[tuple[Any, dict[str, Any], dict[str, Any] | None]]:
    """The graph, extra input and config of a standalone question, or of a turn of a conversation."""
    if thread_id is None:
        from graph.pipeline import graph

        yield graph, {}, None
        return
    from graph.threads import check_thread_id, conversation_graph, one_question_at_a_time

    thread_id = check_thread_id(thread_id)
    # As graph.orchestrator does it: overrides are per question, so each turn's input resets them.
    with one_question_at_a_time(thread_id):
        yield conversation_graph(), {"overrides": {}}, {"configurable": {"thread_id": thread_id}}
