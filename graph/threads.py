"""Conversations: LangGraph threads checkpointed in one SQLite file under the per-user folder.

A thread is a conversation; its checkpoints hold the graph's state after every step, so a chat resumes
where it stopped, after a restart too. The exported ``graph.pipeline.graph`` has no checkpointer (the
LangGraph server brings its own); ``conversation_graph()`` is the same graph compiled with this one.

One connection per process and file, shared by every thread of the process: SqliteSaver serialises its
own use of the connection with a lock, which is why ``check_same_thread=False`` is safe here.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from langgraph.checkpoint.sqlite import SqliteSaver

from tools.paths import home

TURN_KEYS = ("question", "sql", "answer", "error", "intent", "engine", "columns", "rows")
"""What ``thread_history`` gives for each turn."""

_lock = threading.Lock()
_savers: dict[str, SqliteSaver] = {}
_graphs: dict[str, Any] = {}
_thread_locks: dict[tuple[str, str], threading.Lock] = {}


def threads_path() -> Path:
    """The SQLite file of all conversations: ``threads.sqlite`` in the per-user folder."""
    return home() / "threads.sqlite"


def open_checkpointer(path: str | Path | None = None) -> SqliteSaver:
    """A new saver on its own connection (callers that want a private one, e.g. to test a reopen)."""
    target = Path(path) if path else threads_path()
    try:
        conn = sqlite3.connect(str(target), check_same_thread=False, timeout=30)
        saver = SqliteSaver(conn)
        saver.setup()
    except sqlite3.Error as exc:
        raise OSError(f"cannot open the conversations file {target}: {exc}") from exc
    return saver


def checkpointer(path: str | Path | None = None) -> SqliteSaver:
    """The process's saver for ``path`` (default: the per-user file), opened on first use."""
    key = str(Path(path) if path else threads_path())
    with _lock:
        if key not in _savers:
            _savers[key] = open_checkpointer(key)
        return _savers[key]


def conversation_graph(path: str | Path | None = None):
    """The text-to-SQL graph compiled with the process's checkpointer: questions in a thread see its turns."""
    from graph.pipeline import build_graph

    saver = checkpointer(path)
    key = str(Path(path) if path else threads_path())
    with _lock:
        if key not in _graphs:
            _graphs[key] = build_graph(checkpointer=saver)
        return _graphs[key]


@contextmanager
def one_question_at_a_time(thread_id: str, path: str | Path | None = None) -> Iterator[None]:
    """Two questions in the same conversation run one after the other; the second reads the first's turn."""
    key = (str(Path(path) if path else threads_path()), thread_id)
    with _lock:
        lock = _thread_locks.setdefault(key, threading.Lock())
    with lock:
        yield


def check_thread_id(thread_id: str) -> str:
    """The thread id, stripped; ValueError for one that cannot name a conversation."""
    if not isinstance(thread_id, str) or not thread_id.strip():
        raise ValueError("a conversation's thread id must be a non-empty string")
    if len(thread_id) > 200:
        raise ValueError("a conversation's thread id must be at most 200 characters")
    return thread_id.strip()


def new_thread_id(prefix: str = "chat") -> str:
    """A fresh, readable thread id named by the time, e.g. 'chat-20250314-091502-123'."""
    now = datetime.now()
    candidate = f"{prefix}-{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}"
    saver = checkpointer()
    name, suffix = candidate, 2
    while saver.get_tuple(_config(name)) is not None:  # two chats started in the same millisecond
        name, suffix = f"{candidate}-{suffix}", suffix + 1
    return name


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": check_thread_id(thread_id)}}


def _turns(thread_id: str, path: str | Path | None) -> list[dict[str, Any]]:
    snapshot = conversation_graph(path).get_state(_config(thread_id))
    return list((snapshot.values or {}).get("turns") or [])


def thread_history(thread_id: str, path: str | Path | None = None) -> list[dict[str, Any]]:
    """The turns of a conversation, oldest first, each with TURN_KEYS; [] for an unknown thread."""
    return [{k: turn.get(k) for k in TURN_KEYS} for turn in _turns(thread_id, path)]


def last_turn(thread_id: str, path: str | Path | None = None) -> dict[str, Any] | None:
    """The conversation's latest turn with every field the graph keeps, or None."""
    turns = _turns(thread_id, path)
    return turns[-1] if turns else None


def list_threads(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Every conversation, most recent first: {thread_id, updated_at, turns, last_question}."""
    saver = checkpointer(path)
    # Checkpoint ids are time-ordered (uuid6), so the largest one is the thread's latest step.
    with saver.cursor(transaction=False) as cur:
        cur.execute("SELECT thread_id, MAX(checkpoint_id) AS latest FROM checkpoints WHERE checkpoint_ns = '' "
                    "GROUP BY thread_id ORDER BY latest DESC")
        ids = [row[0] for row in cur.fetchall()]
    threads = []
    for thread_id in ids:
        found = saver.get_tuple(_config(thread_id))
        turns = _turns(thread_id, path)
        threads.append({
            "thread_id": thread_id,
            "updated_at": found.checkpoint.get("ts") if found else None,
            "turns": len(turns),
            "last_question": turns[-1]["question"] if turns else None,
        })
    return threads


def delete_thread(thread_id: str, path: str | Path | None = None) -> bool:
    """Forget a conversation; True when it existed."""
    thread_id = check_thread_id(thread_id)
    saver = checkpointer(path)
    existed = saver.get_tuple(_config(thread_id)) is not None
    saver.delete_thread(thread_id)
    return existed
