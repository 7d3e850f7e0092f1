"""Tests of the evaluation metrics: value normalisation, execution accuracy, ORDER BY detection,
exact match, execution capture and query shape tags."""

from __future__ import annotations

import itertools
import math
import random
import time
from datetime import date, datetime, time as dtime, timezone
from decimal import Decimal

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evals.metrics import (ExecOutcome, exact_match, execute_for_eval, gold_orders_result, normalize_value,
                           results_match)
from evals.shapes import SHAPES, query_shapes


# --------------------------------------------------------------------------------------------------
# normalize_value
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, float("nan"), np.nan, np.float32("nan"), pd.NA, pd.NaT,
                                   Decimal("NaN"), np.datetime64("NaT")])
def test_missing_values_normalise_to_none(value):
    assert normalize_value(value) is None


@pytest.mark.parametrize("value, expected", [
    (5, 5.0), (5.0, 5.0), (Decimal("1.10"), 1.1), (np.int64(3), 3.0), (np.float32(0.5), 0.5),
    (Decimal("-0.00"), 0.0), (10**400, math.inf),
])
def test_numbers_normalise_to_float(value, expected):
    out = normalize_value(value)
    assert type(out) is float and out == expected


def test_bool_stays_bool():
    assert normalize_value(True) is True
    assert normalize_value(np.bool_(False)) is False


@pytest.mark.parametrize("value", [
    date(2023, 1, 1), datetime(2023, 1, 1), pd.Timestamp("2023-01-01"), np.datetime64("2023-01-01"),
    "2023-01-01", "2023-01-01T00:00:00", "2023-01-01 00:00:00", "2023-01-01 00:00:00.000",
    datetime(2023, 1, 1, tzinfo=timezone.utc),
])
def test_midnight_dates_normalise_to_iso_date(value):
    assert normalize_value(value) == "2023-01-01"


@pytest.mark.parametrize("value, expected", [
    (datetime(2023, 1, 1, 12, 30), "2023-01-01T12:30:00"),
    ("2023-01-01 12:30:00", "2023-01-01T12:30:00"),
    ("2023-01-01T12:30", "2023-01-01T12:30:00"),
    (pd.Timestamp("2023-01-01 12:30:00.25"), "2023-01-01T12:30:00.250000"),
    ("2023-01-01 12:30:00.25", "2023-01-01T12:30:00.250000"),
    (dtime(8, 15), "08:15:00"),
])
def test_other_datetimes_normalise_to_iso(value, expected):
    assert normalize_value(value) == expected


@pytest.mark.parametrize("value", ["5", "North", "north", "", "2023-13-45", "2023-01", "1234-56-78 text",
                                   " 2023-01-01", "0.3"])
def test_other_strings_unchanged(value):
    assert normalize_value(value) == value


def test_containers_normalise_recursively():
    assert normalize_value([1, "2023-01-01 00:00:00", None, [Decimal("2.5")]]) == (1.0, "2023-01-01", None, (2.5,))
    assert normalize_value({"b": 1, "a": date(2023, 1, 2)}) == {"a": "2023-01-02", "b": 1.0}


# --------------------------------------------------------------------------------------------------
# results_match: known pairs
# --------------------------------------------------------------------------------------------------

def match(pred_rows, gold_rows, *, pred_cols=None, gold_cols=None, **kw) -> bool:
    """results_match with generated column names (names never matter)."""
    width = lambda rows: len(rows[0]) if rows else 0  # noqa: E731
    pred_cols = pred_cols if pred_cols is not None else [f"p{i}" for i in range(width(pred_rows))]
    gold_cols = gold_cols if gold_cols is not None else [f"g{i}" for i in range(width(gold_rows))]
    return results_match(pred_cols, pred_rows, gold_cols, gold_rows, **kw)


def test_identical_results_match():
    rows = [["North", 10], ["South", 20]]
    assert match(rows, rows)
    assert match(rows, rows, order_matters=True)


def test_row_order_ignored_for_bags_but_not_lists():
    gold = [["North", 10], ["South", 20]]
    pred = [["South", 20], ["North", 10]]
    assert match(pred, gold)
    assert not match(pred, gold, order_matters=True)


