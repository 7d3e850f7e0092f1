"""Execution accuracy and warm latency of each engine on the sales dev set (the foundation's figures).

    .venv/bin/python benchmarks/foundation.py [--cases ../shared/eval/sales_dev.jsonl] [--engines template finetuned]

Each engine answers every question through the compiled graph on the bundled sales database; its
result is compared with the gold SQL's result (evals.metrics.results_match). The first question of each
engine is a warm-up (model load) and is excluded from the latency figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evals.metrics import execute_for_eval, gold_orders_result, results_match  # noqa: E402
from graph.context import Context  # noqa: E402
from graph.orchestrator import ask  # noqa: E402
from tools.sales_db import ensure_default_db  # noqa: E402

DEFAULT_CASES = Path(__file__).resolve().parents[2] / "shared" / "eval" / "sales_dev.jsonl"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def run(cases_path: Path, engines: list[str], out: Path | None) -> dict:
    db = str(ensure_default_db())
    cases = [json.loads(line) for line in cases_path.read_text().splitlines() if line.strip()]
    con = duckdb.connect(db, read_only=True)
    gold = [execute_for_eval(con, case["sql"]) for case in cases]
    report: dict = {"db": db, "cases": str(cases_path), "n": len(cases), "engines": {}}
    for engine in engines:
        ctx = Context(db_path=db, engine=engine)
        ask("How many stores are there?", ctx)  # warm-up: model load, schema and executor caches
        hits, executed, latencies, rows = 0, 0, [], []
        for case, expected in zip(cases, gold):
            started = time.perf_counter()
            answer = ask(case["question"], ctx)
            latencies.append(time.perf_counter() - started)
            ok = answer["error"] is None and results_match(
                answer["columns"], answer["rows"], expected.columns, expected.rows,
                order_matters=gold_orders_result(case["sql"]))
            hits += ok
            executed += answer["error"] is None
            rows.append({"question": case["question"], "correct": ok, "sql": answer["sql"],
                         "engine": answer["engine"], "attempts": answer["attempts"], "error": answer["error"]})
            print(f"[{engine}] {'OK ' if ok else 'MISS'} {answer['latency_s']:.2f}s {case['question']}", file=sys.stderr)
        report["engines"][engine] = {
            "execution_accuracy": hits / len(cases),
            "execution_rate": executed / len(cases),
            "latency_p50_s": statistics.median(latencies),
            "latency_p95_s": percentile(latencies, 0.95),
            "cases": rows,
        }
    con.close()
    print(f"\n{'engine':<12} {'exec acc':>9} {'exec rate':>10} {'p50 s':>8} {'p95 s':>8}   (n={len(cases)})")
    for engine, r in report["engines"].items():
        print(f"{engine:<12} {r['execution_accuracy']:>9.3f} {r['execution_rate']:>10.3f} "
              f"{r['latency_p50_s']:>8.3f} {r['latency_p95_s']:>8.3f}")
    if out:
        out.write_text(json.dumps(report, indent=2, default=str))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES)
    parser.add_argument("--engines", nargs="+", default=["template", "finetuned", "ensemble"])
    parser.add_argument("--out", type=Path, help="write the full results as JSON")
    args = parser.parse_args()
    if not args.cases.is_file():
        sys.exit(f"no cases at {args.cases}")
    run(args.cases, args.engines, args.out)


if __name__ == "__main__":
    main()
