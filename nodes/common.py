"""Helpers every node shares: the effective settings, the database, timing."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, Callable

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from graph.context import Context
from graph.state import State


def settings(state: State, runtime: Runtime[Context] | None) -> Context:
    """The run's Context with this question's overrides applied (ValueError on bad ones)."""
    base = runtime.context if runtime is not None and runtime.context is not None else Context()
    if isinstance(base, dict):  # LangGraph Studio and the HTTP API hand the context over as a plain dict
        base = Context().with_overrides(base)
    return base.with_overrides(state.overrides)


def database_path(ctx: Context) -> str:
    """Absolute path of the database to query; the bundled one is generated on first use."""
    if ctx.db_path:
        path = Path(ctx.db_path).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no DuckDB database at {path}")
        return str(path)
    from tools.paths import default_db_path

    if default_db_path().is_file():  # the usual case: no need to import the generator (and pandas)
        return str(default_db_path())
    from tools.sales_db import ensure_default_db

    return str(ensure_default_db(progress=True))


def timed(name: str) -> Callable:
    """Record the node's wall time under ``timings[name]`` in its partial update."""

    def wrap(node: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(node)
        def run(state: State, runtime: Runtime[Context] | None = None) -> dict[str, Any]:
            started = time.perf_counter()
            update = node(state, runtime)
            spent = {name: round(time.perf_counter() - started, 4)}
            prior = update.get("timings", {})
            if isinstance(prior, Overwrite):  # the first node of a question starts the timings afresh
                update["timings"] = Overwrite({**prior.value, **spent})
            else:
                update["timings"] = {**prior, **spent}
            return update

        return run

    return wrap
