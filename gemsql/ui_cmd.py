"""`gemsql ui`: the Streamlit page (gemsql/ui.py), served by `streamlit run` in a child process."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

err = Console(stderr=True)

PAGE = Path(__file__).with_name("ui.py")


def streamlit_command(port: int, host: str) -> list[str]:
    """`streamlit run` on the page: headless, no usage statistics, no file watcher, no traceback in the browser."""
    return [
        sys.executable, "-m", "streamlit", "run", str(PAGE),
        "--server.port", str(port),
        "--server.address", host,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        # The page is an application, not a script being edited: no reload on save, no developer menu.
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--client.toolbarMode", "viewer",
        # Errors are shown by the page itself as one clear line; anything else stays in the server log.
        "--client.showErrorDetails", "none",
    ]


def _port_problem(host: str, port: int) -> str | None:
    # Streamlit would only say so after its start-up; checking first gives the analyst one clear line.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use; choose another with --port"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def ui(
    db: Optional[Path] = typer.Option(None, "--db", help="DuckDB file to query (default: the bundled sales database)."),
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port of the page."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only)."),
    adapter: Optional[Path] = typer.Option(None, "--adapter",
                                           help="LoRA adapter of the Fine-Tuned model (default: the project's own)."),
) -> None:
    """Open the Streamlit page: a question, Template / Fine-Tuned / Ensemble, RAG on or off, Analyze."""
    from gemsql.ui import ADAPTER_ENV, DB_ENV

    env = dict(os.environ)
    if db is not None:
        path = db.expanduser().resolve()
        if not path.is_file():
            raise typer.BadParameter(f"no DuckDB database at {path}", param_hint="--db")
        env[DB_ENV] = str(path)
    else:
        from tools.sales_db import ensure_default_db

        # Built here, with a progress bar in the terminal, rather than silently on the first question.
        env[DB_ENV] = str(ensure_default_db(progress=True))
    if adapter is not None:
        path = adapter.expanduser().resolve()
        if not (path / "adapter_config.json").is_file():
            raise typer.BadParameter(f"{path} is not a LoRA adapter directory (no adapter_config.json)",
                                     param_hint="--adapter")
        env[ADAPTER_ENV] = str(path)
    problem = _port_problem(host, port)
    if problem:
        err.print(f"[bold red]error:[/] {problem}")
        raise typer.Exit(2)

    err.print(f"gemsql page on [bold]http://{host}:{port}[/] (Ctrl-C stops it)")
    child = subprocess.Popen(streamlit_command(port, host), env=env)

    forwarded = False

    def stop_child(signum: int, _frame) -> None:
        # A service manager (or a test) stops gemsql alone: pass it on, or streamlit outlives us.
        nonlocal forwarded
        forwarded = True
        child.send_signal(signal.SIGINT)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop_child)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        try:
            # Ctrl-C in a terminal reaches streamlit too (same process group): let it stop on its own first.
            child.wait(timeout=15 if forwarded else 3)
        except subprocess.TimeoutExpired:
            # A SIGINT sent to gemsql alone did not reach streamlit: pass it on.
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        err.print("Stopped.")
        raise typer.Exit(0)
    finally:
        signal.signal(signal.SIGTERM, previous)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the `ui` command to the gemsql app."""
    app.command("ui")(ui)
