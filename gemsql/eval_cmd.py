"""`gemsql eval`: run an evaluation set through the graph for several configurations and compare them."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]

err = Console(stderr=True)


def shared_dir() -> Path:
    """The shared data folder: $GEMSQL_SHARED, else the folder `shared` beside the repository."""
    explicit = os.environ.get("GEMSQL_SHARED")
    return Path(explicit).expanduser() if explicit else ROOT.parent / "shared"


def _shortcut(name: str) -> tuple[Path, Optional[Path], Optional[Path], str] | None:
    """(cases file, db, db_dir, dataset label) of a named set, or None when ``name`` is a path."""
    if name == "sales-dev":
        return shared_dir() / "eval" / "sales_dev.jsonl", None, None, "sales-dev"
    if name == "spider-dev":
        base = shared_dir() / "eval" / "spider_dev"
        return base / "cases.jsonl", None, base / "databases", "spider-dev"
    if name == "clinic-dev":
        return ROOT / "evals" / "cases" / "clinic_dev.jsonl", None, None, "clinic-dev"
    return None


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the `eval` command to the gemsql app."""
    from evals.runner import CONFIG_NAMES, DEFAULT_CONFIGS

    @app.command("eval")
    def eval_command(
        cases: str = typer.Option(..., "--cases", help="A JSONL file of {question, sql[, db, hardness, order_matters]}, "
                                                       "or sales-dev, spider-dev, clinic-dev."),
        db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file every case runs on "
                                                            "(default: the bundled sales database)."),
        db_dir: Optional[Path] = typer.Option(None, "--db-dir", help="Folder of <db>.duckdb files, for cases naming a \"db\"."),
        engine: Optional[List[str]] = typer.Option(None, "--engine", "-e",
                                                   help=f"Configuration to run (repeatable): {', '.join(CONFIG_NAMES)}. "
                                                        f"Default: {' '.join(DEFAULT_CONFIGS)}."),
        no_rag: bool = typer.Option(False, "--no-rag", help="Drop the +rag configurations and run the others without retrieval."),
        every: Optional[int] = typer.Option(None, "--every", min=1, help="Keep every K-th case (quick runs on big sets)."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Keep at most N cases (after --every)."),
        offset: int = typer.Option(0, "--offset", min=0, help="Skip the first N cases before taking every K-th "
                                                              "(--every 8 --offset 4: a sample disjoint from --every 8)."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout (no table)."),
        report: Optional[Path] = typer.Option(None, "--report", help="Write report.md, results.json and HTML charts here."),
        adapter: Optional[Path] = typer.Option(None, "--adapter", help="LoRA adapter directory for the fine-tuned configurations."),
        model: Optional[str] = typer.Option(None, "--model", help="Base model for the model configurations."),
        backend: str = typer.Option("auto", "--backend", help="What runs the model: auto, llamacpp or transformers."),
        constrain: Optional[bool] = typer.Option(None, "--constrain/--no-constrain",
                                                 help="Schema-constrained decoding for the model configurations "
                                                      "(default: the engine's default)."),
        constrain_retries: Optional[bool] = typer.Option(None, "--constrain-retries/--no-constrain-retries",
                                                         help="Schema-constrained decoding of the model's retries "
                                                              "only (default: the engine's default)."),
        candidates: Optional[int] = typer.Option(None, "--candidates", min=1, max=16,
                                                 help="Self-consistency for the model configurations: N answers "
                                                      "per first attempt, the result most return wins (default 5; "
                                                      "1: greedy alone)."),
        batch: int = typer.Option(1, "--batch", min=1, max=16,
                                  help="llama.cpp: generate the model's first attempts for N cases in one batch "
                                       "(per-case latency then leaves them out)."),
        no_semantic: bool = typer.Option(False, "--no-semantic",
                                         help="Skip the SQL-embedding similarity (saves loading the embedding model)."),
    ) -> None:
        """Evaluate configurations on a set of questions with gold SQL: execution accuracy and more."""
        from evals.runner import CasesError, load_cases, resolve_configs, select_cases

        if db and db_dir:
            _fail("give --db or --db-dir, not both")
        named = _shortcut(cases)
        if named:
            cases_path, default_db, default_dir, dataset = named
            if not cases_path.is_file():
                _fail(f"the {cases} set is not at {cases_path} (set GEMSQL_SHARED to the shared folder)")
            if not db and not db_dir:
                db_dir = default_dir
                if cases == "clinic-dev":
                    from evals.clinic_db import ensure_clinic_db

                    db = ensure_clinic_db(progress=True)
        else:
            cases_path, dataset = Path(cases).expanduser(), Path(cases).name
        try:
            loaded = load_cases(cases_path)
            chosen = select_cases(loaded, every, limit, offset)
            configs = resolve_configs(engine or DEFAULT_CONFIGS, adapter=adapter, model=model, no_rag=no_rag,
                                      backend=backend, constrain_to_schema=constrain,
                                      constrain_retries=constrain_retries, candidates=candidates)
        except (CasesError, ValueError) as exc:
            _fail(str(exc))
        if not configs:
            _fail("no configuration left to run (--no-rag dropped every +rag one)")
        if db and not db.expanduser().is_file():
            _fail(f"no DuckDB database at {db}")
        if db_dir and not db_dir.expanduser().is_dir():
            _fail(f"no folder {db_dir}")
        if not db and not db_dir and any(c.get("db") for c in chosen):
            _fail("the cases name databases (\"db\"); pass --db-dir with <db>.duckdb files, or --db for all")
        if not db and not db_dir:
            from tools.sales_db import ensure_default_db

            db = ensure_default_db(progress=True)

        from evals.runner import comparison_table, run_eval

        label = f"{dataset} ({len(chosen)} of {len(loaded)} cases)" if len(chosen) != len(loaded) else dataset
        result = run_eval(chosen, configs, db=db, db_dir=db_dir, dataset=label,
                          command="gemsql " + shlex.join(sys.argv[1:]), semantic=not no_semantic,
                          progress=True, console=err, batch=batch)
        result.meta["cases_file"] = str(cases_path)
        result.meta["cases_in_file"] = len(loaded)
        result.meta["every"], result.meta["limit"], result.meta["batch"] = every, limit, batch
        result.meta["offset"] = offset
        if report:
            from evals.report import write_report

            paths = write_report(result, report)
            err.print(f"Report written to {paths['report.md']}", highlight=False)
        if as_json:
            sys.stdout.write(result.to_json() + "\n")
            sys.stdout.flush()
        else:
            console = Console()
            if not console.is_terminal:  # a pipe or a file: no terminal width to respect
                console = Console(width=200)
            console.print(comparison_table(result))
        if result.partial:
            err.print("[yellow]Interrupted: the results above are partial.[/]")
            raise typer.Exit(130)
