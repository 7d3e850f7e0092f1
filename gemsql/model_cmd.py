"""`gemsql model export`: the fine-tuned model exported for the fast backend (CTranslate2), with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

err = Console(stderr=True)
out = Console()


def register(app: typer.Typer) -> None:
    model_app = typer.Typer(help="Prepare the SQL model for fast inference.", add_completion=False,
                            no_args_is_help=True)
    app.add_typer(model_app, name="model")

    @model_app.command("export")
    def export_command(
        model: str = typer.Option("gemma3-270m", "--model", help="Base model: gemma3-270m, a local directory or an HF id."),
        adapter: Optional[str] = typer.Option(None, "--adapter",
                                              help="LoRA adapter folder (default: the shipped one; 'none': the base model)."),
        quantization: str = typer.Option("float32", "--quantization", help="float32 (same numbers as transformers) or int8."),
    ) -> None:
        """Merge the adapter and convert the model to CTranslate2 once; later runs reuse the cached export."""
        from graph.context import Context
        from tools.fast_export import ExportUnavailable, export_dir
        from tools.model_store import ModelUnavailable

        ctx = Context(model=model, adapter=adapter)
        try:
            folder = export_dir(ctx.model, ctx.model_adapter(), quantization)
        except (ValueError, ExportUnavailable, ModelUnavailable) as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc
        out.print(f"Exported to {folder}")
