"""The text-to-SQL state graph.

intent -> entities -> retrieval -> generation -> validation -> execution -> chart -> answer, with
validation and execution errors routed back to generation (the model sees the error) until the engine
plan runs out; the ensemble's plan ends with the template engine, the hybrid's starts with it.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from graph.context import Context
from graph.routers import route_after_execution, route_after_generation, route_after_intent, route_after_validation
from graph.state import InputState, OutputState, State
from nodes.classify_intent import classify_intent
from nodes.execute_sql import execute_sql
from nodes.extract_entities import extract_entities
from nodes.generate_sql import generate_sql
from nodes.make_chart import make_chart
from nodes.respond import respond
from nodes.retrieve_context import retrieve_context
from nodes.validate_sql import validate_sql

builder = StateGraph(State, context_schema=Context, input_schema=InputState, output_schema=OutputState)
builder.add_node("classify_intent", classify_intent)
builder.add_node("extract_entities", extract_entities)
builder.add_node("retrieve_context", retrieve_context)
builder.add_node("generate_sql", generate_sql)
builder.add_node("validate_sql", validate_sql)
builder.add_node("execute_sql", execute_sql)
builder.add_node("make_chart", make_chart)
builder.add_node("respond", respond)

builder.add_edge(START, "classify_intent")
builder.add_conditional_edges("classify_intent", route_after_intent)
builder.add_edge("extract_entities", "retrieve_context")
builder.add_edge("retrieve_context", "generate_sql")
builder.add_conditional_edges("generate_sql", route_after_generation)
builder.add_conditional_edges("validate_sql", route_after_validation)
builder.add_conditional_edges("execute_sql", route_after_execution)
builder.add_edge("make_chart", "respond")
builder.add_edge("respond", END)


def build_graph(checkpointer: BaseCheckpointSaver | None = None, **compile_kwargs: Any):
    """A freshly compiled graph, e.g. to embed as a subgraph or give a checkpointer for conversations."""
    return builder.compile(checkpointer=checkpointer, name="gemsql", **compile_kwargs)


graph = build_graph()
