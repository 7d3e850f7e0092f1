"""The one gate every SQL statement passes before it reaches the database.

A small model writes the SQL, so every statement is treated as hostile until proven otherwise.
Two independent parsers must agree that the text is exactly one read-only query:

1. DuckDB's own parser (the dialect that will run it): one statement, of type SELECT.
2. sqlglot (dialect duckdb): the whole tree, CTEs and subqueries included, holds no write, DDL,
   session or system statement, no function that reads files or the outside world, and FROM
   names only tables of the database, CTEs, subqueries, VALUES lists or ``range``/``generate_series``/
   ``unnest``.

Then every table and column must exist in the schema. Its errors go back to a model that retries,
so each message names the exact problem and, where it can, the likely fix.

The guard is one layer; the executor is another (a read-only, locked-down, bounded worker process).
"""

from __future__ import annotations

import difflib
import re
import threading
import unicodedata
from typing import Iterable

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from tools.schema import DatabaseSchema

MAX_SQL_CHARS = 20_000

GUARD_KINDS = ("empty", "parse", "multiple_statements", "not_a_query", "forbidden",
               "unknown_table", "unknown_column", "too_long")


class GuardError(ValueError):
    """The SQL was refused. ``kind`` is one of ``GUARD_KINDS``; the message is user- and model-facing."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in GUARD_KINDS:
            raise ValueError(f"unknown guard error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message


# --- what is refused --------------------------------------------------------------------------

# Statement nodes that write, change the session or the catalog, or run something other than a query.
# Looked up by name so that a sqlglot release without one of them does not break the import.
_FORBIDDEN_NODE_KEYWORDS: dict[str, str] = {
    "Insert": "INSERT", "Update": "UPDATE", "Delete": "DELETE", "Merge": "MERGE",
    "Create": "CREATE", "Drop": "DROP", "Alter": "ALTER", "TruncateTable": "TRUNCATE",
    "Copy": "COPY", "Export": "EXPORT DATABASE", "LoadData": "LOAD DATA", "Into": "SELECT INTO",
    "Attach": "ATTACH", "Detach": "DETACH", "Install": "INSTALL", "Pragma": "PRAGMA",
    "Set": "SET", "Use": "USE", "Transaction": "BEGIN TRANSACTION", "Commit": "COMMIT",
    "Rollback": "ROLLBACK", "Command": "COMMAND", "Describe": "DESCRIBE", "Summarize": "SUMMARIZE",
    "Show": "SHOW", "Kill": "KILL", "Cache": "CACHE", "Uncache": "UNCACHE", "Refresh": "REFRESH",
    "Grant": "GRANT", "Revoke": "REVOKE", "Analyze": "ANALYZE", "Execute": "EXECUTE",
    "ExecuteSql": "EXECUTE", "Declare": "DECLARE", "Comment": "COMMENT ON",
    "NextValueFor": "NEXT VALUE FOR", "AlterSession": "ALTER SESSION", "ConnectTo": "CONNECT",
    "Disconnect": "DISCONNECT", "Undrop": "UNDROP", "SwapTable": "SWAP TABLE",
    "UserDefinedFunction": "CREATE FUNCTION",
}
_FORBIDDEN_NODES: dict[type, str] = {
    getattr(exp, name): keyword for name, keyword in _FORBIDDEN_NODE_KEYWORDS.items() if hasattr(exp, name)
}

# Functions that read files, URLs or other databases. Prefixes catch the families (read_json_objects,
# parquet_metadata, sqlite_scan...) including members added by future DuckDB releases.
_FILE_FUNCTIONS = frozenset({
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_json_objects", "read_json_objects_auto", "read_ndjson", "read_ndjson_auto",
    "read_ndjson_objects", "read_text", "read_blob", "glob", "sniff_csv", "read_xlsx", "st_read",
    "st_read_meta", "delta_scan", "iceberg_scan", "iceberg_metadata", "iceberg_snapshots",
    "sqlite_scan", "sqlite_attach", "postgres_scan", "postgres_attach", "postgres_query",
    "mysql_scan", "mysql_query", "arrow_scan", "arrow_scan_dumb", "pandas_scan", "python_map_function",
})
_FILE_FUNCTION_PREFIXES = ("read_", "parquet_", "sqlite_", "postgres_", "mysql_", "iceberg_",
                           "delta_", "ducklake_", "st_read", "arrow_")
# Functions that run SQL given as text: they would bypass every check here.
_SQL_FUNCTIONS = frozenset({"query", "query_table", "json_execute_serialized_sql"})
# Functions that read or change the session, the system or sequences.
_SYSTEM_FUNCTIONS = frozenset({
    "getenv", "current_setting", "set_variable", "setseed", "nextval", "currval", "checkpoint",
    "force_checkpoint", "which_secret", "load_aws_credentials", "enable_logging", "disable_logging",
    "truncate_duckdb_logs", "enable_profiling", "disable_profiling", "system", "shell",
})
_SYSTEM_FUNCTION_PREFIXES = ("pragma_", "duckdb_")

# The only functions allowed in FROM: they generate rows from their arguments and touch nothing else
# (the executor bounds their time and memory).
_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})

# Characters with no business in a query that can make two parsers (or a human reviewer) disagree
# on what the text says: C0 controls, bidirectional overrides, zero-width characters.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")

_DUCKDB_STATEMENT_NAMES = {
    "VARIABLE_SET": "SET VARIABLE", "CREATE_FUNC": "CREATE MACRO", "COPY_DATABASE": "COPY DATABASE",
    "MERGE_INTO": "MERGE INTO", "MULTI": "a multi-statement command (e.g. PIVOT without an IN list)",
}


# --- entry point --------------------------------------------------------------------------------

def check_sql(sql: str, schema: DatabaseSchema) -> str:
    """Return the single safe query (trailing semicolons and whitespace stripped) or raise GuardError."""
    if not isinstance(sql, str):
        raise GuardError("empty", f"expected SQL text, got {type(sql).__name__}")
    text = _strip(sql)
    if not text:
        raise GuardError("empty", "The SQL is empty: write one SELECT query.")
    if len(text) > MAX_SQL_CHARS:
        raise GuardError("too_long", f"The SQL is too long: {len(text):,} characters (at most {MAX_SQL_CHARS:,}).")
    _check_characters(text)
    try:
        _check_with_duckdb(text)
        tree = _parse_with_sqlglot(text)
        _check_tree(tree)
        _check_tables(tree, schema)
        _check_columns(tree, schema)
    except RecursionError:
        raise GuardError("parse", "The query is nested too deeply to be checked; simplify it.") from None
    except GuardError:
        raise
    except Exception as exc:  # noqa: BLE001 - a checker failure must refuse, never let the query through
        raise GuardError("parse", f"The query could not be verified ({type(exc).__name__}); "
                                  "rewrite it with plain SELECT syntax.") from exc
    return text


def _strip(sql: str) -> str:
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def _check_characters(text: str) -> None:
    hidden = _INVISIBLE.search(text)
    if hidden:
        char = hidden.group()
        name = unicodedata.name(char, "control character")
        raise GuardError("parse", f"The SQL contains an invisible character U+{ord(char):04X} ({name}); "
                                  "remove it.")


# --- layer 1: DuckDB's parser -----------------------------------------------------------------

_local = threading.local()


def _duckdb_parser() -> duckdb.DuckDBPyConnection:
    """An in-memory connection per thread, used only to parse (connections are not thread-safe)."""
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(":memory:", config={"enable_external_access": False,
                                                 "autoload_known_extensions": False,
                                                 "autoinstall_known_extensions": False})
        _local.con = con
    return con


def _check_with_duckdb(text: str) -> None:
    try:
        statements = _duckdb_parser().extract_statements(text)
    except duckdb.Error as exc:
        raise GuardError("parse", duckdb_error_message(exc)) from None
    if not statements:
        raise GuardError("empty", "The SQL holds no statement (only comments): write one SELECT query.")
    if len(statements) > 1:
        raise GuardError("multiple_statements", f"Only one statement at a time: found {len(statements)}.")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        raise GuardError("not_a_query", f"Only read-only queries are allowed: found {_statement_name(statement)}.")


def _statement_name(statement) -> str:
    """The leading keyword (CHECKPOINT rather than CALL), else DuckDB's statement type."""
    body = re.sub(r"^(\s|--[^\n]*(\n|$)|/\*.*?\*/)*", "", statement.query, flags=re.S)
    word = re.match(r"[A-Za-z_]+", body)
    type_name = statement.type.name
    if type_name == "MULTI" or not word:
        return _DUCKDB_STATEMENT_NAMES.get(type_name, type_name.replace("_", " "))
    return word.group().upper()