def test_top_n_ties_in_different_order():
    # Tied rows listed differently: a bag comparison accepts it; an ordered one is exact by design.
    gold = [["a", 5], ["b", 5], ["c", 3]]
    pred = [["b", 5], ["a", 5], ["c", 3]]
    assert match(pred, gold)
    assert not match(pred, gold, order_matters=True)


def test_nulls():
    assert match([[None]], [[float("nan")]])
    assert match([[np.nan], [None]], [[None], [pd.NA]])
    assert not match([[0]], [[None]])
    assert not match([[""]], [[None]])
    assert not match([["None"]], [[None]])


def test_float_tolerance():
    assert match([[0.1 + 0.2]], [[0.3]])
    assert match([[1e12 + 0.5]], [[1e12]])  # relative tolerance
    assert match([[1e-9]], [[0.0]])  # absolute tolerance
    assert not match([[100.0]], [[100.01]])
    assert not match([[0.3]], [[0.31]])
    assert match([[math.inf]], [[math.inf]])
    assert not match([[math.inf]], [[-math.inf]])


def test_decimal_int_float():
    assert match([[Decimal("12.34")]], [[12.34]])
    assert match([[5]], [[5.0]])
    assert match([[Decimal("5")]], [[np.int64(5)]])


def test_text_is_not_a_number():
    assert not match([["5"]], [[5]])
    assert not match([[5]], [["5"]])
    assert not match([["0.3"]], [[0.3]])


def test_bool_is_not_a_number():
    assert not match([[True]], [[1]])
    assert not match([[0]], [[False]])
    assert match([[True], [False]], [[False], [True]])


def test_text_is_case_sensitive():
    assert not match([["north"]], [["North"]])


def test_extra_predicted_columns_tolerated():
    gold = [["North", 10], ["South", 20]]
    pred = [[1, "North", 10, "x"], [2, "South", 20, "y"]]
    assert match(pred, gold)
    assert match(pred, gold, order_matters=True)


def test_missing_column_fails():
    gold = [["North", 10], ["South", 20]]
    assert not match([["North"], ["South"]], gold)
    assert not match([[10], [20]], gold)


def test_column_order_swapped():
    gold = [["North", 10, date(2023, 1, 1)], ["South", 20, date(2023, 2, 1)]]
    pred = [[20, date(2023, 2, 1), "South"], [10, date(2023, 1, 1), "North"]]
    assert match(pred, gold)
    assert not match(pred, gold, order_matters=True)
    assert match(pred[::-1], gold, order_matters=True)


def test_columns_matched_as_a_whole_not_one_by_one():
    # Each column's multiset matches, but the pairing of values across columns does not.
    gold = [["North", 10], ["South", 20]]
    pred = [["North", 20], ["South", 10]]
    assert not match(pred, gold)


def test_bag_semantics_duplicates():
    assert not match([["a"], ["a"], ["b"]], [["a"], ["b"], ["b"]])
    assert not match([["a"], ["b"]], [["a"], ["a"], ["b"]])
    assert match([["a"], ["b"], ["a"]], [["a"], ["a"], ["b"]])


def test_date_timestamp_and_iso_text():
    gold = [[date(2023, 1, 1), 1], [date(2023, 2, 1), 2]]
    assert match([[datetime(2023, 1, 1), 1], [datetime(2023, 2, 1), 2]], gold)
    assert match([[pd.Timestamp("2023-02-01"), 2], [pd.Timestamp("2023-01-01"), 1]], gold)
    assert match([["2023-01-01", 1], ["2023-02-01T00:00:00", 2]], gold)
    assert match([["2023-01-01 00:00:00", 1], ["2023-02-01", 2]], gold)
    assert not match([[datetime(2023, 1, 1, 0, 0, 1), 1], [datetime(2023, 2, 1), 2]], gold)
    assert not match([["2023-01-02", 1], ["2023-02-01", 2]], gold)


def test_different_row_counts():
    assert not match([[1], [2], [3]], [[1], [2]])
    assert not match([[1]], [[1], [1]])
    assert not match([], [[1]], pred_cols=["a"])
    assert not match([[1]], [], gold_cols=["a"])


