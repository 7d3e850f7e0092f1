"""Where an answer's time goes, per question of the sales dev set, for each engine.

    python benchmarks/latency.py [--engine finetuned --engine ensemble] [--backend llamacpp --backend transformers]
                                 [--adapter DIR] [--draft 0 --draft 3] [--constrain off --constrain on]
                                 [--candidates 1 --candidates 5] [--limit N] [--out benchmarks/results/latency.json]

For every question: the seconds spent in each graph node (intent, entities, retrieval, generation,
validation, execution, chart, answer), and inside generation the prompt and new token counts and the
model's own seconds (prefill, decode, and how many prompt tokens the KV cache already held). Then, per
engine and backend: warm p50/p95 end to end; the cold start of ``gemsql ask`` (a new
process, to its first answer, with the model already converted); peak memory. In the same run, when
llama-cpp-python is installed, a plain llama.cpp call (create_completion) on the same GGUF with the same
prompt and the same number of new tokens is the reference. The questions are read at run time; nothing here is tuned
to them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NODES = ("intent", "entities", "retrieval", "generation", "validation", "execution", "chart", "answer")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run_questions(questions: list[str], engine: str, db: str | None, backend: str, adapter: str | None,
                  draft: int | None = None, constrain: bool | None = None, candidates: int | None = None) -> list[dict]:
    from graph.context import Context
    from graph.orchestrator import ask
    from nodes.generate_sql import model_llm

    ctx = Context(engine=engine, db_path=db or "", backend=backend, adapter=adapter)  # type: ignore[arg-type]
    if constrain is not None:
        ctx = ctx.with_overrides({"constrain_to_schema": constrain})
    label = f"{engine}/{ctx.model_backend()}" if engine != "template" else engine
    if constrain and engine != "template":
        label += "/schema"
    if candidates is not None and engine != "template":
        ctx = ctx.with_overrides({"candidates": candidates})
        label += f"/candidates{candidates}"
    if draft is not None and engine != "template" and ctx.model_backend() == "llamacpp":
        model_llm(ctx).draft_tokens = draft  # the shared LLM the graph calls
        label += f"/draft{draft}"
    rows = []
    ask(questions[0], ctx)  # warm-up: schema, executor, knowledge base, model
    for question in questions:
        llm = model_llm(ctx) if engine != "template" else None
        started = time.perf_counter()
        answer = ask(question, ctx)
        total = time.perf_counter() - started
        stats = dict(getattr(llm, "last_stats", {}) or {}) if llm is not None and answer.get("engine") != "template" else {}
        rows.append({"question": question, "run": label, "total_s": round(total, 4),
                     "attempts": answer.get("attempts"), "engine_used": answer.get("engine"),
                     "error": answer.get("error"), "nodes": answer.get("timings") or {}, "llm": stats,
                     "sql": answer.get("sql")})
        print(f"{label:22} {total:6.2f} s  {question[:60]}", file=sys.stderr, flush=True)
    return rows


def cold_start(question: str, engine: str, db: str | None, backend: str, adapter: str | None) -> list[dict]:
    """A new `gemsql ask` process to its first answer (the converted model and knowledge base already cached):
    once with no saved prompt state for the llama.cpp model (the first run on a database), then from the state
    the first run saved (both with GEMSQL_PROMPT_STATES=1, which the second needs: restoring is opt-in)."""
    cmd = [str(ROOT / ".venv" / "bin" / "gemsql"), "ask", "--json", "--engine", engine, "--backend", backend]
    if adapter:
        cmd += ["--adapter", adapter]
    if db:
        cmd += ["--db", db]
    runs = []
    for saved_state in (False, True):
        if not saved_state and backend != "transformers":
            from tools.gguf_export import export_gguf
            from tools.llama_llm import state_dir

            for file in state_dir(str(export_gguf(adapter=adapter, progress=False))).glob("*.npz"):
                file.unlink()
        started = time.perf_counter()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "GEMSQL_PROMPT_STATES": "1"}
        done = subprocess.run([*cmd, question], capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - started
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        answer = json.loads(done.stdout.splitlines()[0]) if done.stdout.strip() else {}
        runs.append({"engine": engine, "backend": backend, "saved_prompt_state": saved_state,
                     "seconds": round(seconds, 2), "answered": bool(answer.get("sql")), "error": answer.get("error"),
                     "peak_rss_mb_children": round(child_rss)})
        if backend == "transformers":
            break
    return runs


def llama_cpp_reference(prompts: list[str], new_tokens: list[int], adapter: str | None) -> dict | None:
    """The same prompts through a plain llama.cpp completion on the same GGUF, as many new tokens each."""
    from tools.llama_llm import _loaded, available, default_threads

    if not available():
        return None
    from tools.gguf_export import export_gguf

    gguf = export_gguf(adapter=adapter, progress=False)
    llm = _loaded(str(gguf), default_threads()).llama  # the backend's own settings, called plainly
    tokenized = [llm.tokenize(p.encode(), add_bos=True, special=True) for p in prompts]
    llm.create_completion(tokenized[0], max_tokens=4, temperature=0.0)  # warm-up
    times = []
    for tokens, n in zip(tokenized, new_tokens):
        started = time.perf_counter()
        llm.create_completion(tokens, max_tokens=max(1, n), temperature=0.0, top_k=1)
        times.append(time.perf_counter() - started)
    return {"model": gguf.name, "n": len(times),
            "p50_s": round(percentile(times, 0.5), 3), "p95_s": round(percentile(times, 0.95), 3)}


def summarise(rows: list[dict]) -> dict:
    totals = [r["total_s"] for r in rows]
    nodes = {n: round(statistics.median([r["nodes"].get(n, 0.0) for r in rows]), 4) for n in NODES}
    llm = [r["llm"] for r in rows if r["llm"]]

    def med(key: str):
        values = [s[key] for s in llm if key in s]
        return round(statistics.median(values), 3) if values else None

    return {"n": len(rows), "p50_s": round(percentile(totals, 0.5), 3), "p95_s": round(percentile(totals, 0.95), 3),
            "errors": sum(bool(r["error"]) for r in rows), "node_median_s": nodes,
            "prompt_tokens_median": med("prompt_tokens"), "new_tokens_median": med("new_tokens"),
            "cached_prompt_tokens_median": med("cached_prompt_tokens"), "generate_s_median": med("seconds"),
            "prefill_s_median": med("prefill_seconds"), "decode_s_median": med("decode_seconds"),
            "forward_passes_median": med("forward_passes"),
            "attempts_median": statistics.median([r["attempts"] or 0 for r in rows]) if rows else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=str(ROOT.parent / "shared" / "eval" / "sales_dev.jsonl"))
    parser.add_argument("--db", help="database (default: the bundled sales database)")
    parser.add_argument("--engine", action="append", help="finetuned (default), ensemble, template")
    parser.add_argument("--backend", action="append", help="llamacpp, transformers or auto (default: auto)")
    parser.add_argument("--adapter", help="LoRA adapter folder (default: the default engine's choice)")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--draft", type=int, action="append",
                        help="llama.cpp prompt-lookup draft tokens per pass (repeatable; 0: plain greedy; "
                             "default: the backend's own setting)")
    parser.add_argument("--constrain", choices=("on", "off"), action="append",
                        help="schema-constrained decoding (repeatable: --constrain off --constrain on compares both)")
    parser.add_argument("--candidates", type=int, action="append",
                        help="self-consistency: answers per first attempt (repeatable; default: the Context's)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-start measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "latency.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

    questions = [json.loads(line)["question"] for line in open(args.cases) if line.strip()][: args.limit]
    engines = args.engine or ["finetuned"]
    backends = args.backend or ["auto"]
    report: dict = {"cases": args.cases, "questions": len(questions), "cpus": os.cpu_count(),
                    "command": "python benchmarks/latency.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "runs": {}, "cold_start": [], "per_question": []}
    for engine in engines:
        for backend in (backends if engine != "template" else ["auto"]):
            for draft in (args.draft or [None]) if backend != "transformers" else [None]:
                for constrain in [c == "on" for c in args.constrain] if args.constrain else [None]:
                    for candidates in args.candidates or [None]:
                        rows = run_questions(questions, engine, args.db, backend, args.adapter, draft, constrain,
                                             candidates)
                        report["runs"][rows[0]["run"]] = summarise(rows)
                        report["per_question"] += rows
            if not args.no_cold:
                report["cold_start"] += cold_start(questions[0], engine, args.db, backend, args.adapter)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    model_rows = [r for r in report["per_question"] if r["llm"]]
    if model_rows:
        from graph.context import Context
        from nodes.generate_sql import model_prompt
        from training.contextualize import front_state

        ctx = Context(adapter=args.adapter)
        first_run = model_rows[0]["run"]
        model_rows = [r for r in model_rows if r["run"] == first_run]
        prompts = [model_prompt(front_state(r["question"], args.db or _default_db(ctx))) for r in model_rows]
        report["llama_cpp_reference"] = llama_cpp_reference(prompts, [r["llm"].get("new_tokens", 20) for r in model_rows],
                                                            ctx.model_adapter())

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    _print(report)
    print(f"\nsaved to {args.out}")
    return 0


def _default_db(ctx) -> str:
    from nodes.common import database_path

    return database_path(ctx)


def _print(report: dict) -> None:
    print(f"\n{report['questions']} questions from {report['cases']} on {report['cpus']} CPU cores\n")
    print(f"{'run':22} {'p50':>6} {'p95':>6} {'err':>3} {'prompt':>6} {'cached':>6} {'new':>4} {'prefill':>7} "
          f"{'decode':>7}  " + " ".join(f"{n[:7]:>7}" for n in NODES))
    for name, s in report["runs"].items():
        def f(v, w=7, d=3):
            return f"{v:{w}.{d}f}" if isinstance(v, (int, float)) else f"{'-':>{w}}"
        print(f"{name:22} {f(s['p50_s'], 6, 2)} {f(s['p95_s'], 6, 2)} {s['errors']:3d} {f(s['prompt_tokens_median'], 6, 0)} "
              f"{f(s.get('cached_prompt_tokens_median'), 6, 0)} {f(s['new_tokens_median'], 4, 0)} "
              f"{f(s.get('prefill_s_median'))} {f(s.get('decode_s_median'))}  "
              + " ".join(f(s["node_median_s"][n]) for n in NODES))
    for c in report["cold_start"]:
        state = "" if c["backend"] == "transformers" else (
            ", with a saved prompt state" if c["saved_prompt_state"] else ", without a saved prompt state")
        print(f"cold start {c['engine']}/{c['backend']}{state}: {c['seconds']} s to the first answer "
              f"(SQL written: {c['answered']})")
    ref = report.get("llama_cpp_reference")
    if ref:
        print(f"llama.cpp reference ({ref['model']}): p50 {ref['p50_s']} s, p95 {ref['p95_s']} s over {ref['n']} prompts")
    elif "llama_cpp_reference" in report:
        print("llama.cpp reference: llama-cpp-python is not installed")
    print(f"peak memory of this process: {report['peak_rss_mb']} MB")


if __name__ == "__main__":
    sys.exit(main())
