"""The written report of an evaluation run: report.md, results.json and offline Plotly charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.runner import TABLE_COLUMNS, EvalResult, num, pct, table_rows

__all__ = ["write_report"]

# The original design's "Performance Metrics" table: its columns, the configuration measuring each,
# and the figures it expected (kept beside the measured ones).
DESIGN_COLUMNS = (("Template-Based", "template"), ("Fine-Tuned", "finetuned"), ("Fine-Tuned+RAG", "finetuned+rag"))
DESIGN_EXPECTED = {
    "Execution Rate": ("100%", "85-90%", "90-95%"),
    "Semantic Match": ("70%", "80-85%", "85-90%"),
    "Novel Query Handling": ("0%", "40-50%", "60-70%"),
    "Inference Time (CPU)": ("<100ms", "2-5s", "2-5s"),
}
MAX_MISSES_PER_CONFIG = 300


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    value = "" if text is None else str(text)
    return " ".join(value.split()).replace("|", "\\|") or " "


def _md_table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _design_table(result: EvalResult) -> str:
    summary = result.summary
    ran = [c.name for c in result.configs]
    columns = [(title, name) for title, name in DESIGN_COLUMNS]
    columns += [(name, name) for name in ran if name not in {n for _, n in DESIGN_COLUMNS}]
    novel_anywhere = any(s.get("novel_n") for s in summary.values() if "missing" not in s)

    def measured(metric: str, name: str) -> str:
        s = summary.get(name)
        if s is None:
            return "not run"
        if "missing" in s:
            return "missing"
        if metric == "Execution Rate":
            return pct(s["execution_rate"])
        if metric == "Semantic Match":
            return num(s["semantic_match"])
        if metric == "Novel Query Handling":
            if not s.get("novel_n"):
                return "see the Spider report" if not novel_anywhere else "-"
            return f"{pct(s['novel_execution_accuracy'])} (n={s['novel_n']})"
        return f"{_seconds(s['latency_p50_s'])} (p50)"

    rows = []
    for metric, expected in DESIGN_EXPECTED.items():
        row = [metric]
        for i, (_, name) in enumerate(columns):
            value = measured(metric, name)
            row.append(f"{value} (design: {expected[i]})" if i < len(DESIGN_COLUMNS) else value)
        rows.append(row)
    return _md_table(["Metric", *[f"{t}" + (f" (`{n}`)" if t != n else "") for t, n in columns]], rows)


def _breakdown_table(result: EvalResult, key: str) -> str | None:
    names = [c.name for c in result.configs if "missing" not in result.summary.get(c.name, {"missing": 1})]
    labels: list[str] = []
    for name in names:
        for label in result.summary[name][key]:
            if label not in labels:
                labels.append(label)
    if not labels or not names:
        return None
    rows = []
    for label in labels:
        n = next((result.summary[name][key][label]["n"] for name in names if label in result.summary[name][key]), 0)
        row = [label, str(n)]
        for name in names:
            b = result.summary[name][key].get(label)
            row.append(f"{pct(b['accuracy'])} ({b['correct']}/{b['n']})" if b else "-")
        rows.append(row)
    return _md_table([key.removeprefix("by_"), "n", *names], rows)


def _misses(result: EvalResult) -> str:
    parts = []
    for config in result.configs:
        if config.missing:
            continue
        misses = [r for r in result.records if r["config"] == config.name and not r["correct"]]
        parts.append(f"### {config.name} ({len(misses)} of {result.summary[config.name]['n']})\n")
        if not misses:
            continue
        shown = misses[:MAX_MISSES_PER_CONFIG]
        rows = [[str(r["line"]), Path(r["db"]).stem, r["question"], f"`{_cell(r['gold_sql'])}`",
                 f"`{_cell(r['pred_sql'])}`" if r["pred_sql"] else "(none)", r["error"] or "wrong result"]
                for r in shown]
        parts.append(_md_table(["line", "db", "question", "gold SQL", "predicted SQL", "error"], rows,
                               ["---:", "---", "---", "---", "---", "---"]))
        if len(misses) > len(shown):
            parts.append(f"\n…and {len(misses) - len(shown)} more (all are in results.json).")
        parts.append("")
    return "\n".join(parts)


def _markdown(result: EvalResult, charts: list[str]) -> str:
    meta = result.meta
    machine = meta.get("machine") or {}
    lines = ["# gemsql evaluation" + (" — PARTIAL (interrupted)" if result.partial else ""), ""]
    if result.partial:
        lines += ["> **Partial results**: the run was interrupted (Ctrl-C); the numbers cover only the cases "
                  "answered before it stopped.", ""]
    skipped = meta.get("skipped") or {}
    lines += [
        f"- Command: `{meta.get('command') or '(library call)'}`",
        f"- Date: {meta.get('date')}",
        f"- Machine: {machine.get('cores')} cores, {machine.get('cpu') or 'unknown CPU'}; "
        f"{machine.get('platform')}; Python {machine.get('python')}",
        f"- Dataset: {meta.get('dataset') or '-'} — {meta.get('selected_cases')} cases selected, "
        f"{meta.get('scored_cases')} scored"
        + (f"; skipped: {', '.join(f'{k} {v}' for k, v in sorted(skipped.items()))}" if skipped else ""),
        f"- Databases: {', '.join(meta.get('databases') or []) or '-'}",
        f"- Wall time: {meta.get('wall_s')} s",
        "",
        "Execution Accuracy (primary): the answer's rows equal the gold query's rows (column order and "
        "names ignored; row order compared when the gold orders its result). Execution Rate: an answer "
        "without error. Semantic Match: mean cosine similarity of all-MiniLM-L6-v2 embeddings of the "
        "predicted and gold SQL (0 without SQL). Exact Match: same SQL after canonical formatting. "
        "Latency: per question through the whole graph, a warm-up question per configuration and "
        "database excluded. Retries: mean model retries after an error; Fallbacks: ensemble answers "
        "written by the template engine, hybrid answers written by the model.",
        "",
        "## Results",
        "",
        _md_table(list(TABLE_COLUMNS), table_rows(result)),
        "",
    ]
    for config in result.configs:
        described = f"engine={config.engine}, use_rag={config.use_rag}"
        if config.engine != "template":
            described += f", model={config.model or 'gemma3-270m'}, adapter={config.adapter or 'none'}"
            if getattr(config, "constrain_to_schema", None) is not None:
                described += f", constrain_to_schema={config.constrain_to_schema}"
            if getattr(config, "constrain_retries", None) is not None:
                described += f", constrain_retries={config.constrain_retries}"
            if getattr(config, "candidates", None) is not None:
                described += f", candidates={config.candidates}"
        status = f" — **missing**: {config.missing}" if config.missing else ""
        note = f" ({config.note})" if config.note else ""
        lines.append(f"- `{config.name}`: {described}{note}{status}")
    if meta.get("semantic_unavailable"):
        lines.append(f"- Semantic match unavailable: {meta['semantic_unavailable']}")
    lines += ["", "## The original design's table, measured", "",
              "Cells: measured value (the design's expectation). Semantic Match is a similarity in [0, 1]; "
              "Novel Query Handling is the execution accuracy on databases other than the sales schema "
              "(Spider dev, clinic); Inference Time is the p50 latency on this machine's CPU.", "",
              _design_table(result), ""]
    for key, title in (("by_shape", "Accuracy per query shape (of the gold SQL)"), ("by_hardness", "Accuracy per hardness"),
                       ("by_db", "Accuracy per database")):
        table = _breakdown_table(result, key)
        if table and not (key == "by_db" and len(meta.get("databases") or []) < 2):
            lines += [f"## {title}", "", table, ""]
    if result.skipped:
        rows = [[str(s["line"]), s["reason"], s["question"], f"`{_cell(s['gold_sql'])}`", s["error"]]
                for s in result.skipped]
        lines += ["## Skipped cases", "", _md_table(["line", "reason", "question", "gold SQL", "error"], rows,
                                                    ["---:", "---", "---", "---", "---"]), ""]
    lines += ["## Misses", "", _misses(result)]
    if charts:
        lines += ["## Charts", ""] + [f"- [{c}]({c})" for c in charts] + [""]
    return "\n".join(lines)


def _charts(result: EvalResult, out: Path) -> list[str]:
    import plotly.graph_objects as go
    import plotly.io as pio

    names = [c.name for c in result.configs if "missing" not in result.summary.get(c.name, {"missing": 1})]
    written = []

    def save(fig, filename: str) -> None:
        fig.update_layout(template="plotly_white")
        # plotly.js is written once beside the charts (they open offline, and a report stays small)
        pio.write_html(fig, str(out / filename), include_plotlyjs="directory", full_html=True)
        written.append(filename)

    if names:
        acc = [100 * (result.summary[n]["execution_accuracy"] or 0) for n in names]
        rate = [100 * (result.summary[n]["execution_rate"] or 0) for n in names]
        fig = go.Figure([go.Bar(name="Execution accuracy", x=names, y=acc, text=[f"{v:.1f}%" for v in acc]),
                         go.Bar(name="Execution rate", x=names, y=rate, text=[f"{v:.1f}%" for v in rate])])
        fig.update_layout(barmode="group", title="Accuracy per configuration", yaxis_title="%",
                          yaxis_range=[0, 105])
        save(fig, "accuracy.html")
        for key, title, filename in (("by_shape", "Execution accuracy per query shape", "accuracy_by_shape.html"),
                                     ("by_hardness", "Execution accuracy per hardness", "accuracy_by_hardness.html")):
            labels = list(dict.fromkeys(label for n in names for label in result.summary[n][key]))
            if not labels:
                continue
            bars = []
            for n in names:
                cells = result.summary[n][key]
                bars.append(go.Bar(name=n, x=[f"{lb} (n={cells[lb]['n']})" if lb in cells else lb for lb in labels],
                                   y=[100 * cells[lb]["accuracy"] if lb in cells else None for lb in labels]))
            fig = go.Figure(bars)
            fig.update_layout(barmode="group", title=title, yaxis_title="execution accuracy, %", yaxis_range=[0, 105])
            save(fig, filename)
        fig = go.Figure([go.Box(name=n, y=[r["latency_s"] for r in result.records
                                          if r["config"] == n and r["latency_s"] is not None], boxpoints="outliers")
                         for n in names])
        fig.update_layout(title="Latency per question (warm-up excluded)", yaxis_title="seconds", yaxis_type="log")
        save(fig, "latency.html")
    return written


def _share_plotly(out: Path) -> None:
    """Reports kept side by side (``evals/reports/*``) point at one plotly.js in their parent folder, not 4.8 MB each.

    Only where the parent already holds the very same file: a report written anywhere else keeps its own copy and
    opens offline as before.
    """
    own, shared = out / "plotly.min.js", out.parent / "plotly.min.js"
    if own.is_symlink() or not own.is_file() or not shared.is_file():
        return
    if own.stat().st_size != shared.stat().st_size or own.read_bytes() != shared.read_bytes():
        return
    own.unlink()
    try:
        own.symlink_to(Path("..") / "plotly.min.js")
    except OSError:  # no symbolic links here (some Windows setups): the copy it was
        own.write_bytes(shared.read_bytes())


def write_report(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write report.md, results.json and the HTML charts under ``out_dir``; returns their paths."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    (out / "results.json").write_text(result.to_json(), encoding="utf-8")
    paths["results.json"] = out / "results.json"
    try:
        charts = _charts(result, out)
        _share_plotly(out)
    except Exception as exc:  # noqa: BLE001 -- the report must not be lost to a chart
        charts = []
        result.meta["charts_error"] = f"{type(exc).__name__}: {exc}"
    paths.update({c: out / c for c in charts})
    (out / "report.md").write_text(_markdown(result, charts), encoding="utf-8")
    paths["report.md"] = out / "report.md"
    return paths
