"""`gemsql chat`: a Rich REPL over the graph, with history, slash commands and Ctrl-C that cancels a question."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Callable

from rich.console import Console
from rich.markdown import Markdown
from rich.syntax import Syntax

from graph.context import ENGINES, Context
from gemsql.render import render_answer
from tools.paths import home

COMMANDS = """\
**Commands**
- `/sql` show the SQL of the last answer
- `/engine [template|finetuned|ensemble]` show or change the engine
- `/good` keep the last question and its SQL as an example for the knowledge base
- `/bad [corrected SQL]` record that the last answer was wrong, with the right SQL if you have it
- `/help` this help
- `/quit` leave (Ctrl-D too)

Ctrl-C cancels the question being answered, not the chat."""


def _enable_history() -> None:
    try:
        import atexit
        import readline
    except ImportError:  # not every platform has readline; the chat still works without history
        return
    path = home() / "chat_history"
    try:
        readline.read_history_file(path)
    except OSError:
        pass
    readline.set_history_length(1000)
    atexit.register(lambda: _save_history(readline, path))


def _save_history(readline: Any, path: Any) -> None:
    try:
        readline.write_history_file(path)
    except OSError:
        pass


class Chat:
    """The chat's state: settings, the last answer, and the question in flight."""

    def __init__(self, context: Context, console: Console,
                 answer_fn: Callable[[str, Context], dict[str, Any]] | None = None) -> None:
        from graph.orchestrator import ask

        self.context = context
        self.console = console
        self.answer_fn = answer_fn or ask
        self.last: dict[str, Any] | None = None
        self._worker: threading.Thread | None = None

    def command(self, line: str) -> bool:
        """Handle a slash command; False means leave the chat."""
        name, _, arg = line[1:].partition(" ")
        name, arg = name.lower(), arg.strip()
        if name in ("quit", "exit", "q"):
            return False
        if name == "help":
            self.console.print(Markdown(COMMANDS))
        elif name == "sql":
            if self.last and self.last.get("sql"):
                self.console.print(Syntax(self.last["sql"], "sql", theme="ansi_dark", word_wrap=True))
            else:
                self.console.print("No SQL yet: ask a question first.")
        elif name == "engine":
            if not arg:
                self.console.print(f"Engine: [bold]{self.context.engine}[/] (choose from {', '.join(ENGINES)})")
            elif arg in ENGINES:
                self.context = replace(self.context, engine=arg)
                self.console.print(f"Engine set to [bold]{arg}[/].")
            else:
                self.console.print(f"[red]Unknown engine {arg!r}[/]: choose from {', '.join(ENGINES)}.")
        elif name in ("good", "bad"):
            self.feedback(good=name == "good", corrected_sql=arg or None)
        else:
            self.console.print(f"[red]Unknown command /{name}[/]. Type /help.")
        return True

    def feedback(self, *, good: bool, corrected_sql: str | None = None) -> None:
        """Keep the knowledge base up to date with what the analyst confirms or corrects."""
        last = self.last
        if not last or not last.get("sql") or not last.get("db"):
            self.console.print("Nothing to rate yet: ask a question first.")
            return
        try:
            from kb.store import KnowledgeBase
            from tools.executor import get_executor

            kb = KnowledgeBase.open(last["db"])
            if good:
                if last.get("error"):
                    self.console.print("[red]The last answer failed[/]: use /bad with the right SQL instead.")
                    return
                kb.add_example(last["question"], last["sql"])
                self.console.print("Saved as an example: similar questions will be shown this SQL.")
                return
            if corrected_sql:
                get_executor(last["db"]).run(corrected_sql, row_limit=1)  # the guard and a real run prove it
            kb.add_correction(last["question"], last["sql"], corrected_sql)
            self.console.print("Correction recorded." if corrected_sql else
                               "Recorded as wrong. Type /bad <the right SQL> to teach the right query.")
        except Exception as exc:  # a feedback problem must not end the chat
            self.console.print(f"[red]Could not record that:[/] {exc}")

    def question(self, text: str) -> dict[str, Any] | None:
        """Answer in a worker thread so that Ctrl-C returns to the prompt at once."""
        if self._worker is not None and self._worker.is_alive():
            with self.console.status("Finishing the cancelled question first...", spinner="dots"):
                self._worker.join()
        box: dict[str, Any] = {}
        self._worker = threading.Thread(target=lambda: box.update(self.answer_fn(text, self.context)), daemon=True)
        self._worker.start()
        try:
            with self.console.status(f"[bold]Thinking about[/] {text}", spinner="dots"):
                while self._worker.is_alive():
                    self._worker.join(timeout=0.1)
        except KeyboardInterrupt:
            self.console.print("[yellow]Cancelled.[/] Ask another question, or /quit.")
            return None
        self.last = box
        render_answer(self.console, box)
        return box


def run_chat(context: Context, console: Console) -> None:
    """The read-eval-print loop."""
    _enable_history()
    chat = Chat(context, console)
    db = context.db_path or "the bundled sales database"
    console.print(f"[bold]gemsql[/] chat on {db} · engine [bold]{context.engine}[/] · /help for commands")
    while True:
        try:
            line = console.input("[bold cyan]?[/] ").strip()
        except EOFError:
            console.print()
            break
        except KeyboardInterrupt:
            console.print()
            continue
        if not line:
            continue
        if line.startswith("/"):
            if not chat.command(line):
                break
            continue
        chat.question(line)
    console.print("Bye.")
