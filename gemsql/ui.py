"""The Streamlit page of the original design: a question, a model choice, RAG on or off, Analyze.

Started by `gemsql ui` (``streamlit run`` on this file). It reads its settings from the environment
because the same file also runs under Streamlit's AppTest, which has no command line:

- ``GEMSQL_UI_DB``: the DuckDB file to query (empty: the bundled sales database, built on first use);
- ``GEMSQL_UI_ADAPTER``: the LoRA adapter of the Fine-Tuned model (default: the project's own, if trained).

Every answer comes from ``graph.orchestrator.ask``, the one answer object all interfaces share; the chart
is the answer's Plotly figure JSON, drawn by Plotly, so no model-written code ever runs here.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Offline by design, as in the CLI: this process is started by streamlit, not by gemsql's entry point.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

DB_ENV = "GEMSQL_UI_DB"
ADAPTER_ENV = "GEMSQL_UI_ADAPTER"
# The design's labels, in its order; the values are the graph's engine names.
MODELS = {"Template": "template", "Fine-Tuned": "finetuned", "Ensemble": "ensemble", "Hybrid": "hybrid"}
HISTORY_KEY = "gemsql_history"

log = logging.getLogger("gemsql")


@dataclass(frozen=True)
class Settings:
    """What the page needs once per server: the base context and a line describing it (or why it cannot run)."""

    context: Any  # graph.context.Context
    db_label: str
    adapter_note: str
    problem: str | None = None


@st.cache_resource(show_spinner=False)
def load_settings(db_env: str, adapter_env: str) -> Settings:
    """The database and adapter, checked once; a problem is reported on the page instead of a traceback."""
    from graph.context import DEFAULT_ADAPTER_DIR, Context

    adapter_dir = Path(adapter_env).expanduser().resolve() if adapter_env else DEFAULT_ADAPTER_DIR
    adapter = str(adapter_dir) if (adapter_dir / "adapter_config.json").is_file() else None
    if adapter:
        adapter_note = f"Fine-Tuned, Ensemble and Hybrid use the LoRA adapter {adapter_dir}."
    else:
        # Said plainly: without a trained adapter the model choices run the untuned base model.
        adapter_note = (f"No fine-tuned adapter at {adapter_dir}: Fine-Tuned, Ensemble and Hybrid run the base "
                        f"Gemma 3 270M, which is not trained for SQL.")
    if db_env:
        db = Path(db_env).expanduser().resolve()
        if not db.is_file():
            return Settings(Context(), str(db), adapter_note, problem=f"No DuckDB database at {db}.")
        return Settings(Context(db_path=str(db), adapter=adapter), str(db), adapter_note)
    return Settings(Context(adapter=adapter), "the bundled sales database", adapter_note)


@st.cache_resource(show_spinner=False)
def log_to_file() -> None:
    """Internal errors go with their traceback to gemsql's log file, as in the CLI; the page shows one line."""
    from tools.paths import home

    path = str(home() / "gemsql.log")
    if any(getattr(h, "baseFilename", None) == path for h in log.handlers):
        return  # a cleared cache must not log every line twice
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)


@st.cache_resource(show_spinner="Loading the graph...")
def load_graph():
    """The checkpointed graph of conversations, compiled once per server rather than on every rerun."""
    from graph.threads import conversation_graph

    return conversation_graph()


def answer_question(question: str, model_label: str, use_rag: bool) -> dict[str, Any]:
    from graph.orchestrator import ask

    settings = load_settings(os.environ.get(DB_ENV, ""), os.environ.get(ADAPTER_ENV, ""))
    if settings.problem:
        return {"question": question, "error": settings.problem, "columns": [], "rows": []}
    # Each browser session is one conversation thread, so follow-ups ("and in 2024?") build on its earlier turns.
    return ask(question, settings.context, thread_id=st.session_state.thread_id, compiled=load_graph(),
               engine=MODELS[model_label], use_rag=use_rag)


def new_conversation() -> None:
    st.session_state[HISTORY_KEY] = []
    st.session_state.thread_id = f"ui-{uuid.uuid4().hex[:12]}"


def _short(label: str) -> str:
    home = str(Path.home())
    return "~" + label[len(home):] if label.startswith(home + os.sep) else label


