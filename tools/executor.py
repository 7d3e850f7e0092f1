"""Run a checked query against a DuckDB file, bounded in time, memory and result size.

Every query first passes ``tools.sql_guard.check_sql``. It then runs in a long-lived child process
(``tools.executor_worker``) that holds a read-only, locked-down connection under an address-space
limit. The parent waits at most ``timeout`` plus a short grace: a query DuckDB does not stop itself
gets its worker killed, and the next query starts a fresh one. A worker that dies (out of memory,
crash) costs that one query, never the calling process.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from tools import executor_worker
from tools.schema import load_schema
from tools.sql_guard import check_sql, duckdb_error_message

# Time beyond the query timeout before the worker is killed: DuckDB's own max_execution_time usually
# stops the query first, with a cleaner state to keep the worker.
KILL_GRACE_S = 2.0
STARTUP_TIMEOUT_S = 30.0
DEFAULT_THREADS = 2


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list]
    """JSON-safe values: DECIMAL -> float, dates and times -> ISO strings, BLOB -> hex, NaN/inf -> None."""
    truncated: bool
    """More rows existed than the row limit."""
    elapsed_s: float


class QueryError(RuntimeError):
    """The database refused or failed the query; the message is DuckDB's, for the person or the retrying model."""


class QueryTimeout(QueryError):
    """The query ran past the time limit and was stopped."""


class QueryResourceError(QueryError):
    """The query ran out of memory, produced too large a result, or the worker died."""


class _WorkerGone(Exception):
    """The worker closed its end of the pipe (it exited or was killed)."""


class _Deadline(Exception):
    """The worker did not answer in time."""


def _stop_process(process: subprocess.Popen) -> None:
    """Kill and reap ``process``; safe to call twice."""
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for stream in (process.stdin, process.stdout):
        try:
            if stream:
                stream.close()
        except OSError:
            pass


