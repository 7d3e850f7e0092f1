"""`gemsql kb`: build, extend and search the knowledge base that grounds the model's prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

out = Console()
err = Console(stderr=True)

kb_app = typer.Typer(help="The knowledge base (Chroma) that grounds the model: tables, values, glossary, examples.",
                     no_args_is_help=True)

DbOption = typer.Option(None, "--db", help="DuckDB file (default: the bundled sales database).")


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _db_path(db: Optional[Path]) -> Path:
    if db is None:
        from tools.sales_db import ensure_default_db

        return ensure_default_db(progress=True)
    path = db.expanduser().resolve()
    if not path.is_file():
        _fail(f"no DuckDB database at {path}")
    return path


def _open(db: Optional[Path], *, build: bool = True):
    from kb.store import KnowledgeBase
    from tools.schema import DatabaseNotFound

    path = _db_path(db)
    try:
        return KnowledgeBase.open(path, progress=True, build=build)
    except DatabaseNotFound as exc:
        _fail(str(exc))


@kb_app.command("build")
def build(
    db: Optional[Path] = DbOption,
    rebuild: bool = typer.Option(False, "--rebuild", help="Embed everything again, even if it is up to date."),
) -> None:
    """Build the knowledge base of a database (done automatically on first use)."""
    kb = _open(db, build=False)
    count = kb.build(progress=True, rebuild=rebuild)
    manifest = kb.manifest()
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(manifest.get("kinds", {}).items()))
    out.print(f"Knowledge base of {kb.db_path}: {count} documents ({kinds})")
    if manifest.get("examples"):
        out.print(f"Examples: {manifest['examples']}")
    out.print(f"Stored in {kb.directory}")


@kb_app.command("add")
def add(
    question: str = typer.Option(..., "--question", "-q", help="The question, in plain English."),
    sql: str = typer.Option(..., "--sql", "-s", help="The SQL that answers it (checked and run first)."),
    db: Optional[Path] = DbOption,
) -> None:
    """Add a confirmed question/SQL pair: the model sees it as an example for similar questions."""
    from tools.executor import QueryError, get_executor
    from tools.schema import load_schema
    from tools.sql_guard import GuardError, check_sql

    if not question.strip():
        _fail("the question is empty")
    path = _db_path(db)
    try:
        checked = check_sql(sql, load_schema(path))
    except GuardError as exc:
        _fail(f"the SQL was not added: {exc}")
    try:
        result = get_executor(path).run(checked, row_limit=5)
    except (QueryError, GuardError) as exc:
        _fail(f"the SQL was not added, it does not run: {exc}")
    kb = _open(path)
    kb.add_example(question, checked)
    rows = f"{len(result.rows)}{'+' if result.truncated else ''} row(s)"
    out.print(f"Added the example ({rows}, columns: {', '.join(result.columns)}) to {kb.db_path.name}'s knowledge base.")


@kb_app.command("search")
def search(
    text: str = typer.Argument(..., help="What to look for, e.g. 'active stores'."),
    db: Optional[Path] = DbOption,
    k: int = typer.Option(8, "-k", "--k", min=1, max=100, help="How many hits."),
) -> None:
    """Show what the knowledge base finds for a text (kind, score, document)."""
    kb = _open(db)
    hits = kb.search(text, k=k)
    values = kb.lookup_values(text)
    table = Table(title=f"Knowledge base: {text}", show_lines=False)
    table.add_column("kind", style="cyan", no_wrap=True)
    table.add_column("score", justify="right")
    table.add_column("document", overflow="fold")
    for line in values:
        table.add_row("value index", "-", line)
    for hit in hits:
        table.add_row(hit["kind"], f"{hit['score']:.3f}", hit["text"])
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the `kb` command group to the gemsql app."""
    app.add_typer(kb_app, name="kb")