def duckdb_error_message(exc: BaseException, max_lines: int = 6) -> str:
    """The useful part of a DuckDB error for a person or a retrying model.

    Keeps the first paragraph (cut to a few lines: binder errors may list dozens of candidate
    functions) and the ``LINE n:`` pointer; drops the generic tuning advice that follows OOM errors.
    """
    paragraphs = [p for p in str(exc).strip().split("\n\n") if p.strip()]
    if not paragraphs:
        return type(exc).__name__
    head = paragraphs[0].splitlines()
    if head[0].startswith("Out of Memory Error"):
        head = head[:1]  # what follows is tuning advice for a database the user does not configure
    if len(head) > max_lines:
        head = head[:max_lines] + ["..."]
    kept = ["\n".join(head)] + [p for p in paragraphs[1:] if p.lstrip().startswith("LINE ")]
    return "\n".join(kept)[:2000]


# --- layer 2: sqlglot's tree ------------------------------------------------------------------

def _parse_with_sqlglot(text: str) -> exp.Expression:
    try:
        parsed = sqlglot.parse(text, read="duckdb")
    except ParseError as exc:
        raise GuardError("parse", "The query could not be verified: " + _sqlglot_message(exc)) from None
    except SqlglotError as exc:
        raise GuardError("parse", f"The query could not be verified: {exc}") from None
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if not statements:
        raise GuardError("empty", "The SQL holds no statement (only comments): write one SELECT query.")
    if len(statements) > 1:
        raise GuardError("multiple_statements", f"Only one statement at a time: found {len(statements)}.")
    tree = statements[0]
    root = tree
    while isinstance(root, exp.Subquery):
        root = root.this
    if isinstance(root, exp.Command):
        keyword = str(root.this).upper()
        if keyword not in {"SELECT", "FROM", "WITH", "VALUES", "TABLE", "("}:
            raise GuardError("not_a_query", f"Only read-only queries are allowed: found {keyword}.")
        # DuckDB calls it a SELECT but sqlglot cannot read it, so nothing here can vouch for it.
        raise GuardError("parse", "The query uses syntax the safety check cannot verify; "
                                  "rewrite it with plain SELECT syntax.")
    if isinstance(root, exp.Pivot):
        found = "UNPIVOT" if root.args.get("unpivot") else "PIVOT"
        raise GuardError("not_a_query", f"Only SELECT queries are allowed: found the {found} statement form; "
                                        f"write SELECT ... FROM table {found} (...) instead.")
    if not isinstance(root, (exp.Select, exp.SetOperation, exp.Values)):
        found = _FORBIDDEN_NODES.get(type(root)) or type(root).__name__.upper()
        raise GuardError("not_a_query", f"Only read-only queries are allowed: found {found}.")
    return tree


