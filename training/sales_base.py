"""The shared machinery of the sales templates: drawing measures, dimensions, values and periods.

Templates draw parameter combinations at random but seeded, from values read out of the database, and
build SQL from the pieces in :mod:`training.sales_vocab`. A budget is a number of distinct drawn
combinations; execution checks and deduplication trim it afterwards.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator

from training.examples import Candidate
from training.kit import Emitter, quote, run_templates, template_rng
from training.phrasing import Period, periods_for_years
from training.sales_vocab import DIMS, MEASURES, Dim, Measure, Qual, SalesValues, select_sql

__all__ = ["SalesTemplateBase", "MEASURE_WEIGHTS", "SUM_MEASURES", "FILTER_WEIGHTS", "BREAKDOWN_WEIGHTS", "PAIRS",
           "Filter", "weighted", "round2"]

MEASURE_WEIGHTS = {"revenue": 5.0, "units": 3.0, "transactions": 2.0, "avg_sale": 1.5, "avg_units": 0.5}
SUM_MEASURES = ("revenue", "units", "transactions")
FILTER_WEIGHTS = {"region": 4.0, "category": 4.0, "brand": 3.0, "store_type": 2.0, "city": 2.0, "store": 1.5,
                  "product": 1.0}
BREAKDOWN_WEIGHTS = {"region": 4.0, "category": 4.0, "brand": 3.0, "store_type": 2.0, "city": 2.0, "store": 2.0,
                     "product": 1.5}
PAIRS = [("region", "category"), ("region", "brand"), ("region", "store_type"), ("city", "category"),
         ("store_type", "category"), ("store_type", "brand"), ("category", "brand"), ("store", "category")]
N_WORDS = {1: "one", 3: "three", 5: "five", 10: "ten"}
Filter = tuple[Dim, str]


def weighted(rng: random.Random, weights: dict[str, float], exclude: set[str] = frozenset()) -> str:
    keys = [k for k in weights if k not in exclude]
    return rng.choices(keys, [weights[k] for k in keys])[0]


def round2(x: float) -> float:
    """Two significant digits: thresholds people would actually type (48,213 -> 48,000)."""
    if x <= 0:
        return 0.0
    digits = 1 - int(math.floor(math.log10(x)))
    return float(round(x, digits)) if digits > 0 else float(round(x, digits))


class SalesTemplateBase:
    """Drawing helpers and the generate() loop; subclasses list their templates in ``templates()``."""

    def __init__(self, values: SalesValues, seed: int, *, scale: float = 1.0) -> None:
        self.v = values
        self.seed = seed
        self.scale = scale  # multiplies every budget (tests use a small one)
        self.periods = periods_for_years(values.years, values.anchor, template_rng(seed, "periods"))

    def templates(self) -> list[tuple[str, int, Callable[[Emitter, int], Iterator[list[Candidate]]]]]:
        raise NotImplementedError

    def generate(self) -> Iterator[tuple[str, list[Candidate]]]:
        return run_templates(self.templates(), self.seed, self.scale)

    # -- drawing --------------------------------------------------------------------------------
    def _measure(self, rng: random.Random, only: tuple[str, ...] | None = None) -> Measure:
        weights = {k: w for k, w in MEASURE_WEIGHTS.items() if only is None or k in only}
        return MEASURES[weighted(rng, weights)]

    def _period(self, rng: random.Random, kinds: dict[str, float] | None = None) -> Period:
        kinds = kinds or {"all": 2.5, "year": 3.5, "quarter": 1.5, "month": 1.5, "range": 0.7, "since": 0.3}
        kind = weighted(rng, {k: w for k, w in kinds.items() if any(p.kind == k for p in self.periods)})
        return rng.choice([p for p in self.periods if p.kind == kind])

    def _filter(self, rng: random.Random, exclude: set[str] = frozenset()) -> Filter:
        dim = DIMS[weighted(rng, FILTER_WEIGHTS, exclude)]
        return dim, rng.choice(self.v.values[dim.key])

    def _two_filters(self, rng: random.Random) -> list[Filter]:
        a, b = rng.choice(PAIRS)
        va = rng.choice(self.v.values[a])
        if (a, b) == ("category", "brand"):
            brands = [br for br, cats in self.v.brand_categories.items() if va in cats]
            return [(DIMS[a], va), (DIMS[b], rng.choice(brands))]
        return [(DIMS[a], va), (DIMS[b], rng.choice(self.v.values[b]))]

    def _n(self, rng: random.Random, n: int) -> str:
        return N_WORDS[n] if rng.random() < 0.2 else str(n)

    @staticmethod
    def _tables(dims: list[Dim]) -> list[str]:
        return [d.table for d in dims]

    @staticmethod
    def _filter_phrase(rng: random.Random, filters: list[Filter]) -> str:
        keys = {d.key: v for d, v in filters}
        if set(keys) == {"region", "store_type"}:  # both describe stores: one noun phrase reads better
            r, t = keys["region"], keys["store_type"]
            return rng.choice([f"at {t} stores in the {r} region", f"for {t} stores in {r}", f"in {r} {t} stores",
                               f"in the {r} region at {t} stores", f"for {r} stores of type {t}"])
        joiner = rng.choice([" ", " ", " and "]) if len(filters) > 1 else " "
        return joiner.join(rng.choice(d.filters).format(v=v) for d, v in filters)

    @staticmethod
    def _where(q: Qual, filters: list[Filter], period: Period | None) -> list[str]:
        where = [f"{d.ref(q)} = {quote(v)}" for d, v in filters]
        if period is not None:
            where.append(period.where(q.date))
        return where

    @staticmethod
    def _draws(rng: random.Random, budget: int, draw: Callable[[], tuple], tries: int = 6) -> Iterator[tuple]:
        """Up to ``budget`` distinct combinations from ``draw`` (a repeat is redrawn, a few times at most)."""
        seen: set = set()
        misses = 0
        while len(seen) < budget and misses < budget * tries:
            combo = draw()
            key = repr(combo)
            if key in seen:
                misses += 1
                continue
            seen.add(key)
            yield combo

    def _emit(self, e: Emitter, patterns: list[str], sql: str, m: Measure | None, filters: list[Filter],
              period: Period | None, *, allow_empty: bool = False, **fields) -> list[Candidate]:
        rng = e.rng
        protect = [v for _, v in filters]
        if m is not None:
            fields.setdefault("m", m.nouns)
        return e.emit(patterns, sql, protect=protect, allow_empty=allow_empty,
                      f=lambda: self._filter_phrase(rng, filters),
                      p=(lambda: period.phrase(rng)) if period is not None else "", **fields)

    def _grouped_sql(self, m: Measure, dim: Dim, filters: list[Filter], period: Period, *, desc: bool = True,
                     limit: int | None = None) -> str:
        q = Qual(self._tables([dim] + [d for d, _ in filters]))
        ref = dim.ref(q)
        return select_sql([ref, f"{m.agg(q)} AS {m.alias}"], q, where=self._where(q, filters, period), group=[ref],
                          order=f"{m.alias} {'DESC' if desc else 'ASC'}", limit=limit)

    def _maybe_filter(self, rng: random.Random, dim: Dim, rate: float) -> list[Filter]:
        if rng.random() >= rate:
            return []
        # A filter on a column of the same table and grain would be redundant ('stores in West by region')
        exclude = {dim.key} | ({"city", "store", "region"} if dim.table == "stores" and dim.key != "store_type" else set())
        exclude |= {"product"} if dim.table == "products" else set()
        return [self._filter(rng, exclude)]

    def _year_pairs(self) -> list[tuple[int, int]]:
        ys = self.v.years
        return [(a, b) for i, a in enumerate(ys) for b in ys[i + 1:]]
