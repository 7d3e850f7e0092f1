"""The fine-tuned model exported for the fast backend (CTranslate2), cached and rebuilt when it changes.

transformers stays the training and reference path; at inference, CTranslate2 runs the same weights
(the LoRA adapter merged into the base) several times faster on these cores and can keep the KV cache
of the prompt's static part (the schema) between questions. An export is keyed by the base model's
folder and weights, the adapter's weights, the quantization and the CTranslate2 version, so retraining
the adapter in place gives a new export on the next call and an unchanged one is reused::

    gemsql model export [--adapter DIR] [--quantization float32|int8]
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
from pathlib import Path

from tools.model_store import DEFAULT_MODEL, ModelUnavailable, _adapter_dir, _steps, resolve_model_dir
from tools.paths import models_dir

QUANTIZATIONS = ("float32", "int8", "int8_float32")
# Tokenizer files copied beside the export so that it loads on its own.
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")
_LOCK = threading.Lock()


class ExportUnavailable(ModelUnavailable):
    """The fast backend cannot be used: CTranslate2 missing, or a model it cannot convert."""


def _file_digest(path: Path, *, full: bool) -> str:
    """sha256 of a file's bytes (full) or of its size and mtime (base weights: 1 GB, and never edited in place)."""
    if not full:
        stat = path.stat()
        return hashlib.sha256(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_key(model_dir: Path, adapter_path: Path | None, quantization: str) -> str:
    import ctranslate2

    parts = [str(model_dir), quantization, ctranslate2.__version__]
    parts += [_file_digest(p, full=False) for p in sorted(model_dir.glob("*.safetensors"))]
    if adapter_path is not None:
        parts += [_file_digest(p, full=True) for p in sorted(adapter_path.glob("adapter_*"))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def export_dir(model: str = DEFAULT_MODEL, adapter: str | None = None, quantization: str = "float32", *,
               progress: bool = True, root: Path | None = None) -> Path:
    """The CTranslate2 folder for this model + adapter, exported first if it is not cached yet."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, not '{quantization}'")
    try:
        import ctranslate2  # noqa: F401
    except ImportError as exc:
        raise ExportUnavailable("the fast backend needs CTranslate2: pip install ctranslate2") from exc
    with _LOCK:
        model_dir = resolve_model_dir(model, progress=progress)
        adapter_path = _adapter_dir(adapter)[0] if adapter else None
        name = f"{model_dir.name}-{adapter_path.name if adapter_path else 'base'}-{quantization}"
        target = (root or models_dir() / "ctranslate2") / f"{name}-{export_key(model_dir, adapter_path, quantization)}"
        if (target / "export.json").is_file():
            return target
        _export(model_dir, adapter_path, quantization, target, progress=progress)
        return target


def _export(model_dir: Path, adapter_path: Path | None, quantization: str, target: Path, *, progress: bool) -> None:
    from ctranslate2.converters import TransformersConverter

    target.parent.mkdir(parents=True, exist_ok=True)
    # Everything is written beside the target and renamed at the end: an interrupted export leaves no half folder.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        work = Path(tmp)
        with _steps(progress, "exporting the model for the fast backend", 3) as step:
            source = model_dir
            if adapter_path is not None:
                step("merging the LoRA adapter")
                from training.merge import merge_adapter

                source = merge_adapter(str(model_dir), adapter_path, work / "merged")
            step(f"converting to CTranslate2 ({quantization})")
            out = work / "ct2"
            try:
                TransformersConverter(str(source)).convert(str(out), quantization=quantization, force=True)
            except Exception as exc:  # an architecture CTranslate2 does not know, a broken folder
                raise ExportUnavailable(f"CTranslate2 could not convert {source}: {type(exc).__name__}: {exc}") from exc
            step("copying the tokenizer")
            for name in _TOKENIZER_FILES:
                if (source / name).is_file():
                    shutil.copy2(source / name, out / name)
            (out / "export.json").write_text(json.dumps({
                "base": str(model_dir), "adapter": str(adapter_path) if adapter_path else None,
                "quantization": quantization}, indent=2) + "\n")
        if target.exists():  # another process finished the same export first
            return
        out.rename(target)
