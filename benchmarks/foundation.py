"""The foundation's figures: execution accuracy and warm per-question latency of each engine on the sales dev set.

    .venv/bin/python benchmarks/foundation.py [--engines template base ensemble] [--every K] [--json]

A thin wrapper over the evaluation runner (evals.runner), so the numbers are the ones `gemsql eval`
gives: every question goes through the compiled graph on the bundled sales database, the result is
compared with the gold SQL's, and a warm-up question per engine is excluded from the latency.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evals.runner import comparison_table, load_cases, resolve_configs, run_eval, select_cases  # noqa: E402
from gemsql.eval_cmd import shared_dir  # noqa: E402
from tools.sales_db import ensure_default_db  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=shared_dir() / "eval" / "sales_dev.jsonl")
    parser.add_argument("--engines", nargs="+", default=["template", "base", "ensemble"])
    parser.add_argument("--every", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    if not args.cases.is_file():
        sys.exit(f"no cases at {args.cases}")
    cases = select_cases(load_cases(args.cases), every=args.every)
    result = run_eval(cases, resolve_configs(args.engines), db=ensure_default_db(), dataset=args.cases.name,
                      command=" ".join(sys.argv), semantic=False)
    if args.json:
        print(json.dumps({name: {k: v for k, v in s.items() if k in (
            "n", "execution_accuracy", "execution_rate", "latency_p50_s", "latency_p95_s", "missing")}
            for name, s in result.summary.items()}, indent=2))
    else:
        from rich.console import Console

        Console(width=160).print(comparison_table(result))


if __name__ == "__main__":
    main()