def test_empty_results():
    assert results_match(["a"], [], ["x"], [])
    assert results_match(["a", "b"], [], ["x"], [])
    assert not results_match(["a"], [], ["x", "y"], [])
    assert results_match([], [], [], [])


def test_duplicate_valued_predicted_columns_resolved_by_backtracking():
    # Gold has one column; the prediction has two with identical values: either can be chosen.
    gold = [[1], [2], [3]]
    assert match([[1, 1], [2, 2], [3, 3]], gold)
    # Two gold columns with equal multisets; only one assignment pairs the rows correctly.
    gold2 = [[1, 2], [2, 1], [3, 3]]
    pred2 = [[1, 2, "x"], [1, 2, "y"], [3, 3, "z"]]  # first column: 1,1,3 -> not a candidate for 1,2,3
    assert not match(pred2, gold2)
    pred3 = [[2, 1], [1, 2], [3, 3]]  # swapped columns: pair (g0->p1, g1->p0) is the one
    assert match(pred3, gold2)


def test_backtracking_needs_a_later_assignment():
    # The first candidate for gold column 0 (pred column 0) makes the rows fail; pred column 1 works.
    gold = [[1, "a"], [2, "b"], [3, "c"]]
    pred = [[3, 1, "a"], [1, 2, "b"], [2, 3, "c"]]  # col 0 and col 1 hold the same multiset {1,2,3}
    assert match(pred, gold)


def test_gold_duplicate_columns_need_distinct_predicted_columns():
    gold = [[1, 1], [2, 2]]
    assert not match([[1], [2]], gold)
    assert match([[1, 1], [2, 2]], gold)


def test_float_noise_that_reorders_rows():
    # Sorting by the numbers orders the two sides differently; the tolerant matching must pair them.
    gold = [[0.3, "a"], [0.30000000000000004, "b"]]
    pred = [[0.30000000000000004, "a"], [0.3, "b"]]
    assert match(pred, gold)
    # Two numeric columns: 1.000004 and 0.999996 are not close but round alike at 6 digits, so the
    # sort cannot tell the rows apart by the first column and the second decides.
    gold2 = [[1.000004, 2.0], [0.999996, 3.0], [1.0, 1.0]]
    pred2 = [[0.9999961, 3.0], [1.0000041, 2.0], [1.0000000001, 1.0]]
    assert match(pred2, gold2)
    assert not match([[0.999996, 2.0], [1.000004, 3.0], [1.0, 1.0]], gold2)


def test_tolerant_bipartite_matching_used_when_sort_pairs_wrongly(monkeypatch):
    # Snapped first components order the two sides differently (0.300001 vs 0.300002), so the sorted
    # pairing fails; only the tolerance-aware matching finds the pairing.
    from evals import metrics

    calls = []
    real = metrics._perfect_matching
    monkeypatch.setattr(metrics, "_perfect_matching", lambda adj, n: calls.append(len(adj)) or real(adj, n))
    gold = [[0.3000014, 1.0], [0.3000016, 2.0]]
    pred = [[0.30000155, 1.0], [0.30000145, 2.0]]
    assert match(pred, gold)
    assert 2 in calls  # the row matching ran on the two rows
    assert not match([[0.30000155, 2.0], [0.30000145, 1.5]], gold)


def test_right_columns_found_among_many_lookalikes():
    # Every column, gold or decoy, is a permutation of 0..9: all multisets equal, only rows decide.
    gold = [[i, (i * 7) % 10, (i * 3) % 10] for i in range(10)]
    decoys = [[(i * k + 1) % 10 for k in (1, 3, 7, 9)] for i in range(10)]
    pred = [[d[0], g[2], d[1], g[0], d[2], g[1], d[3]] for g, d in zip(gold, decoys)]
    assert match(pred, gold)
    assert match(pred, gold, order_matters=True)
    random.Random(3).shuffle(pred)
    assert match(pred, gold)
    assert not match([[d[0], g[2], d[1], g[0], d[2], d[3]] for g, d in zip(gold, decoys)], gold)


