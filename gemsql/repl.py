"""`gemsql chat`: a Rich REPL over the graph, with history, slash commands and Ctrl-C that cancels a question.

A chat is a conversation (graph.threads): follow-ups such as 'and in 2024?' build on the earlier questions,
and `gemsql chat --thread NAME` resumes one after a restart.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any, Callable

from rich.console import Console
from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from graph.context import ENGINES, Context
from gemsql.render import render_answer
from tools.paths import home

COMMANDS = """\
**Commands**
- `/sql` show the SQL of the last answer
- `/engine [template|finetuned|ensemble|hybrid]` show or change the engine
- `/good` keep the last question and its SQL as an example for the knowledge base
- `/bad [corrected SQL]` record that the last answer was wrong, with the right SQL if you have it
- `/new` start a new conversation (follow-ups build on the questions of the current one)
- `/threads` list the saved conversations; `/thread NAME` switch to one (or start it)
- `/history` the questions and answers of this conversation
- `/help` this help
- `/quit` leave (Ctrl-D too)

Ctrl-C cancels the question being answered, not the chat."""

log = logging.getLogger("gemsql")


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


def _local_time(iso: str | None) -> str:
    """Checkpoints are stamped in UTC; the analyst reads local time."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or ""


class Chat:
    """The chat's state: settings, the conversation, the last answer, and the question in flight.

    ``charts``: draw a terminal chart under each answer; None draws one when the console is a terminal.
    """

    def __init__(self, context: Context, console: Console,
                 answer_fn: Callable[[str, Context], dict[str, Any]] | None = None, *,
                 thread_id: str | None = None, charts: bool | None = None) -> None:
        from graph.threads import new_thread_id

        self.context = context
        self.console = console
        self.answer_fn = answer_fn or self._ask_in_thread
        self.thread_id = thread_id or new_thread_id()
        self.charts = console.is_terminal if charts is None else charts
        self.last: dict[str, Any] | None = None
        self._worker: threading.Thread | None = None

    def _ask_in_thread(self, text: str, context: Context) -> dict[str, Any]:
        from graph.orchestrator import ask

        return ask(text, context, thread_id=self.thread_id)

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
        elif name == "new":
            self.switch(None)
        elif name == "thread":
            if arg:
                self.switch(arg)
            else:
                self.console.print(f"Conversation: [bold]{self.thread_id}[/]. Type /thread NAME to switch.")
        elif name == "threads":
            self.show_threads()
        elif name == "history":
            self.show_history()
        else:
            self.console.print(f"[red]Unknown command /{name}[/]. Type /help.")
        return True

    def switch(self, thread_id: str | None) -> None:
        """Go on in another conversation (a new one when None); the next follow-up builds on its questions."""
        from graph.threads import check_thread_id, new_thread_id, thread_history

        try:
            self.thread_id = check_thread_id(thread_id) if thread_id else new_thread_id()
            turns = thread_history(self.thread_id)
        except (ValueError, OSError) as exc:
            self.console.print(f"[red]Cannot switch:[/] {exc}")
            return
        self.last = None
        if turns:
            self.console.print(f"Resumed conversation [bold]{self.thread_id}[/] ({len(turns)} questions; /history).")
        else:
            self.console.print(f"New conversation [bold]{self.thread_id}[/].")

    def show_threads(self) -> None:
        from graph.threads import list_threads

        try:
            threads = list_threads()
        except OSError as exc:
            self.console.print(f"[red]Cannot read the conversations:[/] {exc}")
            return
        if not threads:
            self.console.print("No saved conversations yet.")
            return
        table = Table("", "conversation", "questions", "last question", "updated", header_style="bold cyan")
        for t in threads:
            current = "*" if t["thread_id"] == self.thread_id else ""
            updated = _local_time(t["updated_at"])
            table.add_row(current, t["thread_id"], str(t["turns"]), t["last_question"] or "", updated)
        self.console.print(table)
        self.console.print("Type /thread NAME to switch.")

    def show_history(self) -> None:
        from graph.threads import thread_history

        try:
            turns = thread_history(self.thread_id)
        except (ValueError, OSError) as exc:
            self.console.print(f"[red]Cannot read this conversation:[/] {exc}")
            return
        if not turns:
            self.console.print(f"Conversation [bold]{self.thread_id}[/] has no questions yet.")
            return
        self.console.print(f"Conversation [bold]{self.thread_id}[/]:")
        for i, turn in enumerate(turns, 1):
            line = Text(f"{i}. ", style="bold")
            line.append(turn["question"], style="bold")
            line.append("\n   ")
            if turn["error"]:
                line.append(turn["error"], style="red")
            else:
                line.append(turn["answer"] or "", style="green")
            if turn["sql"]:
                line.append(f"\n   {turn['sql']}", style="dim")
            self.console.print(line)

    def draw_chart(self, answer: dict[str, Any]) -> None:
        """The answer's chart in the terminal; whatever goes wrong, the chat goes on without it."""
        if not self.charts or answer.get("error") or not answer.get("chart"):
            return
        try:
            from gemsql.termchart import terminal_chart

            width = min(self.console.width - 2, 100)
            text = terminal_chart(answer, width=width, height=15, color=self.console.is_terminal)
            if text:
                self.console.print(Text.from_ansi(text))
        except Exception:  # noqa: BLE001 - a drawing problem must never end the chat
            log.warning("could not draw the terminal chart for %r", answer.get("question"), exc_info=True)

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
        self.draw_chart(box)
        return box


def run_chat(context: Context, console: Console, thread_id: str | None = None) -> None:
    """The read-eval-print loop, in the conversation ``thread_id`` (a new one, named by the time, if None)."""
    from graph.threads import thread_history

    _enable_history()
    try:
        chat = Chat(context, console, thread_id=thread_id)
        earlier = thread_history(chat.thread_id)
    except (ValueError, OSError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return
    db = context.db_path or "the bundled sales database"
    resumed = f" (resumed, {len(earlier)} questions: /history)" if earlier else ""
    console.print(f"[bold]gemsql[/] chat on {db} · engine [bold]{context.engine}[/] · conversation "
                  f"[bold]{chat.thread_id}[/]{resumed} · /help for commands")
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
