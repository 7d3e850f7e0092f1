"""`gemsql serve`: the HTTP API under uvicorn (the app itself is gemsql/server.py)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

err = Console(stderr=True)

API_KEY_ENV = "GEMSQL_API_KEY"
MIN_KEY_LENGTH = 16


def is_loopback(host: str) -> bool:
    """True only for addresses that no other machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a public address, so it counts as one


def api_key_problem(host: str, api_key: Optional[str]) -> Optional[str]:
    """Why the server must not start with this host and key, or None."""
    if api_key is not None and len(api_key) < MIN_KEY_LENGTH:
        return (f"{API_KEY_ENV} is too short ({len(api_key)} characters; at least {MIN_KEY_LENGTH}). "
                "Make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    if api_key is None and not is_loopback(host):
        return (f"refusing to listen on {host} without an API key: anyone who can reach this machine could "
                f"query the database. Set {API_KEY_ENV} (at least {MIN_KEY_LENGTH} characters; clients send it "
                "as 'X-API-Key: <key>' or 'Authorization: Bearer <key>'), or bind to 127.0.0.1.")
    return None


def register(app: typer.Typer) -> None:
    from gemsql.cli import (AdapterOption, BackendOption, CandidatesOption, ConstrainOption, ConstrainRetriesOption,
                            DbOption, EngineOption, ModelOption, NoRagOption, RetriesOption, RowLimitOption, TimeoutOption,
                            _context)

    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help=f"Address to listen on; not loopback needs {API_KEY_ENV}."),
        port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port (0: any free one)."),
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
        log_level: str = typer.Option("info", "--log-level", help="uvicorn's log level."),
    ) -> None:
        """Serve the HTTP API (POST /ask, /ask/stream, /generate-sql; GET /schema, /health; docs at /docs)."""
        api_key = os.environ.get(API_KEY_ENV) or None
        problem = api_key_problem(host, api_key)
        if problem:
            err.print(f"[bold red]error:[/] {problem}")
            raise typer.Exit(2)
        ctx = _context(db, engine, max_retries, model, adapter, no_rag, row_limit, timeout, backend, constrain,
                       constrain_retries, candidates)
        if not ctx.db_path:
            from tools.sales_db import ensure_default_db

            ctx = ctx.with_overrides({"db_path": str(ensure_default_db(progress=True))})

        import uvicorn

        from gemsql.server import create_app

        err.print(f"gemsql: {ctx.engine} engine over {ctx.db_path}; "
                  f"{'API key required' if api_key else 'no API key (loopback only)'}; docs at /docs")
        # One process: the model must be loaded once, and the single worker is what serialises it.
        uvicorn.run(create_app(ctx, api_key=api_key), host=host, port=port, log_level=log_level,
                    workers=1, access_log=log_level == "debug")