def _sqlglot_message(exc: ParseError) -> str:
    if exc.errors:
        first = exc.errors[0]
        where = f" at line {first.get('line')}, column {first.get('col')}" if first.get("line") else ""
        near = f" near '{first.get('highlight')}'" if first.get("highlight") else ""
        return f"{first.get('description', 'syntax error')}{where}{near}"
    return re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines()[0]


def _function_names(func: exp.Func) -> set[str]:
    if isinstance(func, exp.Anonymous):
        return {str(func.name).lower()}
    return {name.lower() for name in type(func).sql_names()}


def _check_tree(tree: exp.Expression) -> None:
    """Refuse any statement, function or FROM item, at any depth, that does more than read the schema's tables."""
    for node in tree.walk():
        forbidden = _FORBIDDEN_NODES.get(type(node))
        if forbidden:
            if isinstance(node, exp.Command):
                forbidden = str(node.this).upper()
            raise GuardError("forbidden", f"Only read-only queries are allowed: found {forbidden}.")
        if isinstance(node, exp.Func):
            _check_function(node)


def _check_function(func: exp.Func) -> None:
    for name in _function_names(func):
        if name in _FILE_FUNCTIONS or name.startswith(_FILE_FUNCTION_PREFIXES):
            raise GuardError("forbidden", f"Reading files is not allowed: {name}. Query the database's tables.")
        if name in _SQL_FUNCTIONS:
            raise GuardError("forbidden", f"Running SQL text from inside a query is not allowed: {name}.")
        if name in _SYSTEM_FUNCTIONS or name.startswith(_SYSTEM_FUNCTION_PREFIXES):
            raise GuardError("forbidden", f"System and settings functions are not allowed: {name}.")


def _cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE) if cte.alias_or_name}