def _exit_cause(process: subprocess.Popen) -> str:
    """'killed by SIGKILL' or 'exit status 1' once the process is reaped (its pipe closes first)."""
    try:
        code = process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class _Worker:
    """One child process and its pipes."""

    def __init__(self, settings: dict) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-P", executor_worker.__file__, json.dumps(settings)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            bufsize=0, close_fds=True, start_new_session=True,  # a Ctrl-C meant for the app does not hit it
        )
        self._finalizer = weakref.finalize(self, _stop_process, self.process)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message: dict) -> None:
        try:
            self.process.stdin.write(executor_worker.encode_frame(message))
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise _WorkerGone() from exc

    def receive(self, deadline: float) -> dict:
        (size,) = executor_worker.HEADER.unpack(self._read_exact(executor_worker.HEADER.size, deadline))
        if size > executor_worker.MAX_REPLY_BYTES + 1024:
            self.stop()  # a worker that breaks the protocol is not to be trusted further
            raise _WorkerGone()
        body = self._read_exact(size, deadline)
        try:
            return json.loads(body)
        except ValueError:
            self.stop()
            raise _WorkerGone() from None

    def _read_exact(self, size: int, deadline: float) -> bytes:
        fd = self.process.stdout.fileno()
        # poll, not select: select() fails on descriptors above 1024, common in a long-running server.
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        buffer = bytearray()
        while len(buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Deadline()
            if not poller.poll(max(1, int(remaining * 1000))):
                continue  # the loop re-checks the deadline
            chunk = os.read(fd, min(size - len(buffer), 1 << 20))
            if not chunk:
                raise _WorkerGone()
            buffer += chunk
        return bytes(buffer)

    def stop(self) -> None:
        self._finalizer()


class SafeExecutor:
    """Runs guarded queries on one DuckDB file through a bounded worker process. Thread-safe."""

    def __init__(self, db_path: str | os.PathLike, *, memory_limit: str = "2GB", threads: int = DEFAULT_THREADS,
                 timeout: float = 10.0, address_space_gb: float = 6.0) -> None:
        self.db_path = _file_key(db_path)
        self.memory_limit = memory_limit
        self.threads = int(threads)
        self.timeout = float(timeout)
        self.address_space_gb = float(address_space_gb)
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self._file_state: tuple | None = None

    # -- public API ---------------------------------------------------------------------------

    def run(self, sql: str, *, row_limit: int = 1000, timeout: float | None = None) -> QueryResult:
        """Check ``sql`` (GuardError propagates) and run it; at most ``row_limit`` rows come back.

        ``timeout``: a shorter time limit for this query alone (never a longer one), so that a quick
        look, such as a candidate answer's vote, shares the worker of the answers that get the full limit.
        """
        safe_sql = check_sql(sql, load_schema(self.db_path))
        return self._run_unchecked(safe_sql, row_limit=row_limit, timeout=timeout)

    def close(self) -> None:
        """Stop the worker. A later ``run`` starts a new one."""
        with self._lock:
            self._discard_worker()

    def __enter__(self) -> "SafeExecutor":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- below the guard ----------------------------------------------------------------------

    def _run_unchecked(self, sql: str, *, row_limit: int = 1000, timeout: float | None = None) -> QueryResult:
        """Run ``sql`` in the worker without the guard. Only for ``run`` and for tests of the worker's own limits."""
        if int(row_limit) < 1:
            raise ValueError("row_limit must be at least 1")
        if timeout is not None and not timeout > 0:
            raise ValueError("timeout must be above 0 seconds")
        limit = self.timeout if timeout is None else min(float(timeout), self.timeout)
        with self._lock:
            request = {"sql": sql, "row_limit": int(row_limit)}
            if limit < self.timeout:
                request["timeout"] = limit
            worker = self._ready_worker()
            started = time.monotonic()
            try:
                worker.send(request)
            except _WorkerGone:
                # It died between queries (killed from outside, say): the query never ran, so retry once.
                self._discard_worker()
                worker = self._ready_worker()
                started = time.monotonic()
                try:
                    worker.send(request)
                except _WorkerGone:
                    self._discard_worker()
                    raise QueryResourceError("The database worker stopped before the query could start.") from None
            try:
                reply = worker.receive(time.monotonic() + limit + KILL_GRACE_S)
            except _Deadline:
                self._discard_worker()
                raise QueryTimeout(self._timeout_message(limit)) from None
            except _WorkerGone:
                cause = _exit_cause(worker.process)
                self._discard_worker()
                raise QueryResourceError(
                    f"The database worker died while running the query ({cause}: out of memory or a crash); "
                    "simplify the query."
                ) from None
            elapsed = time.monotonic() - started
            if reply.get("ok"):
                return QueryResult(columns=list(reply["columns"]), rows=reply["rows"],
                                   truncated=bool(reply["truncated"]), elapsed_s=elapsed)
            if reply.get("kind") == "resource":
                self._discard_worker()  # after a memory failure, a fresh process is the safe state
            raise self._error_from(reply, limit)

    @staticmethod
    def _timeout_message(limit: float) -> str:
        return f"Query stopped after {limit:.1f} s (time limit)"

    def _error_from(self, reply: dict, limit: float) -> QueryError:
        kind, text = reply.get("kind"), str(reply.get("error", "unknown error"))
        if kind == "timeout":
            return QueryTimeout(self._timeout_message(limit))
        if kind == "resource":
            return QueryResourceError(duckdb_error_message(text))
        return QueryError(duckdb_error_message(text))

    # -- worker lifecycle ---------------------------------------------------------------------

    def _settings(self) -> dict:
        return {"db_path": self.db_path, "memory_limit": self.memory_limit, "threads": self.threads,
                "timeout": self.timeout, "address_space_bytes": int(self.address_space_gb * 2**30)}

    def _current_file_state(self) -> tuple | None:
        try:
            stat = os.stat(self.db_path)
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    def _ready_worker(self) -> _Worker:
        """The running worker, or a new one if there is none, it died, or the file was replaced since."""
        state = self._current_file_state()
        if self._worker is not None and (not self._worker.alive or state != self._file_state):
            self._discard_worker()
        if self._worker is None:
            worker = _Worker(self._settings())
            try:
                hello = worker.receive(time.monotonic() + STARTUP_TIMEOUT_S)
            except (_Deadline, _WorkerGone):
                worker.stop()
                raise QueryResourceError("The database worker could not start.") from None
            if not hello.get("ok"):
                worker.stop()
                raise QueryError(str(hello.get("error", "the database worker could not start")))
            self._worker, self._file_state = worker, state
        return self._worker

    def _discard_worker(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None


def _file_key(db_path: str | os.PathLike) -> str:
    """One name per file however it is written (relative, with ~ or ..), for executors and their cache."""
    return str(Path(db_path).expanduser().resolve())


_executors: dict[tuple, SafeExecutor] = {}
_executors_lock = threading.Lock()


def get_executor(db_path: str | os.PathLike, *, memory_limit: str = "2GB", timeout: float = 10.0) -> SafeExecutor:
    """The shared executor for this file and these settings, so its worker is reused across questions."""
    key = (_file_key(db_path), memory_limit, float(timeout))
    with _executors_lock:
        executor = _executors.get(key)
        if executor is None:
            executor = SafeExecutor(key[0], memory_limit=memory_limit, timeout=timeout)
            _executors[key] = executor
        return executor


def close_executors(db_path: str | os.PathLike) -> int:
    """Stop and forget the shared executors of one file (all settings); returns how many there were.

    For callers that are done with a database while the process goes on, as an evaluation moving through
    Spider's databases: otherwise each keeps a worker process to the end."""
    path = _file_key(db_path)
    with _executors_lock:
        done = [key for key in _executors if key[0] == path]
        executors = [_executors.pop(key) for key in done]
    for executor in executors:
        executor.close()
    return len(executors)