def test_mapping_search_is_capped():
    # 12 predicted columns that all look like each of 4 gold columns: thousands of mappings, none right.
    n = 200
    gold = [[i, (i + 1) % n, (i + 2) % n, (i + 3) % n] for i in range(n)]
    pred = [[(i * k + 5) % n for k in (1, 3, 7, 9, 11, 13, 17, 19, 21, 23, 27, 29)] for i in range(n)]
    start = time.process_time()
    assert not match(pred, gold)
    assert time.process_time() - start < 10.0


def test_mixed_kinds_in_a_column():
    gold = [[1, None], ["x", 2.0], [None, True]]
    assert match([[None, True], [1.0, None], ["x", 2]], gold)
    assert not match([[None, True], ["1", None], ["x", 2]], gold)


def test_nested_values():
    gold = [[[1, 2], {"a": 1}], [[3], {"a": 2}]]
    assert match([[(3.0,), {"a": Decimal(2)}], [(1, 2.0000000001), {"a": 1}]], gold)
    assert not match([[(3.0,), {"a": 2}], [(2, 1), {"a": 1}]], gold)
    # Noise that would reorder the lists by their exact text
    assert match([[(0.30000000000000004,)], [(0.3000000000000001, 1)]], [[(0.3,)], [(0.3, 1)]])


def test_ragged_rows_rejected():
    with pytest.raises(ValueError):
        results_match(["a", "b"], [[1]], ["x"], [[1]])


# --------------------------------------------------------------------------------------------------
# results_match: scale
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_gold() -> list[list]:
    """50,000 rows: id, text, float, DATE with NULLs."""
    rng = random.Random(0)
    return [[i, f"store {i % 97}", rng.random() * 1000, None if i % 11 == 0 else date(2023, 1 + i % 12, 1)]
            for i in range(50_000)]


# These bounds catch a blow-up (a search gone exponential takes minutes), not speed: CPU time, because the
# wall clock is at the mercy of whatever else runs, and wide, because CPU time still grows on a loaded machine.
def test_large_inputs_fast(big_gold):
    gold = big_gold
    pred = [[r[3], r[2] * (1 + 1e-9), r[1], r[0], "extra"] for r in gold]
    random.Random(1).shuffle(pred)
    cols_g, cols_p = list("abcd"), list("vwxyz")
    start = time.process_time()
    assert results_match(cols_p, pred, cols_g, gold)
    elapsed = time.process_time() - start
    assert elapsed < 10.0, elapsed
    pred[123][1] += 1.0
    start = time.process_time()
    assert not results_match(cols_p, pred, cols_g, gold)
    assert time.process_time() - start < 10.0


def test_large_ordered_fast(big_gold):
    gold = big_gold
    start = time.process_time()
    assert results_match(list("abcd"), gold, list("abcd"), gold, order_matters=True)
    assert time.process_time() - start < 10.0


def test_large_misassociated_numbers_are_rejected_quickly():
    # Same column multisets, wrong pairing of numbers across rows: the worst case of the fallback.
    n = 50_000
    gold = [[float(i), i * 0.5] for i in range(n)]
    halves = [i * 0.5 for i in range(n)]
    random.Random(2).shuffle(halves)
    pred = [[float(i), h] for i, h in enumerate(halves)]
    start = time.process_time()
    assert not results_match(["a", "b"], pred, ["a", "b"], gold)
    assert time.process_time() - start < 10.0


# --------------------------------------------------------------------------------------------------
# results_match: properties
# --------------------------------------------------------------------------------------------------

_rows = st.lists(
    st.tuples(st.integers(0, 50),
              st.one_of(st.none(), st.text(alphabet="abcXYZ5", max_size=3)),
              st.floats(1e6, 2e6, allow_nan=False)),
    min_size=1, max_size=30).map(lambda rows: [list(r) for r in rows])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, seed=st.integers(0, 2**32 - 1))
