"""The gemsql text-to-SQL graph: ``builder``, the compiled ``graph``, ``build_graph`` and the state types.

Exports are resolved lazily so that node modules can import ``graph.state`` and ``graph.context``
without importing the builder (which imports the nodes).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["builder", "graph", "build_graph", "State", "InputState", "OutputState", "Context",
           "MultiAgentOrchestrator", "ask"]


def __getattr__(name: str) -> Any:
    if name in ("builder", "graph", "build_graph"):
        return getattr(import_module("graph.pipeline"), name)
    if name in ("State", "InputState", "OutputState"):
        return getattr(import_module("graph.state"), name)
    if name == "Context":
        from graph.context import Context

        return Context
    if name in ("MultiAgentOrchestrator", "ask"):
        return getattr(import_module("graph.orchestrator"), name)
    raise AttributeError(f"module 'graph' has no attribute {name!r}")
