"""The one prompt format of gemsql, shared by inference and fine-tuning.

Training and inference must see byte-identical prompts, otherwise the LoRA adapter learns a format the
runtime never shows it. Everything that turns a question into model input, or model output back into
SQL, therefore lives here.

Layout of a prompt (Gemma turn format)::

    <start_of_turn>user
    You write one DuckDB SQL query ...        <- static part: depends on the schema only,
    Schema:                                      so a prefix KV cache can reuse it across questions
    <schema text>

    Context:                                  <- per-question part, always LAST
    <retrieved context>

    Earlier question: <question>              <- only for a follow-up in a conversation
    Earlier SQL: <sql>

    Question: <question>

    Previous SQL: <sql>                       <- only on a retry
    Error: <message>
    Write a corrected query.<end_of_turn>
    <start_of_turn>model
"""

from __future__ import annotations

import re

START, END = "<start_of_turn>", "<end_of_turn>"
EOS = "<eos>"

INSTRUCTION = "You write one DuckDB SQL query that answers the question. Use only the tables and columns below."

# Where generation may stop: the end of the model's turn, a new turn, the end of the statement, or a
# closing markdown fence. ';' and '```' get special treatment in find_stop (literals, opening fences).
STOP_SEQUENCES: list[str] = [END, START, ";", "```"]


def static_prefix(schema_text: str) -> str:
    """The part of every prompt on this schema that does not depend on the question.

    It ends with a blank line so that whatever follows starts on a fresh paragraph; callers must not
    normalise it (a prefix KV cache matches it byte for byte).
    """
    return f"{START}user\n{INSTRUCTION}\nSchema:\n{schema_text.strip()}\n\n"


def build_prompt(
    question: str,
    schema_text: str,
    *,
    context: str = "",
    feedback: str | None = None,
    previous_sql: str | None = None,
    previous_turn: tuple[str, str] | None = None,
) -> str:
    """A complete Gemma prompt: static schema part first, the per-question part last, then the model turn.

    ``feedback`` (an error message) and ``previous_sql`` turn the prompt into a correction request; either
    one alone is enough to add the retry block. ``previous_turn`` (question, SQL) is the conversation's
    earlier question that a follow-up such as 'and in 2024?' builds on. Without it the prompt is exactly
    what it was before conversations existed: adapters are trained on that text.
    """
    parts: list[str] = []
    if context and context.strip():
        parts.append(f"Context:\n{context.strip()}")
    if previous_turn is not None:
        earlier_question, earlier_sql = previous_turn
        parts.append(f"Earlier question: {earlier_question.strip()}\nEarlier SQL: {earlier_sql.strip()}")
    parts.append(f"Question: {question.strip()}")
    if feedback is not None or previous_sql is not None:
        retry = []
        if previous_sql is not None:
            retry.append(f"Previous SQL: {previous_sql.strip()}")
        if feedback is not None:
            retry.append(f"Error: {feedback.strip()}")
        retry.append("Write a corrected query.")
        parts.append("\n".join(retry))
    return static_prefix(schema_text) + "\n\n".join(parts) + f"{END}\n{START}model\n"


def build_training_example(question: str, sql: str, schema_text: str, *, context: str = "") -> dict:
    """One prompt/completion pair for supervised fine-tuning (TRL's prompt-completion format).

    The completion ends with END so that the tuned model learns to close its turn right after the SQL.
    """
    return {
        "prompt": build_prompt(question, schema_text, context=context),
        "completion": sql.strip() + END,
    }


def _literal_mask(text: str) -> list[bool]:
    """For each character: is it inside a '...' string literal or a "..." quoted identifier?

    SQL escapes a quote by doubling it ('it''s'), which this handles naturally: the second quote
    re-opens the literal. An unterminated literal runs to the end of the text.
    """
    mask: list[bool] = []
    quote: str | None = None
    for ch in text:
        if quote is None:
            if ch in ("'", '"'):
                quote = ch
                mask.append(True)
            else:
                mask.append(False)
        else:
            mask.append(True)
            if ch == quote:
                quote = None
    return mask


_SQL_START = re.compile(r"^\s*(```(sql)?\s*)?(sql:\s*)?\(?\s*(select|with|from|values|table|pivot|unpivot)\b", re.I)
_WORD = re.compile(r"\S+\s")


def not_a_query(generated: str) -> bool:
    """True once the continuation's first whole word (past a fence or 'SQL:') shows it is not a query."""
    stripped = generated.lstrip()
    decided = len(_WORD.findall(re.sub(r"^(```(sql)?|sql:)\s*", "", stripped, flags=re.I))) >= 1
    return decided and not _SQL_START.match(stripped)


_OPEN_FENCE = re.compile(r"\s*```[A-Za-z]*[ \t]*\n?")


def find_stop(text: str, stops: list[str] | tuple[str, ...] = tuple(STOP_SEQUENCES)) -> int:
    """Index of the earliest stop string in ``text``, or -1.

    Two exceptions keep the SQL intact: a ';' inside a string literal is not a stop, and a markdown fence
    that OPENS the text (```sql) is skipped, so only a closing fence stops generation.
    """
    start = 0
    if "```" in stops:
        opener = _OPEN_FENCE.match(text)
        if opener:
            start = opener.end()
        elif text.strip() and "```".startswith(text.strip()):
            # A partial opener ('`' or '``') as the whole text so far: the fence is still being written.
            return -1
    best = -1
    mask: list[bool] | None = None
    for stop in stops:
        if not stop:
            continue
        pos = text.find(stop, start)
        if stop == ";":
            mask = mask if mask is not None else _literal_mask(text)
            while pos != -1 and mask[pos]:
                pos = text.find(stop, pos + 1)
        if pos != -1 and (best == -1 or pos < best):
            best = pos
    return best


_FENCED = re.compile(r"```[ \t]*[A-Za-z]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_LEAD_LABEL = re.compile(r"^\s*(?:sql|answer|query)\s*:\s*", re.IGNORECASE)
# Blank-line separated paragraphs after the first one are kept only if they plausibly continue the SQL;
# base models tend to follow a query with prose ("This query selects ...").
_SQL_CONTINUATION = re.compile(
    r"^\s*(?:(?:select|from|where|group|order|having|limit|offset|join|inner|left|right|full|cross|on|and|or|"
    r"union|intersect|except|with|window|qualify|case|when|then|else|end)\b|[(),*+\-/<>=|.'\"0-9])",
    re.IGNORECASE,
)


def extract_sql(generated: str) -> str:
    """Clean a model's raw continuation into one SQL statement; never raises, may return ''."""
    try:
        return _extract_sql(generated)
    except Exception:  # a cleaner that raises would take the whole graph down for one odd output
        return ""


def _extract_sql(generated: str) -> str:
    text = generated or ""
    for marker in (END, START, EOS):
        cut = text.find(marker)
        if cut != -1:
            text = text[:cut]
    fenced = _FENCED.search(text)
    if fenced:
        text = fenced.group(1)
    # Labels may stack ("Answer: SQL: SELECT ...").
    while True:
        stripped = _LEAD_LABEL.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    mask = _literal_mask(text)
    for i, ch in enumerate(text):
        if ch == ";" and not mask[i]:
            text = text[:i]
            break
    paragraphs = re.split(r"\n[ \t]*\n", text.strip())
    kept = [paragraphs[0]]
    for para in paragraphs[1:]:
        if not _SQL_CONTINUATION.match(para):
            break
        kept.append(para)
    return "\n\n".join(kept).strip()
