"""Pure routing functions: where the question goes next, read from the state alone."""

from __future__ import annotations

from typing import Literal

from graph.state import State


def route_after_intent(state: State) -> Literal["extract_entities", "respond"]:
    """Only data questions go down the SQL path; refusals, help and schema answers go straight to respond."""
    if state.error or state.intent != "data_question":
        return "respond"
    return "extract_entities"


def _retry_or_stop(state: State) -> Literal["generate_sql", "respond"]:
    """The data-enrichment pattern: another attempt while the plan has one, else stop with the error."""
    return "generate_sql" if state.attempts < len(state.plan) else "respond"


def route_after_generation(state: State) -> Literal["validate_sql", "generate_sql", "respond"]:
    if state.feedback is None and state.sql:
        return "validate_sql"
    return _retry_or_stop(state)


def route_after_validation(state: State) -> Literal["execute_sql", "generate_sql", "respond"]:
    if state.feedback is None:
        return "execute_sql"
    return _retry_or_stop(state)


def route_after_execution(state: State) -> Literal["make_chart", "generate_sql", "respond"]:
    if state.feedback is None:
        return "make_chart"
    return _retry_or_stop(state)
