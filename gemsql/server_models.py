"""Request and response bodies of the HTTP API (pydantic): the bounds every request is checked against."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model, field_validator

EngineLiteral = Literal["template", "finetuned", "ensemble", "hybrid"]

# `\S`: at least one character that is not white space, so that "   " is rejected by the schema itself
# (and a client generating requests from the OpenAPI document knows it).
QUESTION = Field(min_length=1, max_length=2000, pattern=r"\S",
                 description="The question, in plain English (1 to 2,000 characters).")
THREAD_ID = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$",
                  description="Conversation thread: follow-up questions with the same id see the earlier ones.")


class AskRequest(BaseModel):
    """One question, with optional per-question settings (the server's settings otherwise)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"question": "revenue by region in 2023", "engine": "template"}]})

    question: str = QUESTION
    engine: Optional[EngineLiteral] = Field(None, description="Who writes the SQL (default: the server's engine).")
    thread_id: Optional[str] = THREAD_ID
    use_rag: Optional[StrictBool] = Field(None, description="Ground the model's prompt with retrieved context.")
    max_retries: Optional[int] = Field(None, ge=0, le=5, description="Model retries after an error.")
    row_limit: Optional[int] = Field(None, ge=1, le=10_000, description="Most rows returned.")
    candidates: Optional[int] = Field(None, ge=1, le=8, description="Self-consistency: answers the model writes for "
                                                                    "its first attempt; the result most return wins.")

    @field_validator("max_retries", "row_limit", "candidates", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        # `false` or "5" for a number is a client's mistake to report, not to guess at (5.0 is fine: JSON
        # Schema calls it an integer).
        if isinstance(value, (bool, str)):
            raise ValueError("must be a whole number")
        return value

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # The pattern's `\S` differs between regex engines (is U+001E white space?); Python's view decides.
        if not value.strip():
            raise ValueError("the question is blank")
        return value

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"question", "thread_id"}).items() if v is not None}


def ask_request_for(engines: tuple[str, ...]) -> type[AskRequest]:
    """AskRequest whose ``engine`` admits only ``engines``: what this server offers, as its schema says."""
    allowed = Literal[engines]  # type: ignore[valid-type]
    return create_model("AskRequest", __base__=AskRequest, __doc__=AskRequest.__doc__,
                        engine=(Optional[allowed], Field(None, description="Who writes the SQL (default: the "
                                                                           "server's engine).")))


class Answer(BaseModel):
    """The answer object of `gemsql ask --json`. ``error`` is set (and ``sql``/``rows`` may be empty) when the
    question was refused or could not be answered: the request itself succeeded, the answer says why."""

    model_config = ConfigDict(extra="allow")

    question: str
    sql: Optional[str] = None
    columns: list[str] = []
    rows: list[list[Any]] = []
    truncated: bool = False
    error: Optional[str] = None
    db: Optional[str] = None
    engine: Optional[str] = None
    attempts: int = 0
    latency_s: Optional[float] = None
    chart: Optional[dict[str, Any]] = None
    answer: Optional[str] = None
    intent: Optional[str] = None
    entities: dict[str, Any] = {}
    timings: Optional[dict[str, float]] = None
    agreement: Optional[dict[str, int]] = None
    """With ``candidates`` > 1: {votes, candidates, failed}, how many of the model's answers returned this result."""
    thread_id: Optional[str] = None


class GenerateSQLResponse(BaseModel):
    """The original design's `/generate-sql` contract (sql, results as records, chart), plus the reason
    when there is no answer."""

    sql: str
    results: list[dict[str, Any]]
    chart: Optional[dict[str, Any]] = None
    answer: Optional[str] = None
    error: Optional[str] = None


class ErrorBody(BaseModel):
    """Every HTTP error: one clear message (and, for invalid requests, the fields at fault)."""

    error: str
    detail: Optional[list[dict[str, Any]]] = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    engine: str
    database: str
    database_present: bool
    model: str
    queued: int
    """Questions waiting for (or being answered by) the single worker."""
    threads: bool


class SchemaColumn(BaseModel):
    name: str
    type: str
    comment: str = ""
    primary_key: bool = False
    values: list[str] = []


class SchemaTable(BaseModel):
    name: str
    comment: str = ""
    row_count: int
    columns: list[SchemaColumn]


class SchemaBody(BaseModel):
    database: str
    tables: list[SchemaTable]
    joins: list[str]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be read (not UTF-8 JSON)."},
    401: {"model": ErrorBody, "description": "Missing or wrong API key (only when the server requires one)."},
    413: {"model": ErrorBody, "description": "The request body is too large."},
    422: {"model": ErrorBody, "description": "The request does not match the schema."},
    500: {"model": ErrorBody, "description": "A bug of the server (logged with its traceback, never sent)."},
    501: {"model": ErrorBody, "description": "A feature this version does not offer (e.g. threads before they land)."},
    503: {"model": ErrorBody, "description": "The database is missing or the server is too busy; retry later."},
}
