"""Question/SQL templates over the bundled sales database (stores, products, sales).

Each template draws parameter combinations (measure, dimension, values, period) at random but
seeded, builds the SQL from the pieces in :mod:`training.sales_vocab` and phrases the question with
several paraphrases. Values come from the database itself, so the questions name regions, brands
and stores that exist. The families live in :mod:`training.sales_metrics` and
:mod:`training.sales_analysis`; this module only lists them with their budgets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from training.examples import Candidate
from training.kit import Emitter
from training.sales_analysis import AnalysisTemplates
from training.sales_metrics import MetricTemplates

__all__ = ["SalesTemplates"]


class SalesTemplates(MetricTemplates, AnalysisTemplates):
    """All sales templates over one database; :meth:`generate` yields (template id, candidates)."""

    def templates(self) -> list[tuple[str, int, Callable[[Emitter, int], Iterator[list[Candidate]]]]]:
        # Budgets are distinct drawn combinations; a combination yields one or two paraphrases
        return [
            ("sales.total", 420, self.total), ("sales.total_filtered", 1300, self.total_filtered),
            ("sales.total_two_filters", 320, self.total_two_filters), ("sales.breakdown", 900, self.breakdown),
            ("sales.breakdown_2d", 320, self.breakdown_2d), ("sales.top_n", 950, self.top_n),
            ("sales.top_1", 500, self.top_1), ("sales.trend", 450, self.trend),
            ("sales.year_compare", 220, self.year_compare), ("sales.growth", 320, self.growth),
            ("sales.share", 340, self.share), ("sales.having", 340, self.having),
            ("sales.above_average", 160, self.above_average), ("sales.distinct", 320, self.distinct),
            ("sales.catalog", 480, self.catalog), ("sales.averages", 300, self.averages),
            ("sales.calendar", 300, self.calendar), ("sales.absence", 60, self.absence),
        ]
