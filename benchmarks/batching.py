"""Does batching pay on this CPU? The cost of one llama.cpp forward pass against the tokens it carries.

    python benchmarks/batching.py [--adapter DIR] [--widths 1 2 4 8 16] [--repeats 20] [--out benchmarks/results/batching.json]

A decoding step computes one position per sequence; batching several questions (or verifying several
draft tokens of one) puts more positions in the same pass. That is free only while a pass is bound by
reading the weights rather than by arithmetic. Here, after a real ~650-token prompt of the sales dev set
is in the KV cache, passes of 1, 2, 4, ... positions are timed, each position with its logits (every
position of a batched decode needs its 262k-entry LM-head row, as every question of a batch does).
The positions are those of one sequence: the matrix products are the same as for as many sequences with
one token each, and attention over a shared prefix costs the same or more with several sequences.

Printed: ms per pass, ms per position and the speed-up over one position per pass. Then, end to end, the
first ``--questions`` prompts of the dev set answered one call at a time (prefix cache and prompt-lookup
drafts, as the chat runs) against all of them through :meth:`LlamaCppSQLLLM.prefetch` (8 sequences per
pass, the shared schema prefix computed once), and how many answers came out the same.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default=str(ROOT / "training" / "adapters" / "gemsql-270m"),
                        help="LoRA adapter merged into the GGUF ('none': the base model)")
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--questions", type=int, default=16, help="prompts for the end-to-end comparison (0: skip it)")
    parser.add_argument("--cases", default=str(ROOT.parent / "shared" / "eval" / "sales_dev.jsonl"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "batching.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from graph.context import Context
    from nodes.common import database_path
    from nodes.generate_sql import model_prompt
    from tools.gguf_export import export_gguf
    from tools.llama_llm import _loaded, default_threads
    from training.contextualize import front_state

    adapter = None if args.adapter.lower() == "none" else args.adapter
    question = json.loads(next(line for line in open(args.cases) if line.strip()))["question"]
    prompt = model_prompt(front_state(question, database_path(Context())))
    llama = _loaded(str(export_gguf(adapter=adapter, progress=False)), default_threads()).llama
    tokens = llama.tokenize(prompt.encode(), add_bos=True, special=True)
    llama.reset()
    llama.eval(tokens)
    ctx, batch, n_past = llama._ctx, llama._batch, llama.n_tokens
    filler = tokens[-max(args.widths):]  # real tokens, so that nothing degenerate is timed

    results = []
    for width in args.widths:
        times = []
        for _ in range(args.repeats + 1):
            batch.set_batch(batch=filler[:width], n_past=n_past, logits_all=True)
            started = time.perf_counter()
            ctx.decode(batch)
            times.append(time.perf_counter() - started)
            ctx.kv_cache_seq_rm(-1, n_past, -1)
        median = statistics.median(times[1:])  # the first pass of a width allocates its buffers
        results.append({"width": width, "ms_per_pass": round(median * 1000, 2),
                        "ms_per_position": round(median * 1000 / width, 2)})
    one = results[0]["ms_per_position"] if results and results[0]["width"] == 1 else None
    for row in results:
        row["speedup_vs_one"] = round(one / row["ms_per_position"], 2) if one else None

    answers = compare_answers(args.cases, args.questions, adapter) if args.questions else None
    report = {"command": "python benchmarks/batching.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "cpus": os.cpu_count(), "threads": default_threads(), "prompt_tokens": n_past,
              "adapter": adapter, "results": results, "answers": answers}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nforward passes after a {n_past}-token prompt, {default_threads()} threads, median of {args.repeats}\n")
    print(f"{'positions':>9} {'ms/pass':>8} {'ms/position':>11} {'speed-up':>8}")
    for row in results:
        print(f"{row['width']:>9} {row['ms_per_pass']:>8.1f} {row['ms_per_position']:>11.2f} {row['speedup_vs_one'] or 0:>7.2f}x")
    if answers:
        print(f"\n{answers['questions']} dev questions: one call each {answers['one_call_each_s']} s, "
              f"batched {answers['batched_s']} s; {answers['same_answers']} answers the same")
    print(f"\nsaved to {args.out}")
    return 0


def compare_answers(cases: str, n: int, adapter: str | None) -> dict:
    """The first ``n`` dev questions' prompts, answered one call at a time and then batched."""
    from graph.context import Context
    from nodes.common import database_path
    from nodes.generate_sql import model_llm, model_prompt
    from training.contextualize import front_state

    ctx = Context(engine="finetuned", backend="llamacpp", adapter=adapter or "none")
    questions = [json.loads(line)["question"] for line in open(cases) if line.strip()][:n]
    prompts = [model_prompt(front_state(q, database_path(ctx))) for q in questions]
    llm = model_llm(ctx)
    llm.invoke(prompts[-1])  # warm: the model loaded, the schema prefix cached
    llm.prefetch(prompts[-1:])  # and the batch context made
    started = time.perf_counter()
    one_each = [llm.invoke(p) for p in prompts]
    one_each_s = time.perf_counter() - started
    started = time.perf_counter()
    llm.prefetch(prompts)
    batched_s = time.perf_counter() - started
    batched = [llm.invoke(p) for p in prompts]
    return {"questions": len(prompts), "one_call_each_s": round(one_each_s, 2), "batched_s": round(batched_s, 2),
            "same_answers": sum(a == b for a, b in zip(one_each, batched))}


if __name__ == "__main__":
    raise SystemExit(main())
