"""Question/SQL templates about store activity (the ``active_store`` table of the sales database).

"Active store" has one meaning here: a row of active_store with ``is_active`` true for that store and
month. 'Currently', 'now' and 'today' mean the latest month in the table, written as a subquery
(``month = (SELECT MAX(month) FROM active_store)``) so the SQL stays right when the data grow.
Months are compared as ``month = DATE 'YYYY-MM-01'`` because the column holds first days of months.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable, Iterator
from datetime import date

from training.examples import Candidate
from training.kit import Emitter, quote, run_templates
from training.sales_vocab import SalesValues

__all__ = ["ActiveStoreTemplates"]

LATEST = "(SELECT MAX(month) FROM active_store)"
ACTIVE = ["active", "active", "open", "operating", "trading"]
INACTIVE = ["inactive", "inactive", "not active", "closed", "not trading"]
NOW = ["currently", "right now", "now", "at the moment", "today", "as of the latest month", "at present",
       "in the latest month", "as of now", "this month"]
JOIN = "FROM active_store JOIN stores ON active_store.store_id = stores.store_id"


def _month_name(rng: random.Random, month: date) -> str:
    full, short, y = calendar.month_name[month.month], calendar.month_abbr[month.month], month.year
    return rng.choice([f"{full} {y}", f"{full} {y}", f"{short} {y}", f"{short} '{y % 100:02d}", f"{y}-{month.month:02d}"])


def _month_phrase(rng: random.Random, month: date) -> str:
    return rng.choice(["in", "in", "during", "for", "as of"]) + " " + _month_name(rng, month)


def _year_phrase(rng: random.Random, year: int) -> str:
    return rng.choice([f"in {year}", f"in {year}", f"during {year}", f"for {year}", f"in FY{year}"])


class ActiveStoreTemplates:
    """All active-store templates over one sales database."""

    def __init__(self, values: SalesValues, seed: int, *, scale: float = 1.0) -> None:
        self.v = values
        self.seed = seed
        self.scale = scale
        self.years = sorted({m.year for m in values.months})

    def templates(self) -> list[tuple[str, int, Callable[[Emitter, int], Iterator[list[Candidate]]]]]:
        return [
            ("active.count_month", 200, self.count_month), ("active.by_region_month", 120, self.by_region_month),
            ("active.now", 90, self.now), ("active.trend", 90, self.trend), ("active.during_year", 110, self.during_year),
            ("active.inactive_month", 130, self.inactive_month), ("active.never_inactive", 70, self.never_inactive),
            ("active.inactive_months", 70, self.inactive_months), ("active.top_region", 90, self.top_region),
            ("active.share", 90, self.share), ("active.average", 70, self.average), ("active.change", 80, self.change),
            ("active.store_status", 90, self.store_status), ("active.sales_of_inactive", 40, self.sales_of_inactive),
        ]

    def generate(self) -> Iterator[tuple[str, list[Candidate]]]:
        return run_templates(self.templates(), self.seed, self.scale)

    # -- helpers --------------------------------------------------------------------------------
    def _draws(self, rng: random.Random, budget: int, draw: Callable[[], tuple]) -> Iterator[tuple]:
        seen: set = set()
        misses = 0
        while len(seen) < budget and misses < budget * 6:
            combo = draw()
            if combo in seen:
                misses += 1
                continue
            seen.add(combo)
            yield combo

    def _region(self, rng: random.Random, rate: float) -> str | None:
        return rng.choice(self.v.values["region"]) if rng.random() < rate else None

    @staticmethod
    def _region_phrase(rng: random.Random, region: str | None) -> str:
        if region is None:
            return ""
        return rng.choice([f"in the {region} region", f"in {region}", f"in region {region}", f"for {region}"])

    def _emit(self, e: Emitter, patterns: list[str], sql: str, *, region: str | None = None, month: date | None = None,
              year: int | None = None, allow_empty: bool = False, **fields) -> list[Candidate]:
        rng = e.rng
        return e.emit(patterns, sql, protect=[region] if region else [], allow_empty=allow_empty,
                      r=lambda: self._region_phrase(rng, region),
                      p=(lambda: _month_phrase(rng, month)) if month else (lambda: _year_phrase(rng, year)) if year else "",
                      a=ACTIVE, i=INACTIVE, now=NOW, **fields)

    @staticmethod
    def _month_sql(month: date) -> str:
        return f"DATE '{month.isoformat()}'"

    # -- templates ------------------------------------------------------------------------------
    def count_month(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        patterns = ["How many stores were {a} {r} {p}?", "Number of active stores {r} {p}", "active store count {r} {p}",
                    "{p}, how many stores were {a} {r}?", "count the active stores {r} {p}", "how many active stores {r} {p}",
                    "# of active stores {r} {p}", "what was the number of {a} stores {r} {p}"]
        for month, region in self._draws(e.rng, budget, lambda: (e.rng.choice(self.v.months), self._region(e.rng, 0.45))):
            where = f"month = {self._month_sql(month)} AND is_active" + (f" AND region = {quote(region)}" if region else "")
            yield self._emit(e, patterns, f"SELECT COUNT(*) AS active_stores FROM active_store WHERE {where}",
                             region=region, month=month)

    def by_region_month(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        patterns = ["Active stores per region {p}", "How many stores were {a} in each region {p}?",
                    "number of active stores by region {p}", "{p}, active store count by region",
                    "break down active stores by region {p}", "active stores for every region {p}"]
        for (month,) in self._draws(e.rng, budget, lambda: (e.rng.choice(self.v.months),)):
            sql = (f"SELECT region, COUNT(*) AS active_stores FROM active_store WHERE month = {self._month_sql(month)} "
                   "AND is_active GROUP BY region ORDER BY region")
            yield self._emit(e, patterns, sql, month=month)

    def now(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        count = ["How many stores are currently active {r}?", "How many stores are active {r} {now}?",
                 "How many active stores do we have {r} {now}?", "number of {a} stores {r} {now}",
                 "{now}, how many stores are {a} {r}?", "active store count {r} {now}", "how many stores are open {r} {now}"]
        by_region = ["How many stores are active {now} in each region?", "active stores per region {now}",
                     "{now}, number of active stores by region", "how many stores are currently active per region"]
        listing = ["Which stores are currently active {r}?", "Which stores are {a} {r} {now}?",
                   "List the stores that are {a} {r} {now}", "show the active stores {r} {now}"]
        inactive = ["Which stores are currently {i}?", "Which stores are {i} {now}?", "List stores that are not active {now}",
                    "{now}, which stores are {i}?", "How many stores are {i} {now}?", "how many stores are currently inactive?",
                    "stores that are {i} {now}"]

        def draw():
            kind = e.rng.choice(["count", "count", "by_region", "list", "inactive"])
            return kind, self._region(e.rng, 0.5) if kind in ("count", "list") else None, e.rng.randrange(3)
        # Few distinct queries mean 'now', yet they matter: each gets several paraphrases (the third key)
        for kind, region, _ in self._draws(e.rng, budget, draw):
            if kind == "count":
                extra = f" AND region = {quote(region)}" if region else ""
                yield self._emit(e, count, f"SELECT COUNT(*) AS active_stores FROM active_store WHERE month = {LATEST} "
                                 f"AND is_active{extra}", region=region)
            elif kind == "by_region":
                yield self._emit(e, by_region, f"SELECT region, COUNT(*) AS active_stores FROM active_store WHERE month = "
                                 f"{LATEST} AND is_active GROUP BY region ORDER BY region")
            elif kind == "list":
                extra = f" AND active_store.region = {quote(region)}" if region else ""
                yield self._emit(e, listing, f"SELECT stores.store_name {JOIN} WHERE active_store.month = {LATEST} AND "
                                 f"active_store.is_active{extra} ORDER BY stores.store_name", region=region)
            elif kind == "inactive":
                for c in self._emit(e, inactive, "", variants=2):
                    counting = c.question.lower().startswith("how many")
                    sql = (f"SELECT COUNT(*) AS inactive_stores FROM active_store WHERE month = {LATEST} AND NOT is_active"
                           if counting else f"SELECT stores.store_name {JOIN} WHERE active_store.month = {LATEST} AND "
                           "NOT active_store.is_active ORDER BY stores.store_name")
                    yield [Candidate(c.question, sql, c.template, allow_empty=True)]

    def trend(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        patterns = ["Monthly active store count {r} {p}", "active stores per month {r} {p}",
                    "How did the number of active stores change {r} {p}?", "number of {a} stores by month {r} {p}",
                    "trend of active stores {r} {p}", "show active stores month by month {r} {p}"]
        draw = lambda: (e.rng.choice([None] + self.years), self._region(e.rng, 0.4))  # noqa: E731
        for year, region in self._draws(e.rng, budget, draw):
            where = ["is_active"] + ([f"YEAR(month) = {year}"] if year else []) + ([f"region = {quote(region)}"] if region else [])
            sql = (f"SELECT month, COUNT(*) AS active_stores FROM active_store WHERE {' AND '.join(where)} "
                   "GROUP BY month ORDER BY month")
            yield self._emit(e, patterns, sql, region=region, year=year)

    def during_year(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        single = ["How many stores were active at some point {p} {r}?", "number of distinct stores active {r} {p}",
                  "how many different stores were {a} {r} {p}", "count stores that were active {p} {r}"]
        by_region = ["How many distinct stores were active in each region {p}?", "stores active at any time {p} by region",
                     "number of stores that operated {p} per region"]
        for year, region, grouped in self._draws(e.rng, budget, lambda: (e.rng.choice(self.years), self._region(e.rng, 0.4),
                                                                          e.rng.random() < 0.3)):
            if grouped:
                sql = (f"SELECT region, COUNT(DISTINCT store_id) AS active_stores FROM active_store WHERE is_active AND "
                       f"YEAR(month) = {year} GROUP BY region ORDER BY region")
                yield self._emit(e, by_region, sql, year=year)
                continue
            extra = f" AND region = {quote(region)}" if region else ""
            sql = f"SELECT COUNT(DISTINCT store_id) AS active_stores FROM active_store WHERE is_active AND YEAR(month) = {year}{extra}"
            yield self._emit(e, single, sql, region=region, year=year)

    def inactive_month(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        listing = ["Which stores were {i} {p}?", "List the inactive stores {r} {p}", "stores that were not active {r} {p}",
                   "{p}, which stores were {i} {r}?", "show stores not trading {r} {p}"]
        count = ["How many stores were {i} {r} {p}?", "number of inactive stores {r} {p}", "count of stores not active {r} {p}"]
        for month, region, counting in self._draws(e.rng, budget, lambda: (e.rng.choice(self.v.months),
                                                                            self._region(e.rng, 0.3), e.rng.random() < 0.4)):
            if counting:
                extra = f" AND region = {quote(region)}" if region else ""
                sql = f"SELECT COUNT(*) AS inactive_stores FROM active_store WHERE month = {self._month_sql(month)} AND NOT is_active{extra}"
            else:
                extra = f" AND active_store.region = {quote(region)}" if region else ""
                sql = (f"SELECT stores.store_name {JOIN} WHERE active_store.month = {self._month_sql(month)} AND NOT "
                       f"active_store.is_active{extra} ORDER BY stores.store_name")
            yield self._emit(e, count if counting else listing, sql, region=region, month=month, allow_empty=True)

    def never_inactive(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        listing = ["Which stores were never inactive {p}?", "List the stores that were active every month {p}",
                   "stores that have always been active {p}", "which stores never closed {p}", "stores with no inactive months {p}"]
        count = ["How many stores were never inactive {p}?", "How many stores have been active in every month {p}?",
                 "number of stores that were always open {p}"]
        for year, region, counting in self._draws(e.rng, budget, lambda: (e.rng.choice([None] + self.years),
                                                                            self._region(e.rng, 0.3), e.rng.random() < 0.4)):
            inner = "SELECT store_id FROM active_store WHERE NOT is_active" + (f" AND YEAR(month) = {year}" if year else "")
            extra = f"region = {quote(region)} AND " if region else ""
            if counting:
                sql = f"SELECT COUNT(*) AS stores FROM stores WHERE {extra}store_id NOT IN ({inner})"
            else:
                sql = f"SELECT store_name FROM stores WHERE {extra}store_id NOT IN ({inner}) ORDER BY store_name"
            pats = [p.replace("{p}", "{r} {p}") for p in (count if counting else listing)]
            yield self._emit(e, pats, sql, region=region, year=year, allow_empty=True)

    def inactive_months(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        per_store = ["Which stores were inactive at some point {p}, and for how many months?",
                     "number of inactive months per store {p}", "how many months was each store {i} {p}?",
                     "stores with inactive months {p}, with counts"]
        per_month = ["In which months were stores {i} {r} {p}?", "inactive store count by month {r} {p}",
                     "months with inactive stores {r} {p}"]
        for year, region, by_month in self._draws(e.rng, budget, lambda: (e.rng.choice([None] + self.years),
                                                                           self._region(e.rng, 0.4), e.rng.random() < 0.5)):
            if by_month:
                where = ["NOT is_active"] + ([f"YEAR(month) = {year}"] if year else []) + \
                    ([f"region = {quote(region)}"] if region else [])
                sql = (f"SELECT month, COUNT(*) AS inactive_stores FROM active_store WHERE {' AND '.join(where)} "
                       "GROUP BY month ORDER BY month")
                yield self._emit(e, per_month, sql, region=region, year=year, allow_empty=True)
            elif region is None:
                where = "NOT active_store.is_active" + (f" AND YEAR(active_store.month) = {year}" if year else "")
                sql = (f"SELECT stores.store_name, COUNT(*) AS inactive_months {JOIN} WHERE {where} "
                       "GROUP BY stores.store_name ORDER BY inactive_months DESC")
                yield self._emit(e, per_store, sql, year=year, allow_empty=True)

    def top_region(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        most = ["Which region had the most active stores {p}?", "region with the highest number of active stores {p}",
                "{p}, which region had the most stores {a}?"]
        least = ["Which region had the fewest active stores {p}?", "region with the lowest active store count {p}"]
        for month, top, now in self._draws(e.rng, budget, lambda: (e.rng.choice(self.v.months), e.rng.random() < 0.7,
                                                                    e.rng.random() < 0.15)):
            when = LATEST if now else self._month_sql(month)
            sql = (f"SELECT region, COUNT(*) AS active_stores FROM active_store WHERE month = {when} AND is_active "
                   f"GROUP BY region ORDER BY active_stores {'DESC' if top else 'ASC'} LIMIT 1")
            pats = most if top else least
            if now:
                yield self._emit(e, [p.replace("{p}", "{now}") for p in pats], sql)
            else:
                yield self._emit(e, pats, sql, month=month)

    def share(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        patterns = ["What percentage of stores were active {r} {p}?", "share of active stores {r} {p}",
                    "% of stores {a} {r} {p}", "what fraction of our stores were {a} {r} {p}"]
        for month, region in self._draws(e.rng, budget, lambda: (e.rng.choice(self.v.months), self._region(e.rng, 0.4))):
            extra = f" AND region = {quote(region)}" if region else ""
            sql = (f"SELECT 100.0 * COUNT(*) FILTER (WHERE is_active) / COUNT(*) AS active_pct FROM active_store "
                   f"WHERE month = {self._month_sql(month)}{extra}")
            yield self._emit(e, patterns, sql, region=region, month=month)

    def average(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        single = ["What was the average number of active stores per month {r} {p}?", "avg monthly active store count {r} {p}",
                  "on average, how many stores were {a} each month {r} {p}"]
        grouped = ["Average number of active stores per month by region {p}", "avg active stores per month for each region {p}"]
        for year, region, by_region in self._draws(e.rng, budget, lambda: (e.rng.choice([None] + self.years),
                                                                            self._region(e.rng, 0.4), e.rng.random() < 0.3)):
            cond = "is_active" + (f" AND YEAR(month) = {year}" if year else "")
            if by_region:
                sql = (f"SELECT region, AVG(active_stores) AS avg_active_stores FROM (SELECT month, region, COUNT(*) AS "
                       f"active_stores FROM active_store WHERE {cond} GROUP BY month, region) GROUP BY region ORDER BY region")
                yield self._emit(e, grouped, sql, year=year)
                continue
            cond += f" AND region = {quote(region)}" if region else ""
            sql = (f"SELECT AVG(active_stores) AS avg_active_stores FROM (SELECT month, COUNT(*) AS active_stores "
                   f"FROM active_store WHERE {cond} GROUP BY month)")
            yield self._emit(e, single, sql, region=region, year=year)

    def change(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        patterns = ["How did the number of active stores change from {p1} to {p2} {r}?",
                    "change in active store count between {p1} and {p2} {r}",
                    "how many more active stores were there in {p2} than in {p1} {r}?",
                    "difference in active stores {r}, {p1} vs {p2}"]
        months = self.v.months

        def draw():
            a, b = sorted(e.rng.sample(range(len(months)), 2))
            return months[a], months[b], self._region(e.rng, 0.3)
        for m1, m2, region in self._draws(e.rng, budget, draw):
            extra = f" WHERE region = {quote(region)}" if region else ""
            sql = (f"SELECT COUNT(*) FILTER (WHERE month = {self._month_sql(m2)} AND is_active) - COUNT(*) FILTER "
                   f"(WHERE month = {self._month_sql(m1)} AND is_active) AS change FROM active_store{extra}")
            rng = e.rng
            yield self._emit(e, patterns, sql, region=region,
                             p1=lambda m1=m1: _month_name(rng, m1), p2=lambda m2=m2: _month_name(rng, m2))

    def store_status(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        was = ["Was {s} active {p}?", "is_active status of {s} {p}", "was store {s} open {p}?", "{s}: active or not {p}?"]
        months_of = ["How many months was {s} active {p}?", "number of active months for {s} {p}",
                     "for how many months did {s} trade {p}?"]
        for name, month, kind in self._draws(e.rng, budget, lambda: (e.rng.choice(self.v.values["store"]),
                                                                     e.rng.choice(self.v.months), e.rng.random() < 0.6)):
            if kind:
                sql = (f"SELECT active_store.is_active {JOIN} WHERE stores.store_name = {quote(name)} AND "
                       f"active_store.month = {self._month_sql(month)}")
                yield self._emit(e, was, sql, month=month, s=name)
            else:
                year = month.year
                sql = (f"SELECT COUNT(*) AS active_months {JOIN} WHERE stores.store_name = {quote(name)} AND "
                       f"active_store.is_active AND YEAR(active_store.month) = {year}")
                yield self._emit(e, months_of, sql, year=year, s=name)

    def sales_of_inactive(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        patterns = ["What was the {y} revenue of stores that are {now} inactive?",
                    "revenue {yp} from stores that are not active {now}",
                    "how much did the currently inactive stores sell {yp}?"]
        active_patterns = ["What was the {y} revenue of stores that are {now} active?",
                           "revenue {yp} from the stores active {now}", "how much did currently active stores sell {yp}?"]
        for year, active in self._draws(e.rng, budget, lambda: (e.rng.choice(self.years), e.rng.random() < 0.5)):
            sql = (f"SELECT SUM(amount) AS revenue FROM sales WHERE YEAR(sale_date) = {year} AND store_id IN "
                   f"(SELECT store_id FROM active_store WHERE month = {LATEST} AND {'' if active else 'NOT '}is_active)")
            rng = e.rng
            yield self._emit(e, active_patterns if active else patterns, sql, y=str(year),
                             yp=lambda year=year: _year_phrase(rng, year))
