"""Sales templates about measures: totals, breakdowns, rankings, trends, year comparisons, growth, calendar."""

from __future__ import annotations

from collections.abc import Iterator

from training.examples import Candidate
from training.kit import Emitter
from training.phrasing import Period
from training.sales_base import BREAKDOWN_WEIGHTS, PAIRS, SUM_MEASURES, Filter, SalesTemplateBase, weighted
from training.sales_vocab import DIMS, Measure, Qual, select_sql

__all__ = ["MetricTemplates"]

TOTAL = ["What was the total {m} {f} {p}?", "Total {m} {f} {p}", "Show me the total {m} {f} {p}", "Give me {m} {f} {p}",
         "{m} {f} {p}?", "Tell me the {m} {f} {p}", "What is our {m} {f} {p}?", "I need the total {m} {f} {p}",
         "Can you show {m} {f} {p}?", "{p} {m} {f}", "{p}, what was the {m} {f}?", "what were the {m} {f} {p}",
         "sum of {m} {f} {p}", "What's the {m} {f} {p}?"]
AVERAGE = ["What was the {m} {f} {p}?", "{m} {f} {p}", "Show the {m} {f} {p}", "{p}, what was the {m} {f}?",
           "Tell me the {m} {f} {p}", "what is the {m} {f} {p}"]
BREAKDOWN = ["{m} by {d1} {f} {p}", "Show {m} by {d1} {f} {p}", "Break down {m} by {d1} {f} {p}",
             "What was the {m} for each {d1} {f} {p}?", "{m} per {d1} {f} {p}", "How did {m} split across {dn} {f} {p}?",
             "{p}, {m} by {d1} {f}", "List {dn} with their {m} {f} {p}", "Give me a breakdown of {m} by {d1} {f} {p}",
             "Compare {m} across {dn} {f} {p}", "{m} for every {d1} {f} {p}", "{d1} breakdown of {m} {f} {p}",
             "show me {m} by {d1} {f} {p}", "what are the {m} by {d1} {f} {p}"]
TOP = ["Top {n} {dn} by {m} {f} {p}", "Which {n} {dn} had the highest {m} {f} {p}?", "List the {n} best {dn} by {m} {f} {p}",
       "Show me the {n} {dn} with the most {m} {f} {p}", "{p}, top {n} {dn} ranked by {m} {f}",
       "What are the top {n} {dn} in terms of {m} {f} {p}?", "best {n} {dn} by {m} {f} {p}", "top {n} {dn} for {m} {f} {p}",
       "Rank the top {n} {dn} by {m} {f} {p}", "give me the {n} {dn} with the highest {m} {f} {p}"]
BOTTOM = ["Bottom {n} {dn} by {m} {f} {p}", "Which {n} {dn} had the lowest {m} {f} {p}?", "Worst {n} {dn} by {m} {f} {p}",
          "Show the {n} {dn} with the least {m} {f} {p}", "{p}, bottom {n} {dn} by {m} {f}",
          "the {n} weakest {dn} by {m} {f} {p}", "lowest {n} {dn} by {m} {f} {p}",
          "which {n} {dn} performed worst on {m} {f} {p}"]
TOP1 = ["Which {d1} had the highest {m} {f} {p}?", "What was the top {d1} by {m} {f} {p}?", "Best {d1} by {m} {f} {p}",
        "Which {d1} generated the most {m} {f} {p}?", "{p}, which {d1} led in {m} {f}?", "top {d1} by {m} {f} {p}",
        "which {d1} was number one for {m} {f} {p}", "{d1} with the highest {m} {f} {p}"]
BOTTOM1 = ["Which {d1} had the lowest {m} {f} {p}?", "Worst {d1} by {m} {f} {p}", "Which {d1} had the least {m} {f} {p}?",
           "{d1} with the lowest {m} {f} {p}", "{p}, which {d1} was last in {m} {f}?"]


