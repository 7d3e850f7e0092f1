"""The bounded executor: correct JSON-safe results, and no query can hang, exhaust or modify anything."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from small_db import build_stores_sales_db
from tools.executor import (QueryError, QueryResourceError, QueryResult, QueryTimeout, SafeExecutor, close_executors,
                            get_executor)
from tools.sql_guard import GuardError


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = build_stores_sales_db(tmp_path_factory.mktemp("executor") / "sales.duckdb")
    before = sha256(path)
    yield path
    assert sha256(path) == before, "the database file was modified"
    assert sorted(p.name for p in path.parent.iterdir()) == ["sales.duckdb"], "files appeared next to the database"


@pytest.fixture(scope="module")
def executor(db):
    # Small limits keep the runaway tests fast; the defaults are exercised by get_executor below.
    with SafeExecutor(db, memory_limit="500MB", timeout=2.0, address_space_gb=3.0) as ex:
        yield ex


@pytest.fixture(scope="module")
def roomy_executor(db):
    # Default memory: a runaway that DuckDB does not interrupt keeps running instead of failing on memory.
    with SafeExecutor(db, timeout=2.0) as ex:
        yield ex


def worker_pid(ex: SafeExecutor) -> int | None:
    return ex._worker.process.pid if ex._worker is not None else None


# --- results ----------------------------------------------------------------------------------

def test_rows_are_json_safe(executor):
    result = executor.run("SELECT sale_id, sale_date, amount FROM sales WHERE sale_id = 1")
    assert isinstance(result, QueryResult)
    assert result.columns == ["sale_id", "sale_date", "amount"]
    assert result.rows == [[1, "2024-01-02", 7.31]]
    assert isinstance(result.rows[0][2], float)
    assert result.truncated is False
    assert result.elapsed_s >= 0


def test_exotic_types_become_json(executor):
    result = executor.run(
        "SELECT TIMESTAMP '2024-05-06 07:08:09' AS ts, TIME '10:11:12' AS t, INTERVAL 3 DAY AS iv, "
        "'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID AS id, '\\xAA\\x01'::BLOB AS b, "
        "'nan'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, 1.5::DECIMAL(4,1) AS d, [1.25::DECIMAL(5,2), NULL] AS l, "
        "{'when': DATE '2024-01-01', 'n': 2} AS s, MAP {1: 'a'} AS m, 12345678901234567890::HUGEINT AS big"
    )
    row = dict(zip(result.columns, result.rows[0]))
    assert row == {
        "ts": "2024-05-06T07:08:09", "t": "10:11:12", "iv": "3 days, 0:00:00",
        "id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "b": "aa01", "nan": None, "inf": None, "d": 1.5,
        "l": [1.25, None], "s": {"when": "2024-01-01", "n": 2}, "m": {"1": "a"}, "big": 12345678901234567890,
    }
    json.dumps(result.rows, allow_nan=False)


def test_row_limit_truncates(executor):
    result = executor.run("SELECT * FROM sales ORDER BY sale_id", row_limit=7)
    assert result.truncated is True
    assert len(result.rows) == 7
    assert [r[0] for r in result.rows] == list(range(1, 8))

    exact = executor.run("SELECT * FROM stores", row_limit=10)
    assert exact.truncated is False and len(exact.rows) == 10


def test_row_limit_does_not_materialise_a_huge_result(executor):
    start = time.monotonic()
    result = executor.run("SELECT * FROM range(3000000000) t(x)", row_limit=5)
    assert result.truncated and len(result.rows) == 5
    assert time.monotonic() - start < 1.5


def test_duckdb_errors_come_back_as_query_errors(executor):
    with pytest.raises(QueryError) as caught:
        executor.run("SELECT amount / 'x' FROM sales")
    assert not isinstance(caught.value, (QueryTimeout, QueryResourceError))
    message = str(caught.value)
    assert message.startswith("Conversion Error") and "Traceback" not in message
    assert executor.run("SELECT count(*) FROM sales").rows == [[300]]


def test_guard_runs_before_the_worker(db):
    with SafeExecutor(db) as ex:
        with pytest.raises(GuardError) as caught:
            ex.run("DROP TABLE sales")
        assert caught.value.kind == "not_a_query"
        assert ex._worker is None


# --- time and memory ----------------------------------------------------------------------------

def test_query_duckdb_interrupts_is_a_timeout_and_keeps_the_worker(executor):
    executor.run("SELECT 1")
    pid = worker_pid(executor)
    start = time.monotonic()
    with pytest.raises(QueryTimeout) as caught:
        executor.run("SELECT count(*) FROM range(1000000000000) a(x) WHERE x % 7 = 3")
    assert time.monotonic() - start < 4
    assert str(caught.value) == "Query stopped after 2.0 s (time limit)"
    assert executor.run("SELECT count(*) FROM stores").rows == [[10]]
    assert worker_pid(executor) == pid


def test_a_shorter_limit_for_one_query_shares_the_worker(executor):
    executor.run("SELECT 1")
    pid = worker_pid(executor)
    start = time.monotonic()
    with pytest.raises(QueryTimeout) as caught:
        executor.run("SELECT count(*) FROM range(1000000000000) a(x) WHERE x % 7 = 3", timeout=0.5)
    assert time.monotonic() - start < 1.8  # the executor's own limit is 2 s
    assert str(caught.value) == "Query stopped after 0.5 s (time limit)"
    assert worker_pid(executor) == pid
    # The next query has the executor's own limit again, and a longer one is never granted.
    assert executor.run("SELECT count(*) FROM stores", timeout=0.5).rows == [[10]]
    with pytest.raises(QueryTimeout, match=r"after 2\.0 s"):
        executor.run("SELECT count(*) FROM range(1000000000000) a(x) WHERE x % 7 = 3", timeout=60)
    with pytest.raises(ValueError, match="above 0"):
        executor.run("SELECT 1", timeout=0)


def test_runaway_that_duckdb_does_not_stop_is_killed(roomy_executor):
    # unnest of one huge list never checks DuckDB's max_execution_time: only killing the worker stops it.
    roomy_executor.run("SELECT 1")
    pid = worker_pid(roomy_executor)
    start = time.monotonic()
    with pytest.raises(QueryTimeout) as caught:
        roomy_executor.run("SELECT count(*) FROM unnest(range(50000000))")
    assert time.monotonic() - start < 6
    assert str(caught.value) == "Query stopped after 2.0 s (time limit)"
    assert roomy_executor.run("SELECT count(*) FROM sales").rows == [[300]]
    assert worker_pid(roomy_executor) != pid


@pytest.mark.parametrize("bomb", [
    "SELECT list(x) FROM range(300000000) t(x)",
    "SELECT string_agg(repeat('x', 1000000), '') FROM range(100000)",
    "SELECT repeat('x', 100000000) AS s FROM range(1000)",
    "SELECT count(*) FROM unnest(generate_series(1, 3000000000))",
])
def test_memory_bombs_fail_cleanly(executor, bomb):
    with pytest.raises((QueryResourceError, QueryError)) as caught:
        executor.run(bomb)
    assert not isinstance(caught.value, QueryTimeout)
    assert executor.run("SELECT count(*) FROM sales").rows == [[300]]


def test_worker_death_mid_query_is_a_resource_error(roomy_executor):
    roomy_executor.run("SELECT 1")
    pid = worker_pid(roomy_executor)
    killer = threading.Timer(0.5, os.kill, (pid, signal.SIGKILL))
    killer.start()
    try:
        with pytest.raises(QueryResourceError) as caught:
            roomy_executor.run("SELECT count(*) FROM unnest(range(50000000))")
    finally:
        killer.cancel()
    assert "killed by SIGKILL" in str(caught.value)
    assert roomy_executor.run("SELECT count(*) FROM stores").rows == [[10]]


def test_worker_killed_between_queries_is_replaced_transparently(executor):
    executor.run("SELECT 1")
    os.kill(worker_pid(executor), signal.SIGKILL)
    time.sleep(0.1)
    assert executor.run("SELECT count(*) FROM stores").rows == [[10]]


def test_worker_starts_fast_under_an_address_space_limit(db):
    with SafeExecutor(db, address_space_gb=6.0) as ex:
        start = time.monotonic()
        ex.run("SELECT 1")
        assert time.monotonic() - start < 2.0  # typically ~0.3 s: python + duckdb import + open
        limits = Path(f"/proc/{worker_pid(ex)}/limits").read_text()
        line = next(l for l in limits.splitlines() if l.startswith("Max address space"))
        assert str(6 * 2**30) in line


def test_a_worker_that_cannot_start_is_a_resource_error(db):
    with SafeExecutor(db, address_space_gb=0.02) as ex:  # too little for Python itself
        with pytest.raises(QueryResourceError, match="could not start"):
            ex.run("SELECT 1")


# --- below the guard: the worker's own defences ------------------------------------------------------

@pytest.mark.parametrize(("sql", "expected"), [
    ("CREATE TABLE hacked (x INTEGER)", "read-only"),
    ("INSERT INTO sales (sale_id) VALUES (100000)", "read-only"),
    ("DELETE FROM sales", "read-only"),
    ("SET memory_limit = '100GB'", "configuration has been locked"),
    ("SET lock_configuration = false", "configuration has been locked"),
    ("SET enable_external_access = true", "locked"),
    ("SELECT * FROM read_csv('/etc/passwd')", "disabled by configuration"),
    ("SELECT * FROM read_text('/etc/passwd')", "disabled by configuration"),
    ("COPY sales TO '{tmp}/leak.csv'", "disabled by configuration"),
    ("ATTACH '{tmp}/other.duckdb' AS other", "disabled by configuration"),
    ("LOAD httpfs", "disabled"),
    ("INSTALL httpfs", "disabled by configuration"),
])
def test_worker_cannot_write_read_files_or_unlock(executor, tmp_path, sql, expected):
    with pytest.raises(QueryError) as caught:
        executor._run_unchecked(sql.format(tmp=tmp_path))
    assert expected in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_worker_settings_are_in_force(executor):
    settings_now = dict(executor._run_unchecked(
        "SELECT name, value FROM duckdb_settings() WHERE name IN ('access_mode', 'enable_external_access', "
        "'lock_configuration', 'max_execution_time', 'threads', 'autoload_known_extensions', 'temp_directory')"
    ).rows)
    assert settings_now == {
        "access_mode": "read_only", "enable_external_access": "false", "lock_configuration": "true",
        "max_execution_time": "2000", "threads": "2", "autoload_known_extensions": "false", "temp_directory": "",
    }


# --- sharing ----------------------------------------------------------------------------------------

def test_get_executor_is_cached_per_file_and_settings(db):
    first = get_executor(str(db))
    assert get_executor(db) is first
    assert get_executor(str(db.parent / "." / db.name)) is first
    assert get_executor(db, timeout=5.0) is not first
    assert get_executor(db, memory_limit="1GB") is not first
    assert first.run("SELECT count(*) FROM sales").rows == [[300]]
    first.close()


def test_close_executors_stops_one_files_workers(db):
    shared = get_executor(db)
    shared.run("SELECT 1")
    worker = shared._worker.process
    assert close_executors(db) >= 1
    assert worker.poll() is not None  # the process is gone, not just forgotten
    assert get_executor(db) is not shared
    assert close_executors(db) == 1 and close_executors(db) == 0


def test_concurrent_runs_are_serialised_safely(executor):
    results, errors = [], []

    def ask(i: int) -> None:
        try:
            results.append(executor.run(f"SELECT count(*) + {i} FROM sales").rows[0][0])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [300 + i for i in range(8)]


# --- property: nothing escapes, nothing hangs, nothing changes ------------------------------------

FRAGMENTS = [
    "SELECT", "FROM", "WHERE", "DROP", "DELETE", "INSERT INTO", "UPDATE", "SET", "TABLE", "CREATE", "ATTACH",
    "COPY", "PRAGMA", "INSTALL", "LOAD", "CALL", "CHECKPOINT", "WITH", "AS", "UNION", "ALL", "JOIN", "ON",
    "GROUP BY", "ORDER BY", "LIMIT", "sales", "stores", "amount", "store_id", "region", "sale_date", "*", ",",
    ";", "--", "/*", "*/", "(", ")", "'", '"', "1", "0", "1e9", "=", ">", "+", "/", "read_csv(", "'/etc/passwd'",
    "read_text(", "glob(", "range(", "unnest(", "getenv(", "count(*)", "sum(", "repeat('x', 100000000)",
    "generate_series(1, 100000000000)", "RETURNING", "VALUES", "x", "\n", "$$", "\\", "memory_limit",
]


def _assert_bounded_outcome(executor, sql: str) -> None:
    try:
        result = executor.run(sql, row_limit=50)
    except (GuardError, QueryError):
        return
    assert isinstance(result, QueryResult)
    assert len(result.rows) <= 50
    json.dumps(result.rows, allow_nan=False)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sql=st.text(max_size=300))
def test_arbitrary_text_never_escapes(executor, db, sql):
    before = sha256(db)
    _assert_bounded_outcome(executor, sql)
    assert sha256(db) == before


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sql=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=14).map(" ".join))
def test_keyword_soup_never_escapes(executor, db, sql):
    before = sha256(db)
    _assert_bounded_outcome(executor, sql)
    assert sha256(db) == before
