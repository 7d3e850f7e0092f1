"""training.combine: repeats across training files dropped, the rest shuffled reproducibly, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.combine import CombineError, combine

ROOT = Path(__file__).resolve().parents[1]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_repeats_are_dropped_and_the_order_is_reproducible(tmp_path: Path) -> None:
    first = _jsonl(tmp_path / "a.jsonl", [{"prompt": f"q{i}", "completion": f"SELECT {i}", "source": "a"} for i in range(20)])
    second = _jsonl(tmp_path / "b.jsonl", [{"prompt": "q3", "completion": "SELECT 3", "source": "b"},   # a repeat
                                            {"prompt": "q3", "completion": "SELECT 33"},                   # same prompt, new SQL
                                            {"text": "<start_of_turn>user\nq<end_of_turn>\n<start_of_turn>model\nSELECT 1"}])
    kept, read = combine([first, second], tmp_path / "out.jsonl", seed=3)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert (kept, read) == (22, 23) and len(rows) == 22
    assert [r.get("source") for r in rows if r.get("prompt") == "q3" and r["completion"] == "SELECT 3"] == ["a"]
    assert [r.get("prompt") for r in rows[:20]] != [f"q{i}" for i in range(20)]  # shuffled
    combine([first, second], tmp_path / "again.jsonl", seed=3)
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "out.jsonl").read_bytes()


def test_bad_input_is_named(tmp_path: Path) -> None:
    with pytest.raises(CombineError, match="not found"):
        combine([tmp_path / "missing.jsonl"], tmp_path / "out.jsonl")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "q", "completion": "SELECT 1"}\n{"question": "no example here"}\n')
    with pytest.raises(CombineError, match=r"broken.jsonl:2"):
        combine([broken], tmp_path / "out.jsonl")


def test_cli(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "a.jsonl", [{"prompt": "q", "completion": "SELECT 1"}] * 3)
    done = subprocess.run([sys.executable, "-m", "training.combine", "--out", str(tmp_path / "o.jsonl"), str(data)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "1 examples written" in done.stdout and "2 repeats of 3 dropped" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "training.combine", "--out", str(tmp_path / "o.jsonl"), "nope.jsonl"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and missing.stderr.strip() == "error: training file not found: nope.jsonl"
