"""The `gemsql` command line: ask, chat, and build the bundled database."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from graph.context import DEFAULT_MODEL, ENGINES, Context

# Offline by design: model hubs are never contacted at run time, and Chroma sends no telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

app = typer.Typer(help="Ask a DuckDB database questions in plain English.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="The bundled sales database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console()
err = Console(stderr=True)


def _engine(value: Optional[str]) -> Optional[str]:
    if value is not None and value not in ENGINES:
        raise typer.BadParameter(f"choose one of {', '.join(ENGINES)}")
    return value


def _context(db: Optional[Path], engine: Optional[str], max_retries: Optional[int], model: Optional[str],
             adapter: Optional[Path], no_rag: bool, row_limit: Optional[int], timeout: Optional[float],
             backend: Optional[str] = None, constrain: Optional[bool] = None,
             constrain_retries: Optional[bool] = None, candidates: Optional[int] = None) -> Context:
    settings: dict[str, Any] = {
        "db_path": str(db.expanduser().resolve()) if db else None,
        "engine": engine,
        "max_retries": max_retries,
        "model": model,
        "adapter": ("none" if str(adapter).lower() == "none" else str(adapter.expanduser().resolve())) if adapter else None,
        "use_rag": False if no_rag else None,
        "row_limit": row_limit,
        "timeout": timeout,
        "backend": backend,
        "constrain_to_schema": constrain,
        "constrain_retries": constrain_retries,
        "candidates": candidates,
    }
    try:
        ctx = Context().with_overrides(settings)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if db and not Path(ctx.db_path).is_file():
        raise typer.BadParameter(f"no DuckDB database at {ctx.db_path}", param_hint="--db")
    return ctx


def _questions(question: Optional[str], file: Optional[Path]) -> list[str]:
    if file is not None:
        if question:
            raise typer.BadParameter("give either a question or --file, not both")
        try:
            text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {file}: {exc.strerror}", param_hint="--file") from exc
        return [line.strip() for line in text.splitlines() if line.strip()]
    if not question or not question.strip():
        raise typer.BadParameter("ask a question, e.g. gemsql ask \"total sales in 2023\"")
    return [question.strip()]


DbOption = typer.Option(None, "--db", help="DuckDB file to query (default: the bundled sales database).")
EngineOption = typer.Option(None, "--engine", "-e", help="template, finetuned, ensemble or hybrid (default).",
                            callback=_engine)
RetriesOption = typer.Option(None, "--max-retries", min=0, max=10, help="Model retries after an error (default 2).")
ModelOption = typer.Option(None, "--model", help=f"Base model: {DEFAULT_MODEL}, an HF id or a local path.")
AdapterOption = typer.Option(None, "--adapter", help="LoRA adapter directory (unset: the shipped adapter for the "
                                                     "default model; 'none': the base model alone).")
NoRagOption = typer.Option(False, "--no-rag", help="Plain schema prompt, without retrieved context.")
RowLimitOption = typer.Option(None, "--row-limit", min=1, help="Most rows returned (default 1000).")
TimeoutOption = typer.Option(None, "--timeout", min=0.1, help="Seconds a query may run (default 10).")
BackendOption = typer.Option(None, "--backend", help="What runs the model: auto (default: llama.cpp where installed), "
                                                     "llamacpp or transformers.")
ConstrainOption = typer.Option(None, "--constrain/--no-constrain",
                               help="Schema-constrained decoding: the model can only name tables and columns that exist.")
ConstrainRetriesOption = typer.Option(None, "--constrain-retries/--no-constrain-retries",
                                      help="Schema-constrained decoding of the model's corrections after an error only.")
CandidatesOption = typer.Option(None, "--candidates", min=1, max=16,
                                help="Self-consistency: the model writes N answers (greedy + sampled), each runs "
                                     "read-only and the result most return wins (default 5; 1: the greedy answer "
                                     "alone, fastest).")


@app.command()
def ask(
    question: Optional[str] = typer.Argument(None, help="The question, in plain English."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="One question per line ('-' for stdin)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per question (JSON Lines)."),
    db: Optional[Path] = DbOption,
    engine: Optional[str] = EngineOption,
    max_retries: Optional[int] = RetriesOption,
    model: Optional[str] = ModelOption,
    adapter: Optional[Path] = AdapterOption,
    no_rag: bool = NoRagOption,
    row_limit: Optional[int] = RowLimitOption,
    timeout: Optional[float] = TimeoutOption,
    backend: Optional[str] = BackendOption,
    constrain: Optional[bool] = ConstrainOption,
    constrain_retries: Optional[bool] = ConstrainRetriesOption,
    candidates: Optional[int] = CandidatesOption,
) -> None:
    """Answer questions: SQL, rows, a chart and a one-line answer."""
    from graph.orchestrator import ask as answer_question
    from gemsql.render import render_answer, save_chart

    questions = _questions(question, file)
    ctx = _context(db, engine, max_retries, model, adapter, no_rag, row_limit, timeout, backend, constrain,
                   constrain_retries, candidates)
    failures = 0
    for q in questions:
        if as_json:
            answer = answer_question(q, ctx)
            chart = save_chart(answer) if answer.get("chart") and not answer.get("error") else None
            answer["chart_html"] = str(chart) if chart else None
            out.file.write(json.dumps(answer, default=str, ensure_ascii=False) + "\n")
            out.file.flush()
        else:
            with err.status(f"[bold]Thinking about[/] {q}", spinner="dots"):
                answer = answer_question(q, ctx)
            render_answer(out, answer)
        failures += bool(answer.get("error"))
    raise typer.Exit(1 if failures else 0)


@app.command()
def chat(
    db: Optional[Path] = DbOption,
    engine: Optional[str] = EngineOption,
    max_retries: Optional[int] = RetriesOption,
    model: Optional[str] = ModelOption,
    adapter: Optional[Path] = AdapterOption,
    no_rag: bool = NoRagOption,
    backend: Optional[str] = BackendOption,
    constrain: Optional[bool] = ConstrainOption,
    constrain_retries: Optional[bool] = ConstrainRetriesOption,
    candidates: Optional[int] = CandidatesOption,
    thread: Optional[str] = typer.Option(None, "--thread", "-t",
                                         help="Conversation to resume or start (default: a new one named by the time)."),
) -> None:
    """Open the interactive chat (a Rich REPL over the same graph); follow-ups build on earlier questions."""
    from gemsql.repl import run_chat

    run_chat(_context(db, engine, max_retries, model, adapter, no_rag, None, None, backend, constrain,
                      constrain_retries, candidates), out, thread_id=thread)


@db_app.command("build")
def db_build(
    out_path: Optional[Path] = typer.Option(None, "--out", help="Where to write it (default: the per-user location)."),
    scale: float = typer.Option(1.0, "--scale", min=0.001, max=50, help="Multiplies the number of sales rows."),
    seed: int = typer.Option(20240101, "--seed", help="Random seed (same seed, same data)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Generate the bundled sales database (deterministic)."""
    from tools.paths import default_db_path
    from tools.sales_db import build_sales_db

    target = (out_path or default_db_path()).expanduser().resolve()
    try:
        path = build_sales_db(target, scale=scale, seed=seed, overwrite=force, progress=True)
    except (FileExistsError, ValueError, OSError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    out.print(f"Built {path}")


def _register_subcommands() -> None:
    """Commands that live beside their subsystem (evaluation, knowledge base, training) register here."""
    from gemsql import eval_cmd, export_cmd, kb_cmd, serve_cmd, train_cmd, ui_cmd

    for module in (eval_cmd, kb_cmd, train_cmd, export_cmd, ui_cmd, serve_cmd):
        module.register(app)


def main() -> None:
    from tools.paths import home

    # Internal errors are logged with their traceback to a file; the analyst sees one clear line.
    logging.basicConfig(filename=home() / "gemsql.log", level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _register_subcommands()
    try:
        app()
    except KeyboardInterrupt:
        err.print("Interrupted.")
        sys.exit(130)


if __name__ == "__main__":
    main()