class MetricTemplates(SalesTemplateBase):
    """Aggregates of sales lines sliced by dimensions, values and periods."""

    # -- totals ---------------------------------------------------------------------------------
    def _total_sql(self, m: Measure, filters: list[Filter], period: Period) -> str:
        q = Qual(self._tables([d for d, _ in filters]))
        return select_sql([f"{m.agg(q)} AS {m.alias}"], q, where=self._where(q, filters, period))

    def _total_patterns(self, m: Measure, filters: list[Filter]) -> list[str]:
        base = AVERAGE if m.unit == "avg" else TOTAL
        return base + list(m.how)

    def total(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        for m, period in self._draws(e.rng, budget, lambda: (self._measure(e.rng), self._period(e.rng))):
            yield self._emit(e, self._total_patterns(m, []), self._total_sql(m, [], period), m, [], period)

    def total_filtered(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        draw = lambda: (self._measure(e.rng), self._filter(e.rng), self._period(e.rng))  # noqa: E731
        for m, flt, period in self._draws(e.rng, budget, draw):
            yield self._emit(e, self._total_patterns(m, [flt]), self._total_sql(m, [flt], period), m, [flt], period)

    def total_two_filters(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        draw = lambda: (self._measure(e.rng), tuple(self._two_filters(e.rng)), self._period(e.rng))  # noqa: E731
        for m, filters, period in self._draws(e.rng, budget, draw):
            filters = list(filters)
            yield self._emit(e, self._total_patterns(m, filters), self._total_sql(m, filters, period), m, filters, period)

    # -- breakdowns and rankings ------------------------------------------------------------------

    def breakdown(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        def draw():
            dim = DIMS[weighted(e.rng, BREAKDOWN_WEIGHTS)]
            return self._measure(e.rng), dim, tuple(self._maybe_filter(e.rng, dim, 0.3)), self._period(e.rng)
        for m, dim, filters, period in self._draws(e.rng, budget, draw):
            yield self._emit(e, BREAKDOWN, self._grouped_sql(m, dim, list(filters), period), m, list(filters), period,
                             d1=dim.singular, dn=dim.plural)

    def breakdown_2d(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        patterns = ["{m} by {a} and {b} {p}", "Break down {m} by {a} and {b} {p}", "{m} per {a} per {b} {p}",
                    "Show {m} for each {a} and {b} {p}", "{m} split by {a} and {b} {p}", "{a} x {b} breakdown of {m} {p}",
                    "{p}, {m} by {a} and by {b}", "what were the {m} per {a} and {b} {p}"]
        pairs = [p for p in PAIRS if "store" not in p] + [("region", "year"), ("category", "year"), ("store_type", "year"),
                                                          ("brand", "year"), ("region", "quarter")]

        def draw():
            pair = e.rng.choice(pairs)
            period = self._period(e.rng, {"all": 3, "year": 1} if pair[1] == "year" else {"all": 2, "year": 3, "quarter": 1})
            return self._measure(e.rng), pair, period
        for m, (a, b), period in self._draws(e.rng, budget, draw):
            dims = [DIMS[a]] + ([DIMS[b]] if b in DIMS else [])
            q = Qual(self._tables(dims))
            refs = [d.ref(q) for d in dims]
            select = list(refs)
            if b == "year":
                select.append(f"YEAR({q.date}) AS year")
                refs.append("year")
            elif b == "quarter":
                select += [f"YEAR({q.date}) AS year", f"QUARTER({q.date}) AS quarter"]
                refs += ["year", "quarter"]
            sql = select_sql(select + [f"{m.agg(q)} AS {m.alias}"], q, where=self._where(q, [], period), group=refs,
                             order=", ".join(refs))
            b_words = DIMS[b].singular if b in DIMS else (b, b)
            yield self._emit(e, patterns, sql, m, [], period, a=DIMS[a].singular, b=b_words)

    def top_n(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        def draw():
            dim = DIMS[weighted(e.rng, BREAKDOWN_WEIGHTS, {"region", "store_type"})]
            n = e.rng.choice([n for n in (3, 5, 10) if n < len(self.v.values[dim.key])])
            return (self._measure(e.rng), dim, n, e.rng.random() < 0.7, tuple(self._maybe_filter(e.rng, dim, 0.3)),
                    self._period(e.rng))
        for m, dim, n, top, filters, period in self._draws(e.rng, budget, draw):
            sql = self._grouped_sql(m, dim, list(filters), period, desc=top, limit=n)
            yield self._emit(e, TOP if top else BOTTOM, sql, m, list(filters), period, d1=dim.singular, dn=dim.plural,
                             n=lambda n=n: self._n(e.rng, n))

    def top_1(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        def draw():
            dim = DIMS[weighted(e.rng, BREAKDOWN_WEIGHTS)]
            return (self._measure(e.rng), dim, e.rng.random() < 0.75, tuple(self._maybe_filter(e.rng, dim, 0.3)),
                    self._period(e.rng))
        for m, dim, top, filters, period in self._draws(e.rng, budget, draw):
            sql = self._grouped_sql(m, dim, list(filters), period, desc=top, limit=1)
            yield self._emit(e, TOP1 if top else BOTTOM1, sql, m, list(filters), period, d1=dim.singular)

    # -- time -----------------------------------------------------------------------------------
    def trend(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        patterns = {
            "month": ["Monthly {m} {f} {p}", "{m} by month {f} {p}", "Show the monthly trend of {m} {f} {p}",
                      "How did {m} evolve month by month {f} {p}?", "{m} per month {f} {p}", "month-by-month {m} {f} {p}",
                      "Plot {m} over time by month {f} {p}", "{m} trend per month {f} {p}"],
            "quarter": ["Quarterly {m} {f} {p}", "{m} by quarter {f} {p}", "Show {m} per quarter {f} {p}",
                        "quarter-by-quarter {m} {f} {p}", "How did {m} develop each quarter {f} {p}?", "{m} per qtr {f} {p}"],
            "year": ["Yearly {m} {f}", "Annual {m} {f}", "{m} by year {f}", "{m} per year {f}",
                     "How has {m} changed year over year {f}?", "year-by-year {m} {f}", "{m} trend by year {f}",
                     "show {m} for each year {f}"],
        }

        def draw():
            grain = weighted(e.rng, {"month": 3, "quarter": 1.5, "year": 1.5})
            kinds = {"all": 1, "year": 3, "range": 0.5} if grain == "month" else {"all": 2, "year": 1}
            period = Period("all", anchor=self.v.anchor) if grain == "year" else self._period(e.rng, kinds)
            filters = [self._filter(e.rng, {"product", "store"})] if e.rng.random() < 0.4 else []
            return self._measure(e.rng), grain, tuple(filters), period
        for m, grain, filters, period in self._draws(e.rng, budget, draw):
            filters = list(filters)
            q = Qual(self._tables([d for d, _ in filters]))
            if grain == "month":
                keys, select = ["month"], [f"DATE_TRUNC('month', {q.date}) AS month"]
            elif grain == "quarter":
                keys, select = ["year", "quarter"], [f"YEAR({q.date}) AS year", f"QUARTER({q.date}) AS quarter"]
            else:
                keys, select = ["year"], [f"YEAR({q.date}) AS year"]
            sql = select_sql(select + [f"{m.agg(q)} AS {m.alias}"], q, where=self._where(q, filters, period),
                             group=keys, order=", ".join(keys))
            yield self._emit(e, patterns[grain], sql, m, filters, period if grain != "year" else None)

    def year_compare(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        patterns = ["Compare {m} {f} in {y1} and {y2}", "{m} {f} {y1} vs {y2}", "How did {m} {f} in {y2} compare to {y1}?",
                    "{m} {f}: {y1} versus {y2}", "Show {m} {f} for {y1} and {y2}", "{y1} vs {y2} {m} {f}",
                    "{m} {f} in {y1} compared with {y2}", "compare {y1} and {y2} {m} {f}"]

        def draw():
            filters = [self._filter(e.rng)] if e.rng.random() < 0.5 else []
            return self._measure(e.rng), e.rng.choice(self._year_pairs()), tuple(filters)
        for m, (y1, y2), filters in self._draws(e.rng, budget, draw):
            filters = list(filters)
            q = Qual(self._tables([d for d, _ in filters]))
            where = self._where(q, filters, None) + [f"YEAR({q.date}) IN ({y1}, {y2})"]
            sql = select_sql([f"YEAR({q.date}) AS year", f"{m.agg(q)} AS {m.alias}"], q, where=where, group=["year"],
                             order="year")
            yield self._emit(e, patterns, sql, m, filters, None, y1=[str(y1), f"FY{y1}"], y2=[str(y2), f"FY{y2}"])

    def growth(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        pct = ["What was the yoy growth in {m} {f} from {y1} to {y2}?", "By what percentage did {m} {f} grow between {y1} and {y2}?",
               "{m} growth % {f} {y1} to {y2}", "Percent change in {m} {f} from {y1} to {y2}",
               "How much did {m} {f} grow in {y2} vs {y1}, in percent?", "{y2} vs {y1} {m} growth rate {f}",
               "growth rate of {m} {f} between {y1} and {y2}", "YoY % change in {m} {f}, {y1} to {y2}"]
        absolute = ["How much did {m} {f} increase from {y1} to {y2}?", "Change in {m} {f} between {y1} and {y2}",
                    "What is the difference in {m} {f} between {y2} and {y1}?", "{m} {f}: {y2} minus {y1}",
                    "absolute change in {m} {f} from {y1} to {y2}", "by how much did {m} {f} change from {y1} to {y2}"]
        per_dim = ["{m} growth by {d1} from {y1} to {y2}", "How did each {d1}'s {m} change from {y1} to {y2} in %?",
                   "percentage growth in {m} per {d1}, {y1} to {y2}", "yoy {m} growth for every {d1} ({y1} vs {y2})"]
        best = ["Which {d1} grew {m} the most between {y1} and {y2}?", "Which {d1} had the highest {m} growth from {y1} to {y2}?",
                "fastest-growing {d1} by {m}, {y1} to {y2}"]

        def draw():
            mode = weighted(e.rng, {"pct": 3, "abs": 2, "dim": 2, "best": 1.5})
            dim = DIMS[weighted(e.rng, BREAKDOWN_WEIGHTS, {"store", "product"})] if mode in ("dim", "best") else None
            filters = [self._filter(e.rng)] if mode in ("pct", "abs") and e.rng.random() < 0.45 else []
            return self._measure(e.rng, SUM_MEASURES), e.rng.choice(self._year_pairs()), mode, dim, tuple(filters)
        for m, (y1, y2), mode, dim, filters in self._draws(e.rng, budget, draw):
            filters = list(filters)
            q = Qual(self._tables(([dim] if dim else []) + [d for d, _ in filters]))
            a1 = f"{m.agg(q)} FILTER (WHERE YEAR({q.date}) = {y1})"
            a2 = f"{m.agg(q)} FILTER (WHERE YEAR({q.date}) = {y2})"
            years = [str(y1)], [str(y2)]
            if mode == "abs":
                sql = select_sql([f"{a2} - {a1} AS change"], q, where=self._where(q, filters, None))
                yield self._emit(e, absolute, sql, m, filters, None, y1=years[0], y2=years[1])
                continue
            growth = f"100.0 * ({a2} - {a1}) / {a1} AS growth_pct"
            if mode == "pct":
                sql = select_sql([growth], q, where=self._where(q, filters, None))
                yield self._emit(e, pct, sql, m, filters, None, y1=years[0], y2=[str(y2), f"'{y2 % 100:02d}"])
                continue
            ref = dim.ref(q)
            sql = select_sql([ref, growth], q, group=[ref], order="growth_pct DESC",
                             limit=1 if mode == "best" else None)
            yield self._emit(e, best if mode == "best" else per_dim, sql, m, [], None, d1=dim.singular,
                             y1=years[0], y2=years[1])

    def calendar(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        rng = e.rng
        weekday = ["{m} by day of week {f} {p}", "{m} per weekday {f} {p}", "break down {m} by weekday {f} {p}"]
        weekday1 = ["Which day of the week has the highest {m} {f} {p}?", "best weekday for {m} {f} {p}",
                    "what weekday sells the most {f} {p}"]
        best = {"month": (["Which month had the highest {m} {f} {p}?", "best month for {m} {f} {p}",
                           "{p}, what was the peak month for {m} {f}?"],
                          ["Which month had the lowest {m} {f} {p}?", "worst month for {m} {f} {p}",
                           "weakest month by {m} {f} {p}"]),
                "quarter": (["Which quarter had the highest {m} {f} {p}?", "best quarter for {m} {f} {p}"],
                            ["Which quarter had the lowest {m} {f} {p}?", "worst quarter for {m} {f} {p}"]),
                "year": (["What was the best year for {m} {f}?", "which year had the most {m} {f}"],
                         ["What was the worst year for {m} {f}?", "which year had the lowest {m} {f}"]),
                "day": (["What was the single best day for {m} {f} {p}?", "Which date had the most {m} {f} {p}?",
                         "top day by {m} {f} {p}"],
                        ["Which date had the lowest {m} {f} {p}?", "worst day for {m} {f} {p}"])}
        season = ["{m} by calendar month {f}", "seasonality of {m} {f}", "Which months of the year are strongest for {m} {f}?",
                  "{m} by month of year across all years {f}"]

        def draw():
            kind = weighted(rng, {"weekday": 1.5, "weekday1": 1, "month": 2, "quarter": 1, "year": 1, "day": 1,
                                   "season": 0.7})
            filters = (self._filter(rng, {"product"}),) if rng.random() < 0.4 else ()
            period = {"month": self._period(rng, {"year": 3, "all": 1}), "quarter": self._period(rng, {"year": 1, "all": 1}),
                      "day": self._period(rng, {"year": 2, "quarter": 1, "month": 1, "all": 1})}.get(
                          kind, None if kind in ("year", "season") else self._period(rng))
            return kind, self._measure(rng, SUM_MEASURES), filters, period, rng.random() < 0.75
        for kind, m, filters, period, top in self._draws(rng, budget, draw):
            filters = list(filters)
            q = Qual(self._tables([d for d, _ in filters]))
            where = self._where(q, filters, period)
            agg = f"{m.agg(q)} AS {m.alias}"
            if kind in ("weekday", "weekday1"):
                sql = select_sql([f"DAYNAME({q.date}) AS weekday", agg], q, where=where, group=["weekday"],
                                 order=f"{m.alias} DESC", limit=1 if kind == "weekday1" else None)
                yield self._emit(e, weekday if kind == "weekday" else weekday1, sql, m, filters, period)
            elif kind == "season":
                sql = select_sql([f"MONTH({q.date}) AS month", agg], q, where=where, group=["month"], order="month")
                yield self._emit(e, season, sql, m, filters, None)
            else:
                keys = {"month": [f"DATE_TRUNC('month', {q.date}) AS month"], "quarter": [f"YEAR({q.date}) AS year",
                        f"QUARTER({q.date}) AS quarter"], "year": [f"YEAR({q.date}) AS year"],
                        "day": [f"{q.date}"]}[kind]
                group = [k.rsplit(" AS ", 1)[-1] for k in keys]
                sql = select_sql(keys + [agg], q, where=where, group=group, order=f"{m.alias} {'DESC' if top else 'ASC'}",
                                 limit=1)
                pats = best[kind][0 if top else 1]
                yield self._emit(e, pats, sql, m, filters, period)