def test_property_shuffle_matches(rows, seed):
    cols = ["id", "name", "amount"]
    shuffled = [r[:] for r in rows]
    random.Random(seed).shuffle(shuffled)
    assert results_match(cols, shuffled, cols, rows)
    assert results_match(cols, rows, cols, rows, order_matters=True)
    # Tiny float noise and permuted columns still match.
    noisy = [[r[2] * (1 + 1e-10), r[0], r[1]] for r in shuffled]
    assert results_match(["a", "b", "c"], noisy, cols, rows)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_rows, seed=st.integers(0, 2**32 - 1), data=st.data())
def test_property_single_change_breaks_match(rows, seed, data):
    cols = ["id", "name", "amount"]
    shuffled = [r[:] for r in rows]
    random.Random(seed).shuffle(shuffled)
    r = data.draw(st.integers(0, len(rows) - 1))
    c = data.draw(st.integers(0, 2))
    old = shuffled[r][c]
    if c == 0:
        shuffled[r][c] = old + data.draw(st.integers(1, 5))
    elif c == 1:
        shuffled[r][c] = "x" if old is None else data.draw(st.sampled_from([None, old + "a", old.upper() + "!"]))
    else:
        shuffled[r][c] = old * data.draw(st.sampled_from([1.0001, 0.999, -1.0])) + data.draw(st.sampled_from([0, 1]))
    assert not results_match(cols, shuffled, cols, rows)
    assert not results_match(cols, shuffled, cols, rows, order_matters=True)


def _oracle(pred_rows, gold_rows, n_pred_cols, n_gold_cols, order_matters):
    """Brute force over every column mapping and row permutation: the definition, slowly."""
    if len(pred_rows) != len(gold_rows) or n_pred_cols < n_gold_cols:
        return False

    def eq(a, b):
        a, b = normalize_value(a), normalize_value(b)
        if isinstance(a, float) and isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
        return type(a) is type(b) and a == b

    orders = [tuple(range(len(pred_rows)))] if order_matters else itertools.permutations(range(len(pred_rows)))
    orders = list(orders)
    for mapping in itertools.permutations(range(n_pred_cols), n_gold_cols):
        for order in orders:
            if all(eq(pred_rows[order[r]][mapping[c]], gold_rows[r][c])
                   for r in range(len(gold_rows)) for c in range(n_gold_cols)):
                return True
    return False


