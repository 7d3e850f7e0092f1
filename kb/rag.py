"""The original design's RAG API (``EnhancedRAGBuilder``, ``RAGQueryEnhancer``) over the knowledge base.

    rag = EnhancedRAGBuilder()              # the bundled sales database
    rag.create_knowledge_base()
    result = rag.retrieve("revenue per store type in 2024")
    result.schema_info, result.relevant_patterns, result.examples

    enhancer = RAGQueryEnhancer(rag)
    prompt = enhancer.enhance_prompt("units sold by brand in Q3 2023")

A thin layer: the work is done by :class:`kb.store.KnowledgeBase`, and the prompt is the graph's own
(tools.prompts.build_prompt, static schema first, the per-question context last), so a prompt made
here is byte-identical to the one the model sees when the graph answers the same question.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.store import KnowledgeBase


@dataclass
class RetrievalResult:
    """What the knowledge base found for one question."""

    question: str
    schema_info: str
    """DDL of the linked tables (with their joins), or of the whole database when none was linked."""
    relevant_patterns: list[str] = field(default_factory=list)
    """Glossary entries, then SQL idioms and correction notes."""
    examples: list[dict[str, Any]] = field(default_factory=list)
    """Similar question/SQL pairs: {"question", "sql", "score"}."""
    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    retrieved: dict[str, Any] = field(default_factory=dict)
    """The raw retrieval, in the shape the graph's prompt renders (nodes.retrieve_context.context_text)."""


class EnhancedRAGBuilder:
    """Builds and queries the knowledge base of one database (default: the bundled sales database)."""

    def __init__(self, db_path: str | os.PathLike | None = None, *, progress: bool = True) -> None:
        if db_path is None:
            from tools.sales_db import ensure_default_db

            db_path = ensure_default_db(progress=progress)
        self.db_path = str(Path(db_path).expanduser().resolve())
        self.progress = progress
        self._kb: KnowledgeBase | None = None

    @property
    def kb(self) -> KnowledgeBase:
        if self._kb is None:
            self._kb = KnowledgeBase.open(self.db_path, progress=self.progress)
        return self._kb

    @property
    def schema(self):
        return self.kb.schema

    def create_knowledge_base(self, rebuild: bool = False) -> int:
        """Build the knowledge base (once; ``rebuild`` forces it) and return its number of documents."""
        self._kb = KnowledgeBase.open(self.db_path, progress=self.progress, build=False)
        return self._kb.build(progress=self.progress, rebuild=rebuild)

    def retrieve(self, question: str, k_examples: int = 3) -> RetrievalResult:
        from tools.entities import extract_entities

        kb = self.kb
        found = kb.retrieve(question, extract_entities(question, kb.schema), k_examples=k_examples)
        return RetrievalResult(
            question=question,
            schema_info=kb.schema.to_prompt(tables=found["tables"] or None),
            relevant_patterns=[*found["glossary"], *found["notes"]],
            examples=found["examples"],
            tables=found["tables"],
            columns=found["columns"],
            values=found["values"],
            retrieved={k: found[k] for k in ("tables", "values", "examples", "glossary", "notes")},
        )


class RAGQueryEnhancer:
    """Turns a question into the model's prompt, grounded by the knowledge base."""

    def __init__(self, rag: EnhancedRAGBuilder | None = None) -> None:
        self.rag = rag or EnhancedRAGBuilder()

    def get_context(self, question: str) -> dict[str, Any]:
        """{"schema": the static schema text, "full_context": the per-question context block, "examples": [...]}."""
        from nodes.retrieve_context import context_text

        result = self.rag.retrieve(question)
        return {
            "schema": self.rag.schema.to_compact_prompt(),
            "full_context": context_text(result.retrieved),
            "examples": result.examples,
            "tables": result.tables,
            "values": result.values,
            "patterns": result.relevant_patterns,
        }

    def enhance_prompt(self, question: str) -> str:
        """The complete Gemma prompt: static schema prefix first, the retrieved context last."""
        from tools.prompts import build_prompt

        context = self.get_context(question)
        return build_prompt(question, context["schema"], context=context["full_context"])
