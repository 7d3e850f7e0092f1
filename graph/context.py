"""Runtime settings of the text-to-SQL graph: which database, which engine, how many retries."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

EngineName = Literal["template", "finetuned", "ensemble", "hybrid"]
ENGINES: tuple[str, ...] = ("template", "finetuned", "ensemble", "hybrid")
BackendName = Literal["auto", "llamacpp", "transformers"]
BACKENDS: tuple[str, ...] = ("auto", "llamacpp", "transformers")

DEFAULT_MODEL = "gemma3-270m"
# Where the shipped LoRA adapter lives once the fine-tuning issue has trained it.
DEFAULT_ADAPTER_DIR = Path(__file__).resolve().parents[1] / "training" / "adapters" / "gemsql-270m"
# The shipped adapter (two GPU runs, 7.6 min, ~24,000 examples; see its model card) is the default model
# behind the default 'hybrid' engine: the template engine answers the questions it knows (96% of the sales dev
# set), the adapter the rest (92% of the sales dev set on its own with five candidates, 28-51% of unseen
# schemas, where the untuned base model writes no usable SQL at all). Ask for the base model with --adapter none.
USE_SHIPPED_ADAPTER_BY_DEFAULT = True


@dataclass(kw_only=True, frozen=True)
class Context:
    """Settings for one run of the graph. Every field can be overridden per question."""

    db_path: str = field(
        default="",
        metadata={"description": "Path of the DuckDB file to query. Empty: the bundled sales database, built on first use."},
    )
    engine: EngineName = field(
        default="hybrid",
        metadata={"description": "Who writes the SQL: 'template' (rules), 'finetuned' (the Gemma model), "
                                 "'ensemble' (the model first, the template engine as fallback), 'hybrid' (the "
                                 "template engine where it knows the question, the model for the rest and to "
                                 "correct a template's error)."},
    )
    model: str = field(
        default=DEFAULT_MODEL,
        metadata={"description": "Base model: 'gemma3-270m' (the bundled GGUF, converted once), an HF id or a local path."},
    )
    adapter: str | None = field(
        default=None,
        metadata={"description": "Directory of a LoRA adapter to apply on the base model. None: the default adapter "
                                 "for the default model (training/adapters/gemsql-270m); 'none': the base model alone."},
    )
    backend: BackendName = field(
        default="auto",
        metadata={"description": "What runs the model: 'llamacpp' (fast; the packaged model, adapter merged into a "
                                 "cached GGUF), 'transformers' (the training and reference path), or 'auto' "
                                 "(llama.cpp where it is installed and can run the model, else transformers)."},
    )
    use_rag: bool = field(
        default=True,
        metadata={"description": "Ground the prompt with retrieved context (linked tables, values, examples)."},
    )
    max_retries: int = field(
        default=2,
        metadata={"description": "How many times the model may correct its SQL after a validation or execution error."},
    )
    row_limit: int = field(
        default=1000,
        metadata={"description": "Most rows returned to the user; the result is flagged as truncated beyond it."},
    )
    timeout: float = field(
        default=10.0,
        metadata={"description": "Seconds a query may run before it is stopped."},
    )
    memory_limit: str = field(
        default="2GB",
        metadata={"description": "DuckDB memory limit for executing a query (the executing process is capped too)."},
    )
    constrain_to_schema: bool = field(
        default=False,
        metadata={"description": "Schema-constrained decoding: where the model's next token would name a table or "
                                 "column the database does not have, it takes the most likely one that exists."},
    )
    constrain_retries: bool = field(
        default=True,
        metadata={"description": "Schema-constrained decoding for the model's retries only: its first answer is "
                                 "free, a correction after an error (most often a name the database does not "
                                 "have) may only name tables and columns that exist. Measured no worse than "
                                 "free retries on sales dev, clinic and Spider dev, with more queries that run."},
    )
    candidates: int = field(
        default=5,
        metadata={"description": "Self-consistency: how many answers the model writes for its first attempt (the "
                                 "greedy one and the rest sampled); each runs read-only and the result most of "
                                 "them return wins. Measured better than the greedy answer alone on sales dev, "
                                 "clinic and two Spider dev samples, for ~1.9 s more per model answer. 1: the "
                                 "greedy answer alone (fastest)."},
    )
    max_new_tokens: int = field(
        default=160,
        metadata={"description": "Most tokens the model may generate for one SQL statement."},
    )

    def with_overrides(self, overrides: dict[str, Any] | None) -> "Context":
        """A copy with per-question overrides applied; unknown keys raise a clear ValueError."""
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        ctx = replace(self, **{k: v for k, v in overrides.items() if v is not None})
        ctx.check()
        return ctx

    def model_adapter(self) -> str | None:
        """The adapter actually applied: the one given, else the default one for the default model, else none."""
        if self.adapter is not None:
            return None if self.adapter.strip().lower() in ("", "none") else self.adapter
        shipped = DEFAULT_ADAPTER_DIR / "adapter_config.json"
        if USE_SHIPPED_ADAPTER_BY_DEFAULT and self.model == DEFAULT_MODEL and shipped.is_file():
            return str(DEFAULT_ADAPTER_DIR)
        return None

    def model_backend(self) -> str:
        """The backend actually used: llama.cpp when asked or when 'auto' finds it able to run this model."""
        if self.backend != "auto":
            return self.backend
        from tools.llama_llm import available

        return "llamacpp" if self.model == DEFAULT_MODEL and available() else "transformers"

    def check(self) -> None:
        """Raise ValueError on settings that cannot work, before any work is done."""
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if not 0 <= int(self.max_retries) <= 10:
            raise ValueError("max_retries must be between 0 and 10")
        if not 1 <= int(self.candidates) <= 16:
            raise ValueError("candidates must be between 1 and 16")
        if not 1 <= int(self.row_limit) <= 1_000_000:
            raise ValueError("row_limit must be between 1 and 1,000,000")
        if not 0 < float(self.timeout) <= 3600:
            raise ValueError("timeout must be between 0 and 3600 seconds")
