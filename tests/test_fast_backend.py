"""The CTranslate2 backend on the tiny random Gemma: export, cache, and the same greedy output as transformers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("ctranslate2")

from tools.fast_export import export_dir  # noqa: E402
from tools.fast_llm import FastSQLLLM  # noqa: E402
from tools.llm import GemmaSQLLLM  # noqa: E402
from tools.prompts import build_prompt  # noqa: E402

SCHEMA = "CREATE TABLE sales (id INTEGER, region VARCHAR, amount DOUBLE)"


@pytest.fixture(scope="module")
def exports(tiny_dir: Path, tiny_adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ct2")


def test_export_is_cached_and_rebuilt_when_the_adapter_changes(tiny_dir: Path, tiny_adapter: Path, exports: Path,
                                                               tmp_path: Path) -> None:
    first = export_dir(str(tiny_dir), str(tiny_adapter), root=exports, progress=False)
    assert (first / "model.bin").is_file() and (first / "tokenizer.json").is_file()
    stamp = (first / "model.bin").stat().st_mtime_ns
    assert export_dir(str(tiny_dir), str(tiny_adapter), root=exports, progress=False) == first
    assert (first / "model.bin").stat().st_mtime_ns == stamp  # reused, not rewritten

    changed = tmp_path / "adapter"
    shutil.copytree(tiny_adapter, changed)
    weights = changed / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight: a retrained adapter
    weights.write_bytes(bytes(data))
    assert export_dir(str(tiny_dir), str(changed), root=exports, progress=False) != first
    assert export_dir(str(tiny_dir), None, root=exports, progress=False) != first


def test_bad_quantization_is_a_clear_error(tiny_dir: Path, exports: Path) -> None:
    with pytest.raises(ValueError, match="quantization must be one of"):
        export_dir(str(tiny_dir), None, "int3", root=exports, progress=False)


@pytest.mark.parametrize("question", ["total amount by region", "how many sales"])
def test_same_greedy_text_as_transformers(tiny_dir: Path, tiny_adapter: Path, exports: Path,
                                          monkeypatch: pytest.MonkeyPatch, question: str) -> None:
    import tools.fast_export as fast_export

    real = fast_export.export_dir
    monkeypatch.setattr(fast_export, "export_dir", lambda *a, **k: real(*a, **{**k, "root": exports, "progress": False}))
    prompt = build_prompt(question, SCHEMA, context="Relevant tables: sales")
    # The random model writes no SQL: without the early exit both run the full max_new_tokens greedily.
    reference = GemmaSQLLLM(model_name=str(tiny_dir), adapter=str(tiny_adapter), max_new_tokens=12,
                            stop_when_not_sql=False)
    fast = FastSQLLLM(model_name=str(tiny_dir), adapter=str(tiny_adapter), max_new_tokens=12, stop_when_not_sql=False)
    expected = reference.invoke(prompt)
    assert fast.invoke(prompt) == expected
    assert fast.last_stats["cached_prefix_tokens"] > 0  # the schema part came from the static-prompt cache
    assert fast.invoke(prompt) == expected  # and a second call on the warm cache agrees