# 0.3 ~ 0.3000009 ~ 0.3000015 but 0.3 !~ 0.3000015: closeness is not transitive
_cell = st.sampled_from([None, float("nan"), 0, 1, 1.0, 0.3, 0.1 + 0.2, 0.3000001, 0.3000009, 0.3000015, 0.31,
                         True, "a", "1", "A",
                         Decimal("0.30"), "2023-01-01", date(2023, 1, 1)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n_rows=st.integers(0, 4), n_gold=st.integers(1, 3), extra=st.integers(0, 1),
       order_matters=st.booleans())
def test_property_agrees_with_brute_force(data, n_rows, n_gold, extra, order_matters):
    gold = [[data.draw(_cell) for _ in range(n_gold)] for _ in range(n_rows)]
    n_pred = n_gold + extra
    if data.draw(st.booleans()):
        # A prediction built from the gold: permuted rows and columns, plus noise and an extra column
        cols = data.draw(st.permutations(range(n_gold)))
        rows = data.draw(st.permutations(gold)) if gold else []
        pred = [[row[c] for c in cols] + [data.draw(_cell) for _ in range(extra)] for row in rows]
        if pred and data.draw(st.booleans()):
            r, c = data.draw(st.integers(0, n_rows - 1)), data.draw(st.integers(0, n_pred - 1))
            pred[r][c] = data.draw(_cell)
    else:
        pred = [[data.draw(_cell) for _ in range(n_pred)] for _ in range(n_rows + data.draw(st.integers(-1, 1)))
                ] if n_rows else []
    expected = _oracle(pred, gold, n_pred, n_gold, order_matters)
    got = results_match([f"p{i}" for i in range(n_pred)], pred, [f"g{i}" for i in range(n_gold)], gold,
                        order_matters=order_matters)
    assert got == expected


# --------------------------------------------------------------------------------------------------
# results_match on real DuckDB results
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("""
        CREATE TABLE sales AS
        SELECT i AS id,
               ['North', 'South', 'East', 'West'][1 + i % 4] AS region,
               (i % 97 * 1.37 + 0.01)::DECIMAL(12, 2) AS amount,
               DATE '2023-01-01' + INTERVAL (i % 365) DAY AS sale_date
        FROM range(20000) t(i)
    """)
    c.execute("CREATE TABLE sales_f AS SELECT id, region, amount::DOUBLE AS amount_f, sale_date::DATE AS sale_date "
              "FROM sales")
    yield c
    c.close()


def _run(con, sql):
    out = execute_for_eval(con, sql)
    assert out.error is None, out.error
    return out.columns, out.rows


def test_duckdb_decimal_sum_vs_float_sum(con):
    gold = _run(con, "SELECT region, SUM(amount) AS revenue FROM sales GROUP BY region")
    pred = _run(con, "SELECT SUM(amount_f) AS total, region FROM sales_f GROUP BY ALL ORDER BY total DESC")
    assert isinstance(gold[1][0][1], Decimal) and isinstance(pred[1][0][0], float)
    assert results_match(*pred, *gold)
    wrong = _run(con, "SELECT region, AVG(amount_f) FROM sales_f GROUP BY region")
    assert not results_match(*wrong, *gold)


def test_duckdb_date_vs_timestamp_vs_text(con):
    gold = _run(con, "SELECT DATE_TRUNC('month', sale_date)::DATE AS m, COUNT(*) FROM sales GROUP BY 1")
    as_ts = _run(con, "SELECT COUNT(*) AS n, DATE_TRUNC('month', sale_date)::TIMESTAMP AS m FROM sales GROUP BY 2")
    as_text = _run(con, "SELECT strftime(DATE_TRUNC('month', sale_date), '%Y-%m-%d') AS m, COUNT(*) "
                        "FROM sales_f GROUP BY 1")
    assert results_match(*as_ts, *gold)
    assert results_match(*as_text, *gold)
    as_month_text = _run(con, "SELECT strftime(sale_date, '%Y-%m') AS m, COUNT(*) FROM sales GROUP BY 1")
    assert not results_match(*as_month_text, *gold)


def test_duckdb_ordered_top_n(con):
    gold_sql = "SELECT region, SUM(amount) AS s FROM sales GROUP BY region ORDER BY s DESC LIMIT 3"
    assert gold_orders_result(gold_sql)
    gold = _run(con, gold_sql)
    pred = _run(con, "SELECT region, SUM(amount_f) FROM sales_f GROUP BY region ORDER BY 2 DESC LIMIT 3")
    assert results_match(*pred, *gold, order_matters=True)
    asc = _run(con, "SELECT region, SUM(amount_f) FROM sales_f GROUP BY region ORDER BY 2 ASC LIMIT 3")
    assert not results_match(*asc, *gold, order_matters=True)


def test_duckdb_count_star_int_vs_float(con):
    gold = _run(con, "SELECT COUNT(*) FROM sales WHERE region = 'North'")
    pred = _run(con, "SELECT SUM(CASE WHEN region = 'North' THEN 1.0 ELSE 0 END) FROM sales")
    assert results_match(*pred, *gold)
    text = _run(con, "SELECT COUNT(*)::VARCHAR FROM sales WHERE region = 'North'")
    assert not results_match(*text, *gold)


# --------------------------------------------------------------------------------------------------
# execute_for_eval
# --------------------------------------------------------------------------------------------------

def test_execute_for_eval_captures_errors(con):
    out = execute_for_eval(con, "SELECT nope FROM sales")
    assert isinstance(out, ExecOutcome) and out.rows == [] and out.columns == []
    assert out.error and "nope" in out.error
    assert execute_for_eval(con, "SELEC 1").error
    for empty in ["", "  ;", "-- nothing"]:
        assert execute_for_eval(con, empty) == ExecOutcome([], [], "empty SQL")
    assert execute_for_eval(con, None).error == "empty SQL"


def test_execute_for_eval_rows_as_lists(con):
    out = execute_for_eval(con, "SELECT id, region FROM sales ORDER BY id LIMIT 2")
    assert out == ExecOutcome(["id", "region"], [[0, "North"], [1, "South"]], None)


def test_execute_for_eval_row_cap_is_an_error(con):
    out = execute_for_eval(con, "SELECT * FROM range(11)", max_rows=10)
    assert out.error and "10" in out.error and out.rows == []
    assert execute_for_eval(con, "SELECT * FROM range(10)", max_rows=10).error is None


def test_execute_for_eval_read_only(tmp_path):
    path = tmp_path / "ro.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE t AS SELECT 1 AS x").close()
    ro = duckdb.connect(str(path), read_only=True)
    try:
        assert execute_for_eval(ro, "DELETE FROM t").error
        assert execute_for_eval(ro, "SELECT x FROM t").rows == [[1]]
    finally:
        ro.close()


