"""Accuracy against training time: every checkpoint of a run, evaluated with the evaluation harness.

Each checkpoint under ``<adapter>/checkpoints/`` is a LoRA adapter; it runs the ``finetuned+rag``
configuration on a set of cases through the same runner as ``gemsql eval``. The training time of a
checkpoint is when it was written, counted from the start of the run (``training_log.json`` gives the
end and the wall time), so the table shows where more minutes stop buying accuracy::

    python -m training.curve --adapter training/adapters/gemsql-270m --cases sales-dev --every 2 \\
        --out training/adapters/gemsql-270m/curve.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import datetime
from pathlib import Path


def checkpoints(adapter: Path) -> list[Path]:
    found = [p for p in (adapter / "checkpoints").glob("checkpoint-*") if (p / "adapter_config.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[1]))


def run_start(adapter: Path) -> tuple[float, int]:
    """(start of the training run as a timestamp, examples per optimizer step)."""
    log = json.loads((adapter / "training_log.json").read_text())
    finished = datetime.strptime(log["finished_at"], "%Y-%m-%dT%H:%M:%S%z").timestamp()
    per_step = log["config"]["batch_size"] * log["config"]["grad_accum"]
    return finished - log["wall_time_s"], per_step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--cases", default="sales-dev")
    parser.add_argument("--db", type=Path)
    parser.add_argument("--db-dir", type=Path)
    parser.add_argument("--every", type=int)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--config", default="finetuned+rag", help="the evaluation configuration to run")
    parser.add_argument("--model", help="base model the adapter was trained on (default: gemma3-270m)")
    parser.add_argument("--steps", help="only these checkpoint steps, e.g. 40,80,120 (default: every checkpoint)")
    parser.add_argument("--backend", default="auto", help="what runs the model: auto, llamacpp or transformers")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from evals.runner import load_cases, resolve_configs, run_eval, select_cases
    from gemsql.eval_cmd import _shortcut

    start, per_step = run_start(args.adapter)
    cases_file, db, db_dir, _label = _shortcut(args.cases) or (Path(args.cases), None, None, args.cases)
    db, db_dir = args.db or db, args.db_dir or db_dir
    cases = select_cases(load_cases(cases_file), args.every, args.limit)
    found = checkpoints(args.adapter)
    if args.steps:
        wanted = {int(step) for step in args.steps.split(",")}
        found = [c for c in found if int(c.name.rsplit("-", 1)[1]) in wanted]
    # An adapter trained in stages (gemsql train --init-adapter): its curve starts where the earlier stages left
    # it, with their time and examples counted in.
    log = json.loads((args.adapter / "training_log.json").read_text())
    stages = log.get("previous_stages") or []
    prior_minutes = sum(s.get("wall_time_s") or 0 for s in stages) / 60
    prior_examples = sum(s.get("examples_seen") or 0 for s in stages)
    init = log["config"].get("init_adapter")
    starts = [Path(init)] if init and (Path(init) / "adapter_config.json").is_file() else []
    targets = [*starts, *found, args.adapter]
    points = []
    for target in targets:
        config = resolve_configs([args.config], adapter=target, model=args.model, backend=args.backend)[0]
        if config.missing:
            print(f"{target}: {config.missing}", file=sys.stderr)
            continue
        result = run_eval(cases, [config], db=db, db_dir=db_dir, dataset=args.cases, semantic=False)
        summary = result.summary[config.name]
        if "execution_accuracy" not in summary:  # the model could not load: say why, keep the other points
            print(f"{target}: {summary.get('missing') or summary.get('note')}", file=sys.stderr)
            continue
        if target in starts:
            step, minutes = 0, 0.0
        elif target == args.adapter:
            step, minutes = log["global_step"], log["wall_time_s"] / 60
        else:
            step = int(target.name.rsplit("-", 1)[1])
            minutes = (target.stat().st_mtime - start) / 60
        points.append({"step": step, "examples": prior_examples + step * per_step, "minutes": round(prior_minutes + minutes, 2),
                       "stage": len(stages) + 1,
                       "execution_accuracy": summary["execution_accuracy"], "execution_rate": summary["execution_rate"],
                       "latency_p50_s": summary["latency_p50_s"], "n": summary["n"]})
        print(json.dumps(points[-1]), flush=True)
    command = "python -m training.curve " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    args.out.write_text(json.dumps({"command": command, "cases": args.cases, "config": args.config,
                                    "points": points}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
