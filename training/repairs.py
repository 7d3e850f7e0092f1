"""Correction prompts: what the model reads on a retry, paired with the query it should have written.

When the guard or DuckDB refuses a query, the graph asks the model again with its previous SQL and the
error appended to the prompt (``tools.prompts.build_prompt``'s retry block). A model trained on first
attempts only has never seen that block, and in practice it wrote the same kind of query again. This
module makes retry examples from the generated pairs: it breaks each gold query the way small models
do (a column that is not there, a table left out of the joins, a missing or impossible GROUP BY, a
table name misspelled), takes the error the guard or DuckDB really gives for it, and builds the retry
prompt with the graph's own nodes, so the completion to learn is the gold query.

    python -m training.repairs --data data/training_data_train.jsonl --out data/repairs.jsonl --n 200
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlglot
from sqlglot import exp

from tools.schema import DatabaseSchema, load_schema
from tools.sql_guard import GuardError


Breaker = Callable[[exp.Expression, DatabaseSchema, random.Random], "exp.Expression | None"]


def _tables_of(tree: exp.Expression) -> list[str]:
    """The query's tables in the order it names them (a list: a set's order changes with Python's hash seed)."""
    return list(dict.fromkeys(t.name.lower() for t in tree.find_all(exp.Table)))


def wrong_column(tree: exp.Expression, schema: DatabaseSchema, rng: random.Random) -> exp.Expression | None:
    """A column renamed the way a model guesses names: 'unit_price' -> 'product_price', 'price', 'unit_prices'."""
    columns = [c for c in tree.find_all(exp.Column) if c.name and c.name != "*"]
    if not columns:
        return None
    target = rng.choice(columns)
    owner = target.table or next(iter(_tables_of(tree)), "")
    real = target.name
    parts = real.split("_")
    guesses = [f"{owner.rstrip('s')}_{parts[-1]}" if owner else "", parts[-1] if len(parts) > 1 else "",
               real + "s", f"{real}_name" if not real.endswith("name") else real[: -len("_name")] + "_title"]
    known = {c.name.lower() for t in schema.tables for c in t.columns}
    guesses = [g for g in guesses if g and g.lower() not in known]
    if not guesses:
        return None
    target.set("this", exp.to_identifier(rng.choice(guesses)))
    return tree


def missing_join(tree: exp.Expression, schema: DatabaseSchema, rng: random.Random) -> exp.Expression | None:
    """A JOIN left out while its table's columns are still used."""
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    joins = list(select.args.get("joins") or []) if select else []
    if not joins:
        return None
    dropped = rng.choice(joins)
    select.set("joins", [j for j in joins if j is not dropped] or None)
    return tree


def missing_group_by(tree: exp.Expression, schema: DatabaseSchema, rng: random.Random) -> exp.Expression | None:
    """The GROUP BY forgotten beside an aggregate."""
    select = tree if isinstance(tree, exp.Select) else None
    if select is None or not select.args.get("group") or select.args.get("having"):
        return None
    select.set("group", None)
    return tree


def grouped_aggregate(tree: exp.Expression, schema: DatabaseSchema, rng: random.Random) -> exp.Expression | None:
    """A total 'grouped' by its own aggregate: GROUP BY num_x on SELECT COUNT(*) AS num_x."""
    select = tree if isinstance(tree, exp.Select) else None
    if select is None or select.args.get("group"):
        return None
    aliases = [e.alias for e in select.expressions if isinstance(e, exp.Alias) and e.find(exp.AggFunc)]
    if not aliases:
        return None
    select.set("group", exp.Group(expressions=[exp.column(rng.choice(aliases))]))
    return tree


def misspelled_table(tree: exp.Expression, schema: DatabaseSchema, rng: random.Random) -> exp.Expression | None:
    """A table named in the singular or plural the schema does not use."""
    tables = [t for t in tree.find_all(exp.Table) if t.name]
    if not tables:
        return None
    target = rng.choice(tables)
    name = target.name
    guess = name[:-1] if name.endswith("s") else name + "s"
    if schema.table(guess) is not None:
        return None
    target.set("this", exp.to_identifier(guess))
    return tree


BREAKERS: dict[str, Breaker] = {"wrong_column": wrong_column, "missing_join": missing_join,
                                "missing_group_by": missing_group_by, "grouped_aggregate": grouped_aggregate,
                                "misspelled_table": misspelled_table}


def broken_queries(sql: str, schema: DatabaseSchema, rng: random.Random) -> Iterator[tuple[str, str]]:
    """(breaker name, broken SQL) for each way this query can be broken, in a random order."""
    names = list(BREAKERS)
    rng.shuffle(names)
    for name in names:
        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
        except sqlglot.errors.ParseError:
            return
        broken = BREAKERS[name](tree, schema, rng)
        if broken is not None:
            text = broken.sql(dialect="duckdb")
            if text.strip() != sql.strip():
                yield name, text


def error_of(sql: str, db_path: str) -> str | None:
    """The message the graph would feed back for ``sql``: the guard's refusal or DuckDB's error; None if it runs."""
    from tools.executor import QueryError, SafeExecutor

    # Its own executor, closed at once: the shared ones would keep a worker alive for each of ~150 databases.
    with SafeExecutor(db_path) as executor:
        try:
            executor.run(sql, row_limit=1)
        except (GuardError, QueryError) as exc:
            return str(exc)
    return None


def repair_pair(question: str, sql: str, db_path: str, rng: random.Random) -> dict[str, str] | None:
    """{prompt, completion, breaker}: the retry prompt after a broken query, and the gold SQL; None if none breaks."""
    from nodes.generate_sql import model_prompt
    from tools.prompts import END
    from training.contextualize import training_state

    schema = load_schema(db_path)
    for name, broken in broken_queries(sql, schema, rng):
        error = error_of(broken, db_path)
        if error is None:
            continue
        state = dataclasses.replace(training_state(question, sql, db_path), feedback=error, attempts=1,
                                    history=[{"engine": "finetuned", "sql": broken, "error": error}])
        return {"prompt": model_prompt(state), "completion": sql.strip() + END, "breaker": name}
    return None


def main(argv: list[str] | None = None) -> int:
    from training.contextualize import _parse_mix, choose, read_generated, write_prompts

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="training.generator JSONL (train or val split)")
    parser.add_argument("--dbs", help="its <stem>_dbs.json (default: beside --data)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--mix", default="sales=0.3,active_store=0.05,domain=0.3,spider_train=0.35")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    records, dbs = read_generated(Path(args.data), args.dbs)
    chosen = choose(records, _parse_mix(args.mix), args.n, seed=args.seed)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    written, _ = write_prompts(
        chosen, dbs, lambda record, db_path: repair_pair(record["question"], record["sql"], db_path, rng),
        Path(args.out), "retry prompts")
    print(f"{written} retry prompts written to {args.out} (of {len(chosen)} pairs) in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
