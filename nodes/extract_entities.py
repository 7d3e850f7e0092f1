"""Pull years, periods, dimension values, the metric, top-N and grouping out of the question."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import State
from nodes.common import timed
from tools.entities import extract_entities as extract
from tools.schema import load_schema


@timed("entities")
def extract_entities(state: State, runtime: Runtime[Context] | None = None) -> dict[str, Any]:
    """Entities resolved against the database's actual values ('west' -> stores.region = 'West').

    A follow-up in a conversation ('and in 2024?') gets its base question's entities with its changes.
    """
    if state.follow_up:
        return {"entities": state.follow_up["entities"]}
    return {"entities": extract(state.question, load_schema(state.db))}
