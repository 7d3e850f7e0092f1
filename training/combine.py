"""Join training JSONL files into one training set: exact repeats dropped, the rest shuffled.

Several ``training.contextualize`` / ``training.repairs`` draws overlap (different seeds pick some of the same
pairs, and a pair without retrieved examples to drop gives the same prompt every time); a repeated example
would only weigh its pair twice. Two lines are the same example when they give the same prompt and completion as
the trainer reads them (``training.train.pair_from_record``: either format); the first is kept::

    python -m training.combine --out data/train_gpu1.jsonl --seed 7 data/train_rag5.jsonl data/repairs5.jsonl ...
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterable
from pathlib import Path

from training.train import pair_from_record


class CombineError(ValueError):
    """A missing or unreadable input file: the message names it and the line."""


def combine(paths: Iterable[str | Path], out: str | Path, *, seed: int = 7) -> tuple[int, int]:
    """Write the distinct examples of ``paths`` to ``out`` in an order shuffled by ``seed``; returns (kept, read)."""
    seen: set[tuple] = set()
    rows: list[str] = []
    read = 0
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise CombineError(f"training file not found: {path}")
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    key = pair_from_record(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise CombineError(f"{path}:{number}: not a training example ({exc})") from None
                if key is None:
                    raise CombineError(f"{path}:{number}: not a training example (no prompt/completion and no "
                                       "Gemma-format text)")
                read += 1
                if key not in seen:
                    seen.add(key)
                    rows.append(line if line.endswith("\n") else line + "\n")
    random.Random(seed).shuffle(rows)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(rows), encoding="utf-8")
    return len(rows), read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.combine", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="training JSONL files, in order (the first of two repeats is kept)")
    parser.add_argument("--out", required=True, help="the combined JSONL file")
    parser.add_argument("--seed", type=int, default=7, help="shuffle seed")
    args = parser.parse_args(argv)
    try:
        kept, read = combine(args.files, args.out, seed=args.seed)
    except CombineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{kept} examples written to {args.out} ({read - kept} repeats of {read} dropped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
