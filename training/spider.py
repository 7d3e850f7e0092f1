"""Reading the Spider 1.0 training split: the prepared DuckDB folder, or the standard Spider release.

The prepared folder (``../shared/train/spider_train``: cases.jsonl + databases/<db>.duckdb) carries
per-case flags: ``executed`` (the SQL ran on DuckDB and matched SQLite) and ``unstable`` (the answer
depends on tie-breaking or row order). By default only executed, stable cases are kept, and cases on
the databases Spider ships without rows are left out as well, because their answers were never
checked against data. The standard release (train_spider.json + database/<db>/<db>.sqlite) is
converted on the fly: SQLite files to DuckDB files in a cache folder, SQL transpiled with sqlglot;
those cases carry no flags, so the caller's execution check is all that vets them.

Spider is CC BY-SA 4.0; keep its notice with anything trained on it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

__all__ = ["SpiderCase", "SpiderNotFound", "default_spider_root", "read_spider"]

ENV = "GEMSQL_SPIDER_TRAIN"


class SpiderNotFound(FileNotFoundError):
    """The Spider training folder is missing or has neither supported layout."""


@dataclass(frozen=True)
class SpiderCase:
    db: str
    question: str
    sql: str
    hardness: str


def default_spider_root() -> Path:
    """$GEMSQL_SPIDER_TRAIN, else ../shared/train/spider_train next to the repository."""
    explicit = os.environ.get(ENV)
    if explicit:
        return Path(explicit).expanduser()
    return Path(__file__).resolve().parents[2] / "shared" / "train" / "spider_train"


def read_spider(root: Path | None = None, *, include_unstable: bool = False, include_empty_dbs: bool = False,
                cache_dir: Path | None = None) -> tuple[list[SpiderCase], dict[str, Path]]:
    """The kept cases and the DuckDB file of every database they use."""
    root = Path(root).expanduser() if root is not None else default_spider_root()
    if not root.is_dir():
        raise SpiderNotFound(f"no Spider training folder at {root}; set {ENV} or pass root= "
                             "(the prepared cases.jsonl + databases/ folder, or the Spider release with "
                             "train_spider.json and database/<db>/<db>.sqlite)")
    if (root / "cases.jsonl").is_file() and (root / "databases").is_dir():
        return _read_prepared(root, include_unstable=include_unstable, include_empty_dbs=include_empty_dbs)
    if (root / "train_spider.json").is_file() and (root / "database").is_dir():
        return _read_release(root, cache_dir or root / ".duckdb_cache")
    raise SpiderNotFound(f"{root} has neither cases.jsonl + databases/ (the prepared layout) nor train_spider.json + "
                         "database/ (the Spider release layout)")


def _read_prepared(root: Path, *, include_unstable: bool, include_empty_dbs: bool
                   ) -> tuple[list[SpiderCase], dict[str, Path]]:
    empty: set[str] = set()
    schemas = root / "schemas.json"
    if schemas.is_file():
        empty = {db for db, info in json.loads(schemas.read_text()).items() if info.get("rows_total") == 0}
    cases, paths = [], {}
    with open(root / "cases.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            case = json.loads(line)
            if not case.get("executed") or (case.get("unstable") and not include_unstable):
                continue
            db = case["db"]
            if db in empty and not include_empty_dbs:
                continue
            path = root / "databases" / f"{db}.duckdb"
            if not path.is_file():
                continue
            paths[db] = path.resolve()
            cases.append(SpiderCase(db, case["question"].strip(), case["sql"].strip(), case.get("hardness") or "unknown"))
    return cases, paths


def _read_release(root: Path, cache: Path) -> tuple[list[SpiderCase], dict[str, Path]]:
    import sqlglot

    raw = json.loads((root / "train_spider.json").read_text(encoding="utf-8"))
    if (root / "train_others.json").is_file():
        raw += json.loads((root / "train_others.json").read_text(encoding="utf-8"))
    cases, paths = [], {}
    for item in raw:
        db = item["db_id"]
        if db not in paths:
            sqlite_file = root / "database" / db / f"{db}.sqlite"
            if not sqlite_file.is_file():
                paths[db] = None
                continue
            paths[db] = _convert_sqlite(sqlite_file, cache / f"{db}.duckdb")
        if paths[db] is None:
            continue
        try:
            sql = sqlglot.transpile(item["query"], read="sqlite", write="duckdb")[0]
        except Exception:  # noqa: BLE001 -- an untranspilable gold query is just skipped
            continue
        cases.append(SpiderCase(db, item["question"].strip(), sql, item.get("hardness") or "unknown"))
    return cases, {db: p for db, p in paths.items() if p is not None}


def _convert_sqlite(source: Path, target: Path) -> Path:
    """Copy every table of a SQLite file into a DuckDB file (built once, then reused)."""
    if target.is_file():
        return target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    src = sqlite3.connect(str(source))
    src.text_factory = lambda b: b.decode("utf-8", errors="replace")
    con = duckdb.connect(str(temp))
    try:
        tables = [r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                            "AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            frame = pd.read_sql_query(f'SELECT * FROM "{table}"', src)
            for column in frame.columns:  # SQLite lets one column mix numbers and text; DuckDB does not
                if frame[column].dtype == object and frame[column].map(type).nunique() > 1:
                    frame[column] = frame[column].map(lambda v: None if v is None else str(v))
            con.register("frame", frame)
            con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM frame')
            con.unregister("frame")
        con.execute("CHECKPOINT")
    finally:
        con.close()
        src.close()
    os.replace(temp, target)
    return target.resolve()
