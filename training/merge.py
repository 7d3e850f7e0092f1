"""After training: merge the LoRA adapter into the base model, or push a folder to the Hugging Face Hub.

    merge_adapter("gemma3-270m", "training/adapters/gemsql-270m", "out/gemsql-270m-merged")
    push("training/adapters/gemsql-270m", "me/gemsql-270m")      # needs the network and a token

The merged model is an ordinary float32 safetensors folder: ``tools.model_store.load_model(out)`` loads it with
no adapter, with the same outputs as base + adapter.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tools.model_store import DEFAULT_MODEL

# Training leftovers that do not belong in a published adapter or model.
PUSH_IGNORE = ["checkpoints", "checkpoints/*", "checkpoints/**", "*.tmp", ".*"]


def base_of(adapter_dir: str | os.PathLike) -> str:
    """The base model an adapter was trained on: training_log.json's 'base', else the default model."""
    log = Path(adapter_dir).expanduser() / "training_log.json"
    try:
        base = json.loads(log.read_text(encoding="utf-8")).get("base")
    except (OSError, ValueError):
        base = None
    return base if isinstance(base, str) and base else DEFAULT_MODEL


def merge_adapter(base: str | None, adapter_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Merge the adapter in ``adapter_dir`` into ``base`` and save the full model (+ tokenizer) to ``out``.

    ``base`` None: the base recorded in the adapter's training_log.json. Raises ModelUnavailable when the base or
    the adapter cannot be loaded.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tools.model_store import ModelUnavailable, _adapter_dir, resolve_model_dir

    adapter_path, _ = _adapter_dir(str(adapter_dir))  # clear errors for a missing or non-adapter folder
    base = base or base_of(adapter_path)
    model_dir = resolve_model_dir(base)
    target = Path(out).expanduser().resolve()
    if target == adapter_path or target == model_dir:
        raise ValueError(f"the merged model needs its own folder, not {target}")
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    try:
        merged = PeftModel.from_pretrained(model, str(adapter_path)).merge_and_unload()
    except Exception as exc:
        raise ModelUnavailable(
            f"LoRA adapter '{adapter_dir}' could not be applied to model '{base}': {type(exc).__name__}: {exc}"
        ) from exc
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    target.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(target)  # safetensors
    tokenizer.save_pretrained(target)
    return target


def _offline() -> bool:
    # Read at call time: huggingface_hub.constants freezes the environment when it is imported.
    value = os.environ.get("HF_HUB_OFFLINE") or ""
    return value.strip().lower() in {"1", "true", "yes", "on"}


def push(adapter_or_model_dir: str | os.PathLike, repo_id: str, token: str | None = None, *, private: bool = False) -> str:
    """Upload a folder (an adapter or a merged model) to the Hub repo ``repo_id``; returns the commit URL.

    Raises RuntimeError with what to do when the Hub cannot be reached (HF_HUB_OFFLINE=1 or no network), and
    FileNotFoundError when the folder does not exist.
    """
    folder = Path(adapter_or_model_dir).expanduser().resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"nothing to push: {folder} is not a directory")
    later = f"gemsql train push --dir {folder} --repo {repo_id}"

    def unreachable(reason: str) -> RuntimeError:
        return RuntimeError(
            f"cannot reach the Hugging Face Hub: {reason} (offline). The files are in {folder}; "
            f"push them later with: {later}"
        )

    if _offline():
        raise unreachable("HF_HUB_OFFLINE=1, and gemsql stays offline unless started with HF_HUB_OFFLINE=0")
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import OfflineModeIsEnabled

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, exist_ok=True, private=private)
        info = api.upload_folder(repo_id=repo_id, folder_path=folder, ignore_patterns=PUSH_IGNORE,
                                 commit_message="Upload gemsql fine-tuned model")
    except (OfflineModeIsEnabled, ConnectionError, TimeoutError, httpx.TransportError) as exc:
        raise unreachable(f"{type(exc).__name__}: {exc}") from exc
    return str(getattr(info, "commit_url", info))
