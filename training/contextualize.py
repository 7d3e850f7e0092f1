"""Training prompts built exactly as inference builds them, RAG context included.

A generated pair only says (question, SQL, database). What the model reads at run time is more: the graph
classifies the question, links its entities, retrieves tables, values, worked examples and glossary
entries from the knowledge base, and ``nodes.generate_sql.model_prompt`` lays all that out. Training on
anything else teaches a prompt the runtime never shows, so this module runs those very nodes for each
pair and keeps the prompt they produce.

One difference is deliberate: the knowledge base of the sales database holds generated pairs, so a
training question could retrieve itself as a worked example and the model would learn to copy. Its own
question is always removed from its examples and, for half of the pairs (chosen by a stable hash), every
example with the same SQL too, so the model also learns to adapt a near example instead of copying it.

    python -m training.contextualize --data data/training_data_train.jsonl --out data/train_rag.jsonl \\
        --mix sales=0.5,active_store=0.1,domain=0.2,spider_train=0.2 --n 1200
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from langgraph.types import Overwrite

from graph.context import Context
from graph.state import State
from kb.store import is_filtered
from training.phrasing import normalise_question

log = logging.getLogger("gemsql")


def _same_sql(a: str, b: str) -> bool:
    def norm(sql: str) -> str:
        return re.sub(r"\s+", " ", sql.strip().lower().rstrip(";"))

    return norm(a) == norm(b)


def _stable_half(key: str) -> bool:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 2 == 0


def front_state(question: str, db_path: str, *, use_rag: bool = True) -> State:
    """The state the graph holds when it reaches generation, computed by the graph's own nodes."""
    from nodes.classify_intent import classify_intent
    from nodes.extract_entities import extract_entities
    from nodes.retrieve_context import retrieve_context

    runtime = SimpleNamespace(context=Context(db_path=db_path, engine="finetuned", use_rag=use_rag))
    state = State(question=question)
    for node in (classify_intent, extract_entities, retrieve_context):
        update = node(state, runtime)
        if update.get("error"):
            raise ValueError(update["error"])
        update.pop("timings", None)
        # Applied as LangGraph applies it: the first node overwrites the per-question fields with their defaults.
        update = {k: v.value if isinstance(v, Overwrite) else v for k, v in update.items()}
        state = dataclasses.replace(state, **update)
    return state


def without_answer(retrieved: dict[str, Any], question: str, sql: str, *, drop_same_sql: bool) -> dict[str, Any]:
    """``retrieved`` without the pair itself among its worked examples (and without its SQL, if asked)."""
    examples = [
        ex for ex in retrieved.get("examples", [])
        # Questions compare as the generator's dedup compares them, so "the pair itself" means the same thing.
        if normalise_question(ex["question"]) != normalise_question(question)
        and not (drop_same_sql and _same_sql(ex["sql"], sql))
    ]
    return {**retrieved, "examples": examples}


def training_state(question: str, sql: str, db_path: str, *, use_rag: bool = True) -> State:
    """The graph's state at generation for a generated pair, the pair itself kept out of its examples."""
    state = front_state(question, db_path, use_rag=use_rag)
    retrieved = without_answer(state.retrieved, question, sql, drop_same_sql=_stable_half(question + sql))
    return dataclasses.replace(state, retrieved=retrieved)


def training_pair(question: str, sql: str, db_path: str, *, use_rag: bool = True) -> dict[str, str]:
    """{prompt, completion} for one generated pair: the runtime prompt, the gold SQL, then the end of turn."""
    from nodes.generate_sql import model_prompt
    from tools.prompts import END

    state = training_state(question, sql, db_path, use_rag=use_rag)
    return {"prompt": model_prompt(state), "completion": sql.strip() + END}


def _family(source: str) -> str:
    return "domain" if source.startswith("domain:") else source


