"""`gemsql train`: fine-tune the model with LoRA; `gemsql train merge` and `gemsql train push` for what comes after.

    gemsql train --data data/training_data_train.jsonl --val data/training_data_val.jsonl --max-steps 200
    gemsql train merge --adapter training/adapters/gemsql-270m --out models/gemsql-270m-merged
    gemsql train push --repo me/gemsql-270m [--dir training/adapters/gemsql-270m]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from graph.context import DEFAULT_ADAPTER_DIR, DEFAULT_MODEL

err = Console(stderr=True)
out = Console()


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _quiet_libraries() -> None:
    """Keep the terminal to the progress bar and our own messages (warnings still reach gemsql.log)."""
    import os
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)
    try:
        import datasets
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        datasets.disable_progress_bars()
    except ImportError:
        pass
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    train_logger = logging.getLogger("training")
    train_logger.addHandler(handler)
    train_logger.setLevel(logging.INFO)


def register(app: typer.Typer) -> None:
    """Add the `train` group (training itself, `merge`, `push`) to the gemsql app."""
    train_app = typer.Typer(help="Fine-tune the SQL model with LoRA; merge or publish the result.",
                            invoke_without_command=True, add_completion=False)
    app.add_typer(train_app, name="train")

    @train_app.callback(invoke_without_command=True)
    def train_command(
        ctx: typer.Context,
        base: str = typer.Option(DEFAULT_MODEL, "--base", help="Base model: gemma3-270m, a local model directory or an HF id."),
        data: Optional[List[Path]] = typer.Option(None, "--data", help="Training JSONL (repeatable). "
                                                  "Default: data/training_data_train.jsonl."),
        val: Optional[Path] = typer.Option(None, "--val", help="Validation JSONL; its loss is computed every --eval-steps."),
        val_limit: int = typer.Option(100, "--val-limit", min=1, help="Use at most N validation examples."),
        epochs: float = typer.Option(1.0, "--epochs", min=0.01, help="Passes over the data (unless --max-steps)."),
        max_steps: int = typer.Option(-1, "--max-steps", help="Optimizer steps to run (-1: as many as --epochs takes)."),
        lr: float = typer.Option(2e-4, "--lr", min=1e-8, help="Peak learning rate."),
        batch_size: int = typer.Option(4, "--batch-size", min=1, help="Examples per forward pass."),
        grad_accum: int = typer.Option(4, "--grad-accum", min=1, help="Forward passes per optimizer step."),
        max_length: int = typer.Option(1024, "--max-length", min=16, help="Longest example in tokens; longer ones are skipped."),
        lora_r: int = typer.Option(64, "--lora-r", min=1, help="LoRA rank."),
        lora_alpha: int = typer.Option(32, "--lora-alpha", min=1, help="LoRA alpha."),
        lora_layers: Optional[str] = typer.Option(None, "--lora-layers", help="LoRA only on some layers: last:N, first:N "
                                                  "or indices like 16,17 (default: all)."),
        quantize: Optional[str] = typer.Option(None, "--quantize", help="4bit: QLoRA (NF4 base via bitsandbytes)."),
        out_dir: Path = typer.Option(DEFAULT_ADAPTER_DIR, "--out", help="Adapter folder (checkpoints in <out>/checkpoints)."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in <out>/checkpoints."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use only the first N training examples."),
        save_steps: int = typer.Option(50, "--save-steps", min=1, help="Checkpoint every N steps."),
        eval_steps: int = typer.Option(50, "--eval-steps", min=1, help="Validation loss every N steps."),
        keep_checkpoints: int = typer.Option(3, "--keep-checkpoints", min=0,
                                             help="Keep the last N checkpoints; 0 keeps all (to evaluate along the run)."),
        threads: Optional[int] = typer.Option(None, "--threads", min=1, help="CPU threads (default: all cores)."),
        gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing",
                                                    help="Less memory, slower: recompute activations in the backward pass."),
        init_adapter: Optional[Path] = typer.Option(None, "--init-adapter",
                                                    help="Continue training this adapter (its rank and layers) on new data."),
        group_by_length: bool = typer.Option(False, "--group-by-length",
                                             help="Batch examples of similar length (less padding, faster on CPU)."),
        seed: int = typer.Option(42, "--seed", help="Random seed (LoRA init, shuffling, dropout)."),
        device: str = typer.Option("cpu", "--device", help="cpu (float32), cuda (a GPU, bfloat16 autocast) or auto."),
        max_minutes: Optional[float] = typer.Option(None, "--max-minutes", min=0.01,
                                                    help="Stop after N minutes of training and save the adapter then."),
    ) -> None:
        """Fine-tune the model with LoRA on prompt/completion JSONL (run with no subcommand)."""
        if ctx.invoked_subcommand is not None:
            return
        from training.train import TrainConfig, TrainConfigError, train

        from tools.model_store import ModelUnavailable

        if quantize is not None and quantize.lower() != "4bit":
            _fail(f"--quantize takes 4bit, not '{quantize}'")
        if max_steps == 0 or max_steps < -1:
            _fail("--max-steps must be positive (or -1 to train for --epochs)")
        for path in [*(data or []), *([val] if val else [])]:
            if not path.expanduser().is_file():
                _fail(f"data file not found: {path}")
        config = TrainConfig(base=base, out=str(out_dir.expanduser()), val_data=str(val) if val else None,
                             epochs=epochs, max_steps=max_steps, lr=lr, batch_size=batch_size, grad_accum=grad_accum,
                             max_length=max_length, lora_r=lora_r, lora_alpha=lora_alpha, lora_layers=lora_layers,
                             quantize=quantize.lower() if quantize else None, resume=resume, limit=limit,
                             save_steps=save_steps, keep_checkpoints=keep_checkpoints or None, eval_steps=eval_steps, val_limit=val_limit, threads=threads,
                             gradient_checkpointing=gradient_checkpointing,
                             init_adapter=str(init_adapter.expanduser()) if init_adapter else None,
                             group_by_length=group_by_length, device=device, max_minutes=max_minutes, seed=seed)
        if data:
            config.data = [str(p) for p in data]
        _quiet_libraries()
        try:
            adapter = train(config)
        except (TrainConfigError, ModelUnavailable) as exc:
            _fail(str(exc))
        out.print(f"Adapter saved to {adapter}")

    @train_app.command("merge")
    def merge_command(
        adapter: Path = typer.Option(DEFAULT_ADAPTER_DIR, "--adapter", help="LoRA adapter folder."),
        merged_out: Path = typer.Option(..., "--out", help="Folder for the merged model."),
        base: Optional[str] = typer.Option(None, "--base", help="Base model (default: the one the adapter was trained on)."),
    ) -> None:
        """Merge a LoRA adapter into its base model and save the full model."""
        from tools.model_store import ModelUnavailable
        from training.merge import merge_adapter

        _quiet_libraries()
        try:
            path = merge_adapter(base, adapter, merged_out)
        except (ModelUnavailable, ValueError, OSError) as exc:
            _fail(str(exc))
        out.print(f"Merged model saved to {path}")

    @train_app.command("push")
    def push_command(
        repo: str = typer.Option(..., "--repo", help="Hub repository id, e.g. me/gemsql-270m."),
        folder: Path = typer.Option(DEFAULT_ADAPTER_DIR, "--dir", help="Adapter or merged model folder to upload."),
        token: Optional[str] = typer.Option(None, "--token", envvar="HF_TOKEN", help="Hub token (default: $HF_TOKEN or the saved login)."),
        private: bool = typer.Option(False, "--private", help="Create the repository as private."),
    ) -> None:
        """Upload an adapter or merged model folder to the Hugging Face Hub."""
        from training.merge import push

        try:
            url = push(folder, repo, token=token, private=private)
        except (RuntimeError, OSError) as exc:
            _fail(str(exc))
        out.print(f"Pushed {folder} to {url}")