def _check_tables(tree: exp.Expression, schema: DatabaseSchema) -> None:
    ctes = _cte_names(tree)
    for table in tree.find_all(exp.Table):
        source = table.this
        if isinstance(source, exp.Func):
            names = _function_names(source)
            if not names & _TABLE_FUNCTIONS:
                raise GuardError("forbidden", f"Table functions are not allowed in FROM: {sorted(names)[0]} "
                                              f"(only {', '.join(sorted(_TABLE_FUNCTIONS))}). "
                                              f"Query the tables {', '.join(schema.table_names)}.")
            continue
        if not isinstance(source, exp.Identifier):
            raise GuardError("forbidden", f"Only the database's tables can be queried, not {table.sql('duckdb')}.")
        name = source.name
        if table.catalog or (table.db and table.db.lower() != "main"):
            raise GuardError("forbidden", f"Only the database's own tables are allowed, not {table.sql('duckdb')}; "
                                          f"write the bare table name ({', '.join(schema.table_names)}).")
        if (not table.db and name.lower() in ctes) or schema.table(name) is not None:
            continue
        if re.search(r"[/\\:*]|\.\w+$", name):
            raise GuardError("forbidden", f"Reading files is not allowed: '{name}'. "
                                          f"Query the tables {', '.join(schema.table_names)}.")
        raise GuardError("unknown_table", _unknown_table_message(name, schema))


def _unknown_table_message(name: str, schema: DatabaseSchema) -> str:
    message = f'unknown table "{name}"'
    close = _close_matches(name, schema.table_names)
    if close:
        return message + f"; did you mean {' or '.join(close)}? Tables: {', '.join(schema.table_names)}."
    return message + f"; the tables are: {', '.join(schema.table_names)}."


def _close_matches(name: str, candidates: Iterable[str], n: int = 2) -> list[str]:
    by_lower = {c.lower(): c for c in candidates}
    return [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)]


# --- columns --------------------------------------------------------------------------------------

_mapping_cache: dict[tuple[str, str], MappingSchema | None] = {}
_mapping_lock = threading.Lock()


def _schema_mapping(schema: DatabaseSchema) -> MappingSchema | None:
    """sqlglot's view of the schema; None when it cannot represent it (then DuckDB's binder decides)."""
    key = (schema.path, schema.fingerprint)
    with _mapping_lock:
        if key in _mapping_cache:
            return _mapping_cache[key]
    mapping: dict[str, dict[str, str]] = {}
    for table in schema.tables:
        columns = {}
        for column in table.columns:
            try:
                columns[column.name] = exp.DataType.build(column.type, dialect="duckdb").sql("duckdb")
            except (SqlglotError, ValueError):
                columns[column.name] = "UNKNOWN"  # exotic types: the name still resolves
        mapping[table.name] = columns
    try:
        built: MappingSchema | None = MappingSchema(mapping, dialect="duckdb")
    except (SqlglotError, ValueError):
        built = None
    with _mapping_lock:
        _mapping_cache[key] = built
    return built


# sqlglot's qualifier grows worse than linearly: ~3 s for a 25k-character chain of ORs. Beyond this
# many nodes the check is left to DuckDB's binder, which reports unknown columns too, only less kindly.
_MAX_QUALIFY_NODES = 2_000

_UNRESOLVED = re.compile(r"Column '([^']+)' could not be resolved|Unknown column: (\S+)")


def _check_columns(tree: exp.Expression, schema: DatabaseSchema) -> None:
    """Refuse a column that no table in the query has.

    sqlglot's qualifier resolves names like DuckDB (case-insensitive, select aliases in WHERE/GROUP BY/
    ORDER BY, USING, struct fields). It is trusted only to point at a suspect: the suspect is refused only
    if no table in the query and no alias, CTE column or lambda parameter anywhere in it carries that
    name, so a construct sqlglot misreads is left to DuckDB's binder instead of being refused.
    """
    _check_qualifiers(tree, schema)
    mapping = _schema_mapping(schema)
    if mapping is None or sum(1 for _ in tree.walk()) > _MAX_QUALIFY_NODES:
        return
    try:
        qualify(tree.copy(), schema=mapping, dialect="duckdb", validate_qualify_columns=True,
                quote_identifiers=False)
        return
    except OptimizeError as exc:
        match = _UNRESOLVED.search(str(exc))
        if not match:
            return
        suspect = match.group(1) or match.group(2)
    except Exception:  # noqa: BLE001 - sqlglot internals on odd input; DuckDB's binder still checks
        return
    problem = _unknown_column(tree, schema, suspect)
    if problem:
        raise GuardError("unknown_column", problem)


