"""The SQL guard: hostile SQL is refused with the right kind and a precise message; real queries pass."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from small_db import build_stores_sales_db
from tools.schema import load_schema
from tools.sql_guard import MAX_SQL_CHARS, GuardError, check_sql


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    return load_schema(build_stores_sales_db(tmp_path_factory.mktemp("guard") / "sales.duckdb"))


HOSTILE: list[tuple[str, str]] = [
    # writes and DDL
    ("DROP TABLE sales", "not_a_query"),
    ("DELETE FROM sales WHERE amount > 0", "not_a_query"),
    ("INSERT INTO sales VALUES (1, DATE '2024-01-01', 1, 1.0)", "not_a_query"),
    ("UPDATE sales SET amount = 0", "not_a_query"),
    ("CREATE TABLE x AS SELECT * FROM sales", "not_a_query"),
    ("ALTER TABLE sales ADD COLUMN y INTEGER", "not_a_query"),
    ("TRUNCATE sales", "not_a_query"),
    ("MERGE INTO sales USING stores ON 1 = 1 WHEN MATCHED THEN DELETE", "not_a_query"),
    ("CREATE MACRO m(x) AS x", "not_a_query"),
    ("COPY sales TO '/tmp/x.csv'", "not_a_query"),
    ("COPY (SELECT * FROM sales) TO '/tmp/x.parquet'", "not_a_query"),
    ("EXPORT DATABASE '/tmp/exp'", "not_a_query"),
    # stacked statements, including behind comments
    ("SELECT 1; DROP TABLE sales", "multiple_statements"),
    ("SELECT * FROM sales; DELETE FROM sales", "multiple_statements"),
    ("SELECT 1 /* harmless */; DROP TABLE sales", "multiple_statements"),
    ("SELECT 1 -- comment\n; DROP TABLE sales", "multiple_statements"),
    ("SELECT 1; -- x\nDELETE FROM sales", "multiple_statements"),
    # the session, the system, extensions
    ("ATTACH '/tmp/x.db' AS x", "not_a_query"),
    ("DETACH x", "not_a_query"),
    ("INSTALL httpfs", "not_a_query"),
    ("LOAD httpfs", "not_a_query"),
    ("PRAGMA database_list", "not_a_query"),
    ("SET memory_limit = '100GB'", "not_a_query"),
    ("RESET memory_limit", "not_a_query"),
    ("SET VARIABLE x = 1", "not_a_query"),
    ("USE memory", "not_a_query"),
    ("BEGIN TRANSACTION", "not_a_query"),
    ("CHECKPOINT", "not_a_query"),
    ("VACUUM", "not_a_query"),
    ("CALL pragma_version()", "not_a_query"),
    ("EXPLAIN SELECT 1", "not_a_query"),
    ("DESCRIBE sales", "not_a_query"),
    ("SUMMARIZE sales", "not_a_query"),
    ("PIVOT sales ON store_id USING sum(amount)", "not_a_query"),
    ("SELECT getenv('HOME')", "forbidden"),
    ("SELECT current_setting('memory_limit')", "forbidden"),
    ("SELECT * FROM duckdb_settings()", "forbidden"),
    ("SELECT * FROM pragma_database_list()", "forbidden"),
    ("SELECT nextval('seq')", "forbidden"),
    ("SELECT * FROM checkpoint()", "forbidden"),
    ("SELECT * FROM information_schema.tables", "forbidden"),
    ("SELECT * FROM memory.main.sales", "forbidden"),
    # files and the outside world
    ("SELECT * FROM read_csv('/etc/passwd')", "forbidden"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "forbidden"),
    ("SELECT * FROM '/etc/passwd'", "forbidden"),
    ("FROM '/etc/passwd'", "forbidden"),
    ('SELECT * FROM "/etc/passwd"', "forbidden"),
    ("SELECT read_text('/etc/passwd')", "forbidden"),
    ("SELECT * FROM read_blob('/etc/passwd')", "forbidden"),
    ("SELECT * FROM read_parquet('x.parquet')", "forbidden"),
    ("SELECT * FROM 'x.parquet'", "forbidden"),
    ("SELECT * FROM parquet_scan('x.parquet')", "forbidden"),
    ("SELECT * FROM read_json_auto('x.json')", "forbidden"),
    ("SELECT * FROM glob('/*')", "forbidden"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "forbidden"),
    ("SELECT * FROM sqlite_scan('x.db', 'sales')", "forbidden"),
    ("SELECT * FROM 'https://example.com/data.parquet'", "forbidden"),
    ("SELECT * FROM query('DROP TABLE sales')", "forbidden"),
    ("SELECT * FROM query_table('sales')", "forbidden"),
    ("SELECT * FROM test_all_types()", "forbidden"),
    ('SELECT "read_csv"(\'/etc/passwd\')', "forbidden"),
    ("SELECT '/etc/passwd'.read_text()", "forbidden"),
    # hidden deep in the tree
    ("WITH x AS (DELETE FROM sales RETURNING *) SELECT * FROM x", "forbidden"),
    ("WITH x AS (INSERT INTO sales VALUES (1, NULL, 1, 1) RETURNING *) SELECT * FROM x", "forbidden"),
    ("WITH x AS (UPDATE sales SET amount = 0 RETURNING *) SELECT count(*) FROM x", "forbidden"),
    ("SELECT (SELECT count(*) FROM read_csv('/etc/passwd'))", "forbidden"),
    ("SELECT * FROM sales WHERE store_id IN (SELECT store_id FROM '/tmp/x.csv')", "forbidden"),
    ("SELECT * FROM range(10) UNION ALL SELECT * FROM glob('*')", "forbidden"),
    ("SELECT * FROM sales UNION ALL BY NAME SELECT * FROM '/etc/passwd'", "forbidden"),
    # unicode and control-character tricks
    ("SELECT 1\u037e DROP TABLE sales", "parse"),  # Greek question mark, looks like ';'
    ("SELECT 1\uff1b DROP TABLE sales", "parse"),  # fullwidth semicolon
    ("SELECT\u200b * FROM sales", "parse"),  # zero-width space
    ("SELECT * FROM sales\u202e", "parse"),  # right-to-left override
    ("SELECT 1\x00; DROP TABLE sales", "parse"),  # NUL: C code may stop reading there
    ("SELECT * FROM s\u0430les", "unknown_table"),  # Cyrillic 'а'
    # nothing to run
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("-- only a comment", "empty"),
    ("/* only a comment */", "empty"),
    (";;", "empty"),
    # broken or unknown
    ("SELEC * FROM sales", "parse"),
    ("SELECT * FROM sales WHERE (", "parse"),
    ("SELECT * INTO new_sales FROM sales", "parse"),
    ("SELECT amout FROM sales", "unknown_column"),
    ("SELECT * FROM salez", "unknown_table"),
    ("SELECT * FROM duckdb_tables", "unknown_table"),
    ("SELECT x.amount FROM sales", "unknown_column"),
    ("SELECT " + "amount + " * 3500 + "1 FROM sales", "too_long"),
]


@pytest.mark.parametrize(("sql", "kind"), HOSTILE, ids=[f"{i:02d}" for i in range(len(HOSTILE))])
def test_hostile_sql_is_refused(schema, sql, kind):
    with pytest.raises(GuardError) as caught:
        check_sql(sql, schema)
    assert caught.value.kind == kind, str(caught.value)
    assert str(caught.value).strip()


LEGITIMATE = [
    "SELECT * FROM sales",
    "SELECT count(*) FROM sales",
    "SELECT s.sale_id, st.region FROM sales s JOIN stores st ON s.store_id = st.store_id",
    "SELECT st.region, sum(s.amount) AS total FROM sales AS s INNER JOIN stores AS st USING (store_id) "
    "GROUP BY st.region ORDER BY total DESC",
    "WITH monthly AS (SELECT date_trunc('month', sale_date) AS month, sum(amount) AS revenue FROM sales GROUP BY 1) "
    "SELECT month, revenue FROM monthly ORDER BY month",
    "SELECT region, count(*) AS n FROM stores GROUP BY 1 ORDER BY 2 DESC",
    "SELECT year(sale_date) AS y, sum(amount) FROM sales GROUP BY y ORDER BY y",
    "SELECT EXTRACT(quarter FROM sale_date) AS q, avg(amount) FROM sales GROUP BY q HAVING avg(amount) > 10",
    "SELECT sale_id, amount, rank() OVER (PARTITION BY store_id ORDER BY amount DESC) AS rnk FROM sales QUALIFY rnk <= 3",
    "SELECT sale_id, sum(amount) OVER (ORDER BY sale_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS rolling FROM sales",
    "SELECT CASE WHEN amount > 1000 THEN 'large' WHEN amount > 100 THEN 'medium' ELSE 'small' END AS bucket, "
    "count(*) FROM sales GROUP BY bucket",
    "SELECT store_id FROM sales UNION SELECT store_id FROM stores ORDER BY store_id",
    "SELECT store_id FROM stores EXCEPT SELECT store_id FROM sales",
    "SELECT * FROM sales WHERE store_id IN (SELECT store_id FROM stores WHERE region = 'West')",
    "SELECT * FROM stores st WHERE EXISTS (SELECT 1 FROM sales s WHERE s.store_id = st.store_id AND s.amount > 2000)",
    'SELECT "Store Name", region FROM stores ORDER BY "Store Name"',
    "SELECT SALE_ID, Amount FROM SALES WHERE Sale_Date >= DATE '2024-06-01'",
    'select "AMOUNT" from "Sales"',
    "SELECT amount * 2 AS doubled FROM sales WHERE doubled > 100",
    "SELECT region, sum(amount) AS total FROM sales JOIN stores USING (store_id) GROUP BY ALL ORDER BY ALL",
    "SELECT strftime(sale_date, '%Y-%m') AS ym, sum(amount) FROM sales GROUP BY ym",
    "SELECT date_part('year', sale_date) AS y FROM sales",
    "SELECT sale_date + INTERVAL 7 DAY AS next_week FROM sales LIMIT 5",
    "SELECT * EXCLUDE (amount) FROM sales",
    "SELECT max(amount) FILTER (WHERE store_id = 1) FROM sales",
    "SELECT total FROM (SELECT store_id, sum(amount) AS total FROM sales GROUP BY store_id) AS t WHERE total > 100",
    "SELECT sum(amount) AS total, total / count(*) AS average FROM sales",
    "FROM sales SELECT amount LIMIT 3",
    "SELECT list_transform([amount], lambda x: x * 2) AS l FROM sales",
    "SELECT [x * 2 FOR x IN [1, 2, 3]] AS l",
    "SELECT {'a': 1, 'b': 'two'} AS s",
    "SELECT struct_pack(k := amount).k FROM sales",
    "SELECT x FROM range(5) t(x)",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT * FROM sales, unnest([1, 2]) AS u(x)",
    "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, label)",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r",
    "SELECT region, total FROM stores, LATERAL (SELECT sum(amount) AS total FROM sales "
    "WHERE sales.store_id = stores.store_id)",
    "SELECT store_id, amount, lag(amount) OVER w AS prev FROM sales "
    "WINDOW w AS (PARTITION BY store_id ORDER BY sale_date)",
    "SELECT * FROM sales PIVOT (sum(amount) FOR store_id IN (1, 2))",
    "SELECT COLUMNS('sale_.*') FROM sales",
    "SELECT sales.amount FROM main.sales",
    "SELECT 'DROP TABLE sales; --' AS harmless_text",
    "(SELECT 1 AS one)",
    "SELECT 1 -- a trailing comment",
]


@pytest.mark.parametrize("sql", LEGITIMATE, ids=[f"{i:02d}" for i in range(len(LEGITIMATE))])
def test_legitimate_queries_pass_and_run(schema, sql):
    assert check_sql(sql, schema) == sql
    con = duckdb.connect(schema.path, read_only=True)
    try:
        con.execute(sql).fetchall()  # the guard must not pass SQL that DuckDB itself cannot run
    finally:
        con.close()


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT * FROM sales;", "SELECT * FROM sales"),
    ("  SELECT 1 ;  ;  \n", "SELECT 1"),
    ("SELECT 1\n", "SELECT 1"),
])
def test_returns_the_query_without_trailing_semicolons(schema, sql, expected):
    assert check_sql(sql, schema) == expected


def test_unknown_column_message_names_the_table_and_a_suggestion(schema):
    with pytest.raises(GuardError) as caught:
        check_sql("SELECT sum(amout) FROM sales", schema)
    assert str(caught.value) == 'unknown column "amout" in table sales; did you mean amount?'

    with pytest.raises(GuardError) as caught:
        check_sql("SELECT s.amout FROM sales s", schema)
    assert 'unknown column "amout" in table sales (alias s); did you mean amount?' == str(caught.value)


def test_unknown_column_points_to_the_table_that_has_it(schema):
    with pytest.raises(GuardError) as caught:
        check_sql("SELECT region, sum(amount) FROM sales GROUP BY region", schema)
    assert caught.value.kind == "unknown_column"
    assert "region is a column of stores" in str(caught.value)


def test_unknown_column_across_a_join_lists_qualified_suggestions(schema):
    with pytest.raises(GuardError) as caught:
        check_sql("SELECT amout FROM sales s JOIN stores t ON s.store_id = t.store_id", schema)
    assert "did you mean sales.amount?" in str(caught.value)


def test_column_without_its_table_names_the_tables_that_have_it(schema):
    with pytest.raises(GuardError) as caught:
        check_sql("SELECT region", schema)
    assert str(caught.value) == 'column "region" needs its table in FROM: it is a column of stores.'


def test_unknown_table_message_suggests_and_lists_tables(schema):
    with pytest.raises(GuardError) as caught:
        check_sql("SELECT * FROM sale", schema)
    message = str(caught.value)
    assert caught.value.kind == "unknown_table"
    assert "did you mean sales?" in message and "stores" in message


@pytest.mark.parametrize(("sql", "text"), [
    ("DELETE FROM sales", "Only read-only queries are allowed: found DELETE"),
    ("SELECT 1; SELECT 2; SELECT 3", "Only one statement at a time: found 3"),
    ("SELECT * FROM read_csv('/etc/passwd')", "Reading files is not allowed: read_csv"),
    ("CHECKPOINT", "found CHECKPOINT"),
    ("SELECT 1 +", "syntax error"),
])
def test_messages_are_specific(schema, sql, text):
    with pytest.raises(GuardError) as caught:
        check_sql(sql, schema)
    assert text in str(caught.value)


def test_length_limit(schema):
    with pytest.raises(GuardError) as caught:
        check_sql("SELECT 1 " + " " * 10 + "+ 1" * 10_000, schema)
    assert caught.value.kind == "too_long"


def test_a_long_query_is_checked_quickly(schema):
    sql = "SELECT amount FROM sales WHERE " + " OR ".join(f"amount > {i}" for i in range(1200))
    assert len(sql) < MAX_SQL_CHARS
    start = time.monotonic()
    assert check_sql(sql, schema) == sql
    assert time.monotonic() - start < 2.0


def test_deep_nesting_is_a_parse_error_not_a_crash(schema):
    with pytest.raises(GuardError) as caught:
        check_sql("SELECT " + "(" * 600 + "1" + ")" * 600, schema)
    assert caught.value.kind == "parse"


def test_not_text_is_refused(schema):
    with pytest.raises(GuardError):
        check_sql(None, schema)  # type: ignore[arg-type]
