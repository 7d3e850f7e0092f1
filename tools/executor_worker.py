"""The child process that runs SQL for ``tools.executor``: capped, read-only, locked down.

DuckDB's own limits do not bound everything (``unnest(range(...))`` overruns ``max_execution_time``
and grows past ``memory_limit``), so queries run here, in a process the parent can kill, under an
address-space limit the kernel enforces. The database is opened read-only with external access
off and the configuration locked, so even a query that slipped past the guard can neither write,
read files, load extensions nor lift the limits.

The module imports only the standard library and duckdb: it is started as a script (fast, and
independent of how gemsql is installed).

Protocol, over stdin/stdout: frames of a 4-byte big-endian length and a UTF-8 JSON object.
The worker first sends ``{"ok": true, "ready": true}`` (or ``{"ok": false, ...}`` if it cannot open
the database); then for each request ``{"sql": str, "row_limit": int}`` it answers
``{"ok": true, "columns": [...], "rows": [[...]], "truncated": bool}`` or
``{"ok": false, "kind": "query" | "timeout" | "resource", "error": str}``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
import resource
import struct
import sys
import threading
import time
import uuid
from typing import Any, BinaryIO

import duckdb

HEADER = struct.Struct(">I")
# A reply larger than this is refused: the parent (which is not memory-capped) has to hold it.
MAX_REPLY_BYTES = 64 * 2**20
MAX_ERROR_CHARS = 20_000


def read_frame(stream: BinaryIO) -> dict | None:
    """The next message, or None at end of stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    body = stream.read(size)
    if len(body) < size:
        return None
    return json.loads(body)


def encode_frame(message: dict) -> bytes:
    body = json.dumps(message, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return HEADER.pack(len(body)) + body


def json_safe(value: Any) -> Any:
    """A DuckDB value as plain JSON: numbers, strings, lists, objects, null."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(json_safe(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return str(value)


def limit_address_space(max_bytes: int) -> None:
    """Let the kernel refuse allocations beyond ``max_bytes``: DuckDB then fails with an OOM error, Python with MemoryError."""
    if max_bytes <= 0:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        max_bytes = min(max_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, hard))


def open_database(path: str, *, memory_limit: str, threads: int, timeout_s: float) -> duckdb.DuckDBPyConnection:
    """Open ``path`` read-only and locked down, and check that every setting took effect."""
    # Order matters in duckdb 2.0.1: with enable_external_access already false, setting temp_directory
    # fails ("Modifying the temp_directory has been disabled"), so external access is switched off first
    # and the directory (empty: never spill to disk) after it, as Python dicts keep insertion order.
    config = {
        "access_mode": "READ_ONLY",
        "enable_external_access": False,
        "temp_directory": "",
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "allow_community_extensions": False,
        "python_enable_replacements": False,  # FROM <python variable> must not reach this process's objects
        "memory_limit": memory_limit,
        "threads": threads,
        "max_execution_time": max(1, int(timeout_s * 1000)),  # milliseconds in duckdb 2.0.1
    }
    con = duckdb.connect(path, read_only=True, config=config)
    con.execute("SET lock_configuration = true")
    expected = {
        "access_mode": "read_only",
        "enable_external_access": "false",
        "autoload_known_extensions": "false",
        "autoinstall_known_extensions": "false",
        "lock_configuration": "true",
        "max_execution_time": str(config["max_execution_time"]),
    }
    actual = dict(con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN ({})".format(", ".join("?" * len(expected))),
        list(expected),
    ).fetchall())
    wrong = {k: actual.get(k) for k, v in expected.items() if str(actual.get(k)).lower() != v}
    if wrong:
        con.close()
        raise RuntimeError(f"the database could not be locked down: {wrong}")
    return con


def run_query(con: duckdb.DuckDBPyConnection, sql: str, row_limit: int, timeout_s: float | None = None) -> dict:
    """Run one statement; fetch at most ``row_limit`` + 1 rows (the extra one only says 'truncated').

    ``timeout_s``: a shorter limit than the connection's for this query alone. The configuration is
    locked, so it is an interrupt from a timer rather than a setting.
    """
    cursor = con.cursor()
    timer = threading.Timer(timeout_s, cursor.interrupt) if timeout_s is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        cursor.execute(sql)
        columns = [d[0] for d in cursor.description] if cursor.description else []
        rows = cursor.fetchmany(row_limit + 1) if cursor.description else []
        truncated = len(rows) > row_limit
        return {"ok": True, "columns": columns, "rows": [[json_safe(v) for v in row] for row in rows[:row_limit]],
                "truncated": truncated}
    except duckdb.InterruptException as exc:
        return {"ok": False, "kind": "timeout", "error": str(exc)[:MAX_ERROR_CHARS]}
    except duckdb.OutOfMemoryException as exc:
        return {"ok": False, "kind": "resource", "error": str(exc)[:MAX_ERROR_CHARS]}
    except duckdb.Error as exc:
        return {"ok": False, "kind": "query", "error": str(exc)[:MAX_ERROR_CHARS]}
    except MemoryError:
        return {"ok": False, "kind": "resource", "error": "the result does not fit in the query's memory"}
    finally:
        if timer is not None:
            timer.cancel()
        try:
            cursor.close()
        except duckdb.Error:
            pass


def _exit_with_parent() -> None:
    """Exit when the parent is gone, even mid-query (a closed stdin is only noticed between queries)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    settings = json.loads(argv[1])
    limit_address_space(int(settings["address_space_bytes"]))
    # The protocol owns the real stdout; anything else printing (a library warning) goes to stderr.
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    requests = sys.stdin.buffer

    def send(message: dict) -> None:
        frame = encode_frame(message)
        if len(frame) > MAX_REPLY_BYTES:
            frame = encode_frame({"ok": False, "kind": "resource",
                                  "error": f"the result is too large ({len(frame) / 2**20:.0f} MiB, at most "
                                           f"{MAX_REPLY_BYTES / 2**20:.0f} MiB): select fewer rows or columns"})
        channel.write(frame)

    _exit_with_parent()
    try:
        con = open_database(settings["db_path"], memory_limit=settings["memory_limit"],
                            threads=int(settings["threads"]), timeout_s=float(settings["timeout"]))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        send({"ok": False, "kind": "query", "error": f"cannot open the database: {exc}"[:MAX_ERROR_CHARS]})
        return 1
    send({"ok": True, "ready": True})
    while True:
        request = read_frame(requests)
        if request is None:
            return 0
        try:
            timeout = request.get("timeout")
            reply = run_query(con, request["sql"], int(request["row_limit"]),
                              float(timeout) if timeout is not None else None)
            send(reply)
        except MemoryError:
            send({"ok": False, "kind": "resource", "error": "the result does not fit in the query's memory"})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
