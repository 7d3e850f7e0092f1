"""LoRA fine-tuning on the tiny random Gemma: training, the completion-only loss, resume, merge, push, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tools.prompts import build_training_example

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = (
    "CREATE TABLE sales (id INTEGER, region VARCHAR, amount DOUBLE, sold_at DATE);\n"
    "CREATE TABLE customers (id INTEGER, name VARCHAR, country VARCHAR)"
)
PAIRS = [
    ("total sales by region", "SELECT region, SUM(amount) AS total FROM sales GROUP BY region"),
    ("how many sales are there", "SELECT COUNT(*) FROM sales"),
    ("biggest sale", "SELECT MAX(amount) FROM sales"),
    ("sales in 2024", "SELECT SUM(amount) FROM sales WHERE year(sold_at) = 2024"),
    ("customers in Germany", "SELECT name FROM customers WHERE country = 'Germany'"),
    ("number of customers per country", "SELECT country, COUNT(*) FROM customers GROUP BY country"),
    ("average sale amount", "SELECT AVG(amount) FROM sales"),
    ("top 3 regions", "SELECT region, SUM(amount) AS total FROM sales GROUP BY region ORDER BY total DESC LIMIT 3"),
]
# Small, fast runs: one thread (the CI box is shared), tiny LoRA, a learning rate big enough to move the logits.
FAST = dict(batch_size=2, grad_accum=1, lora_r=4, lora_alpha=8, lr=5e-3, threads=1, progress=False, logging_steps=1)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("train-data")
    rows = [build_training_example(q, s, SCHEMA) for q, s in PAIRS] * 2  # 16 examples
    val = [build_training_example(q, s + " LIMIT 5", SCHEMA) for q, s in PAIRS[:4]]
    return _write_jsonl(folder / "train.jsonl", rows), _write_jsonl(folder / "val.jsonl", val)


@pytest.fixture(scope="module")
def run(tiny_dir: Path, data_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    from training.train import TrainConfig, run_training

    train_file, val_file = data_files
    out = tmp_path_factory.mktemp("train-run") / "adapter"
    config = TrainConfig(base=str(tiny_dir), data=[str(train_file)], val_data=str(val_file), out=str(out),
                         max_steps=4, save_steps=2, eval_steps=2, **FAST)
    return run_training(config)


def _prompt_ids(tokenizer) -> torch.Tensor:
    from tools.prompts import build_prompt

    return tokenizer(build_prompt("total sales by region", SCHEMA), return_tensors="pt")["input_ids"]


# ------------------------------------------------------------------------------------------------ data


def test_load_examples_reads_both_formats_and_skips_malformed(tmp_path: Path, caplog) -> None:
    from training.train import MODEL_TURN, load_examples

    pair = build_training_example("how many sales", "SELECT COUNT(*) FROM sales", SCHEMA)
    # A question that itself mentions the model turn: the split must happen at the LAST marker.
    tricky = build_training_example(f"what does {MODEL_TURN.strip()} mean", "SELECT 1", SCHEMA)
    generator_line = {"question": "q", "sql": "SELECT 1", "db": "sales", "text": tricky["prompt"] + tricky["completion"]}
    lines = [json.dumps(pair), json.dumps(generator_line), "not json", json.dumps({"question": "no sql"}),
             json.dumps({"text": "no model turn here"}), ""]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="training.train"):
        ds = load_examples([path])
    assert ds.column_names == ["prompt", "completion"] and len(ds) == 2
    assert ds[0] == pair
    assert ds[1] == tricky
    assert ds[1]["prompt"].endswith(MODEL_TURN) and ds[1]["completion"] == "SELECT 1<end_of_turn>"
    assert "skipped 3 malformed" in caplog.text


def test_tokenize_keeps_inference_prompt_ids_and_drops_too_long(tiny_dir: Path) -> None:
    from datasets import Dataset
    from transformers import AutoTokenizer

    from training.train import tokenize_examples

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    rows = [build_training_example(q, s, SCHEMA) for q, s in PAIRS[:3]]
    ds = Dataset.from_list(rows)
    encoded, dropped = tokenize_examples(ds, tokenizer, None)
    assert dropped == 0
    for row, enc in zip(rows, encoded):
        prompt_ids = tokenizer(row["prompt"])["input_ids"]  # exactly what inference feeds the model
        n = len(prompt_ids)
        assert enc["input_ids"][:n] == prompt_ids
        assert enc["completion_mask"] == [0] * n + [1] * (len(enc["input_ids"]) - n)
        assert tokenizer.decode(enc["input_ids"][n:]) == row["completion"]  # nothing appended (no extra <eos>)
    shortest = min(len(e["input_ids"]) for e in encoded)
    kept, dropped = tokenize_examples(ds, tokenizer, shortest)
    assert len(kept) == 1 and dropped == 2


def test_parse_lora_layers() -> None:
    from training.train import TrainConfigError, parse_lora_layers

    assert parse_lora_layers(None, 18) is None
    assert parse_lora_layers("all", 18) is None
    assert parse_lora_layers("last:6", 18) == [12, 13, 14, 15, 16, 17]
    assert parse_lora_layers("first:2", 18) == [0, 1]
    assert parse_lora_layers("3, 1", 18) == [1, 3]
    for bad in ("last:0", "last:19", "middle:2", "x", "18"):
        with pytest.raises(TrainConfigError):
            parse_lora_layers(bad, 18)


# ---------------------------------------------------------------------------------------------- training


def test_training_writes_a_small_adapter_and_log(run) -> None:
    out = run.out
    for name in ("adapter_model.safetensors", "adapter_config.json", "training_log.json", "tokenizer.json"):
        assert (out / name).is_file(), name
    assert not list(out.glob("model*.safetensors")), "only the adapter is saved, never the base weights"
    log = json.loads((out / "training_log.json").read_text())
    assert log["global_step"] == 4 and log["examples_seen"] == 8
    assert log["train_loss"] and all(e["loss"] > 0 for e in log["train_loss"])
    assert [e["step"] for e in log["val_loss"]] == [2, 4]
    assert log["tokens_per_s"] > 0 and log["wall_time_s"] > 0 and log["base"]
    assert log["config"]["lora_r"] == 4 and log["trainable_params"] < log["total_params"]
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]


def test_lora_moved_and_base_did_not(run, tiny_dir: Path) -> None:
    from safetensors.torch import load_file

    adapter = load_file(run.out / "adapter_model.safetensors")
    lora_b = {k: v for k, v in adapter.items() if "lora_B" in k}
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b.values())  # initialised to zero, trained away from it
    assert all("base_layer" not in k for k in adapter)
    original = load_file(tiny_dir / "model.safetensors")
    trained = run.trainer.model.get_base_model().state_dict()
    name = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(trained[name.replace("q_proj.weight", "q_proj.base_layer.weight")], original[name])
    assert torch.equal(trained["model.embed_tokens.weight"], original["model.embed_tokens.weight"])


def test_adapter_loads_through_model_store_and_changes_logits(run, tiny_dir: Path) -> None:
    from tools.model_store import load_model

    base, tokenizer = load_model(str(tiny_dir))
    tuned, _ = load_model(str(tiny_dir), str(run.out))
    ids = _prompt_ids(tokenizer)
    with torch.no_grad():
        diff = (tuned(ids).logits - base(ids).logits).abs().max().item()
    assert diff > 1e-3


def test_completion_only_loss_equals_full_logits_loss(run, data_files: tuple[Path, Path]) -> None:
    from training.train import completion_only_loss, load_examples, tokenize_examples

    trainer = run.trainer
    model = trainer.model
    encoded, _ = tokenize_examples(load_examples([data_files[0]]).select(range(3, 7)), trainer.processing_class, None)
    batch = trainer.data_collator([{"input_ids": e["input_ids"], "labels": [t if m else -100 for t, m in
                                    zip(e["input_ids"], e["completion_mask"])]} for e in encoded])
    assert (batch["attention_mask"] == 0).any(), "the batch should include padding"
    model.eval()
    try:
        ours, stats = completion_only_loss(model, dict(batch))
        full = model(**batch, use_cache=False).loss  # the model's own loss over all the logits
        assert abs(ours.item() - full.item()) < 1e-5
        assert stats["tokens"] == int((batch["labels"][:, 1:] != -100).sum())
        # The trainer's compute_loss takes this path, and normalises by the accumulated token count when given one.
        assert abs(trainer.compute_loss(model, dict(batch)).item() - full.item()) < 1e-5
        halved = completion_only_loss(model, dict(batch), num_items_in_batch=2 * stats["tokens"])[0]
        assert abs(halved.item() - full.item() / 2) < 1e-5
        # Same gradients for the LoRA weights.
        params = [p for p in model.parameters() if p.requires_grad]
        grads_ours = torch.autograd.grad(completion_only_loss(model, dict(batch))[0], params)
        grads_full = torch.autograd.grad(model(**batch, use_cache=False).loss, params)
        for a, b in zip(grads_ours, grads_full):
            assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
    finally:
        model.train()


def test_resume_continues_the_step_count(run, tmp_path: Path, data_files: tuple[Path, Path]) -> None:
    from training.train import TrainConfig, TrainConfigError, run_training

    out = tmp_path / "adapter"
    shutil.copytree(run.out, out)
    config = TrainConfig(base=run.log["base"], data=[str(data_files[0])], out=str(out), max_steps=6, save_steps=2,
                         resume=True, **FAST)
    resumed = run_training(config)
    assert resumed.log["resumed_from"].endswith("checkpoint-4")
    assert resumed.log["global_step"] == 6
    assert resumed.log["examples_seen"] == 4  # two new steps of two examples, not six
    steps = [e["step"] for e in resumed.log["train_loss"]]
    assert steps[0] == 1 and steps[-1] == 6  # the history of the first run is kept
    with pytest.raises(TrainConfigError, match="nothing to resume"):
        run_training(TrainConfig(base=run.log["base"], data=[str(data_files[0])], out=str(tmp_path / "empty"),
                                 max_steps=1, resume=True, **FAST))


def test_init_adapter_continues_from_the_adapter(run, tmp_path: Path, data_files: tuple[Path, Path]) -> None:
    """A run from an existing adapter starts at its weights (rank and layers kept) and moves them further."""
    from safetensors.torch import load_file

    from training.train import TrainConfig, TrainConfigError, run_training

    before = load_file(run.out / "adapter_model.safetensors")
    config = TrainConfig(base=run.log["base"], data=[str(data_files[0])], out=str(tmp_path / "more"), max_steps=2,
                         init_adapter=str(run.out), group_by_length=True, lora_layers="last:1",
                         **{**FAST, "lora_r": 16})  # both ignored: the adapter's own rank and layers are kept
    more = run_training(config)
    after = load_file(more.out / "adapter_model.safetensors")
    assert after.keys() == before.keys()
    assert all(after[k].shape == before[k].shape for k in before)
    assert any(not torch.equal(after[k], before[k]) for k in before)
    assert more.log["lora_layers"] == run.log["lora_layers"] and more.log["config"]["init_adapter"] == str(run.out)
    assert [s["global_step"] for s in more.log["previous_stages"]] == [run.log["global_step"]]

    from training.model_card import render

    card = render(more.out, [], context_args="--mix sales=1 --seed 11")
    assert "Trained in 2 stages" in card and "# stage 2" in card and "--seed 11" in card
    stage_two = card.split("# stage 2")[1]
    assert f"--init-adapter {run.out}" in stage_two and "--group-by-length" in stage_two
    with pytest.raises(TrainConfigError, match="not a LoRA adapter"):
        run_training(TrainConfig(base=run.log["base"], data=[str(data_files[0])], out=str(tmp_path / "x"), max_steps=1,
                                 init_adapter=str(tmp_path), **FAST))


def test_model_card_says_where_the_adapter_was_trained(run, tmp_path: Path) -> None:
    from training.model_card import render

    assert "an ordinary CPU" in render(run.out, []) and "--device" not in render(run.out, [])
    gpu = tmp_path / "gpu-adapter"
    shutil.copytree(run.out, gpu)
    log = json.loads((gpu / "training_log.json").read_text())
    log["device"], log["config"]["device"], log["config"]["max_minutes"] = "NVIDIA H200", "cuda", 7.5
    log["config"]["seed"] = 43
    (gpu / "training_log.json").write_text(json.dumps(log))
    card = render(gpu, [])
    assert "on one NVIDIA H200 GPU" in card and "--seed 43 --device cuda --max-minutes 7.5" in card
    assert "minutes of GPU time" in card and "CPU threads" not in card
    earlier = tmp_path / "cpu-report"
    earlier.mkdir()
    (earlier / "results.json").write_text(json.dumps({
        "meta": {"dataset": "sales-dev", "command": "gemsql eval --cases sales-dev --backend llamacpp", "date": "2026-12-01"},
        "summary": {"finetuned+rag": {"execution_accuracy": 0.44, "execution_rate": 0.92, "latency_p50_s": 1.49, "n": 25}}}))
    card = render(gpu, [], baseline=("the CPU recipe (five stages, 153 min)", [earlier], []))
    compared = card.split("## For comparison: the CPU recipe (five stages, 153 min)")[1]
    assert "| sales-dev | finetuned+rag (llamacpp) | 44.0% | 92.0% | 1.49 s | 25 |" in compared


def test_lora_layers_last_1_adapts_only_the_last_layer(tiny_dir: Path, data_files: tuple[Path, Path], tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from training.train import TrainConfig, run_training

    result = run_training(TrainConfig(base=str(tiny_dir), data=[str(data_files[0])], out=str(tmp_path / "a"),
                                      max_steps=1, lora_layers="last:1", **FAST))
    keys = list(load_file(result.out / "adapter_model.safetensors"))
    assert keys and all(".layers.1." in k for k in keys)
    assert len(keys) == 2 * 7  # A and B for each of the 7 projections
    assert result.log["lora_layers"] == [1]


def test_init_adapter_widened_to_more_layers_starts_where_it_left_off(tiny_dir: Path, data_files: tuple[Path, Path],
                                                                     tmp_path: Path) -> None:
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.train import TrainConfig, _continue_adapter, run_training

    narrow = run_training(TrainConfig(base=str(tiny_dir), data=[str(data_files[0])], out=str(tmp_path / "narrow"),
                                      max_steps=2, lora_layers="last:1", **FAST)).out
    config = TrainConfig(base=str(tiny_dir), data=[str(data_files[0])], out=str(tmp_path / "wide"), max_steps=2,
                         init_adapter=str(narrow), lora_layers="all", **FAST)
    ids = _prompt_ids(AutoTokenizer.from_pretrained(tiny_dir))
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), narrow).eval()
    widened, layers = _continue_adapter(AutoModelForCausalLM.from_pretrained(tiny_dir), config, 2)
    assert layers == [0, 1]
    with torch.no_grad():  # the new layer's LoRA starts at zero: the same model as the adapter it widens
        assert torch.allclose(widened.eval()(ids).logits, loaded(ids).logits, atol=1e-6)

    wide = run_training(config)
    before, after = load_file(narrow / "adapter_model.safetensors"), load_file(wide.out / "adapter_model.safetensors")
    assert set(before) < set(after) and any(".layers.0." in k for k in after)
    assert any(not torch.equal(after[k], before[k]) for k in before)  # the old layer trains on
    assert wide.log["lora_layers"] == [0, 1]


def test_bad_options_raise_clear_errors(tiny_dir: Path, data_files: tuple[Path, Path], tmp_path: Path) -> None:
    from training.train import TrainConfig, TrainConfigError, train

    base = dict(base=str(tiny_dir), data=[str(data_files[0])], out=str(tmp_path / "x"), **FAST)
    with pytest.raises(TrainConfigError, match="data file not found"):
        train(TrainConfig(**{**base, "data": [str(tmp_path / "missing.jsonl")]}))
    with pytest.raises(TrainConfigError, match="quantize"):
        train(TrainConfig(**{**base, "quantize": "8bit"}))
    with pytest.raises(TrainConfigError, match="max_length"):
        train(TrainConfig(**{**base, "max_length": 20, "max_steps": 1}))


def test_device_must_be_known_and_there(tiny_dir: Path, data_files: tuple[Path, Path], tmp_path: Path) -> None:
    from training.train import TrainConfig, TrainConfigError, resolve_device, train

    base = dict(base=str(tiny_dir), data=[str(data_files[0])], out=str(tmp_path / "x"), max_steps=1, **FAST)
    with pytest.raises(TrainConfigError, match="bad device 'tpu'"):
        train(TrainConfig(**{**base, "device": "tpu"}))
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(TrainConfigError, match="no CUDA GPU"):
            train(TrainConfig(**{**base, "device": "cuda"}))


def test_max_minutes_stops_early_and_still_saves(tiny_dir: Path, data_files: tuple[Path, Path], tmp_path: Path) -> None:
    from training.train import TrainConfig, run_training

    result = run_training(TrainConfig(base=str(tiny_dir), data=[str(data_files[0])], out=str(tmp_path / "t"),
                                      max_steps=50, max_minutes=1e-6, **FAST))
    log = result.log
    assert log["stopped_at_time_limit"] and log["global_step"] == 1 and log["max_steps"] == 50
    assert (result.out / "adapter_model.safetensors").is_file() and log["device"].startswith("cpu")


def test_qlora_4bit_trains_on_cpu(tiny_dir: Path, data_files: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("bitsandbytes")
    from training.train import TrainConfig, run_training

    result = run_training(TrainConfig(base=str(tiny_dir), data=[str(data_files[0])], out=str(tmp_path / "q"),
                                      max_steps=1, quantize="4bit", **FAST))
    assert (result.out / "adapter_model.safetensors").is_file()
    assert all(p.dtype == torch.float32 for p in result.trainer.model.parameters() if p.requires_grad)


# ------------------------------------------------------------------------------------------ merge and push


def test_merge_matches_base_plus_adapter(run, tiny_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    from tools.model_store import load_model
    from training.merge import merge_adapter

    merged_dir = merge_adapter(str(tiny_dir), run.out, tmp_path / "merged")
    assert (merged_dir / "model.safetensors").is_file() and (merged_dir / "tokenizer.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    reference, tokenizer = load_model(str(tiny_dir), str(run.out))
    ids = _prompt_ids(tokenizer)
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, reference(ids).logits, atol=1e-4)


def test_push_offline_gives_a_clear_error(run, monkeypatch: pytest.MonkeyPatch) -> None:
    from training.merge import push

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match=r"cannot reach the Hugging Face Hub: .*\(offline\)\. The files are in ") as info:
        push(run.out, "someone/gemsql-test")
    assert "gemsql train push" in str(info.value)


# ---------------------------------------------------------------------------------------------------- CLI


def _gemsql(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GEMSQL_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    code = "from gemsql.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_cli_trains(tiny_dir: Path, data_files: tuple[Path, Path], tmp_path: Path, gemsql_home: Path) -> None:
    out = tmp_path / "cli-adapter"
    result = _gemsql(["train", "--base", str(tiny_dir), "--data", str(data_files[0]), "--max-steps", "2",
                      "--out", str(out), "--batch-size", "2", "--grad-accum", "1", "--lora-r", "4", "--threads", "1"],
                     gemsql_home)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "adapter_model.safetensors").is_file()
    assert json.loads((out / "training_log.json").read_text())["global_step"] == 2


def test_cli_errors_are_one_clear_line(tmp_path: Path, gemsql_home: Path) -> None:
    missing = _gemsql(["train", "--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")], gemsql_home)
    assert missing.returncode == 2
    assert "data file not found" in missing.stderr and "Traceback" not in missing.stderr
    bad = _gemsql(["train", "--quantize", "8bit", "--out", str(tmp_path / "o")], gemsql_home)
    assert bad.returncode == 2 and "4bit" in bad.stderr and "Traceback" not in bad.stderr
    push = _gemsql(["train", "push", "--repo", "someone/x", "--dir", str(tmp_path)], gemsql_home)
    assert push.returncode == 2 and "cannot reach the Hugging Face Hub" in push.stderr
    assert "Traceback" not in push.stderr


# ------------------------------------------------------------------------------------- curve and model card


def test_curve_evaluates_every_checkpoint_and_the_card_shows_it(run, tiny_dir: Path, sales_db: Path,
                                                                 tmp_path: Path) -> None:
    """The tiny model's SQL is noise: the point is that every checkpoint runs through the real harness."""
    from training.curve import main as curve_main
    from training.model_card import render

    cases = _write_jsonl(tmp_path / "cases.jsonl", [
        {"question": "How many products are there?", "sql": "SELECT COUNT(*) FROM products"},
        {"question": "How many stores are there?", "sql": "SELECT COUNT(*) FROM stores"},
    ])
    curve = tmp_path / "curve.json"
    assert curve_main(["--adapter", str(run.out), "--cases", str(cases), "--db", str(sales_db),
                       "--model", str(tiny_dir), "--config", "finetuned", "--out", str(curve)]) == 0
    points = json.loads(curve.read_text())["points"]
    assert [p["step"] for p in points] == [2, 4, 4]  # both checkpoints, then the final adapter
    assert all(p["n"] == 2 and 0.0 <= p["execution_accuracy"] <= 1.0 for p in points)
    assert points[0]["minutes"] <= points[1]["minutes"] and points[1]["examples"] == 8

    report = tmp_path / "report"
    report.mkdir()
    (report / "results.json").write_text(json.dumps({
        "meta": {"command": "gemsql eval --cases X", "dataset": "tiny-set", "date": "2026-11-25"},
        "summary": {"finetuned": {"n": 2, "execution_accuracy": 0.5, "execution_rate": 1.0, "latency_p50_s": 0.2}}}))
    card = render(run.out, [report], curve)
    log = json.loads((run.out / "training_log.json").read_text())
    assert f"{log['tokens_per_s']} tokens/s" in card and "r=4, alpha=8" in card
    assert "| tiny-set | finetuned | 50.0% | 100.0% | 0.20 s | 2 |" in card
    assert "| 4 | 8 |" in card and "CC BY-SA 4.0" in card
    assert "gemsql train --data" in card and "--max-steps 4" in card
    # A stage whose data took more than training.contextualize shows the commands that made it.
    card = render(run.out, [report], curve, data_commands=[["python -m training.repairs --out data/r.jsonl"]])
    recipe = card.split("```bash")[1]
    assert "python -m training.repairs --out data/r.jsonl\ngemsql train --data" in recipe
    assert "training.contextualize" not in recipe


def test_the_cards_evaluation_rows_name_the_backend_and_the_candidates(tmp_path: Path) -> None:
    from training.model_card import evaluation_rows

    for name, extra in (("plain", ""), ("voted", " --candidates 5")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({
            "meta": {"dataset": "sales-dev", "date": "2026-12-04T00:00:00",
                     "command": f"gemsql eval --cases sales-dev --backend llamacpp{extra}"},
            "summary": {"finetuned+rag": {"execution_accuracy": 0.88, "execution_rate": 1.0,
                                          "latency_p50_s": 5.1, "n": 25}}}))
    rows = evaluation_rows([tmp_path / "plain", tmp_path / "voted"])
    assert "| sales-dev | finetuned+rag (llamacpp) | 88.0% | 100.0% | 5.10 s | 25 |" in rows
    assert "| sales-dev | finetuned+rag (llamacpp, 5 candidates) | 88.0% | 100.0% | 5.10 s | 25 |" in rows
