"""A schema-driven question/SQL generator: it needs nothing but a :class:`tools.schema.DatabaseSchema`.

It reads what any database's schema says (tables, column types, comments, primary and foreign keys,
the values of low-cardinality columns, numeric and date ranges) and writes the questions people ask
of any table: counts, breakdowns, sums and averages, top-N, value and year filters, joins along
foreign keys, min/max, distinct values, HAVING and nested comparisons. Names come from the
identifiers ('replacement_cost' -> 'replacement cost'), so nothing here knows what a library is.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator

from tools.schema import Column, DatabaseSchema
from training.domain_schema import MONEY, SUMMABLE, Attr, SchemaView, article, table_nouns
from training.examples import Candidate
from training.kit import Emitter, quote, template_rng
from training.phrasing import humanize, money, number, plural

__all__ = ["SchemaTemplates"]

N_WORDS = {3: "three", 5: "five", 10: "ten"}


class SchemaTemplates(SchemaView):
    """All schema-driven templates over one database (named ``db`` in template ids)."""

    def __init__(self, schema: DatabaseSchema, db: str, seed: int, *, scale: float = 1.0) -> None:
        super().__init__(schema)
        self.db = db
        self.seed = seed
        self.scale = scale

    # -- generation ---------------------------------------------------------------------------------
    def templates(self) -> list[tuple[str, int, Callable]]:
        return [("count", 60, self.count), ("count_filtered", 260, self.count_filtered),
                ("count_by", 110, self.count_by), ("aggregate", 200, self.aggregate),
                ("aggregate_by", 200, self.aggregate_by), ("top_rows", 110, self.top_rows),
                ("top_group", 120, self.top_group), ("list_filtered", 90, self.list_filtered),
                ("by_year", 140, self.by_year), ("extremes", 60, self.extremes), ("distinct", 70, self.distinct),
                ("having", 80, self.having), ("above_average", 60, self.above_average),
                ("nulls_flags", 90, self.nulls_flags), ("threshold", 100, self.threshold), ("lookup", 60, self.lookup)]

    def generate(self) -> Iterator[tuple[str, list[Candidate]]]:
        for name, budget, fn in self.templates():
            template = f"domain.{name}"
            rng = template_rng(self.seed, f"{self.db}:{template}")
            emitter = Emitter(template, rng)
            out: list[Candidate] = []
            seen: set[str] = set()
            target = max(1, round(budget * self.scale))
            for _ in range(target * 4):
                if len(seen) >= target:
                    break
                made = fn(emitter)
                if made is None:
                    continue
                patterns, sql, fields, protect = made
                if sql in seen:
                    continue
                seen.add(sql)
                out.extend(emitter.emit(patterns, sql, protect=protect, **fields))
            yield template, out

    # helpers for the families

    # -- families -----------------------------------------------------------------------------------
    def count(self, e: Emitter):
        t = self._table(e.rng)
        if t is None:
            return None
        p, s = table_nouns(t)
        return (["How many {T} are there?", "Number of {T}", "count of {T}", "total number of {T}", "how many {T} do we have",
                 "count all {T}", "# of {T}"], f"SELECT COUNT(*) AS num_{t.name} FROM {t.name}", {"T": p}, [])

    def count_filtered(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.dims(t)))
        if t is None:
            return None
        attr, value, phrase = self._value_filter(rng, t)
        frm, ref = self._from(t, [attr])
        where = [f"{ref(attr)} = {quote(value)}"]
        fields = {"T": table_nouns(t)[0], "f": phrase, "v": value, "y": ""}
        dates = self.dates(t)
        if dates and rng.random() < 0.35:
            column = dates[0]
            year = self._year(rng, column)
            where.append(f"YEAR({ref((t, column))}) = {year}")
            fields["y"] = rng.choice([f"in {year}", f"with {humanize(column.name)} in {year}", f"during {year}"])
        sql = f"SELECT COUNT(*) AS num_{t.name} {frm} WHERE {' AND '.join(where)}"
        patterns = ["How many {T} {f} {y}?", "Number of {T} {f} {y}", "count {T} {f} {y}", "how many {T} are there {f} {y}",
                    "{y}, how many {T} {f}?", "total {T} {f} {y}"]
        if attr.own:
            patterns += ["How many {v} {T} {y}?", "number of {v} {T} {y}"]
        return patterns, sql, fields, [value]

    def count_by(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.dims(t)))
        if t is None:
            return None
        dims = self.dims(t)
        attr = rng.choice(dims)
        second = rng.choice([d for d in dims if d.column is not attr.column] or [None]) if rng.random() < 0.2 else None
        frm, ref = self._from(t, [a for a in (attr, second) if a])
        keys = [ref(attr)] + ([ref(second)] if second else [])
        alias = f"num_{t.name}"
        sql = f"SELECT {', '.join(keys)}, COUNT(*) AS {alias} {frm} GROUP BY {', '.join(keys)} ORDER BY " + \
              (f"{alias} DESC" if not second else ", ".join(keys))
        d = attr.noun(rng) + (f" and {second.noun(rng)}" if second else "")
        return (["Number of {T} by {d}", "How many {T} per {d}?", "{T} count for each {d}", "break down {T} by {d}",
                 "count {T} grouped by {d}", "how many {T} are there in each {d}"], sql, {"T": table_nouns(t)[0], "d": d}, [])

    def _measure_noun(self, column: Column) -> str:
        return humanize(column.name)

    def aggregate(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.measures(t)))
        if t is None:
            return None
        column = rng.choice(self.measures(t))
        fns = ["AVG", "MIN", "MAX"] + (["SUM", "SUM"] if SUMMABLE.search(column.name) else [])
        fn = rng.choice(fns)
        flt = self._value_filter(rng, t) if rng.random() < 0.5 else None
        attrs = [flt[0]] if flt else []
        frm, ref = self._from(t, attrs)
        where = [f"{ref(flt[0])} = {quote(flt[1])}"] if flt else []
        fields = {"T": table_nouns(t)[0], "m": self._measure_noun(column), "f": flt[2] if flt else "", "y": ""}
        dates = self.dates(t)
        if dates and rng.random() < 0.35:
            year = self._year(rng, dates[0])
            where.append(f"YEAR({ref((t, dates[0]))}) = {year}")
            fields["y"] = rng.choice([f"in {year}", f"for {year}", f"during {year}"])
        alias = {"AVG": "avg", "MIN": "min", "MAX": "max", "SUM": "total"}[fn] + "_" + column.name
        sql = f"SELECT {fn}({ref((t, column))}) AS {alias} {frm}" + (f" WHERE {' AND '.join(where)}" if where else "")
        patterns = {
            "AVG": ["What is the average {m} of {T} {f} {y}?", "avg {m} for {T} {f} {y}", "mean {m} of {T} {f} {y}",
                    "average {m} {f} {y}"],
            "MIN": ["What is the lowest {m} among {T} {f} {y}?", "minimum {m} of {T} {f} {y}", "smallest {m} {f} {y}"],
            "MAX": ["What is the highest {m} among {T} {f} {y}?", "maximum {m} of {T} {f} {y}", "largest {m} {f} {y}",
                    "max {m} for {T} {f} {y}"],
            "SUM": ["What is the total {m} of {T} {f} {y}?", "sum of {m} for {T} {f} {y}", "total {m} {f} {y}",
                    "how much {m} in total {f} {y}"],
        }[fn]
        return patterns, sql, fields, [flt[1]] if flt else []

    def aggregate_by(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.measures(t)) and bool(self.dims(t)))
        if t is None:
            return None
        column = rng.choice(self.measures(t))
        attr = rng.choice(self.dims(t))
        fn = rng.choice(["AVG", "SUM", "SUM"] if SUMMABLE.search(column.name) else ["AVG", "AVG", "MAX", "MIN"])
        frm, ref = self._from(t, [attr])
        alias = {"AVG": "avg", "MIN": "min", "MAX": "max", "SUM": "total"}[fn] + "_" + column.name
        where, y = "", ""
        dates = self.dates(t)
        if dates and rng.random() < 0.3:
            year = self._year(rng, dates[0])
            where, y = f" WHERE YEAR({ref((t, dates[0]))}) = {year}", rng.choice([f"in {year}", f"for {year}"])
        sql = (f"SELECT {ref(attr)}, {fn}({ref((t, column))}) AS {alias} {frm}{where} GROUP BY {ref(attr)} "
               f"ORDER BY {alias} DESC")
        word = {"AVG": ["average", "avg", "mean"], "SUM": ["total", "sum of"], "MIN": ["minimum", "lowest"],
                "MAX": ["maximum", "highest"]}[fn]
        return (["{w} {m} by {d} {y}", "What is the {w} {m} of {T} per {d} {y}?", "{w} {m} for each {d} {y}",
                 "show {w} {m} grouped by {d} {y}", "{d} breakdown of {w} {m} {y}"],
                sql, {"T": table_nouns(t)[0], "m": self._measure_noun(column), "d": lambda: attr.noun(rng), "w": word, "y": y}, [])

    def top_rows(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.measures(t)))
        if t is None:
            return None
        column = rng.choice(self.measures(t))
        label = self.label(t)
        show = label.name if label else t.primary_key[0] if t.primary_key else None
        if show is None:
            return None
        n = rng.choice([1, 3, 5, 10])
        top = rng.random() < 0.65
        sql = f"SELECT {show}, {column.name} FROM {t.name} ORDER BY {column.name} {'DESC' if top else 'ASC'} LIMIT {n}"
        p, s = table_nouns(t)
        m = self._measure_noun(column)
        if n == 1:
            patterns = ([f"Which {s} has the highest {{m}}?", f"{s} with the largest {{m}}", f"the {s} with the most {{m}}"]
                        if top else [f"Which {s} has the lowest {{m}}?", f"{s} with the smallest {{m}}"])
        else:
            patterns = (["Top {n} {T} by {m}", "Which {n} {T} have the highest {m}?", "the {n} {T} with the largest {m}",
                         "list {n} {T} with the most {m}"] if top else
                        ["Bottom {n} {T} by {m}", "Which {n} {T} have the lowest {m}?", "the {n} {T} with the smallest {m}"])
        return patterns, sql, {"T": p, "m": m, "n": [str(n), N_WORDS.get(n, str(n))]}, []

    def top_group(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.dims(t)))
        if t is None:
            return None
        attr = rng.choice(self.dims(t))
        frm, ref = self._from(t, [attr])
        measures = self.measures(t)
        top = rng.random() < 0.7
        n = rng.choice([1, 1, 3])
        if measures and rng.random() < 0.5:
            column = rng.choice(measures)
            fn = "SUM" if SUMMABLE.search(column.name) else "AVG"
            alias = ("total_" if fn == "SUM" else "avg_") + column.name
            agg, what = f"{fn}({ref((t, column))})", ("total " if fn == "SUM" else "average ") + self._measure_noun(column)
        else:
            alias, agg, what = f"num_{t.name}", "COUNT(*)", f"number of {table_nouns(t)[0]}"
        sql = (f"SELECT {ref(attr)}, {agg} AS {alias} {frm} GROUP BY {ref(attr)} ORDER BY {alias} "
               f"{'DESC' if top else 'ASC'} LIMIT {n}")
        if n == 1:
            patterns = (["Which {d} has the highest {w}?", "{d} with the most {w}", "what {d} leads in {w}"] if top else
                        ["Which {d} has the lowest {w}?", "{d} with the fewest {w}"])
        else:
            patterns = (["Top {n} {ds} by {w}", "the {n} {ds} with the highest {w}"] if top else
                        ["Bottom {n} {ds} by {w}", "the {n} {ds} with the lowest {w}"])
        if what.startswith("number of"):
            patterns += ([f"Which {{d}} has the most {table_nouns(t)[0]}?"] if top and n == 1 else [])
        return patterns, sql, {"d": lambda: attr.noun(rng), "ds": lambda: plural(attr.noun(rng)), "w": what,
                               "n": str(n)}, []

    def list_filtered(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: self.label(t) is not None and bool(self.dims(t)))
        if t is None:
            return None
        label = self.label(t)
        flt = self._value_filter(rng, t, exclude=Attr((), t, label))
        if flt is None:
            return None
        attr, value, phrase = flt
        frm, ref = self._from(t, [attr])
        sql = f"SELECT {ref((t, label))} {frm} WHERE {ref(attr)} = {quote(value)} ORDER BY {ref((t, label))}"
        return (["List the {T} {f}", "Which {T} are {f}?", "show all {T} {f}", "names of {T} {f}", "give me the {T} {f}"],
                sql, {"T": table_nouns(t)[0], "f": phrase}, [value])

    def by_year(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.dates(t)))
        if t is None:
            return None
        column = rng.choice(self.dates(t))
        primary = column is self.dates(t)[0]
        dn = humanize(column.name)
        p = table_nouns(t)[0]
        kind = rng.choice(["count_year", "count_year", "per_year", "per_month", "range"])
        if kind == "count_year":
            year = self._year(rng, column)
            sql = f"SELECT COUNT(*) AS num_{t.name} FROM {t.name} WHERE YEAR({column.name}) = {year}"
            patterns = ["How many {T} have {adn} in {y}?", "number of {T} with {dn} in {y}", "count {T} by {dn} year {y}"]
            if primary:
                patterns += ["How many {T} were there in {y}?", "number of {T} in {y}", "{T} in {y}: how many?"]
            return patterns, sql, {"T": p, "dn": dn, "adn": article(dn), "y": [str(year), f"FY{year}"]}, []
        if kind == "per_year":
            sql = (f"SELECT YEAR({column.name}) AS year, COUNT(*) AS num_{t.name} FROM {t.name} "
                   f"WHERE {column.name} IS NOT NULL GROUP BY year ORDER BY year")
            return (["Number of {T} per year of {dn}", "How many {T} by {dn} year?", "yearly count of {T} by {dn}"]
                    + (["How many {T} per year?", "{T} by year", "annual number of {T}"] if primary else []),
                    sql, {"T": p, "dn": dn}, [])
        if kind == "per_month":
            year = self._year(rng, column)
            sql = (f"SELECT DATE_TRUNC('month', {column.name}) AS month, COUNT(*) AS num_{t.name} FROM {t.name} "
                   f"WHERE YEAR({column.name}) = {year} GROUP BY month ORDER BY month")
            return (["Monthly number of {T} by {dn} in {y}", "How many {T} per month ({dn}) in {y}?"]
                    + (["{T} per month in {y}", "monthly {T} count for {y}"] if primary else []),
                    sql, {"T": p, "dn": dn, "y": str(year)}, [])
        year = self._year(rng, column)
        m1 = rng.randint(1, 9)
        m2 = rng.randint(m1 + 1, 12)
        start, end = f"{year}-{m1:02d}-01", f"{year}-{m2:02d}-{calendar.monthrange(year, m2)[1]}"
        sql = f"SELECT COUNT(*) AS num_{t.name} FROM {t.name} WHERE {column.name} BETWEEN DATE '{start}' AND DATE '{end}'"
        return (["How many {T} have {adn} between {a} and {b}?", "number of {T} with {dn} from {a} to {b}"],
                sql, {"T": p, "dn": dn, "adn": article(dn), "a": start, "b": end}, [])

    def extremes(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.dates(t)))
        if t is None:
            return None
        column = rng.choice(self.dates(t))
        first = rng.random() < 0.5
        sql = f"SELECT {'MIN' if first else 'MAX'}({column.name}) AS {'first' if first else 'last'}_{column.name} FROM {t.name}"
        patterns = (["What is the earliest {dn} of {T}?", "first {dn} among {T}", "when was the earliest {dn}?"] if first else
                    ["What is the latest {dn} of {T}?", "most recent {dn} among {T}", "when was the last {dn}?"])
        return patterns, sql, {"T": table_nouns(t)[0], "dn": humanize(column.name)}, []

    def distinct(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.dims(t)) or any(j.table == t.name for j in self.schema.joins))
        if t is None:
            return None
        own_dims = [d for d in self.dims(t) if d.own]
        fks = [j for j in self.schema.joins if j.table.lower() == t.name.lower()]
        p = table_nouns(t)[0]
        if fks and (not own_dims or rng.random() < 0.4):
            j = rng.choice(fks)
            parent = self.schema.table(j.ref_table)
            pp = table_nouns(parent)[0]
            sql = f"SELECT COUNT(DISTINCT {j.column}) AS num_{parent.name} FROM {t.name}"
            return (["How many distinct {P} appear in {T}?", "number of different {P} with {T}",
                     "how many unique {P} have {T}?"], sql, {"T": p, "P": pp}, [])
        if not own_dims:
            return None
        attr = rng.choice(own_dims)
        col = attr.column.name
        if rng.random() < 0.5:
            sql = f"SELECT COUNT(DISTINCT {col}) AS num_{col} FROM {t.name}"
            return (["How many different {d} values are there among {T}?", "number of distinct {ds} of {T}",
                     "count the unique {ds} in {T}"], sql, {"T": p, "d": humanize(col), "ds": plural(humanize(col))}, [])
        sql = f"SELECT DISTINCT {col} FROM {t.name} ORDER BY {col}"
        return (["List the distinct {ds} of {T}", "What {d} values do {T} have?", "all different {ds} among {T}"],
                sql, {"T": p, "d": humanize(col), "ds": plural(humanize(col))}, [])

    def having(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.dims(t)))
        if t is None:
            return None
        attr = rng.choice(self.dims(t))
        groups = max(1, len(attr.column.values))
        threshold = max(1, int(round(t.row_count / groups * rng.uniform(0.6, 1.1), -1 if t.row_count / groups > 50 else 0)))
        frm, ref = self._from(t, [attr])
        alias = f"num_{t.name}"
        up = rng.random() < 0.75
        sql = (f"SELECT {ref(attr)}, COUNT(*) AS {alias} {frm} GROUP BY {ref(attr)} HAVING COUNT(*) {'>' if up else '<'} "
               f"{threshold} ORDER BY {alias} DESC")
        word = ["more than", "over"] if up else ["fewer than", "less than"]
        return (["Which {ds} have {w} {t} {T}?", "{ds} with {w} {t} {T}", "list {ds} having {w} {t} {T}"],
                sql, {"ds": lambda: plural(attr.noun(rng)), "w": word, "t": str(threshold), "T": table_nouns(t)[0]}, [])

    def above_average(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.measures(t)) and self.label(t) is not None)
        if t is None:
            return None
        column = rng.choice(self.measures(t))
        label = self.label(t)
        up = rng.random() < 0.7
        sql = (f"SELECT {label.name}, {column.name} FROM {t.name} WHERE {column.name} {'>' if up else '<'} "
               f"(SELECT AVG({column.name}) FROM {t.name}) ORDER BY {column.name} DESC")
        patterns = (["Which {T} have {am} above average?", "{T} with {m} higher than the average",
                     "list {T} whose {m} exceeds the mean"] if up else
                    ["Which {T} have {am} below average?", "{T} with {m} lower than the average"])
        m = self._measure_noun(column)
        return patterns, sql, {"T": table_nouns(t)[0], "m": m, "am": article(m)}, []

    def nulls_flags(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.flags(t)) or any(self.nullable(c) for c in t.columns))
        if t is None:
            return None
        p = table_nouns(t)[0]
        options = [("flag", c) for c in self.flags(t)] + [("null", c) for c in t.columns if self.nullable(c)]
        kind, column = rng.choice(options)
        positive = rng.random() < 0.6
        if kind == "flag":
            name = column.name
            adjective = humanize(name[3:]) if name.startswith("is_") else humanize(name)
            cond = column.name if positive else f"NOT {column.name}"
            sql = f"SELECT COUNT(*) AS num_{t.name} FROM {t.name} WHERE {cond}"
            if name.startswith("is_"):
                patterns = (["How many {T} are {a}?", "number of {a} {T}", "count {a} {T}"] if positive else
                            ["How many {T} are not {a}?", "number of {T} that are not {a}"])
            else:
                patterns = (["How many {T} have {a}?", "number of {T} with {a} set", "count {T} where {a} is true"] if positive
                            else ["How many {T} do not have {a}?", "count {T} where {a} is false"])
            return patterns, sql, {"T": p, "a": adjective}, []
        dn = humanize(column.name)
        cond = f"{column.name} IS NULL" if positive else f"{column.name} IS NOT NULL"
        sql = f"SELECT COUNT(*) AS num_{t.name} FROM {t.name} WHERE {cond}"
        patterns = (["How many {T} have no {dn}?", "number of {T} with a missing {dn}", "count {T} where {dn} is empty"]
                    if positive else ["How many {T} have {adn}?", "number of {T} with {dn} filled in"])
        return patterns, sql, {"T": p, "dn": dn, "adn": article(dn)}, []

    def threshold(self, e: Emitter):
        rng = e.rng
        t = self._table(rng, lambda t: bool(self.measures(t)))
        if t is None:
            return None
        column = rng.choice(self.measures(t))
        lo, hi = float(column.minimum), float(column.maximum)
        if hi <= lo:
            return None
        raw = lo + (hi - lo) * rng.uniform(0.05, 0.5)
        step = 10 ** max(0, len(str(int(raw))) - 2)
        value = max(1, int(round(raw / step) * step)) if raw >= 1 else round(raw, 2)
        up = rng.random() < 0.6
        shown = (lambda: money(value, rng)) if MONEY.search(column.name) else (lambda: number(value, rng))
        p = table_nouns(t)[0]
        m = self._measure_noun(column)
        op = ">" if up else "<"
        word = ["more than", "over", "above", "greater than"] if up else ["less than", "under", "below"]
        label = self.label(t)
        if label is not None and rng.random() < 0.4:
            sql = (f"SELECT {label.name}, {column.name} FROM {t.name} WHERE {column.name} {op} {value} "
                   f"ORDER BY {column.name} DESC")
            return (["List {T} with {m} {w} {t}", "Which {T} have {am} {w} {t}?", "show {T} whose {m} is {w} {t}"],
                    sql, {"T": p, "m": m, "am": article(m), "w": word, "t": shown}, [])
        sql = f"SELECT COUNT(*) AS num_{t.name} FROM {t.name} WHERE {column.name} {op} {value}"
        return (["How many {T} have {am} {w} {t}?", "number of {T} with {m} {w} {t}", "count {T} where {m} is {w} {t}"],
                sql, {"T": p, "m": m, "am": article(m), "w": word, "t": shown}, [])

    def lookup(self, e: Emitter):
        """One attribute of one named row of a small table: 'what is the city of Riverside Branch?'."""
        rng = e.rng
        t = self._table(rng, lambda t: (lab := self.label(t)) is not None and len(lab.values) >= t.row_count > 0)
        if t is None:
            return None
        label = self.label(t)
        others = [c for c in t.columns if c is not label and not self._is_key(t, c)]
        if not others:
            return None
        column = rng.choice(others)
        name = rng.choice(label.values)
        sql = f"SELECT {column.name} FROM {t.name} WHERE {label.name} = {quote(name)}"
        return (["What is the {c} of {v}?", "{v}: {c}?", "show the {c} for {v}", "what {c} does {v} have",
                 "tell me the {c} of the {s} {v}"], sql, {"c": humanize(column.name), "v": name, "s": table_nouns(t)[1]}, [name])
