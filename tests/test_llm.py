"""Model loading (tools.model_store) and the LangChain LLM (tools.llm), on a tiny random Gemma 3.

The tiny model goes through exactly the code path of the real one (a save_pretrained folder loaded by
load_model); only the slow test at the end touches the real packaged weights.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch

from tiny_model import build_tiny_adapter, build_tiny_gemma
from tools.llm import GemmaSQLLLM, StopOnText, get_llm
from tools.model_store import ModelUnavailable, clear_cache, load_model, resolve_model_dir
from tools.prompts import END, STOP_SEQUENCES, build_prompt

SCHEMA = "CREATE TABLE orders (id INTEGER, region VARCHAR, amount DOUBLE);"
PROMPT = build_prompt("How many orders per region?", SCHEMA)


@pytest.fixture(scope="module", autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _logits(model, tokenizer) -> torch.Tensor:
    with torch.inference_mode():
        return model(**tokenizer(PROMPT, return_tensors="pt")).logits[0, -1].clone()


# --- model_store -------------------------------------------------------------------------------


def test_load_model_from_a_local_dir_is_cached(tiny_dir: Path) -> None:
    model, tokenizer = load_model(str(tiny_dir))
    assert load_model(str(tiny_dir)) == (model, tokenizer)
    assert model.dtype == torch.float32 and not model.training
    assert model.generation_config.do_sample is False
    assert tokenizer.convert_tokens_to_ids("<end_of_turn>") in model.generation_config.eos_token_id
    assert resolve_model_dir(str(tiny_dir)) == tiny_dir.resolve()


def test_adapter_changes_logits_without_touching_the_cached_base(tiny_dir: Path, tiny_adapter: Path) -> None:
    base, tokenizer = load_model(str(tiny_dir))
    before = _logits(base, tokenizer)
    tuned, _ = load_model(str(tiny_dir), adapter=str(tiny_adapter))
    assert tuned is not base
    assert load_model(str(tiny_dir), adapter=str(tiny_adapter))[0] is tuned
    assert not torch.allclose(_logits(tuned, tokenizer), before, atol=1e-4)
    # Merging must not have written into the base model's weights.
    assert torch.equal(_logits(base, tokenizer), before)
    # merge_and_unload leaves a plain transformers model, no LoRA layers on the forward path.
    assert type(tuned).__name__ == "Gemma3ForCausalLM"


def test_rewritten_adapter_is_reloaded(tiny_dir: Path, tiny_adapter: Path) -> None:
    tuned, _ = load_model(str(tiny_dir), adapter=str(tiny_adapter))
    later = time.time() + 5
    for file in tiny_adapter.iterdir():
        os.utime(file, (later, later))
    assert load_model(str(tiny_dir), adapter=str(tiny_adapter))[0] is not tuned


def test_missing_local_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="does not exist"):
        load_model(str(tmp_path / "no-such-model"))


def test_dir_without_model(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="not a model directory"):
        load_model(str(tmp_path))


def test_unknown_hub_id_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable) as info:
        load_model("gemsql-tests/no-such-model-anywhere")
    message = str(info.value)
    assert "'gemsql-tests/no-such-model-anywhere' is not on this machine" in message
    assert "offline" in message and "local directory" in message


def test_missing_adapter_dir(tiny_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="adapter directory .* does not exist"):
        load_model(str(tiny_dir), adapter=str(tmp_path / "no-adapter"))


def test_adapter_dir_without_config(tiny_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no adapter_config.json"):
        load_model(str(tiny_dir), adapter=str(tmp_path))


def test_broken_adapter(tiny_dir: Path, tiny_adapter: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    config = json.loads((tiny_adapter / "adapter_config.json").read_text())
    (broken / "adapter_config.json").write_text(json.dumps(config))
    (broken / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelUnavailable, match="could not be applied"):
        load_model(str(tiny_dir), adapter=str(broken))


# --- StopOnText ---------------------------------------------------------------------------------


def _stops_while_typing(tokenizer, continuation: str, stops: list[str]) -> list[tuple[str, bool]]:
    """Feed the continuation token by token; return (text so far, criteria says stop)."""
    prompt_ids = tokenizer(PROMPT)["input_ids"]
    new_ids = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    criteria = StopOnText(tokenizer, len(prompt_ids), stops)
    seen = []
    for k in range(1, len(new_ids) + 1):
        row = torch.tensor([prompt_ids + new_ids[:k]])
        seen.append((tokenizer.decode(new_ids[:k]), bool(criteria(row, None)[0])))
    return seen


@pytest.mark.parametrize(
    ("continuation", "stop_after"),
    [
        ("SELECT region, COUNT(*) FROM orders GROUP BY region; and more", "GROUP BY region;"),
        ("SELECT 'a;b' FROM orders WHERE x = 1; more", "WHERE x = 1;"),
        (f"SELECT 1{END}trailing", f"SELECT 1{END}"),
        ("```sql\nSELECT 1\n``` and text", "SELECT 1\n```"),
    ],
)
def test_stop_criteria_fires_exactly_when_the_stop_string_is_complete(
    tiny_dir: Path, continuation: str, stop_after: str
) -> None:
    _, tokenizer = load_model(str(tiny_dir))
    seen = _stops_while_typing(tokenizer, continuation, STOP_SEQUENCES)
    for text, stopped in seen:
        assert stopped == (stop_after in text), (text, stopped)
    assert any(stopped for _, stopped in seen)
    assert not seen[0][1]


# --- GemmaSQLLLM -------------------------------------------------------------------------------


def test_invoke_returns_a_deterministic_string(tiny_dir: Path) -> None:
    llm = GemmaSQLLLM(model_name=str(tiny_dir), max_new_tokens=12, stop_when_not_sql=False)
    first = llm.invoke(PROMPT)
    stats = dict(llm.last_stats)
    assert isinstance(first, str)
    assert llm.invoke(PROMPT) == first
    assert stats["prompt_tokens"] > 20 and 0 < stats["new_tokens"] <= 12 and stats["seconds"] > 0
    assert llm._llm_type == "gemsql-gemma"
    assert llm._identifying_params == {"model_name": str(tiny_dir), "adapter": None, "max_new_tokens": 12}


def test_max_new_tokens_is_respected(tiny_dir: Path) -> None:
    llm = GemmaSQLLLM(model_name=str(tiny_dir), max_new_tokens=16, stop_when_not_sql=False)
    llm.invoke(PROMPT)
    full = llm.last_stats["new_tokens"]
    for limit in (1, 4):
        llm.invoke(PROMPT, max_new_tokens=limit)
        # Greedy decoding follows one path: a shorter budget cuts the same path.
        assert llm.last_stats["new_tokens"] == min(limit, full)
    short = GemmaSQLLLM(model_name=str(tiny_dir), max_new_tokens=3, stop_when_not_sql=False)
    short.invoke(PROMPT)
    assert short.last_stats["new_tokens"] == min(3, full)


def test_caller_stop_string_cuts_generation(tiny_dir: Path) -> None:
    llm = GemmaSQLLLM(model_name=str(tiny_dir), max_new_tokens=24, stop_when_not_sql=False)
    text = llm.invoke(PROMPT)
    full = llm.last_stats["new_tokens"]
    candidates = [c for c in dict.fromkeys(text[1:]) if c.strip() and c != "\ufffd" and text.index(c) > 0]
    assert candidates, f"the tiny model should produce some text, got {text!r}"
    stop = candidates[len(candidates) // 2]
    cut = llm.invoke(PROMPT, stop=[stop])
    assert cut == text[: text.index(stop)]
    assert llm.last_stats["new_tokens"] < full


def test_adapter_llm_differs_from_base(tiny_dir: Path, tiny_adapter: Path) -> None:
    base = GemmaSQLLLM(model_name=str(tiny_dir), max_new_tokens=10, stop_when_not_sql=False).invoke(PROMPT)
    tuned = GemmaSQLLLM(model_name=str(tiny_dir), adapter=str(tiny_adapter), max_new_tokens=10,
                        stop_when_not_sql=False).invoke(PROMPT)
    assert isinstance(tuned, str) and tuned != base


def test_get_llm_is_cached(tiny_dir: Path) -> None:
    llm = get_llm(str(tiny_dir), None, 8)
    assert get_llm(str(tiny_dir), None, 8) is llm
    assert get_llm(str(tiny_dir), None, 9) is not llm
    assert llm.max_new_tokens == 8 and llm.model_name == str(tiny_dir)


def test_llm_reports_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable):
        GemmaSQLLLM(model_name=str(tmp_path / "nothing")).invoke(PROMPT)


# --- the real packaged model --------------------------------------------------------------------


@pytest.mark.slow
def test_real_packaged_model_converts_and_generates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer

    monkeypatch.setenv("GEMSQL_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model_dir = resolve_model_dir("gemma3-270m", progress=False)
    assert model_dir == tmp_path / "models" / "gemma3-270m"
    config = json.loads((model_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["Gemma3ForCausalLM"]
    assert json.loads((model_dir / "generation_config.json").read_text())["do_sample"] is False
    assert not [p for p in tmp_path.joinpath("models").iterdir() if p.name.startswith(".")]  # no temp left

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for special in ("<start_of_turn>", "<end_of_turn>"):
        assert tokenizer.tokenize(special) == [special]
    assert tokenizer.eos_token == "<eos>"

    llm = GemmaSQLLLM(model_name="gemma3-270m", max_new_tokens=8)
    try:
        out = llm.invoke(PROMPT)
        assert isinstance(out, str)
        assert 0 < llm.last_stats["new_tokens"] <= 8
    finally:
        clear_cache()  # ~1 GB of weights; do not keep them for the rest of the session


def test_generation_stops_when_the_answer_is_not_sql() -> None:
    from tools.llm import StopWhenNotSQL

    class Words:  # decodes ids as words, enough to drive the criterion
        vocab = ["<p>", "SELECT ", "count(*) ", "The ", "answer ", "```sql\n", "is "]

        def decode(self, ids, skip_special_tokens=True):
            return "".join(self.vocab[i] for i in ids)

    criterion = StopWhenNotSQL(Words(), prompt_length=1)
    ids = lambda *xs: torch.tensor([[0, *xs]])  # noqa: E731
    assert not criterion(ids(1), None)[0]            # 'SELECT ' is a query
    assert not criterion(ids(1, 2), None)[0]
    assert not criterion(ids(5), None)[0]            # an opening fence alone decides nothing
    assert not criterion(ids(5, 1), None)[0]         # fenced SQL is fine
    assert criterion(ids(3), None)[0]                # 'The ' is prose: stop now
    assert criterion(ids(3, 4, 6), None)[0]
    assert not criterion(torch.tensor([[0]]), None)[0]  # nothing generated yet
