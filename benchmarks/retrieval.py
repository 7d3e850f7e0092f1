"""Retrieval quality and warm latency of the knowledge base (kb.store) on the dev sets.

    .venv/bin/python benchmarks/retrieval.py [--json] [--sales-cases PATH] [--clinic-cases PATH]

For every case it compares what ``KnowledgeBase.retrieve`` links with what the gold SQL uses:

- table recall@k: the share of the gold SQL's tables (sqlglot, CTE names excluded) among the first k
  linked tables, averaged over cases; ``all@k`` is the share of cases with every gold table in the first k;
- value recall: the share of the gold SQL's string literals that are values of a low-cardinality column
  (the ones the model must spell exactly) found among the retrieved values, over all such literals;
- warm latency: one ``retrieve`` per question after a warm-up (model loaded, store open), with the
  entities computed beforehand as the graph does; p50/p95 in milliseconds.

The cases only measure here: nothing from them goes into the knowledge base.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlglot  # noqa: E402
from sqlglot import exp  # noqa: E402

from kb.store import KnowledgeBase  # noqa: E402
from tools.entities import extract_entities  # noqa: E402
from tools.schema import DatabaseSchema  # noqa: E402

SALES_CASES = ROOT.parent / "shared" / "eval" / "sales_dev.jsonl"
CLINIC_CASES = ROOT / "evals" / "cases" / "clinic_dev.jsonl"
KS = (1, 2, 3, 5)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def gold_tables(sql: str, schema: DatabaseSchema) -> set[str]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    out = set()
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if name not in ctes and schema.table(name) is not None:
            out.add(schema.table(name).name)
    return out


def gold_values(sql: str, schema: DatabaseSchema) -> set[str]:
    """String literals of the gold SQL that are values of a low-cardinality column."""
    known = {v for t in schema.tables for c in t.columns for v in c.values}
    tree = sqlglot.parse_one(sql, read="duckdb")
    return {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string and lit.this in known}


_QUOTED = re.compile(r"'((?:[^']|'')*)'")


def retrieved_values(lines: list[str]) -> set[str]:
    return {v.replace("''", "'") for line in lines for v in _QUOTED.findall(line)}


def evaluate(name: str, db: Path, cases: list[dict], k_schema: int) -> dict:
    started = time.perf_counter()
    kb = KnowledgeBase.open(db, progress=True)
    open_s = time.perf_counter() - started
    schema = kb.schema
    entities = [extract_entities(c["question"], schema) for c in cases]
    kb.retrieve("warm-up: how many rows are there in total", {})  # loads the model, opens the store

    table_recall = {k: [] for k in (*KS, "all")}
    table_all = {k: [] for k in (*KS, "all")}
    n_tables, gold_value_count, found_value_count, value_hits_cases = [], 0, 0, []
    latencies, misses = [], []
    for case, ents in zip(cases, entities):
        t0 = time.perf_counter()
        found = kb.retrieve(case["question"], ents, k_schema=k_schema)
        latencies.append((time.perf_counter() - t0) * 1000)
        gold = gold_tables(case["sql"], schema)
        tables = found["tables"]
        n_tables.append(len(tables))
        for k in (*KS, "all"):
            top = set(tables if k == "all" else tables[:k])
            if gold:
                table_recall[k].append(len(gold & top) / len(gold))
                table_all[k].append(float(gold <= top))
        values = gold_values(case["sql"], schema)
        got = retrieved_values(found["values"])
        gold_value_count += len(values)
        found_value_count += len(values & got)
        if values:
            value_hits_cases.append(float(values <= got))
        if not gold <= set(tables) or not values <= got:
            misses.append({"question": case["question"], "gold_tables": sorted(gold), "tables": tables,
                           "gold_values": sorted(values), "values": found["values"]})
    manifest = kb.manifest()
    return {
        "dataset": name,
        "db": str(db),
        "cases": len(cases),
        "documents": kb.count(),
        "kinds": manifest.get("kinds", {}),
        "examples": manifest.get("examples", ""),
        "open_s": round(open_s, 2),
        "table_recall": {str(k): round(statistics.mean(v), 3) if v else None for k, v in table_recall.items()},
        "table_all_found": {str(k): round(statistics.mean(v), 3) if v else None for k, v in table_all.items()},
        "tables_returned_mean": round(statistics.mean(n_tables), 2) if n_tables else None,
        "value_recall": round(found_value_count / gold_value_count, 3) if gold_value_count else None,
        "gold_values": gold_value_count,
        "cases_all_values_found": round(statistics.mean(value_hits_cases), 3) if value_hits_cases else None,
        "latency_ms": {"p50": round(percentile(latencies, 0.5), 1), "p95": round(percentile(latencies, 0.95), 1),
                       "mean": round(statistics.mean(latencies), 1) if latencies else None},
        "misses": misses,
    }


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales-cases", type=Path, default=SALES_CASES)
    parser.add_argument("--clinic-cases", type=Path, default=CLINIC_CASES)
    parser.add_argument("--k-schema", type=int, default=6)
    parser.add_argument("--json", action="store_true", help="Print the results as JSON (no table).")
    parser.add_argument("--misses", action="store_true", help="List the cases with a gold table or value missed.")
    args = parser.parse_args(argv)

    from evals.clinic_db import ensure_clinic_db
    from tools.sales_db import ensure_default_db

    results = []
    if args.sales_cases.is_file():
        results.append(evaluate("sales-dev", ensure_default_db(progress=True), load(args.sales_cases), args.k_schema))
    else:
        print(f"skipping sales-dev: no {args.sales_cases}", file=sys.stderr)
    if args.clinic_cases.is_file():
        results.append(evaluate("clinic-dev", ensure_clinic_db(progress=True), load(args.clinic_cases), args.k_schema))
    else:
        print(f"skipping clinic-dev: no {args.clinic_cases}", file=sys.stderr)

    if args.json:
        if not args.misses:
            for r in results:
                r.pop("misses")
        print(json.dumps(results, indent=2))
        return 0

    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped: a fixed width keeps the table readable
        console = Console(width=160)
    table = Table(title="Knowledge-base retrieval (recall of the gold SQL's tables and values)")
    for column in ("dataset", "cases", "docs", *[f"tables R@{k}" for k in KS], "tables R@all", "all@3",
                   "#tables", "value recall", "p50 ms", "p95 ms"):
        table.add_column(column, justify="right" if column != "dataset" else "left")
    for r in results:
        table.add_row(r["dataset"], str(r["cases"]), str(r["documents"]),
                      *[f"{r['table_recall'][str(k)]:.2f}" for k in KS], f"{r['table_recall']['all']:.2f}",
                      f"{r['table_all_found']['3']:.2f}", f"{r['tables_returned_mean']:.1f}",
                      f"{r['value_recall']:.2f} ({r['gold_values']})" if r["value_recall"] is not None else "-",
                      f"{r['latency_ms']['p50']:.0f}", f"{r['latency_ms']['p95']:.0f}")
    console.print(table)
    for r in results:
        console.print(f"[bold]{r['dataset']}[/]: {r['examples']}")
        if args.misses:
            for m in r["misses"]:
                console.print(f"  miss: {m['question']!r} gold {m['gold_tables']} {m['gold_values']} -> "
                              f"{m['tables']} {m['values']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
