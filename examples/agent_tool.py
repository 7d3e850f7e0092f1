"""gemsql as a tool of a LangChain agent.

The agent is langchain's ``create_agent``; its chat model here is a scripted stand-in (so the example runs
without an API key or a chat model download): it calls the gemsql tool with the user's question, then
answers from what the tool returned. The tool itself is real: gemsql's graph on DuckDB. Swap in any chat
model with tool calling (``create_agent("openai:gpt-4.1", tools=[tool])``) and nothing else changes.

    python examples/agent_tool.py --db sales.duckdb "top 3 brands by revenue in 2024"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from gemsql.langchain_tool import as_tool
from graph.context import Context


class ScriptedAnalyst(BaseChatModel):
    """Asks the tool the user's question, then reports the tool's answer (or its error)."""

    tool_name: str = "gemsql"

    @property
    def _llm_type(self) -> str:
        return "scripted-analyst"

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedAnalyst":
        return self  # the script already knows its one tool

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            result = json.loads(last.content)
            text = (f"{result['answer']}\n(SQL: {result['sql']})" if not result["error"]
                    else f"I could not answer that: {result['error']}")
            reply = AIMessage(content=text)
        else:
            question = next(m.content for m in reversed(messages) if isinstance(m, HumanMessage))
            reply = AIMessage(content="", tool_calls=[{"name": self.tool_name, "args": {"question": question},
                                                       "id": f"call_{len(messages)}", "type": "tool_call"}])
        return ChatResult(generations=[ChatGeneration(message=reply)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="?", default="top 3 brands by revenue in 2024")
    parser.add_argument("--db", type=Path, help="DuckDB file (default: the bundled sales database)")
    args = parser.parse_args()
    tool = as_tool(Context(db_path=str(args.db.resolve()) if args.db else "", engine="template"))
    agent = create_agent(ScriptedAnalyst(), tools=[tool], system_prompt="Answer with figures from the database.")
    result = agent.invoke({"messages": [HumanMessage(args.question)]})
    for message in result["messages"]:
        if isinstance(message, AIMessage) and message.tool_calls:
            print(f"agent -> {message.tool_calls[0]['name']}({json.dumps(message.tool_calls[0]['args'])})")
        elif isinstance(message, ToolMessage):
            data = json.loads(message.content)
            print(f"tool  -> {data['row_count']} row(s): {data['columns']} {data['rows'][:3]}")
    print(f"agent: {result['messages'][-1].content}")


if __name__ == "__main__":
    main()
