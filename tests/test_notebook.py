"""The training notebook runs end to end at tiny scale: every cell, the project's own modules, real numbers out."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "training" / "Gemma_FT_Text2SQL_RAG.ipynb"
SECTIONS = ["Installation & libraries", "Quantization config", "Model loading", "Dataset preparation",
            "Prompt formatting", "LoRA configuration", "SFTTrainer setup", "Training execution", "Model merging",
            "RAG pipeline", "Multi-agent system", "Evaluation"]


def test_notebook_is_committed_without_outputs() -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.outputs and c.execution_count is None for c in code)
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.startswith("## ")]
    for number, title in enumerate(SECTIONS, start=1):
        assert f"## {number}. {title}" in headings, title


@pytest.mark.slow
def test_notebook_runs_at_tiny_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    work = tmp_path / "work"
    # The kernel inherits the environment: tiny scale, an isolated work folder and per-user folder, offline.
    monkeypatch.setenv("GEMSQL_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("GEMSQL_NOTEBOOK_WORK", str(work))
    monkeypatch.setenv("GEMSQL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GEMSQL_KB_MAX_EXAMPLES", "150")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    nb = nbformat.read(NOTEBOOK, as_version=4)
    # kernel "python3" is ipykernel's own spec: jupyter_client runs it with this interpreter (sys.executable).
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    try:
        client.execute()  # raises CellExecutionError (with the traceback) if any cell fails
    finally:
        nbformat.write(nb, tmp_path / "executed.ipynb")  # for a look after a failure

    summary = json.loads((work / "notebook_summary.json").read_text(encoding="utf-8"))
    assert summary["scale"] == "tiny"
    assert Path(summary["python"]).resolve() == Path(sys.executable).resolve()
    assert summary["pairs"] > 0 and summary["train_prompts"] > 0
    # Training ran and learnt: every LoRA B matrix left zero; the adapter is small and on disk.
    assert summary["train_steps"] == 4 and summary["final_train_loss"] > 0
    assert summary["lora_b_total"] > 0 and summary["lora_b_moved"] == summary["lora_b_total"]
    assert (Path(summary["adapter"]) / "adapter_model.safetensors").is_file()
    # The merged model exists and equals base + adapter.
    merged = Path(summary["merged"])
    assert (merged / "model.safetensors").is_file() and (merged / "config.json").is_file()
    assert summary["merge_max_logit_diff"] < 1e-3 < summary["adapter_logit_effect"]
    assert summary["kb_documents"] > 0
    # Evaluation returned numbers for both configurations; the template engine answers some of the cases.
    assert summary["eval_cases"] == 3
    assert set(summary["eval"]) == {"template", "finetuned+rag"}
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in summary["eval"].values())
    evaluation = json.loads((work / "eval.json").read_text(encoding="utf-8"))
    assert len(evaluation["records"]) == 2 * 3