def test_execute_for_eval_timeout():
    c = duckdb.connect()
    try:
        start = time.perf_counter()
        out = execute_for_eval(c, "SELECT COUNT(*) FROM range(1000000000000) a", timeout_s=0.3)
        assert out.error and "timeout" in out.error
        assert time.perf_counter() - start < 5
        assert execute_for_eval(c, "SELECT 1").rows == [[1]]
    finally:
        c.close()


# --------------------------------------------------------------------------------------------------
# gold_orders_result
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql, expected", [
    ("SELECT a FROM t ORDER BY a", True),
    ("SELECT a FROM t ORDER BY a DESC LIMIT 5", True),
    ("select a from t order by 1;", True),
    ("WITH c AS (SELECT a FROM t) SELECT * FROM c ORDER BY a", True),
    ("SELECT a FROM t UNION ALL SELECT a FROM u ORDER BY a", True),
    ("(SELECT a FROM t ORDER BY a)", True),
    ("FROM t ORDER BY ALL", True),
    ("SELECT a FROM t", False),
    ("SELECT * FROM (SELECT a FROM t ORDER BY a LIMIT 3) s", False),
    ("WITH c AS (SELECT a FROM t ORDER BY a) SELECT * FROM c", False),
    ("SELECT a, ROW_NUMBER() OVER (ORDER BY a) FROM t", False),
    ("SELECT string_agg(a, ',' ORDER BY a) FROM t", False),
    ("SELECT a FROM t WHERE a IN (SELECT b FROM u ORDER BY b LIMIT 1)", False),
    ("not sql at all (((", False),
])
def test_gold_orders_result(sql, expected):
    assert gold_orders_result(sql) is expected


# --------------------------------------------------------------------------------------------------
# exact_match
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pred, gold", [
    ("SELECT a FROM t", "select a from t"),
    ("SELECT a FROM t;", "SELECT a\n  FROM   t"),
    ('SELECT "Region" FROM "Sales"', "SELECT region FROM sales"),
    ("SELECT COUNT(*) AS n FROM t", "select count(*) n from t"),
    ('SELECT a AS "Total" FROM t', "SELECT a AS total FROM t"),
    ("SELECT a FROM t WHERE b != 1", "SELECT a FROM t WHERE b <> 1"),
    ("SELECT s.a FROM sales s", "SELECT s.a FROM sales AS s"),
    ("SELECT a FROM t WHERE x = 'North' ORDER BY a DESC LIMIT 3",
     "select a from t where x = 'North' order by a desc limit 3"),
])
def test_exact_match_equivalent_spellings(pred, gold):
    assert exact_match(pred, gold)


@pytest.mark.parametrize("pred, gold", [
    ("SELECT a, b FROM t", "SELECT b, a FROM t"),
    ("SELECT a FROM t WHERE x = 'North'", "SELECT a FROM t WHERE x = 'north'"),
    ("SELECT a FROM t LIMIT 5", "SELECT a FROM t LIMIT 6"),
    ("SELECT a AS x FROM t", "SELECT a AS y FROM t"),
    ("SELEC a FROM t", "SELECT a FROM t"),
    ("", "SELECT a FROM t"),
    ("SELECT a FROM t ORDER BY a", "SELECT a FROM t"),
])
def test_exact_match_differences(pred, gold):
    assert not exact_match(pred, gold)


