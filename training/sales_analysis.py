"""Sales templates that compare and look up: shares, HAVING thresholds, above-average (nested) queries,
distinct counts, the store and product catalogue, per-period averages and absence questions."""

from __future__ import annotations

from collections.abc import Iterator

from training.examples import Candidate
from training.kit import Emitter, quote
from training.phrasing import money, number
from training.sales_base import BREAKDOWN_WEIGHTS, SUM_MEASURES, SalesTemplateBase, round2, weighted
from training.sales_vocab import DIMS, Qual, select_sql

__all__ = ["AnalysisTemplates"]


class AnalysisTemplates(SalesTemplateBase):
    """Questions whose SQL goes beyond one aggregate per group."""

    # -- shares, thresholds, nesting -----------------------------------------------------------------
    def share(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        of_value = ["What share of {m} came from {s} {p}?", "What percentage of {m} {p} was {f}?", "% of {m} from {s} {p}",
                    "How much of our {m} {p} came from {s}, in percent?", "share of {m} {f} {p}",
                    "{p}, what fraction of {m} did {s} account for?", "percent of total {m} {f} {p}"]
        by_dim = ["Share of {m} by {d1} {p}", "Percentage of {m} per {d1} {p}", "What % of {m} does each {d1} account for {p}?",
                  "{m} share by {d1} {p}", "each {d1}'s percentage of total {m} {p}", "percent of total {m} by {d1} {p}",
                  "{m} mix by {d1} {p}"]

        def draw():
            m = self._measure(e.rng, SUM_MEASURES)
            period = self._period(e.rng, {"all": 2, "year": 3, "quarter": 1})
            if e.rng.random() < 0.55:
                return m, "value", self._filter(e.rng, {"product", "store"}), period
            return m, "dim", DIMS[weighted(e.rng, BREAKDOWN_WEIGHTS, {"store", "product"})], period
        for m, mode, target, period in self._draws(e.rng, budget, draw):
            if mode == "value":
                dim, value = target
                q = Qual([dim.table])
                sql = select_sql([f"100.0 * {m.agg(q)} FILTER (WHERE {dim.ref(q)} = {quote(value)}) / {m.agg(q)} AS share_pct"],
                                 q, where=[period.where(q.date)])
                subject = [s.format(v=value) for s in dim.subjects] or [value]
                yield self._emit(e, of_value, sql, m, [target], period, s=subject)
            else:
                dim = target
                q = Qual([dim.table])
                ref = dim.ref(q)
                sql = select_sql([ref, f"100.0 * {m.agg(q)} / SUM({m.agg(q)}) OVER () AS share_pct"], q,
                                 where=[period.where(q.date)], group=[ref], order="share_pct DESC")
                yield self._emit(e, by_dim, sql, m, [], period, d1=dim.singular)

    def having(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        above = ["Which {dn} had {m} above {t} {p}?", "{dn} with more than {t} in {m} {p}", "List {dn} whose {m} exceeded {t} {p}",
                 "Show {dn} with {m} over {t} {p}", "{p}, which {dn} had {m} greater than {t}?", "{dn} where {m} > {t} {p}",
                 "{dn} with {m} higher than {t} {p}"]
        below = ["Which {dn} had {m} below {t} {p}?", "{dn} with less than {t} in {m} {p}", "Show {dn} with {m} under {t} {p}",
                 "{dn} where {m} < {t} {p}", "List {dn} whose {m} was lower than {t} {p}"]

        def draw():
            dim = DIMS[weighted(e.rng, BREAKDOWN_WEIGHTS, {"region", "store_type"})]
            m = self._measure(e.rng, ("revenue", "units", "transactions", "avg_sale"))
            return m, dim, e.rng.random() < 0.7, self._period(e.rng, {"all": 2, "year": 3, "quarter": 1})
        for m, dim, up, period in self._draws(e.rng, budget, draw):
            q = Qual([dim.table])
            ref = dim.ref(q)
            where = [period.where(q.date)]
            inner = select_sql([f"{m.agg(q)}"], q, where=where, group=[ref])
            groups = sorted(float(r[0]) for r in self.v.scalar_rows(inner) if r[0] is not None)
            if len(groups) < 4:
                continue
            threshold = round2(groups[int(len(groups) * e.rng.uniform(0.3, 0.7))])
            if threshold <= 0:
                continue
            shown = int(threshold) if threshold.is_integer() else threshold
            sql = select_sql([ref, f"{m.agg(q)} AS {m.alias}"], q, where=where, group=[ref],
                             having=f"{m.agg(q)} {'>' if up else '<'} {shown}", order=f"{m.alias} DESC")
            rng = e.rng
            t = (lambda: money(threshold, rng)) if m.unit in ("money", "avg") and m.key != "avg_units" \
                else (lambda: number(threshold, rng))
            yield self._emit(e, above if up else below, sql, m, [], period, dn=dim.plural, t=t)

    def above_average(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        groups = ["Which {dn} had above-average {m} {p}?", "{dn} with {m} higher than the average {d1} {p}",
                  "List {dn} whose {m} beat the average {p}", "Show {dn} performing above average on {m} {p}",
                  "{dn} above the mean {m} {p}", "which {dn} were above average in {m} {p}"]
        priced = ["Which products cost more than the average product {f}?", "List products priced above the average unit price {f}",
                  "products {f} more expensive than average", "show {f} products with a price above the average {f}",
                  "what items {f} are priced higher than the mean price"]

        def draw():
            if e.rng.random() < 0.25:
                cat = e.rng.choice([None] + self.v.values["category"])
                return ("price", cat, None, None)
            dim = DIMS[weighted(e.rng, BREAKDOWN_WEIGHTS, {"region", "store_type"})]
            return ("group", dim, self._measure(e.rng, ("revenue", "units", "transactions")),
                    self._period(e.rng, {"all": 2, "year": 3}))
        for kind, a, m, period in self._draws(e.rng, budget, draw):
            if kind == "price":
                where = f" WHERE category = {quote(a)}" if a else ""
                cond = f"category = {quote(a)} AND " if a else ""
                sql = (f"SELECT product_name, unit_price FROM products WHERE {cond}unit_price > "
                       f"(SELECT AVG(unit_price) FROM products{where}) ORDER BY unit_price DESC")
                flt = [(DIMS["category"], a)] if a else []
                pats = priced if a else [p.replace(" {f}", "").replace("{f} ", "") for p in priced]
                yield self._emit(e, pats, sql, None, flt, None)
                continue
            dim = a
            q = Qual([dim.table])
            inner = select_sql([dim.ref(q), f"{m.agg(q)} AS {m.alias}"], q, where=[period.where(q.date)], group=[dim.ref(q)])
            sql = (f"WITH totals AS ({inner}) SELECT {dim.column}, {m.alias} FROM totals WHERE {m.alias} > "
                   f"(SELECT AVG({m.alias}) FROM totals) ORDER BY {m.alias} DESC")
            yield self._emit(e, groups, sql, m, [], period, d1=dim.singular, dn=dim.plural)

    # -- counts and catalogue ------------------------------------------------------------------------
    def distinct(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        sold = {
            "product_id": ["How many different products were sold {f} {p}?", "number of distinct products sold {f} {p}",
                           "how many unique items did we sell {f} {p}", "count of distinct products sold {f} {p}"],
            "store_id": ["How many stores made at least one sale {f} {p}?", "number of stores with sales {f} {p}",
                         "how many distinct stores sold something {f} {p}"],
            "sale_date": ["On how many days did we have sales {f} {p}?", "number of distinct sale days {f} {p}",
                          "how many trading days {f} {p}"],
        }
        catalogue = [
            ("SELECT COUNT(DISTINCT brand) AS brands FROM products{w}", ["How many distinct brands do we carry {f}?",
             "number of brands {f}", "how many different brands are there {f}", "count the brands {f}"], "category"),
            ("SELECT DISTINCT brand FROM products{w} ORDER BY brand", ["List the brands {f}", "Which brands do we have {f}?",
             "show all brands {f}", "what brands are sold {f}"], "category"),
            ("SELECT DISTINCT category FROM products{w} ORDER BY category", ["Which categories does {v} sell in?",
             "List the categories of {v} products", "what product categories does {v} cover"], "brand"),
            ("SELECT DISTINCT city FROM stores{w} ORDER BY city", ["Which cities have stores {f}?", "List the cities {f}",
             "in which cities do we have stores {f}", "cities with stores {f}"], "region"),
            ("SELECT DISTINCT city FROM stores{w} ORDER BY city", ["Which cities have {v} stores?", "where are our {v} stores",
             "list cities with a {v} store"], "store_type"),
            ("SELECT COUNT(DISTINCT city) AS cities FROM stores{w}", ["How many cities do we operate in {f}?",
             "number of cities with stores {f}", "in how many different cities are we present {f}"], "region"),
        ]

        def draw():
            if e.rng.random() < 0.6:
                column = e.rng.choice(list(sold))
                exclude = {"product"} | ({"store"} if column == "store_id" else set())
                filters = [self._filter(e.rng, exclude)] if e.rng.random() < 0.6 else []
                return ("sold", column, tuple(filters), self._period(e.rng))
            idx = e.rng.randrange(len(catalogue))
            dim = catalogue[idx][2]
            value = e.rng.choice(self.v.values[dim]) if e.rng.random() < 0.75 or dim in ("brand", "store_type") else None
            return ("catalogue", idx, value, None)
        for kind, a, b, period in self._draws(e.rng, budget, draw):
            if kind == "sold":
                filters = list(b)
                q = Qual(self._tables([d for d, _ in filters]))
                alias = {"product_id": "products", "store_id": "stores", "sale_date": "days"}[a]
                sql = select_sql([f"COUNT(DISTINCT {q.c('sales', a)}) AS {alias}"], q,
                                 where=self._where(q, filters, period))
                yield self._emit(e, sold[a], sql, None, filters, period)
                continue
            template, patterns, dim = catalogue[a]
            where = f" WHERE {DIMS[dim].column} = {quote(b)}" if b else ""
            filters = [(DIMS[dim], b)] if b else []
            pats = [p for p in patterns if ("{v}" in p) == bool(b) or "{f}" in p]
            if not pats:
                continue
            yield self._emit(e, pats, template.format(w=where), None, filters, None, v=b or "")

    def catalog(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        v = self.v
        rng = e.rng

        def store_count():
            flt = self._filter(rng, {"store", "brand", "category", "product"}) if rng.random() < 0.7 else None
            where = f" WHERE {flt[0].column} = {quote(flt[1])}" if flt else ""
            return (["How many stores do we have {f}?", "number of stores {f}", "count the stores {f}", "# of stores {f}",
                     "how many shops are there {f}", "total store count {f}"],
                    f"SELECT COUNT(*) AS stores FROM stores{where}", [flt] if flt else [], {})

        def product_count():
            flt = self._filter(rng, {"store", "region", "city", "store_type", "product"}) if rng.random() < 0.75 else None
            where = f" WHERE {flt[0].column} = {quote(flt[1])}" if flt else ""
            return (["How many products do we sell {f}?", "number of products {f}", "how many items are in the catalogue {f}",
                     "count products {f}", "# of SKUs {f}"], f"SELECT COUNT(*) AS products FROM products{where}",
                    [flt] if flt else [], {})

        def count_by():
            key = rng.choice(["region", "city", "store_type", "category", "brand"])
            dim = DIMS[key]
            table, noun = ("stores", ["stores", "shops"]) if dim.table == "stores" else ("products", ["products", "items"])
            return (["Number of {noun} by {d1}", "How many {noun} are there per {d1}?", "count of {noun} in each {d1}",
                     "{noun} per {d1}", "break down the number of {noun} by {d1}"],
                    f"SELECT {dim.column}, COUNT(*) AS {table} FROM {table} GROUP BY {dim.column} ORDER BY {table} DESC",
                    [], {"d1": dim.singular, "noun": noun})

        def list_stores():
            flt = self._filter(rng, {"store", "brand", "category", "product", "region"})
            return (["List the stores {f}", "Which stores are {f}?", "show me all stores {f}", "what stores do we have {f}",
                     "names of stores {f}"], f"SELECT store_name FROM stores WHERE {flt[0].column} = {quote(flt[1])} "
                    "ORDER BY store_name", [flt], {})

        def opened():
            year = rng.choice(v.opened_years)
            mode = rng.choice(["in", "since", "before"])
            cond = {"in": f"YEAR(opened_date) = {year}", "since": f"opened_date >= DATE '{year}-01-01'",
                    "before": f"opened_date < DATE '{year}-01-01'"}[mode]
            words = {"in": [f"in {year}", f"during {year}"], "since": [f"since {year}", f"from {year} on"],
                     "before": [f"before {year}", f"prior to {year}"]}[mode]
            if rng.random() < 0.5:
                return (["Which stores opened {w}?", "List stores that opened {w}", "stores opened {w}",
                         "show the stores we opened {w}"], f"SELECT store_name, opened_date FROM stores WHERE {cond} "
                        "ORDER BY opened_date", [], {"w": words})
            return (["How many stores opened {w}?", "number of stores opened {w}", "count of store openings {w}"],
                    f"SELECT COUNT(*) AS stores FROM stores WHERE {cond}", [], {"w": words})

        def store_fact():
            name = rng.choice(v.values["store"])
            column, pats = rng.choice([
                ("opened_date", ["When did {s} open?", "opening date of {s}", "what date did {s} open"]),
                ("region", ["Which region is {s} in?", "what region does {s} belong to", "region of {s}"]),
                ("city", ["In which city is {s}?", "where is {s} located", "city of {s}"]),
                ("store_type", ["What type of store is {s}?", "store format of {s}"])])
            return pats, f"SELECT {column} FROM stores WHERE store_name = {quote(name)}", [], {"s": name, "_p": name}

        def product_fact():
            name = rng.choice(v.values["product"])
            column, pats = rng.choice([
                ("unit_price", ["What is the price of {s}?", "how much does {s} cost", "unit price of {s}", "{s} price"]),
                ("brand", ["Which brand makes {s}?", "brand of {s}"]),
                ("category", ["What category is {s} in?", "category of {s}"])])
            return pats, f"SELECT {column} FROM products WHERE product_name = {quote(name)}", [], {"s": name, "_p": name}

        def priciest():
            n = rng.choice([1, 3, 5, 10])
            top = rng.random() < 0.6
            flt = self._filter(rng, {"store", "region", "city", "store_type", "product"}) if rng.random() < 0.6 else None
            where = f" WHERE {flt[0].column} = {quote(flt[1])}" if flt else ""
            sql = (f"SELECT product_name, unit_price FROM products{where} ORDER BY unit_price "
                   f"{'DESC' if top else 'ASC'} LIMIT {n}")
            if n == 1:
                pats = (["What is the most expensive product {f}?", "priciest item {f}", "which product {f} has the highest price"]
                        if top else ["What is the cheapest product {f}?", "lowest priced item {f}",
                                     "which product {f} has the lowest unit price"])
            else:
                pats = (["Top {n} most expensive products {f}", "List the {n} priciest products {f}",
                         "{n} highest-priced items {f}"] if top else
                        ["{n} cheapest products {f}", "Show the {n} lowest priced items {f}", "bottom {n} products by price {f}"])
            return pats, sql, [flt] if flt else [], {"n": lambda: self._n(rng, n)}

        def price_threshold():
            t = rng.choice([5, 10, 20, 25, 50, 100, 150, 200, 300, 500])
            up = rng.random() < 0.6
            flt = self._filter(rng, {"store", "region", "city", "store_type", "product"}) if rng.random() < 0.5 else None
            cond = f"unit_price {'>' if up else '<'} {t}" + (f" AND {flt[0].column} = {quote(flt[1])}" if flt else "")
            word = ["over", "above", "more than"] if up else ["under", "below", "less than"]
            if rng.random() < 0.5:
                return (["How many products {f} cost {w} {t}?", "number of products {f} priced {w} {t}",
                         "count items {f} with a unit price {w} {t}"], f"SELECT COUNT(*) AS products FROM products WHERE {cond}",
                        [flt] if flt else [], {"w": word, "t": lambda: money(t, rng)})
            return (["List products {f} priced {w} {t}", "Which products {f} cost {w} {t}?", "show items {f} {w} {t}"],
                    f"SELECT product_name, unit_price FROM products WHERE {cond} ORDER BY unit_price DESC",
                    [flt] if flt else [], {"w": word, "t": lambda: money(t, rng)})

        def oldest():
            first = rng.random() < 0.5
            flt = self._filter(rng, {"store", "brand", "category", "product", "city"}) if rng.random() < 0.5 else None
            where = f" WHERE {flt[0].column} = {quote(flt[1])}" if flt else ""
            pats = (["What is our oldest store {f}?", "which store {f} opened first", "earliest opened store {f}"] if first
                    else ["What is the newest store {f}?", "which store {f} opened most recently", "latest store opening {f}"])
            return pats, (f"SELECT store_name, opened_date FROM stores{where} ORDER BY opened_date "
                          f"{'ASC' if first else 'DESC'} LIMIT 1"), [flt] if flt else [], {}

        def openings_per_year():
            return (["How many stores opened each year?", "store openings by year", "number of new stores per year",
                     "count of stores by opening year"],
                    "SELECT YEAR(opened_date) AS year, COUNT(*) AS stores FROM stores GROUP BY year ORDER BY year", [], {})

        def price_range():
            flt = self._filter(rng, {"store", "region", "city", "store_type", "product"})
            return (["What is the price range {f}?", "min and max unit price {f}", "cheapest and most expensive price {f}",
                     "lowest and highest product price {f}"],
                    f"SELECT MIN(unit_price) AS min_price, MAX(unit_price) AS max_price FROM products "
                    f"WHERE {flt[0].column} = {quote(flt[1])}", [flt], {})

        makers = [store_count, product_count, count_by, list_stores, opened, store_fact, product_fact, priciest,
                  price_threshold, oldest, openings_per_year, price_range]
        weights = [2, 2, 1.5, 1.5, 1.5, 1.5, 1.5, 2, 2, 1, 0.2, 1]
        seen: set[str] = set()
        for _ in range(budget * 3):
            if len(seen) >= budget:
                break
            pats, sql, filters, fields = rng.choices(makers, weights)[0]()
            if sql in seen:
                continue
            seen.add(sql)
            protect = [fields.pop("_p")] if "_p" in fields else []
            yield e.emit(pats, sql, protect=protect + [x for _, x in filters],
                         f=lambda filters=filters: self._filter_phrase(rng, filters), **fields)

    def averages(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        rng = e.rng
        price_by = ["Average price by {d1}", "avg unit price per {d1}", "What is the mean product price for each {d1}?",
                    "average product price in each {d1}"]
        price_of = ["What is the average price {f}?", "avg unit price {f}", "mean price of products {f}",
                    "how much does a product {f} cost on average"]
        per_month = ["What was the average monthly {m} {f} {p}?", "avg {m} per month {f} {p}",
                     "on average, what were the {m} per month {f} {p}", "mean monthly {m} {f} {p}"]
        per_day = ["What was the average daily {m} {f} {p}?", "avg {m} per day {f} {p}", "mean {m} per day {f} {p}"]
        per_store = ["What is the average {m} per store {f} {p}?", "avg {m} per store {f} {p}", "{m} per store {f} {p}"]
        per_store_by = ["Average {m} per store by {d1} {p}", "{m} per store in each {d1} {p}",
                        "what is the avg {m} per store for every {d1} {p}"]

        def draw():
            kind = weighted(rng, {"price_by": 0.6, "price_of": 1, "month": 3, "day": 1.5, "store": 1.5, "store_by": 1.5})
            m = self._measure(rng, SUM_MEASURES)
            if kind == "price_by":
                return kind, rng.choice(["category", "brand"]), None, None
            if kind == "price_of":
                return kind, self._filter(rng, {"store", "region", "city", "store_type", "product"}), None, None
            if kind == "store_by":
                return kind, rng.choice(["region", "store_type", "city"]), m, self._period(rng, {"all": 1, "year": 2})
            exclude = {"product", "store"}
            filters = (self._filter(rng, exclude),) if rng.random() < 0.4 else ()
            return kind, filters, m, self._period(rng, {"all": 1, "year": 3, "quarter": 0.5})
        for kind, a, m, period in self._draws(rng, budget, draw):
            if kind == "price_by":
                dim = DIMS[a]
                sql = f"SELECT {dim.column}, AVG(unit_price) AS avg_price FROM products GROUP BY {dim.column} ORDER BY avg_price DESC"
                yield self._emit(e, price_by, sql, None, [], None, d1=dim.singular)
            elif kind == "price_of":
                sql = f"SELECT AVG(unit_price) AS avg_price FROM products WHERE {a[0].column} = {quote(a[1])}"
                yield self._emit(e, price_of, sql, None, [a], None)
            elif kind == "store_by":
                dim = DIMS[a]
                q = Qual([dim.table])
                sql = select_sql([dim.ref(q), f"{m.agg(q)} / COUNT(DISTINCT {q.c('sales', 'store_id')}) AS {m.alias}_per_store"],
                                 q, where=[period.where(q.date)], group=[dim.ref(q)], order=f"{m.alias}_per_store DESC")
                yield self._emit(e, per_store_by, sql, m, [], period, d1=dim.singular)
            else:
                filters = list(a)
                q = Qual(self._tables([d for d, _ in filters]))
                where = self._where(q, filters, period)
                if kind == "store":
                    sql = select_sql([f"{m.agg(q)} / COUNT(DISTINCT {q.c('sales', 'store_id')}) AS {m.alias}_per_store"], q,
                                     where=where)
                    yield self._emit(e, per_store, sql, m, filters, period)
                    continue
                key = f"DATE_TRUNC('month', {q.date})" if kind == "month" else q.date
                inner = select_sql([f"{key} AS {'month' if kind == 'month' else 'day'}", f"{m.agg(q)} AS {m.alias}"], q,
                                   where=where, group=["month" if kind == "month" else "day"])
                sql = f"SELECT AVG({m.alias}) AS avg_{'monthly' if kind == 'month' else 'daily'}_{m.alias} FROM ({inner})"
                yield self._emit(e, per_month if kind == "month" else per_day, sql, m, filters, period)

    def absence(self, e: Emitter, budget: int) -> Iterator[list[Candidate]]:
        rng = e.rng
        stores = ["Which stores had no sales {p}?", "List stores without any sales {p}", "stores that sold nothing {p}",
                  "were there stores with zero sales {p}?"]
        products = ["Which products were never sold {f} {p}?", "List products with no sales {f} {p}",
                    "products {f} that did not sell {p}", "unsold products {f} {p}"]

        def draw():
            if rng.random() < 0.5:
                return "stores", (), self._period(rng, {"year": 2, "quarter": 1, "month": 1})
            flt = (self._filter(rng, {"store", "region", "city", "store_type", "product"}),) if rng.random() < 0.5 else ()
            return "products", flt, self._period(rng, {"all": 1, "year": 2, "quarter": 1, "month": 1})
        for kind, filters, period in self._draws(rng, budget, draw):
            filters = list(filters)
            cond = period.where("sale_date")
            inner_where = f" WHERE {cond}" if cond else ""
            if kind == "stores":
                sql = (f"SELECT store_name FROM stores WHERE store_id NOT IN (SELECT store_id FROM sales{inner_where}) "
                       "ORDER BY store_name")
                yield self._emit(e, stores, sql, None, [], period, allow_empty=True)
            else:
                extra = f"{filters[0][0].column} = {quote(filters[0][1])} AND " if filters else ""
                sql = (f"SELECT product_name FROM products WHERE {extra}product_id NOT IN "
                       f"(SELECT product_id FROM sales{inner_where}) ORDER BY product_name")
                yield self._emit(e, products, sql, None, filters, period, allow_empty=True)
