"""`gemsql export`: the model with its adapter merged, as the GGUF file the llama.cpp backend runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from gemsql.cli import err, out


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        adapter: Optional[Path] = typer.Option(None, "--adapter",
                                               help="LoRA adapter folder (default: the one the chat uses; 'none': the base model)."),
        force: bool = typer.Option(False, "--force", help="Write it again even if an export of this adapter exists."),
        as_json: bool = typer.Option(False, "--json", help="Print {path, adapter, seconds} as JSON."),
    ) -> None:
        """Merge the adapter into the packaged Gemma and write the GGUF llama.cpp runs (cached, once per adapter)."""
        from graph.context import Context
        from tools.gguf_export import export_gguf
        from tools.model_store import ModelUnavailable

        if adapter is not None and str(adapter).lower() != "none":
            adapter = adapter.expanduser().resolve()
            if not adapter.is_dir():
                err.print(f"[bold red]error:[/] adapter folder {adapter} does not exist")
                raise typer.Exit(2)
        ctx = Context(adapter=str(adapter) if adapter is not None else None)
        chosen = ctx.model_adapter()
        started = time.perf_counter()
        try:
            path = export_gguf(ctx.model, chosen, force=force, progress=not as_json)
        except ModelUnavailable as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from exc
        seconds = round(time.perf_counter() - started, 1)
        if as_json:
            out.file.write(json.dumps({"path": str(path), "adapter": chosen, "seconds": seconds}) + "\n")
        else:
            what = f"adapter {chosen} merged" if chosen else "base model, no adapter"
            out.print(f"{path} ({what}; {path.stat().st_size / 1e6:.0f} MB, {seconds} s)", highlight=False)
