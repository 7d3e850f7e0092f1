"""Schema linking: which tables, columns and values the question is about.

The schema part of the prompt is the whole database, always the same text for a database (so a prefix
cache can reuse it); what is specific to the question goes into ``retrieved`` and the prompt's tail.
With use_rag on and the model in the plan, the Chroma knowledge base (kb.store) adds the tables and
values it links, worked examples, glossary entries and SQL idioms; if it cannot be opened the question
goes on with the entity-only linking below.
"""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import State
from nodes.common import settings, timed
from tools.schema import DatabaseSchema, load_schema

log = logging.getLogger("gemsql")


def link_tables(entities: dict[str, Any], schema: DatabaseSchema) -> list[str]:
    """Tables named by the question's entities, plus the tables that join them."""
    refs = [*entities.get("filters", {}), *entities.get("group_by", []), *entities.get("columns_mentioned", [])]
    linked: list[str] = []
    for ref in refs:
        table = ref.split(".", 1)[0]
        if schema.table(table) and table not in linked:
            linked.append(table)
    return linked


def matching_values(entities: dict[str, Any]) -> list[str]:
    """Lines such as ``stores.region = 'West'`` for the values the question mentions."""
    lines = []
    for ref, values in entities.get("filters", {}).items():
        quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)
        lines.append(f"{ref} = {quoted}" if len(values) == 1 else f"{ref} IN ({quoted})")
    return lines


@timed("retrieval")
def retrieve_context(state: State, runtime: Runtime[Context] | None = None) -> dict[str, Any]:
    """Schema text for the prompt, the linked tables and the per-question context."""
    ctx = settings(state, runtime)
    schema = load_schema(state.db)
    linked = link_tables(state.entities, schema)
    retrieved: dict[str, Any] = {}
    if ctx.use_rag:
        retrieved = {"tables": linked, "values": matching_values(state.entities)}
        if "finetuned" in state.plan:  # only the model reads the context: the template engine needs no KB
            retrieved = _from_knowledge_base(state, retrieved)
            linked = retrieved["tables"]
    return {"schema_context": schema.to_compact_prompt(), "linked_tables": linked, "retrieved": retrieved}


def _from_knowledge_base(state: State, fallback: dict[str, Any]) -> dict[str, Any]:
    """The knowledge base's tables, values, examples, glossary and notes; ``fallback`` if it cannot open."""
    try:
        from kb.store import KnowledgeBase

        found = KnowledgeBase.open(state.db).retrieve(state.question, state.entities)
    except Exception as exc:  # noqa: BLE001 - a missing knowledge base must not fail the question
        log.warning("knowledge base unavailable for %s, linking by entities only: %s", state.db, exc, exc_info=True)
        return fallback
    return {
        "tables": found["tables"] or fallback["tables"],
        "values": found["values"] or fallback["values"],
        "examples": found["examples"],
        "glossary": found["glossary"],
        "notes": found["notes"],
    }


def context_text(retrieved: dict[str, Any]) -> str:
    """The per-question context block of the prompt."""
    parts = []
    if retrieved.get("tables"):
        parts.append("Relevant tables: " + ", ".join(retrieved["tables"]))
    if retrieved.get("values"):
        parts.append("Values in the question: " + "; ".join(retrieved["values"]))
    for entry in retrieved.get("glossary", []):
        parts.append(f"Glossary: {entry}")
    for example in retrieved.get("examples", []):
        parts.append(f"Example: {example['question']}\nSQL: {example['sql']}")
    for note in retrieved.get("notes", []):
        parts.append(f"Note: {note}")
    return "\n".join(parts)