def choose(records: list[dict], mix: dict[str, float], n: int, seed: int = 7, unfiltered: float = 0.0) -> list[dict]:
    """``n`` records drawn per family in the proportions of ``mix``, spread over templates and databases.

    ``unfiltered`` is the least share of each family's picks whose SQL has no WHERE (as far as the family
    has them): generated questions nearly always name a period or a value, and a model trained on those
    alone adds a filter to every question, asked or not.
    """
    by_family: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_family[_family(record["source"])].append(record)
    rng = random.Random(seed)
    chosen: list[dict] = []
    total = sum(mix.values())
    for family, share in sorted(mix.items()):
        pool = by_family.get(family, [])
        want = min(len(pool), round(n * share / total))
        plain = [r for r in pool if not is_filtered(r["sql"])]
        want_plain = min(len(plain), round(want * unfiltered))
        picked = _round_robin(plain, want_plain, rng)
        taken = {id(r) for r in picked}
        chosen += picked + _round_robin([r for r in pool if id(r) not in taken], want - len(picked), rng)
    rng.shuffle(chosen)
    return chosen


def _round_robin(pool: list[dict], want: int, rng: random.Random) -> list[dict]:
    """``want`` records taken in turn from each (database, template) so that no template dominates."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for record in pool:
        groups[(record["db"], record.get("template", ""))].append(record)
    queues = [rng.sample(g, len(g)) for _, g in sorted(groups.items())]
    rng.shuffle(queues)
    picked: list[dict] = []
    while queues and len(picked) < want:
        for queue in list(queues):
            if len(picked) >= want:
                break
            picked.append(queue.pop())
            if not queue:
                queues.remove(queue)
    return picked


def _parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        mix[name.strip()] = float(share)
    return mix


def read_generated(data: Path, dbs: str | None = None) -> tuple[list[dict], dict[str, str]]:
    """The records of a training.generator JSONL, and its database names -> paths (``<stem>_dbs.json`` beside it
    unless ``dbs`` names the file)."""
    dbs_file = Path(dbs) if dbs else data.with_name(re.sub(r"_(train|val|heldout)$", "", data.stem) + "_dbs.json")
    records = [json.loads(line) for line in data.open() if line.strip()]
    return records, json.loads(dbs_file.read_text())


def write_prompts(records: list[dict], dbs: dict[str, str], make: Callable[[dict, str], dict | None], out: Path,
                  label: str) -> tuple[int, int]:
    """``make(record, db_path)`` for each record, written to ``out`` as JSON lines with the record's source,
    database and template, behind a progress bar (through a temporary file, so ``out`` is whole or absent).

    A record that ``make`` answers with None is left out; one that raises is skipped with a warning, so one
    odd database does not lose the others. Returns (written, skipped)."""
    from rich.progress import Progress

    written = skipped = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w") as handle, Progress() as progress:
        task = progress.add_task(label, total=len(records))
        for record in records:
            try:
                pair = make(record, dbs[record["db"]])
            except Exception as exc:  # noqa: BLE001
                pair = None
                skipped += 1
                log.warning("skipped %r on %s: %s", record["question"], record["db"], exc)
            if pair is not None:
                handle.write(json.dumps({**pair, "source": record["source"], "db": record["db"],
                                         "template": record.get("template", "")}) + "\n")
                written += 1
            progress.advance(task)
    tmp.replace(out)
    return written, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="training.generator JSONL (train or val split)")
    parser.add_argument("--dbs", help="its <stem>_dbs.json (default: beside --data)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=1200)
    parser.add_argument("--mix", default="sales=0.5,active_store=0.1,domain=0.2,spider_train=0.2")
    parser.add_argument("--no-rag", action="store_true", help="prompts without the knowledge base")
    parser.add_argument("--unfiltered", type=float, default=0.0,
                        help="least share of each family's pairs whose SQL has no WHERE (e.g. 0.35)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    records, dbs = read_generated(Path(args.data), args.dbs)
    chosen = choose(records, _parse_mix(args.mix), args.n, seed=args.seed, unfiltered=args.unfiltered)
    started = time.perf_counter()
    written, failed = write_prompts(
        chosen, dbs, lambda record, db_path: training_pair(record["question"], record["sql"], db_path,
                                                           use_rag=not args.no_rag),
        Path(args.out), "training prompts")
    print(f"{written} prompts written to {args.out} ({failed} skipped) in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