def rows_frame(answer: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(answer.get("rows") or [], columns=answer.get("columns") or [])


def show_answer(answer: dict[str, Any], index: int) -> None:
    """One answer: the sentence, the model used, the SQL, the table beside its chart, and a CSV download."""
    if answer.get("error"):
        st.error(answer["error"])
    elif answer.get("answer"):
        st.success(answer["answer"])
    if answer.get("engine"):
        meta = f"Model used: **{answer['engine']}**"
        if answer.get("attempts"):
            meta += f" · attempts: {answer['attempts']}"
        if answer.get("agreement"):
            from tools.self_consistency import agreement_phrase

            meta += f" · {agreement_phrase(answer['agreement'])}"
        if answer.get("latency_s") is not None:
            meta += f" · {answer['latency_s']:.2f} s"
        st.info(meta)
    if answer.get("sql"):
        st.code(answer["sql"], language="sql", wrap_lines=True)
    if answer.get("error") or not answer.get("columns"):
        return
    frame = rows_frame(answer)
    chart = answer.get("chart")
    table_col, chart_col = st.columns([2, 3]) if chart and chart.get("figure") else (st.container(), None)
    with table_col:
        # Thousands separators for measures, as in the one-line answer; ids and years stay as they are.
        measures = {c: st.column_config.NumberColumn(format="%,.2f") for c in frame.columns
                    if pd.api.types.is_float_dtype(frame[c])}
        st.dataframe(frame, hide_index=True, column_config=measures)
        if answer.get("truncated"):
            st.caption(f"Only the first {len(frame):,} rows are shown.")
        st.download_button("Download the rows (CSV)", frame.to_csv(index=False).encode("utf-8"),
                           file_name=f"gemsql-answer-{index + 1}.csv", mime="text/csv",
                           key=f"csv-{index}", on_click="ignore")
    if chart_col is not None:
        import plotly.graph_objects as go

        with chart_col:
            # Figure JSON built by tools.charts from a validated spec; plotly only parses it.
            st.plotly_chart(go.Figure(chart["figure"]), key=f"chart-{index}")


def main() -> None:
    st.set_page_config(page_title="gemsql", layout="wide")
    log_to_file()
    if "thread_id" not in st.session_state:
        new_conversation()
    settings = load_settings(os.environ.get(DB_ENV, ""), os.environ.get(ADAPTER_ENV, ""))

    st.title("gemsql")
    st.caption(f"Ask {_short(settings.db_label)} a question in plain English: SQL, rows, a chart and a one-line "
               f"answer, computed on this machine. gemsql only reads the database.")
    if settings.problem:
        st.error(settings.problem)

    with st.form("ask", border=False):
        question = st.text_input("Question", key="question",
                                 placeholder="e.g. top 5 brands by revenue in 2024")
        col1, col2 = st.columns(2)
        with col1:
            model_label = st.radio("Model", list(MODELS), key="model", horizontal=True,
                                   help=settings.adapter_note)
        with col2:
            use_rag = st.checkbox("Use RAG context", value=True, key="use_rag",
                                  help="Ground the model's prompt with retrieved tables, values and examples.")
        submitted = st.form_submit_button("Analyze", type="primary", key="analyze")

    history: list[dict[str, Any]] = st.session_state[HISTORY_KEY]
    if submitted:
        if not question.strip():
            st.warning("Type a question first, e.g. 'total sales in 2023'.")
        else:
            with st.spinner(f"Thinking about: {question.strip()}"):
                try:
                    answer = answer_question(question.strip(), model_label, use_rag)
                except Exception as exc:  # ask() never raises; loading the graph could, and must not show a traceback
                    log.exception("the page could not answer %r", question)
                    answer = {"question": question.strip(), "error": f"internal error ({type(exc).__name__}): {exc}"}
            history.append(answer)

    with st.sidebar:
        st.subheader("Conversation")
        st.caption(f"{len(history)} question(s) in this conversation; a follow-up such as 'and in 2024?' "
                   f"builds on the last one.")
        # A callback, so that the page drawn after the click is already the empty one.
        st.button("New conversation", key="new_conversation", on_click=new_conversation, disabled=not history,
                  help="Forget the questions so far: the next question stands alone.")
        st.caption(settings.adapter_note)
    if not history:
        return
    # Newest first: the latest answer in full, the earlier ones folded below it.
    latest = len(history) - 1
    st.subheader(history[latest].get("question") or "")
    show_answer(history[latest], latest)
    if latest:
        st.divider()
        st.subheader("Conversation so far")
        for index in range(latest - 1, -1, -1):
            with st.expander(f"{index + 1}. {history[index].get('question')}"):
                show_answer(history[index], index)


if __name__ == "__main__":
    main()
