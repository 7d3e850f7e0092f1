"""Training data for the SQL model: generated pairs on the sales and domain databases, plus Spider train.

Every pair is executed on its database before it is kept, deduplicated, and split three ways:
``heldout`` holds out whole SQL shapes (so a score on it measures generalisation to kinds of query
never trained on), ``val`` is 20% of the rest, ``train`` the remaining 80%. Records are written in the
Gemma turn format produced by :func:`tools.prompts.build_training_example`, the one prompt builder
shared with inference.

    python -m training.generator --out data/training_data.jsonl [--no-spider] [--seed 13]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from tools.prompts import build_training_example
from tools.schema import DatabaseSchema, load_schema
from training.domain_templates import SchemaTemplates
from training.domains import ensure_domain_dbs
from training.examples import Candidate, DbRegistry, Example, SqlChecker, deduplicate, sql_shape
from training.phrasing import normalise_question
from training.spider import SpiderNotFound, read_spider

__all__ = ["Example", "DbRegistry", "TrainingDataGenerator", "main"]


def _bucket(key: str) -> float:
    """A stable number in [0, 1) for a string: the split must not depend on order or on PYTHONHASHSEED."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:13], 16) / 16 ** 13


class _Bar:
    """A Rich progress bar on stderr, or nothing; stages are tasks advanced from the checker threads."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self._progress = None

    @contextlib.contextmanager
    def running(self) -> Iterator[_Bar]:
        if not self.show:
            yield self
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True)) as progress:
            self._progress = progress
            try:
                yield self
            finally:
                self._progress = None

    def stage(self, name: str, total: int) -> Callable[[int], None]:
        if self._progress is None:
            return lambda n: None
        task = self._progress.add_task(name, total=total)
        return lambda n: self._progress.advance(task, n)


class TrainingDataGenerator:
    """Builds, checks, deduplicates, splits and writes the training pairs.

    ``scale`` multiplies every template budget (1.0 for real data; tests use a small value) and
    ``check_sql=False`` skips execution (only for inspecting phrasings: unchecked pairs are not data).
    """

    def __init__(self, sales_db: Path | None = None, *, seed: int = 13, work_dir: Path | None = None,
                 scale: float = 1.0, check_sql: bool = True, progress: bool | None = None) -> None:
        self._sales_db = Path(sales_db).expanduser().resolve() if sales_db is not None else None
        self.seed = seed
        self._work_dir = Path(work_dir).expanduser() if work_dir is not None else None
        self.scale = scale
        self.check_sql = check_sql
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.registry = DbRegistry()
        self.checker = SqlChecker()
        self.stats: Counter = Counter()  # candidates made / dropped, per source
        self._bar = _Bar(False)
        self.last_split: dict[str, list[Example]] = {}

    # -- databases --------------------------------------------------------------------------------
    @property
    def sales_db(self) -> Path:
        if self._sales_db is None:
            from tools.sales_db import ensure_default_db

            self._sales_db = ensure_default_db(progress=self.progress).resolve()
        self.registry.register("sales", self._sales_db)
        return self._sales_db

    @property
    def work_dir(self) -> Path:
        if self._work_dir is None:
            from tools.paths import home

            self._work_dir = home() / "train"
        self._work_dir.mkdir(parents=True, exist_ok=True)
        return self._work_dir

    def domain_dbs(self) -> dict[str, Path]:
        paths = ensure_domain_dbs(self.work_dir)
        for name, path in paths.items():
            self.registry.register(name, path)
        return paths

    # -- checking ---------------------------------------------------------------------------------
    def _check(self, db: str, source: str, candidates: list[Candidate],
               advance: Callable[[int], None] | None = None) -> list[Example]:
        """Execute every candidate on its database; keep what runs and answers, deduplicated.

        ``advance`` moves a progress bar by one per distinct query; by default a new bar stage is made.
        """
        path = self.registry.path(db)
        self.stats[f"{source}:candidates"] += len(candidates)
        if self.check_sql:
            if advance is None:
                advance = self._bar.stage(source, len({c.sql for c in candidates}))
            verdicts = self.checker.accept_many(path, [(c.sql, c.allow_empty) for c in candidates], on_done=advance)
        else:
            verdicts = [True] * len(candidates)
        shapes: dict[str, str] = {}
        kept = []
        for candidate, ok in zip(candidates, verdicts):
            if not ok:
                self.stats[f"{source}:failed"] += 1
                continue
            shape = shapes.get(candidate.sql)
            if shape is None:
                shape = shapes[candidate.sql] = sql_shape(candidate.sql)
            kept.append(Example(candidate.question, candidate.sql, db, candidate.template, shape, source))
        out = deduplicate(kept)
        self.stats[f"{source}:duplicates"] += len(kept) - len(out)
        return out

    # -- sources ----------------------------------------------------------------------------------
    def _sales_family(self, cls, source: str) -> list[Example]:
        from training.sales_vocab import SalesValues

        path = self.sales_db
        values = SalesValues.load(path)
        try:
            candidates = [c for _, batch in cls(values, self.seed, scale=self.scale).generate() for c in batch]
        finally:
            values.close()
        return self._check("sales", source, candidates)

    def generate_sales_examples(self) -> list[Example]:
        """Totals, breakdowns, rankings, trends, comparisons, shares, thresholds ... on the sales database."""
        from training.sales_templates import SalesTemplates

        return self._sales_family(SalesTemplates, "sales")

    def generate_active_store_examples(self) -> list[Example]:
        """Questions about active stores (active_store.is_active), 'currently' being the latest month."""
        from training.active_templates import ActiveStoreTemplates

        return self._sales_family(ActiveStoreTemplates, "active_store")

    def generate_domain_examples(self) -> list[Example]:
        """The schema-driven generator over every generated domain database (library, hr, logistics)."""
        out: list[Example] = []
        for name, path in self.domain_dbs().items():
            schema = load_schema(path)
            candidates = [c for _, batch in SchemaTemplates(schema, name, self.seed, scale=self.scale).generate()
                          for c in batch]
            out += self._check(name, f"domain:{name}", candidates)
        return out

    def generate_schema_examples(self, schema: DatabaseSchema) -> list[Example]:
        """The schema-driven generator on any database, checked on it: the worked examples of its knowledge base.

        Without them a database other than sales showed the model no example at all, and the model
        adapts an example of its own schema far better than it writes a query from the schema alone.
        """
        path = Path(schema.path).expanduser().resolve()
        name = path.stem
        self.registry.register(name, path)
        candidates = [c for _, batch in SchemaTemplates(schema, name, self.seed, scale=self.scale).generate()
                      for c in batch]
        return self._check(name, f"schema:{name}", candidates)

    def load_spider_train(self, root: Path | None = None, *, include_unstable: bool = False,
                          include_empty_dbs: bool = False, limit: int | None = None) -> list[Example]:
        """Spider's training split (executed, stable cases by default), each query re-run here.

        ``root`` defaults to $GEMSQL_SPIDER_TRAIN or ../shared/train/spider_train; the standard Spider
        release layout is accepted too (converted to DuckDB under work_dir). ``limit`` keeps the first
        N cases (tests). Raises SpiderNotFound when the folder is missing.
        """
        cases, paths = read_spider(root, include_unstable=include_unstable, include_empty_dbs=include_empty_dbs,
                                   cache_dir=self.work_dir / "spider_duckdb")
        if limit is not None:
            cases = cases[:limit]
        by_db: dict[str, list[Candidate]] = {}
        for case in cases:
            self.registry.register(case.db, paths[case.db])
            # Gold answers can be legitimately empty ("which ... have none"): running is the test here
            by_db.setdefault(case.db, []).append(Candidate(case.question, case.sql, f"spider.{case.hardness}", True))
        out: list[Example] = []
        advance = self._bar.stage("spider_train", sum(len({c.sql for c in cs}) for cs in by_db.values()))
        for db, candidates in by_db.items():
            out += self._check(db, "spider_train", candidates, advance)
        return out

    def generate_all(self, *, spider: bool = True) -> list[Example]:
        """Every source, checked and deduplicated (first occurrence wins, sales first)."""
        started = time.perf_counter()
        saved, self._bar = self._bar, _Bar(self.progress)
        try:
            with self._bar.running():
                examples = self.generate_sales_examples() + self.generate_active_store_examples()
                examples += self.generate_domain_examples()
                if spider:
                    try:
                        examples += self.load_spider_train()
                    except SpiderNotFound as exc:
                        raise SpiderNotFound(f"{exc}; or leave Spider out (spider=False, --no-spider)") from exc
        finally:
            self._bar = saved
        out = deduplicate(examples)
        self.stats["seconds"] = round(time.perf_counter() - started, 1)
        return out

    # -- splitting and writing --------------------------------------------------------------------
    def split(self, examples: Iterable[Example], *, heldout_fraction: float = 0.1,
              val_fraction: float = 0.2) -> dict[str, list[Example]]:
        """{"train", "val", "heldout"}, reproducibly from hashes rather than from the order of ``examples``.

        A shape goes to heldout when the hash of its skeleton falls below ``heldout_fraction``; then any
        other example whose question text also occurs in heldout is dropped from train/val, so heldout
        is disjoint from them by shape and by question. ``val`` takes ``val_fraction`` of the rest by a
        hash of (db, question).
        """
        examples = list(examples)
        heldout = [e for e in examples if _bucket("heldout:" + e.shape) < heldout_fraction]
        held_shapes = {e.shape for e in heldout}
        held_questions = {normalise_question(e.question) for e in heldout}
        train, val = [], []
        for e in examples:
            if e.shape in held_shapes:
                continue
            if normalise_question(e.question) in held_questions:
                self.stats["split:dropped_question_overlap"] += 1
                continue
            (val if _bucket(f"val:{e.db}:{normalise_question(e.question)}") < val_fraction else train).append(e)
        return {"train": train, "val": val, "heldout": heldout}

    def schema_text(self, db: str) -> str:
        return load_schema(self.registry.path(db)).to_compact_prompt()

    def record(self, example: Example, schema_text: str) -> dict:
        pair = build_training_example(example.question, example.sql, schema_text)
        return {**example.to_dict(), "text": pair["prompt"] + pair["completion"]}

    def save_to_jsonl(self, path: str | Path, examples: list[Example] | None = None) -> dict[str, Path]:
        """Write ``path`` (everything) and <stem>_train / _val / _heldout.jsonl, plus <stem>_dbs.json.

        Each line: question, sql, db, template, shape, source and ``text`` (the Gemma turn format from
        tools.prompts.build_training_example with the database's schema). <stem>_dbs.json maps the db
        names to the database files they were generated from.
        """
        if examples is None:
            examples = self.generate_all()
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        parts = self.last_split = self.split(examples)
        schema_cache: dict[str, str] = {}

        def write(file: Path, rows: list[Example]) -> None:
            temp = file.with_name(f".{file.name}.tmp")
            with open(temp, "w", encoding="utf-8") as handle:
                for e in rows:
                    if e.db not in schema_cache:
                        schema_cache[e.db] = self.schema_text(e.db)
                    handle.write(json.dumps(self.record(e, schema_cache[e.db]), ensure_ascii=False) + "\n")
            temp.replace(file)

        stem = target.with_suffix("")
        out = {"all": target}
        write(target, examples)
        for name, rows in parts.items():
            out[name] = Path(f"{stem}_{name}.jsonl")
            write(out[name], rows)
        out["dbs"] = Path(f"{stem}_dbs.json")
        used = {e.db for e in examples}
        out["dbs"].write_text(json.dumps({n: p for n, p in self.registry.to_dict().items() if n in used}, indent=1))
        return out

    def close(self) -> None:
        self.checker.close()


def summarise(examples: list[Example], parts: dict[str, list[Example]]) -> dict:
    """Counts per source and split, for the CLI and reports."""
    by_source = Counter(e.source.split(":")[0] if not e.source.startswith("domain") else e.source for e in examples)
    return {"total": len(examples), "by_source": dict(sorted(by_source.items())),
            "splits": {k: len(v) for k, v in parts.items()},
            "shapes": len({e.shape for e in examples}), "templates": len({e.template for e in examples})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.generator", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="data/training_data.jsonl", help="full data set; splits go next to it")
    parser.add_argument("--no-spider", action="store_true", help="leave out the Spider training split")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--sales-db", type=Path, default=None, help="default: the bundled sales database")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the domain databases are built")
    args = parser.parse_args(argv)
    generator = TrainingDataGenerator(args.sales_db, seed=args.seed, work_dir=args.work_dir, progress=True)
    try:
        examples = generator.generate_all(spider=not args.no_spider)
        paths = generator.save_to_jsonl(args.out, examples)
        summary = summarise(examples, generator.last_split)
    finally:
        generator.close()
    summary["seconds"] = generator.stats["seconds"]
    summary["files"] = {k: str(v) for k, v in paths.items()}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