def test_sql_metrics_never_raise_on_junk():
    for junk in [None, 42, "", ";;;", "SELECT (((", "\x00"]:
        assert exact_match(junk, "SELECT 1") is False
        assert gold_orders_result(junk) is False


def test_exact_match_unparseable_gold_compares_text():
    assert exact_match("SELECT 1", "SELECT   1") is True
    assert exact_match("SELECT a FROM t", "SELEC a FROM t") is False


# --------------------------------------------------------------------------------------------------
# query_shapes
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM stores", ["simple"]),
    ("SELECT COUNT(*) FROM sales", ["aggregate"]),
    ("SELECT region, SUM(amount) FROM sales GROUP BY region", ["group_by"]),
    ("SELECT region, SUM(amount) AS s FROM sales GROUP BY region ORDER BY s DESC LIMIT 3",
     ["group_by", "top_n", "order_by"]),
    ("SELECT st.region, SUM(s.amount) FROM sales s JOIN stores st ON s.store_id = st.store_id GROUP BY 1",
     ["group_by", "join"]),
    ("SELECT SUM(amount) FROM sales WHERE YEAR(sale_date) = 2023", ["aggregate", "date_filter"]),
    ("SELECT SUM(amount) FROM sales WHERE sale_date BETWEEN '2023-01-01' AND '2023-03-31'",
     ["aggregate", "date_filter"]),
    ("SELECT COUNT(*) FROM sales WHERE EXTRACT(quarter FROM sale_date) = 2", ["aggregate", "date_filter"]),
    ("SELECT * FROM sales WHERE DATE_TRUNC('month', sale_date) = DATE '2023-05-01'", ["date_filter"]),
    ("SELECT * FROM sales WHERE strftime(sale_date, '%Y') = '2024'", ["date_filter"]),
    ("SELECT * FROM sales WHERE sale_date >= current_date - INTERVAL 30 DAY", ["date_filter"]),
    ("SELECT * FROM sales WHERE store_id IN (SELECT store_id FROM stores WHERE region = 'North')", ["nested"]),
    ("SELECT * FROM sales WHERE amount > (SELECT AVG(amount) FROM sales)", ["aggregate", "nested"]),
    ("SELECT * FROM stores s WHERE EXISTS (SELECT 1 FROM sales x WHERE x.store_id = s.store_id)", ["nested"]),
    ("WITH t AS (SELECT 1 AS x) SELECT x FROM t", ["nested"]),
    ("SELECT region FROM stores UNION SELECT region FROM active_store", ["set_operation", "active_stores"]),
    ("(SELECT region FROM stores) EXCEPT (SELECT region FROM active_store)", ["set_operation", "active_stores"]),
    ("SELECT store_id, RANK() OVER (PARTITION BY region ORDER BY store_id) FROM stores", ["window"]),
    ("SELECT region, COUNT(*) FROM stores GROUP BY region HAVING COUNT(*) > 2", ["group_by", "having"]),
    ("SELECT DISTINCT region FROM stores", ["distinct"]),
    ("SELECT COUNT(DISTINCT region) FROM stores", ["aggregate", "distinct"]),
    ("SELECT store_name FROM stores ORDER BY opened_date", ["order_by"]),
    ("SELECT COUNT(*) FROM active_store WHERE is_active AND month = '2023-06-01'",
     ["aggregate", "date_filter", "active_stores"]),
    ("SELECT * FROM t WHERE json_extract(j, '$.a') = 1", ["simple"]),
    ("SELECT a, b FROM t, u WHERE t.id = u.id", ["join"]),
])
def test_query_shapes(sql, expected):
    assert query_shapes(sql) == expected


@pytest.mark.parametrize("sql", ["", "SELEC * FROM", "SELECT (((", None, 42])
def test_query_shapes_never_raises(sql):
    assert query_shapes(sql) == ["unparsed"]


def test_query_shapes_tags_are_known():
    for sql in ["SELECT 1", "SELECT a FROM t ORDER BY a LIMIT 1"]:
        assert set(query_shapes(sql)) <= set(SHAPES)