def _check_qualifiers(tree: exp.Expression, schema: DatabaseSchema) -> None:
    """Refuse ``x.amount`` when ``x`` names nothing in the query (no table, alias, CTE or struct column)."""
    known = _names_defined(tree)
    query_tables = []
    for table in tree.find_all(exp.Table):
        known.add(table.name.lower())
        if table.alias:
            known.add(table.alias.lower())
        found = schema.table(table.name) if isinstance(table.this, exp.Identifier) else None
        if found is not None and found not in query_tables:
            query_tables.append(found)
    known.update(c.name.lower() for t in schema.tables for c in t.columns)  # struct_column.field
    for column in tree.find_all(exp.Column):
        qualifier = column.table
        if not qualifier or column.args.get("db") or qualifier.lower() in known:
            continue
        in_scope = ", ".join(t.name for t in query_tables) or "none"
        raise GuardError("unknown_column", f'unknown table or alias "{qualifier}" in {column.sql("duckdb")}; '
                                           f"the query's tables are: {in_scope}.")


def _unknown_column(tree: exp.Expression, schema: DatabaseSchema, suspect: str) -> str | None:
    """The message for ``suspect`` if it is certainly unknown, else None."""
    aliases = {}  # alias or table name (lower) -> schema table
    for table in tree.find_all(exp.Table):
        found = schema.table(table.name) if isinstance(table.this, exp.Identifier) else None
        if found is not None:
            aliases[table.name.lower()] = found
            if table.alias:
                aliases[table.alias.lower()] = found
    in_query = list({t.name: t for t in aliases.values()}.values())
    if _defined_in_query(tree, suspect):
        return None

    for column in tree.find_all(exp.Column):
        if column.name.lower() != suspect.lower() or not column.table:
            continue
        table = aliases.get(column.table.lower())
        if table is None:
            return None  # a struct field or an alias of a subquery: DuckDB knows better
        if table.column(suspect) is not None:
            return None
        alias_note = f" (alias {column.table})" if column.table.lower() != table.name.lower() else ""
        return _column_message(suspect, [table], schema, alias_note)

    if not in_query:
        owners = [t.name for t in schema.tables if t.column(suspect) is not None]
        if owners:
            return f'column "{suspect}" needs its table in FROM: it is a column of {", ".join(owners)}.'
        return f'unknown column "{suspect}"; the tables are: {", ".join(schema.table_names)}.'
    if any(t.column(suspect) is not None for t in in_query):
        return None
    return _column_message(suspect, in_query, schema, "")


def _defined_in_query(tree: exp.Expression, name: str) -> bool:
    lowered = name.lower()
    return lowered in _names_defined(tree) or re.fullmatch(r"col\d+", lowered) is not None


def _names_defined(tree: exp.Expression) -> set[str]:
    """Every name the query itself introduces: aliases, CTE and alias columns, lambda parameters, struct keys."""
    defined: set[str] = set(_TABLE_FUNCTIONS)
    for node in tree.walk():
        if isinstance(node, exp.Alias) and node.alias:
            defined.add(node.alias.lower())
        elif isinstance(node, exp.TableAlias):
            defined.update(c.name.lower() for c in node.args.get("columns") or [])
            if node.name:
                defined.add(node.name.lower())
        elif isinstance(node, exp.Lambda):
            defined.update(p.name.lower() for p in node.expressions)
        elif isinstance(node, exp.Comprehension) and isinstance(node.args.get("expression"), exp.Expression):
            defined.add(node.args["expression"].name.lower())
        elif isinstance(node, exp.PropertyEQ) and isinstance(node.this, exp.Expression):
            defined.add(node.this.name.lower())  # struct_pack(a := 1) and {'a': 1} keys
    return defined


def _column_message(name: str, tables: list, schema: DatabaseSchema, alias_note: str) -> str:
    if len(tables) == 1:
        table = tables[0]
        message = f'unknown column "{name}" in table {table.name}{alias_note}'
        close = _close_matches(name, [c.name for c in table.columns])
        if close:
            message += f"; did you mean {' or '.join(close)}?"
        else:
            message += f"; its columns are: {', '.join(c.name for c in table.columns)}."
    else:
        message = f'unknown column "{name}" in tables {", ".join(t.name for t in tables)}'
        qualified = [f"{t.name}.{c.name}" for t in tables for c in t.columns]
        close = _close_matches(name, [c.name for t in tables for c in t.columns])
        if close:
            hits = [q for q in qualified if q.split(".", 1)[1] in close]
            message += f"; did you mean {' or '.join(hits[:3])}?"
        else:
            message += f"; their columns are: {', '.join(qualified)}."
    elsewhere = [t.name for t in schema.tables if t not in tables and t.column(name) is not None]
    if elsewhere:
        message += f" {name} is a column of {', '.join(elsewhere)}: join it."
    return message
