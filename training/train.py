"""Fine-tune Gemma with LoRA to write DuckDB SQL: trl's SFTTrainer on CPU (float32) or a GPU, loss on the SQL only.

In the style of trl's ``trl/scripts/sft.py``: a dataclass config and a thin ``main``::

    python -m training.train --data data/training_data_train.jsonl --val_data data/training_data_val.jsonl
    gemsql train --data data/training_data_train.jsonl --val data/training_data_val.jsonl   # the same, via the CLI

Every example is a prompt/completion pair from ``tools.prompts.build_training_example`` (the one prompt format
inference uses too), read from JSONL: either ``{"prompt", "completion"}`` lines or the lines
``training.generator.save_to_jsonl`` writes (``{"question", "sql", "db", ..., "text"}``, where ``text`` is prompt +
completion in Gemma's turn format).

Speed on CPU: Gemma's 262k-token vocabulary makes the LM head cost as much as the 18 decoder layers of the 270M
model, and trl's fused LM head scores every position when there is no Triton (CPU). The trainer here runs the
decoder, then projects ONLY the completion positions (the SQL tokens that carry the loss) through the LM head; the
loss is identical, the step several times cheaper (see ``completion_only_loss``).

What ``train`` writes into ``out`` (default ``training/adapters/gemsql-270m``)::

    adapter_model.safetensors, adapter_config.json   the LoRA adapter only (tools.model_store.load_model reads it)
    tokenizer.json, tokenizer_config.json             the base model's tokenizer
    training_log.json                                  config, losses over time, wall time, tokens/s, base model
    checkpoints/checkpoint-N/                          every save_steps (3 kept), for ``resume=True``
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.context import DEFAULT_ADAPTER_DIR
from tools.model_store import DEFAULT_MODEL

if TYPE_CHECKING:  # torch, transformers, trl and datasets take seconds to import; only train() needs them
    import datasets
    import torch

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
# Where `python -m training.generator --out data/training_data.jsonl` writes its splits.
DEFAULT_TRAIN_DATA = ROOT / "data" / "training_data_train.jsonl"
DEFAULT_VAL_DATA = ROOT / "data" / "training_data_val.jsonl"
DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
QUANTIZE_CHOICES = ("4bit",)
DEVICE_CHOICES = ("cpu", "cuda", "auto")
CHECKPOINTS = "checkpoints"
TRAINING_LOG = "training_log.json"

# The model turn that ends every prompt; a generator "text" line is split after its LAST occurrence.
MODEL_TURN = "<start_of_turn>model\n"


class TrainConfigError(ValueError):
    """A bad option or a missing input: the message says what to change (the CLI prints it, exit code 2)."""


@dataclass
class TrainConfig:
    """Everything a training run needs; the defaults are the design's (LoRA r=64, alpha=32, lr 2e-4, 4 x 4)."""

    base: str = field(
        default=DEFAULT_MODEL,
        metadata={"help": f"Base model: '{DEFAULT_MODEL}' (the packaged GGUF, converted once), a local model directory "
                          "or an HF hub id."},
    )
    data: list[str] = field(
        default_factory=lambda: [str(DEFAULT_TRAIN_DATA)],
        metadata={"help": "Training JSONL files: {prompt, completion} lines or training.generator lines (with 'text')."},
    )
    val_data: str | None = field(
        default=None,
        metadata={"help": "Validation JSONL file (same formats); its loss is computed every eval_steps. None: no validation."},
    )
    out: str = field(
        default=str(DEFAULT_ADAPTER_DIR),
        metadata={"help": "Where the adapter, tokenizer and training_log.json go; checkpoints go to <out>/checkpoints."},
    )
    epochs: float = field(default=1.0, metadata={"help": "Passes over the training data (ignored when max_steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Optimizer steps to run; -1: as many as `epochs` takes."})
    lr: float = field(default=2e-4, metadata={"help": "Peak learning rate (AdamW, linear decay after a warm-up of 3 percent of the steps)."})
    batch_size: int = field(default=4, metadata={"help": "Examples per forward pass."})
    grad_accum: int = field(default=4, metadata={"help": "Forward passes per optimizer step (effective batch = batch_size x grad_accum)."})
    max_length: int = field(
        default=1024,
        metadata={"help": "Longest example in tokens (prompt + SQL); longer examples are skipped with a warning, never "
                          "truncated. The full sales schema prompt alone is ~880 Gemma tokens."},
    )
    lora_r: int = field(default=64, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    target_modules: list[str] = field(
        default_factory=lambda: list(DEFAULT_TARGET_MODULES),
        metadata={"help": "Linear layers that get a LoRA adapter."},
    )
    lora_layers: str | None = field(
        default=None,
        metadata={"help": "Which decoder layers get LoRA: 'last:N', 'first:N' or comma-separated indices; None: all. "
                          "'last:6' makes the backward pass stop early (cheaper on CPU). With init_adapter: more layers "
                          "than the adapter has widen it (new layers start at zero), fewer are ignored."},
    )
    quantize: str | None = field(
        default=None,
        metadata={"help": "'4bit': QLoRA, the frozen base in NF4 via bitsandbytes (works on CPU, saves memory, not time). "
                          "None: float32."},
    )
    save_steps: int = field(default=50, metadata={"help": "Save a checkpoint every N optimizer steps."})
    keep_checkpoints: int | None = field(
        default=3,
        metadata={"help": "How many of the latest checkpoints to keep; None: all (to evaluate accuracy along the run)."},
    )
    eval_steps: int = field(default=50, metadata={"help": "Compute the validation loss every N steps (when val_data is given)."})
    val_limit: int | None = field(
        default=100,
        metadata={"help": "Use at most N validation examples (each evaluation costs time on CPU); None: all."},
    )
    logging_steps: int = field(default=5, metadata={"help": "Record the training loss every N steps."})
    seed: int = field(default=42, metadata={"help": "Random seed (LoRA init, shuffling, dropout)."})
    resume: bool = field(default=False, metadata={"help": "Continue from the last checkpoint in <out>/checkpoints."})
    threads: int | None = field(default=None, metadata={"help": "CPU threads for torch; None: all cores."})
    gradient_checkpointing: bool = field(
        default=False,
        metadata={"help": "Recompute activations in the backward pass: less memory but slower. Off by default."},
    )
    limit: int | None = field(default=None, metadata={"help": "Use only the first N training examples (quick runs)."})
    init_adapter: str | None = field(
        default=None,
        metadata={"help": "Continue training this LoRA adapter (its own rank, alpha and layers; the lora_* options are "
                          "then ignored) on new data, instead of starting a new one."},
    )
    group_by_length: bool = field(
        default=False,
        metadata={"help": "Batch examples of similar length together: less padding, so more examples per hour on CPU."},
    )
    completion_logits_only: bool = field(
        default=True,
        metadata={"help": "Apply the LM head to the completion positions only (same loss, much faster on CPU). "
                          "False: trl's own loss over every position (for comparison)."},
    )
    progress: bool = field(default=True, metadata={"help": "Show a progress bar (step, loss, tokens/s, ETA) on stderr."})
    device: str = field(
        default="cpu",
        metadata={"help": "'cpu': float32 (bfloat16 is ~70x slower on an AVX2 CPU); 'cuda': an NVIDIA GPU, float32 "
                          "weights with bfloat16 autocast; 'auto': cuda when one is there, else cpu."},
    )
    max_minutes: float | None = field(
        default=None,
        metadata={"help": "Stop after this many minutes of training (checked after each step) and save the adapter as "
                          "it is then; None: no limit. For a fixed budget of machine time."},
    )


# --------------------------------------------------------------------------------------------------- data


def pair_from_record(record: Any) -> tuple[str, str] | None:
    """(prompt, completion) of one JSONL record, or None when it has neither format."""
    if not isinstance(record, dict):
        return None
    prompt, completion = record.get("prompt"), record.get("completion")
    if isinstance(prompt, str) and isinstance(completion, str):
        return (prompt, completion) if prompt and completion.strip() else None
    text = record.get("text")
    if isinstance(text, str):
        cut = text.rfind(MODEL_TURN)
        if cut == -1:
            return None
        prompt, completion = text[: cut + len(MODEL_TURN)], text[cut + len(MODEL_TURN):]
        return (prompt, completion) if completion.strip() else None
    return None


def load_examples(paths: str | os.PathLike | list[str | os.PathLike]) -> "datasets.Dataset":
    """The prompt/completion pairs of one or more JSONL files, in file order, as a ``datasets.Dataset``.

    A line may be ``{"prompt", "completion"}`` or a training.generator line, whose ``text`` (prompt + completion) is
    split after its LAST ``<start_of_turn>model\\n``: the prompt keeps the marker, the completion is the rest
    (the SQL and ``<end_of_turn>``). Malformed lines are skipped and counted in one warning per file.
    Raises TrainConfigError for a missing file or when no usable example is left.
    """
    from datasets import Dataset

    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    prompts: list[str] = []
    completions: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_file():
            raise TrainConfigError(f"data file not found: {path}")
        skipped = 0
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    pair = pair_from_record(json.loads(line))
                except json.JSONDecodeError:
                    pair = None
                if pair is None:
                    skipped += 1
                    continue
                prompts.append(pair[0])
                completions.append(pair[1])
        if skipped:
            logger.warning("%s: skipped %d malformed line(s) (need prompt/completion or a Gemma-format 'text')",
                           path, skipped)
    if not prompts:
        raise TrainConfigError(f"no usable examples in {', '.join(str(p) for p in paths)}")
    return Dataset.from_dict({"prompt": prompts, "completion": completions})


def tokenize_examples(dataset: "datasets.Dataset", tokenizer: Any, max_length: int | None) -> tuple["datasets.Dataset", int]:
    """``input_ids`` + ``completion_mask`` for each pair, and how many pairs were too long.

    The prompt is tokenized exactly as inference tokenizes it (with <bos>), the completion on its own, and the two
    are concatenated: the model trains on the very token ids it will see at run time. Unlike trl's default (which
    would append <eos> after <end_of_turn> and cut long examples), nothing is added and examples longer than
    ``max_length`` are dropped, not truncated.
    """

    def encode(batch: dict[str, list[str]]) -> dict[str, list[list[int]]]:
        prompts = tokenizer(batch["prompt"])["input_ids"]
        completions = tokenizer(batch["completion"], add_special_tokens=False)["input_ids"]
        return {
            "input_ids": [p + c for p, c in zip(prompts, completions)],
            "completion_mask": [[0] * len(p) + [1] * len(c) for p, c in zip(prompts, completions)],
        }

    encoded = dataset.map(encode, batched=True, remove_columns=dataset.column_names, desc="Tokenizing")
    if max_length is None:
        return encoded, 0
    kept = encoded.filter(lambda ex: len(ex["input_ids"]) <= max_length, desc="Dropping too-long examples")
    return kept, len(encoded) - len(kept)


# ------------------------------------------------------------------------------------------------- model


def parse_lora_layers(spec: str | None, num_layers: int) -> list[int] | None:
    """Decoder layer indices for LoRA from 'last:N', 'first:N', 'all' or '3,4,5'; None means all layers."""
    if spec is None or not str(spec).strip() or str(spec).strip().lower() == "all":
        return None
    text = str(spec).strip().lower()
    try:
        if ":" in text:
            where, count = text.split(":", 1)
            n = int(count)
            if where not in ("last", "first") or not 1 <= n <= num_layers:
                raise ValueError
            return list(range(num_layers - n, num_layers)) if where == "last" else list(range(n))
        layers = sorted({int(part) for part in text.split(",") if part.strip()})
        if not layers or layers[0] < 0 or layers[-1] >= num_layers:
            raise ValueError
        return layers
    except ValueError:
        raise TrainConfigError(
            f"bad lora_layers '{spec}': use last:N or first:N (1 <= N <= {num_layers}), or layer indices like 10,11 "
            f"(the model has {num_layers} layers)"
        ) from None


def _causal_lm(model: Any) -> Any:
    """The transformers causal LM inside a PEFT wrapper (LoRA layers are injected in place, so it trains them)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def completion_only_loss(model: Any, inputs: dict[str, "torch.Tensor"], num_items_in_batch: Any = None) -> tuple["torch.Tensor", dict[str, float]]:
    """The causal LM loss, with the LM head applied only where the (shifted) label is not -100.

    Runs the decoder for the last hidden states, keeps the rows that predict a completion token, projects those
    through the LM head (with the config's final logit softcapping, if any) and takes the cross-entropy: summed over
    the completion tokens and divided by ``num_items_in_batch`` (the Trainer's token count over the accumulated
    micro-batches) or, when None, by their own count (the mean, as ``model(..., labels=...)`` computes it).
    Returns (loss, {"entropy", "accuracy", "tokens"}) where the statistics are for logging only.
    """
    import torch
    import torch.nn.functional as F

    causal_lm = _causal_lm(model)
    decoder = causal_lm.get_decoder()
    labels = inputs["labels"]
    forward = {k: v for k, v in inputs.items() if k not in ("labels", "use_cache", "num_items_in_batch")}
    hidden = decoder(**forward, use_cache=False).last_hidden_state
    targets = labels[:, 1:].to(hidden.device)
    mask = targets != -100
    rows = hidden[:, :-1][mask]
    lm_head = causal_lm.get_output_embeddings()
    logits = lm_head(rows.to(lm_head.weight.dtype)).float()
    softcap = getattr(causal_lm.config.get_text_config(), "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    wanted = targets[mask]
    total = F.cross_entropy(logits, wanted, reduction="sum")
    count = mask.sum()
    denominator = count if num_items_in_batch is None else num_items_in_batch
    loss = total / torch.as_tensor(denominator, device=total.device).clamp(min=1)
    with torch.no_grad():
        n = int(count)
        if n:
            log_probs = torch.log_softmax(logits, dim=-1)
            entropy = float(-(log_probs.exp() * log_probs).sum(-1).mean())
            accuracy = float((logits.argmax(-1) == wanted).float().mean())
        else:
            entropy = accuracy = 0.0
    return loss, {"entropy": entropy, "accuracy": accuracy, "tokens": n}


_TRAINER_CLASS: type | None = None


def trainer_class() -> type:
    """``CompletionOnlySFTTrainer``: trl's SFTTrainer with the completion-only LM head (built on first use)."""
    global _TRAINER_CLASS
    if _TRAINER_CLASS is not None:
        return _TRAINER_CLASS
    from trl import SFTTrainer

    class CompletionOnlySFTTrainer(SFTTrainer):
        """SFTTrainer whose loss projects only the completion positions through the LM head.

        trl 1.16's own loss uses a fused, vocabulary-chunked LM head that skips ignored positions only on
        Triton devices; on CPU it scores every prompt position too (and recomputes them in the backward).
        Set ``completion_logits_only = False`` to get trl's loss back.
        """

        completion_logits_only = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.examples_seen = 0
            self.tokens_seen = 0

        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            self.examples_seen += int(inputs["input_ids"].shape[0])
            mask = inputs.get("attention_mask")
            self.tokens_seen += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            return super().training_step(model, inputs, num_items_in_batch)

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            if return_outputs or not self.completion_logits_only:
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            mode = "train" if self.model.training else "eval"
            loss, stats = completion_only_loss(self.accelerator.unwrap_model(model), inputs, num_items_in_batch)
            # The same metrics trl logs (its `log` averages these lists).
            self._metrics[mode]["entropy"].append(stats["entropy"])
            self._metrics[mode]["mean_token_accuracy"].append(stats["accuracy"])
            if mode == "train" and "attention_mask" in inputs:
                self._total_train_tokens += int(inputs["attention_mask"].sum())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return loss

    _TRAINER_CLASS = CompletionOnlySFTTrainer
    return _TRAINER_CLASS


def _progress_callback(trainer: Any) -> Any:
    """A tqdm bar on stderr: step / max steps, ETA, last training and validation loss, tokens/s."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class ProgressBar(TrainerCallback):
        def __init__(self) -> None:
            self.bar: Any = None
            self.started = 0.0
            self.postfix: dict[str, str] = {}

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="training", unit="step",
                            dynamic_ncols=True, file=sys.stderr)
            self.started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.bar is None:
                return
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            self.postfix["tok/s"] = f"{trainer.tokens_seen / elapsed:.0f}"
            self.bar.set_postfix(self.postfix, refresh=False)
            self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if self.bar is None or not logs:
                return
            if "loss" in logs:
                self.postfix["loss"] = f"{logs['loss']:.4f}"
            if "eval_loss" in logs:
                self.postfix["val"] = f"{logs['eval_loss']:.4f}"
            self.bar.set_postfix(self.postfix)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return ProgressBar()


def _time_limit_callback(minutes: float) -> Any:
    """Ends training after ``minutes`` (at the end of a step); the run then saves its adapter as usual."""
    from transformers import TrainerCallback

    class TimeLimit(TrainerCallback):
        def __init__(self) -> None:
            self.deadline = float("inf")
            self.reached = False

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.deadline = time.monotonic() + minutes * 60

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if time.monotonic() >= self.deadline and state.global_step < state.max_steps:
                self.reached = True
                control.should_training_stop = True

    return TimeLimit()


def resolve_device(requested: str) -> str:
    """'cpu' or 'cuda' for ``requested`` ('auto' picks cuda when torch sees a GPU)."""
    import torch

    available = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if available else "cpu"
    if requested == "cuda" and not available:
        raise TrainConfigError("device 'cuda' asked for, but torch sees no CUDA GPU here; use device cpu (or auto)")
    return requested


def _validate(config: TrainConfig) -> None:
    if not config.data:
        raise TrainConfigError("no training data given")
    for path in [*config.data, *([config.val_data] if config.val_data else [])]:
        if not Path(path).expanduser().is_file():
            hint = ""
            if Path(path).expanduser().resolve() in (DEFAULT_TRAIN_DATA, DEFAULT_VAL_DATA):
                hint = " (generate it with: python -m training.generator --out data/training_data.jsonl)"
            raise TrainConfigError(f"data file not found: {path}{hint}")
    if config.quantize is not None and config.quantize not in QUANTIZE_CHOICES:
        raise TrainConfigError(f"bad quantize '{config.quantize}': use {' or '.join(QUANTIZE_CHOICES)}, or leave it out for float32")
    for name in ("batch_size", "grad_accum", "lora_r", "save_steps", "eval_steps", "logging_steps"):
        if getattr(config, name) < 1:
            raise TrainConfigError(f"{name} must be at least 1")
    if config.max_steps == 0 or config.max_steps < -1:
        raise TrainConfigError("max_steps must be positive, or -1 to train for `epochs`")
    if config.max_steps < 0 and config.epochs <= 0:
        raise TrainConfigError("epochs must be positive")
    if config.lr <= 0:
        raise TrainConfigError("lr must be positive")
    if config.max_length is not None and config.max_length < 16:
        raise TrainConfigError("max_length must be at least 16 tokens")
    if not 0 <= config.lora_dropout < 1:
        raise TrainConfigError("lora_dropout must be in [0, 1)")
    if config.device not in DEVICE_CHOICES:
        raise TrainConfigError(f"bad device '{config.device}': use {', '.join(DEVICE_CHOICES)}")
    if config.max_minutes is not None and config.max_minutes <= 0:
        raise TrainConfigError("max_minutes must be positive")
    for name in ("limit", "val_limit", "threads"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise TrainConfigError(f"{name} must be at least 1")
    if config.init_adapter:
        folder = Path(config.init_adapter).expanduser()
        if not (folder / "adapter_config.json").is_file() or not (folder / "adapter_model.safetensors").is_file():
            raise TrainConfigError(f"init_adapter: {folder} is not a LoRA adapter folder (no adapter_config.json and "
                                   "adapter_model.safetensors)")
        if config.resume:
            raise TrainConfigError("init_adapter starts a new run from an adapter; resume continues a run: give one")
        if config.quantize:
            raise TrainConfigError("init_adapter is for float32 training; leave out quantize")


def _load_base(model_dir: Path, config: TrainConfig) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    if config.quantize != "4bit":
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    try:
        import bitsandbytes  # noqa: F401
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.float32,
        )
        model = AutoModelForCausalLM.from_pretrained(model_dir, quantization_config=quantization, dtype=torch.float32)
    except Exception as exc:
        raise TrainConfigError(
            f"4-bit (QLoRA) loading failed: {type(exc).__name__}: {exc}. bitsandbytes must support 4-bit on this "
            "device (0.46+ has a CPU backend); train in float32 without --quantize instead."
        ) from exc
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)


def _continue_adapter(model: Any, config: TrainConfig, num_layers: int) -> tuple[Any, list[int]]:
    """The base model with ``init_adapter`` loaded for training, and the layers that carry LoRA.

    With ``lora_layers`` naming every layer the adapter has and more, the adapter is widened: the new layers
    get fresh LoRA weights (B = 0, so the model starts exactly where the adapter left it) with the
    adapter's own rank, alpha and modules, and learn from there.
    """
    from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    folder = Path(config.init_adapter).expanduser()
    previous = LoraConfig.from_pretrained(folder)
    had = list(previous.layers_to_transform or range(num_layers))
    wanted = parse_lora_layers(config.lora_layers, num_layers) if config.lora_layers else had
    wanted = list(range(num_layers)) if wanted is None else wanted
    if not set(had) < set(wanted):
        if sorted(wanted) != sorted(had):
            logger.warning("lora_layers %r ignored: the adapter %s keeps its layers %s (it can be widened, not cut)",
                           config.lora_layers, folder, had)
        return PeftModel.from_pretrained(model, folder, is_trainable=True), had
    widened = LoraConfig(r=previous.r, lora_alpha=previous.lora_alpha, lora_dropout=previous.lora_dropout,
                         target_modules=sorted(previous.target_modules), layers_to_transform=sorted(wanted),
                         bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, widened)
    outcome = set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))
    if outcome.unexpected_keys:
        raise TrainConfigError(f"the adapter {folder} does not fit the widened LoRA: {outcome.unexpected_keys[:3]} ...")
    logger.info("widened the adapter from layers %s to %s", had, sorted(wanted))
    return model, sorted(wanted)


def _checkpoints(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    found = [p for p in directory.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def _loss_history(log_history: list[dict]) -> tuple[list[dict], list[dict], dict]:
    train, val, summary = [], [], {}
    for entry in log_history:
        if "loss" in entry:
            train.append({k: entry[k] for k in ("step", "epoch", "loss", "learning_rate", "grad_norm",
                                                "mean_token_accuracy", "num_tokens") if k in entry})
        if "eval_loss" in entry:
            val.append({k: entry[k] for k in ("step", "epoch", "eval_loss", "eval_mean_token_accuracy") if k in entry})
        if "train_loss" in entry:
            summary = entry
    return train, val, summary


STAGE_KEYS = ("config", "train_examples", "examples_seen", "tokens_seen", "wall_time_s", "tokens_per_s", "global_step",
              "final_train_loss", "final_val_loss", "val_loss", "finished_at")


def _previous_stages(init_adapter: str | None) -> list[dict]:
    """The runs that made ``init_adapter`` (from its training_log.json), oldest first: an adapter trained in
    stages carries the whole recipe and the total training time in its own log."""
    if not init_adapter:
        return []
    log_file = Path(init_adapter).expanduser() / TRAINING_LOG
    if not log_file.is_file():
        return [{"config": {"out": str(init_adapter)}, "note": "no training_log.json: its training is unknown"}]
    earlier = json.loads(log_file.read_text())
    return [*earlier.get("previous_stages", []), {k: earlier.get(k) for k in STAGE_KEYS}]


@dataclass
class TrainRun:
    """What ``run_training`` leaves behind: the adapter folder, the trainer (model in memory) and the log."""

    out: Path
    trainer: Any
    log: dict


def train(config: TrainConfig) -> Path:
    """Train a LoRA adapter per ``config``; returns the directory holding it (``config.out``)."""
    return run_training(config).out


def run_training(config: TrainConfig) -> TrainRun:
    """``train``, keeping the trainer: its ``model`` is the trained PEFT model (tests, notebooks)."""
    _validate(config)
    import peft
    import torch
    import transformers
    import trl
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import SFTConfig

    from tools.model_store import resolve_model_dir

    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    device = resolve_device(config.device)
    out = Path(config.out).expanduser().resolve()
    checkpoints = out / CHECKPOINTS

    resume_from: Path | None = None
    stale: list[Path] = []
    if config.resume:
        found = _checkpoints(checkpoints)
        if not found:
            raise TrainConfigError(f"nothing to resume: no checkpoint in {checkpoints}")
        resume_from = found[-1]
    else:
        stale = _checkpoints(checkpoints)

    model_dir = resolve_model_dir(config.base)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    raw_train = load_examples(config.data)
    if config.limit is not None:
        raw_train = raw_train.select(range(min(config.limit, len(raw_train))))
    train_set, too_long = tokenize_examples(raw_train, tokenizer, config.max_length)
    if too_long:
        logger.warning("skipped %d of %d training examples longer than max_length=%s tokens",
                       too_long, len(raw_train), config.max_length)
    if len(train_set) == 0:
        raise TrainConfigError(f"every training example is longer than max_length={config.max_length} tokens; raise max_length")
    val_set, val_too_long = None, 0
    if config.val_data:
        raw_val = load_examples([config.val_data])
        if config.val_limit is not None:
            raw_val = raw_val.select(range(min(config.val_limit, len(raw_val))))
        val_set, val_too_long = tokenize_examples(raw_val, tokenizer, config.max_length)
        if len(val_set) == 0:
            logger.warning("every validation example is longer than max_length=%s; no validation", config.max_length)
            val_set = None

    model = _load_base(model_dir, config)
    num_layers = model.config.get_text_config().num_hidden_layers
    lora: LoraConfig | None = None
    if config.init_adapter:
        model, layers = _continue_adapter(model, config, num_layers)
    else:
        layers = parse_lora_layers(config.lora_layers, num_layers)
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=list(config.target_modules),
            layers_to_transform=layers,
            bias="none",
            task_type="CAUSAL_LM",
        )
    args = SFTConfig(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        warmup_steps=0.03,  # a fraction: 3% of the steps
        lr_scheduler_type="linear",
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.keep_checkpoints,
        eval_strategy="steps" if val_set is not None else "no",
        eval_steps=config.eval_steps,
        prediction_loss_only=True,  # otherwise evaluation gathers (batch, seq, 262k) logits
        max_length=config.max_length,
        completion_only_loss=True,
        # transformers 5.24 renamed gradient_checkpointing (trl still defaults that one to True, with a warning).
        activation_checkpointing=config.gradient_checkpointing,
        use_cpu=device == "cpu",
        bf16=device == "cuda",  # autocast; the LoRA weights stay float32
        fp16=False,
        report_to="none",
        seed=config.seed,
        disable_tqdm=True,  # our own bar below shows the loss
        dataloader_num_workers=0,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
    )
    Trainer = trainer_class()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set,
        processing_class=tokenizer,
        peft_config=lora,
    )
    trainer.completion_logits_only = config.completion_logits_only
    if config.quantize:
        # trl casts the adapter of a quantized model to bfloat16 (QLoRA paper); bf16 is ~70x slower on this CPU.
        for param in trainer.model.parameters():
            if param.requires_grad:
                param.data = param.data.to(torch.float32)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if config.progress:
        trainer.add_callback(_progress_callback(trainer))
    time_limit = _time_limit_callback(config.max_minutes) if config.max_minutes else None
    if time_limit is not None:
        trainer.add_callback(time_limit)

    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in trainer.model.parameters())
    logger.info("training %d of %d parameters on %d examples", trainable, total, len(train_set))

    if stale:
        # A fresh run into the same folder: old checkpoints would mix into its rotation and a later resume.
        logger.warning("removing %d checkpoint(s) of an earlier run in %s (use resume to continue one)", len(stale), checkpoints)
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)

    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    wall = time.perf_counter() - started

    out.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(out)  # PEFT: adapter_model.safetensors + adapter_config.json only
    tokenizer.save_pretrained(out)
    state = trainer.state
    train_losses, val_losses, summary = _loss_history(state.log_history)
    log = {
        "base": config.base,
        "base_dir": str(model_dir),
        "config": asdict(config),
        "lora_layers": layers if layers is not None else list(range(num_layers)),
        "trainable_params": trainable,
        "total_params": total,
        "global_step": state.global_step,
        "max_steps": state.max_steps,
        "epoch": state.epoch,
        "resumed_from": str(resume_from) if resume_from else None,
        "train_examples": len(train_set),
        "train_examples_too_long": too_long,
        "val_examples": len(val_set) if val_set is not None else 0,
        "val_examples_too_long": val_too_long,
        "examples_seen": trainer.examples_seen,
        "tokens_seen": trainer.tokens_seen,
        "wall_time_s": round(wall, 2),
        "tokens_per_s": round(trainer.tokens_seen / wall, 1) if wall > 0 else None,
        "seconds_per_step": round(wall / max(state.global_step - _step_of(resume_from), 1), 3),
        "final_train_loss": train_losses[-1]["loss"] if train_losses else None,
        "mean_train_loss": result.training_loss if result is not None else summary.get("train_loss"),
        "final_val_loss": val_losses[-1]["eval_loss"] if val_losses else None,
        "train_loss": train_losses,
        "val_loss": val_losses,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if device == "cuda" else f"cpu ({platform.processor() or platform.machine()})",
        "stopped_at_time_limit": bool(time_limit and time_limit.reached),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
                     "peft": peft.__version__, "python": platform.python_version()},
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "previous_stages": _previous_stages(config.init_adapter),
    }
    (out / TRAINING_LOG).write_text(json.dumps(log, indent=2, default=str) + "\n", encoding="utf-8")
    if hasattr(trainer, "end"):  # transformers >= 5.18: finish trackers
        trainer.end()
    return TrainRun(out=out, trainer=trainer, log=log)


def _step_of(checkpoint: Path | None) -> int:
    return int(checkpoint.name.split("-")[-1]) if checkpoint else 0


def main(argv: list[str] | None = None) -> None:
    from transformers import HfArgumentParser

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (config,) = HfArgumentParser(TrainConfig).parse_args_into_dataclasses(args=argv)
    from tools.model_store import ModelUnavailable

    try:
        out = train(config)
    except (TrainConfigError, ModelUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"adapter saved to {out}")


if __name__ == "__main__":
    main()
