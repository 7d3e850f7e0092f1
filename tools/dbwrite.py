"""Shared plumbing of the generated DuckDB databases (tools/sales_db.py, evals/clinic_db.py, training/domains.py).

- atomic_build: build into a temp file beside the target and rename it into place only on success.
- write_tables: create the declared tables, fill them from pandas frames, comment everything, checkpoint.
- progress_steps: a Rich step bar on stderr announcing each named build step.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import duckdb
import pandas as pd

__all__ = ["Table", "atomic_build", "bare_type", "progress_steps", "write_tables"]

# (table name, table comment, [(column, declared type, column comment)]); the declared type may carry
# a constraint: 'INTEGER PRIMARY KEY', 'INTEGER REFERENCES t(c)'
Table = tuple[str, str, Sequence[tuple[str, str, str]]]


def _sql_text(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def bare_type(declared: str) -> str:
    """The bare type of a column declaration: 'INTEGER REFERENCES t(c)' -> 'INTEGER'."""
    return declared.split(" PRIMARY KEY")[0].split(" REFERENCES")[0]


@contextlib.contextmanager
def atomic_build(out: str | os.PathLike, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temp path to write the database to; on success it replaces ``out`` (resolved) atomically.

    Refuses an existing target unless ``overwrite``, both before and after the build (a concurrent
    builder that finished first keeps its file). The temp file and its .wal are always removed.
    """
    target = Path(out).expanduser().resolve()
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as the target so os.replace is an atomic rename, never a cross-device copy
    temp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temp
        if target.exists() and not overwrite:  # someone else built it meanwhile: keep theirs
            raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it")
        os.replace(temp, target)
    finally:
        for leftover in (temp, temp.with_name(temp.name + ".wal")):
            leftover.unlink(missing_ok=True)


def write_tables(path: Path, tables: Sequence[Table], frames: Mapping[str, pd.DataFrame], *,
                 create_all_first: bool = False) -> None:
    """Create the declared tables at ``path``, fill each from ``frames[name]``, comment everything, checkpoint.

    Tables go in the given order, so list referenced tables first. By default each table is created,
    filled and commented in turn; ``create_all_first`` creates and comments every table before any insert.
    """
    con = duckdb.connect(str(path))
    try:
        def create(table: str, table_comment: str, columns: Sequence[tuple[str, str, str]]) -> None:
            con.execute(f"CREATE TABLE {table}({', '.join(f'{c} {t}' for c, t, _ in columns)})")
            if create_all_first:
                comment(table, table_comment, columns)

        def insert(table: str, columns: Sequence[tuple[str, str, str]]) -> None:
            con.register("frame", frames[table])
            casts = ", ".join(f"CAST({c} AS {bare_type(t)})" for c, t, _ in columns)
            con.execute(f"INSERT INTO {table} SELECT {casts} FROM frame")
            con.unregister("frame")

        def comment(table: str, table_comment: str, columns: Sequence[tuple[str, str, str]]) -> None:
            con.execute(f"COMMENT ON TABLE {table} IS {_sql_text(table_comment)}")
            for column, _, column_comment in columns:
                con.execute(f"COMMENT ON COLUMN {table}.{column} IS {_sql_text(column_comment)}")

        if create_all_first:
            for table, table_comment, columns in tables:
                create(table, table_comment, columns)
            for table, _, columns in tables:  # parents first, so the foreign keys check out on insert
                insert(table, columns)
        else:
            for table, table_comment, columns in tables:
                create(table, table_comment, columns)
                insert(table, columns)
                comment(table, table_comment, columns)
        con.execute("CHECKPOINT")
    finally:
        con.close()


@contextlib.contextmanager
def progress_steps(label: str, steps: Sequence[str], show: bool) -> Iterator[Callable[[str], None]]:
    """Yield ``step(name)``, which announces the next build step on a Rich progress bar on stderr (or nothing).

    ``name`` must be one of ``steps``; the bar reads '<label>: <name>' and ends at '<label>: done'.
    """
    if not show:
        yield lambda name: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=len(steps))
        yield lambda name: bar.update(task, description=f"{label}: {name}", completed=steps.index(name))
        bar.update(task, description=f"{label}: done", completed=len(steps))
