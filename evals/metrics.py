"""Execution accuracy and exact match: the metrics every accuracy figure of the project is read from.

The central function is :func:`results_match`. It is built to be hard to fool in both directions:

* never a false positive: it answers True only after it has exhibited an injective mapping of gold
  columns onto predicted columns and a pairing of rows under which every value is equal (numbers at
  the tolerance). Every shortcut (sorting, multiset pre-filters, exact cancellation) is either a
  necessary condition or a construction of such a pairing, never a guess;
* few false negatives: values are normalised first (Decimal vs float vs int, DATE vs TIMESTAMP at
  midnight vs ISO text, None vs NaN), column order and names are ignored, extra predicted columns
  are tolerated, and float noise that reorders rows is handled by a tolerance-aware bipartite
  matching when the sort-based pairing fails.

Where a search cap is hit (pathological column ambiguity, huge ambiguous float groups) the answer is
False: the metric under-counts rather than over-counts.
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from itertools import repeat
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

__all__ = [
    "ExecOutcome",
    "exact_match",
    "execute_for_eval",
    "gold_orders_result",
    "normalize_value",
    "results_match",
]

# Column mappings tested per comparison in bag mode; each test sorts the rows, so the cap bounds time.
MAX_MAPPINGS = 256
# Rows left for the tolerance-aware bipartite matching of one group, and candidate pairs it may check.
MAX_MATCHING_ROWS = 5_000
MAX_MATCHING_PAIRS = 5_000_000


# --------------------------------------------------------------------------------------------------
# Value normalisation
# --------------------------------------------------------------------------------------------------

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ISO_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?")


def _normalize_datetime(v: datetime) -> str:
    # Aware values keep their wall-clock time: DuckDB returns TIMESTAMPTZ in the session TimeZone,
    # the same for gold and prediction, and a DATE cast to TIMESTAMPTZ is local midnight.
    if isinstance(v, pd.Timestamp):
        v = datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)
    if not (v.hour or v.minute or v.second or v.microsecond):
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    return v.replace(tzinfo=None).isoformat(timespec="microseconds" if v.microsecond else "seconds")


def _normalize_str(s: str) -> str:
    # Cheap pre-check first: almost no text value looks like a date, and the regexes cost more.
    if len(s) < 10 or s[4:5] != "-" or not s[:4].isdigit():
        return s
    if len(s) == 10:
        m = _ISO_DATE.fullmatch(s)
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
            except ValueError:
                return s
        return s
    m = _ISO_DATETIME.fullmatch(s)
    if not m:
        return s
    try:
        micro = int((m[7] or "0")[:6].ljust(6, "0"))
        dt = datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6] or 0), micro)
    except ValueError:
        return s
    return _normalize_datetime(dt)


def _normalize_float(v: float) -> float | None:
    return None if v != v else v


def _normalize_int(v: int) -> float:
    try:
        return float(v)
    except OverflowError:  # beyond any float: only the sign survives
        return math.inf if v > 0 else -math.inf


def _normalize_decimal(v: Decimal) -> float | None:
    return None if v.is_nan() else float(v)


def _identity(v: Any) -> Any:
    return v


# Exact types of almost every DuckDB result value, with their normaliser: one dict lookup per value.
# Subclasses and rarer types go through the isinstance chain of normalize_value.
_NORMALIZERS: dict[type, Any] = {
    str: _normalize_str, float: _normalize_float, int: _normalize_int, type(None): _identity,
    bool: _identity, Decimal: _normalize_decimal, date: date.isoformat, datetime: _normalize_datetime,
    pd.Timestamp: _normalize_datetime,
}


def normalize_value(v: Any) -> object:
    """Canonical form of one result value, for comparison.

    * None, NaN, ``pd.NA``, ``NaT`` -> None;
    * bool (and ``numpy.bool_``) stays bool, so TRUE is not the number 1;
    * int, float, Decimal and numpy numbers -> float (compared later at a tolerance, not rounded here);
    * date -> ``'YYYY-MM-DD'``; datetime / ``pd.Timestamp`` at midnight -> ``'YYYY-MM-DD'``, other
      datetimes -> ``'YYYY-MM-DDTHH:MM:SS[.ffffff]'`` (timezone dropped, wall-clock time kept);
      time -> ``'HH:MM:SS[.ffffff]'``;
    * strings that are ISO dates/datetimes (``'2023-01-01'``, ``'2023-01-01T00:00:00'``,
      ``'2023-01-01 00:00:00'``) are normalised like dates; every other string is unchanged (case
      kept, and ``'5'`` stays text: a text column is not a number);
    * list / tuple / numpy array -> tuple of normalised values; dict (STRUCT, MAP) -> dict of
      normalised values in a canonical key order; UUID -> its text; bytes-like -> bytes;
    * anything else is returned unchanged.
    """
    fast = _NORMALIZERS.get(type(v))
    if fast is not None:
        return fast(v)
    if v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return normalize_value(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if f != f else f
    if isinstance(v, Decimal):
        return None if v.is_nan() else float(v)
    if isinstance(v, datetime):  # before date: datetime is a date subclass
        return _normalize_datetime(v)
    if isinstance(v, date):
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else normalize_value(pd.Timestamp(v))
    if isinstance(v, time):
        return v.replace(tzinfo=None).isoformat()
    if isinstance(v, str):
        return _normalize_str(str(v))
    if isinstance(v, (list, tuple, np.ndarray)):
        return tuple(normalize_value(x) for x in v)
    if isinstance(v, dict):
        items = [(normalize_value(k), normalize_value(x)) for k, x in v.items()]
        return dict(sorted(items, key=lambda kv: repr(kv[0])))
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    return v


# Kinds of normalised values; values of different kinds are never equal.
_NONE, _BOOL, _NUM, _STR, _OTHER = range(5)
_KIND_BY_TYPE = {type(None): _NONE, bool: _BOOL, float: _NUM, str: _STR}


def _kind(v: object) -> int:
    return _KIND_BY_TYPE.get(type(v), _OTHER)


def _close(a: float, b: float, rel_tol: float, abs_tol: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


def _close_arrays(a: np.ndarray, b: np.ndarray, rel_tol: float, abs_tol: float) -> np.ndarray:
    """Element-wise ``math.isclose`` (the symmetric test, unlike ``numpy.isclose``)."""
    with np.errstate(invalid="ignore", over="ignore"):
        # Equal first (inf == inf); otherwise only finite values can be close, as in math.isclose
        close = np.abs(a - b) <= np.maximum(rel_tol * np.maximum(np.abs(a), np.abs(b)), abs_tol)
        return (a == b) | (close & np.isfinite(a) & np.isfinite(b))


def _values_equal(a: object, b: object, rel_tol: float, abs_tol: float) -> bool:
    """Equality of two normalised values: same kind, numbers at the tolerance, containers recursively."""
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka == _NUM:
        return _close(a, b, rel_tol, abs_tol)  # type: ignore[arg-type]
    if ka == _OTHER:
        if isinstance(a, tuple) and isinstance(b, tuple):
            return len(a) == len(b) and all(_values_equal(x, y, rel_tol, abs_tol) for x, y in zip(a, b))
        if isinstance(a, dict) and isinstance(b, dict):
            return (len(a) == len(b) and all(_values_equal(x, y, rel_tol, abs_tol)
                                              for x, y in zip(a.keys(), b.keys()))
                    and all(_values_equal(x, y, rel_tol, abs_tol) for x, y in zip(a.values(), b.values())))
        if type(a) is not type(b):
            return False
    return a == b


def _snap(nums: np.ndarray) -> np.ndarray:
    """Numbers rounded to 6 significant digits, for sort keys only.

    Values equal at the tolerance then mostly share a key, so a later key column decides the row
    order the same way on both sides. Never used to decide equality.
    """
    out = nums.copy()
    with np.errstate(all="ignore"):
        finite = np.isfinite(nums) & (nums != 0)
        mag = np.floor(np.log10(np.abs(nums[finite])))
        scale = np.power(10.0, 5 - mag)
        snapped = np.round(nums[finite] * scale) / scale
    out[finite] = np.where(np.isfinite(snapped), snapped, nums[finite])
    return out


# --------------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------------

def _normalize_column(raw: list) -> list:
    """normalize_value over a column, with bulk paths for the common single-type columns."""
    types = set(map(type, raw))
    if types == {float}:
        arr = np.array(raw, dtype=float)
        return raw if not np.isnan(arr).any() else [None if v != v else v for v in raw]
    if len(types) == 1:
        return list(map(_NORMALIZERS.get(types.pop(), normalize_value), raw))
    if types <= _NORMALIZERS.keys():
        fast = _NORMALIZERS
        return [fast[type(v)](v) for v in raw]
    return list(map(normalize_value, raw))


def _sort_payload(v: object, k: int) -> tuple:
    """Sort key of one value in a column of mixed kinds: kind first, so any two keys compare."""
    if k == _STR:
        return (_STR, v)
    if k == _NONE:
        return (_NONE, 0)
    if k == _BOOL:
        return (_BOOL, int(v))  # type: ignore[call-overload]
    return (_OTHER, _other_sort_key(v))


def _snapped_structure(v: object) -> object:
    if type(v) is float:
        return float(f"{v:.6g}")
    if isinstance(v, tuple):
        return tuple(_snapped_structure(x) for x in v)
    if isinstance(v, dict):
        return tuple((_snapped_structure(k), _snapped_structure(x)) for k, x in v.items())
    return v


def _other_sort_key(v: object) -> tuple[str, str]:
    """Sort key of a LIST / STRUCT / other value: its text with nested numbers snapped, so float noise
    inside a list rarely changes its place. Only orders values; equality is _values_equal's."""
    return (type(v).__name__, repr(_snapped_structure(v)))


class _Column:
    """One result column, normalised, with what the comparisons need computed once."""

    def __init__(self, raw: list):
        values = _normalize_column(raw)
        n = len(values)
        kinds = np.array(list(map(_KIND_BY_TYPE.get, map(type, values), repeat(_OTHER))), dtype=np.int8)
        kinds = kinds.reshape(n)
        nums = np.full(n, np.nan)
        num_idx = np.flatnonzero(kinds == _NUM)
        if len(num_idx):
            nums[num_idx] = values if len(num_idx) == n else [values[i] for i in num_idx]
        self.values = values
        self.kinds = kinds
        self.nums = nums
        self.has_num = bool(len(num_idx))
        self.kind_set = set(np.unique(kinds).tolist())
        self._codes: np.ndarray | None = None
        self._signature: tuple | None = None

    @property
    def codes(self) -> np.ndarray:
        """Rank of each row's value in a total order of values (numbers snapped, see _snap).

        The order is a function of the values alone, so sorting gold and predicted rows by these
        ranks puts equal rows at the same position; ranks are not comparable across columns.
        """
        if self._codes is None:
            if self.kind_set <= {_NUM, _NONE}:
                # NULL as NaN: np.unique gathers NaNs in one code, after every number
                self._codes = np.unique(_snap(self.nums), return_inverse=True)[1].reshape(-1)
            elif self.kind_set <= {_STR, _NONE}:
                # pandas gives NULL the code -1, before every text
                self._codes = pd.factorize(np.array(self.values, dtype=object), sort=True)[0]
            else:
                snapped = _snap(self.nums).tolist()
                keys = [(_NUM, snapped[i]) if k == _NUM else _sort_payload(v, k)
                        for i, (k, v) in enumerate(zip(self.kinds.tolist(), self.values))]
                rank = {key: r for r, key in enumerate(sorted(set(keys)))}
                self._codes = np.fromiter(map(rank.__getitem__, keys), dtype=np.int64, count=len(keys))
        return self._codes

    def exact_key(self, r: int) -> tuple:
        """Hashable exact form of row r's value; numbers collapse to a marker (compared apart)."""
        k = int(self.kinds[r])
        if k == _NUM:
            return (_NUM,)
        v = self.values[r]
        return (k, repr(v)) if k == _OTHER else (k, v)

    @property
    def signature(self) -> tuple:
        """The column's multiset of values, split by kind and sorted (numbers as an array)."""
        if self._signature is None:
            counts = np.bincount(self.kinds, minlength=5).tolist() if len(self.kinds) else [0] * 5
            trues = sum(1 for v in self.values if v is True) if counts[_BOOL] else 0
            nums = np.sort(self.nums[self.kinds == _NUM]) if counts[_NUM] else np.empty(0)
            if counts[_STR] == len(self.values):
                strs = sorted(self.values)
            else:
                strs = sorted(v for v in self.values if type(v) is str) if counts[_STR] else []
            others = [v for v in self.values if _kind(v) == _OTHER] if counts[_OTHER] else []
            others.sort(key=_other_sort_key)
            self._signature = (tuple(counts), trues, nums, strs, others)
        return self._signature

    def same_multiset(self, other: _Column, rel_tol: float, abs_tol: float) -> bool:
        """Whether the two columns hold the same multiset of values (numbers at the tolerance).

        Pairing sorted numbers is exact for a tolerance test: the values close to x form an interval
        whose ends grow with x, so if any pairing within tolerance exists, the sorted one is one.
        """
        c1, t1, n1, s1, o1 = self.signature
        c2, t2, n2, s2, o2 = other.signature
        if c1 != c2 or t1 != t2 or s1 != s2:
            return False
        if not _close_arrays(n1, n2, rel_tol, abs_tol).all():
            return False
        return all(_values_equal(a, b, rel_tol, abs_tol) for a, b in zip(o1, o2))

    def identical(self, other: _Column) -> bool:
        """Exactly the same values in the same order (interchangeable in a column mapping)."""
        return (np.array_equal(self.kinds, other.kinds)
                and np.array_equal(self.nums, other.nums, equal_nan=True)
                and self.values == other.values)


def _equal_at(g: _Column, p: _Column, gi: np.ndarray | None, pi: np.ndarray | None,
              rel_tol: float, abs_tol: float) -> bool:
    """Whether g[gi[r]] equals p[pi[r]] for every r (None: identity order)."""
    gk = g.kinds if gi is None else g.kinds[gi]
    pk = p.kinds if pi is None else p.kinds[pi]
    if not np.array_equal(gk, pk):
        return False
    if g.has_num:
        mask = gk == _NUM
        gn = (g.nums if gi is None else g.nums[gi])[mask]
        pn = (p.nums if pi is None else p.nums[pi])[mask]
        if not _close_arrays(gn, pn, rel_tol, abs_tol).all():
            return False
    rows = np.flatnonzero((gk != _NUM) & (gk != _NONE))
    if not rows.size:
        return True
    grows = (rows if gi is None else gi[rows]).tolist()
    prows = (rows if pi is None else pi[rows]).tolist()
    gv, pv = g.values, p.values
    if (gk[rows] == _OTHER).any():
        return all(_values_equal(gv[a], pv[b], rel_tol, abs_tol) for a, b in zip(grows, prows))
    # Only text and booleans left, with equal kinds position by position: plain == cannot confuse
    # True with 1.0 here, and comparing two lists runs at C speed.
    return [gv[a] for a in grows] == [pv[b] for b in prows]


# --------------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------------

def _perfect_matching(adj: list[list[int]], n_right: int) -> bool:
    """Whether every left vertex can be matched to a distinct right one (augmenting paths, iterative)."""
    match_r = [-1] * n_right
    seen = [0] * n_right
    for stamp, root in enumerate(range(len(adj)), start=1):
        path, pos, via = [root], [0], []
        found = False
        while path:
            u = path[-1]
            i = pos[-1]
            if i >= len(adj[u]):
                path.pop()
                pos.pop()
                if via:
                    via.pop()
                continue
            pos[-1] = i + 1
            v = adj[u][i]
            if seen[v] == stamp:
                continue
            seen[v] = stamp
            via.append(v)
            if match_r[v] == -1:
                for k, left in enumerate(path):
                    match_r[via[k]] = left
                found = True
                break
            path.append(match_r[v])
            pos.append(0)
        if not found:
            return False
    return True


def _match_vectors(g: np.ndarray, p: np.ndarray, rel_tol: float, abs_tol: float) -> bool:
    """Whether rows of g (m x d) and p (m x d) pair up with every component close."""
    m, d = g.shape
    if m == 0:
        return True
    if d == 1:
        return bool(_close_arrays(np.sort(g[:, 0]), np.sort(p[:, 0]), rel_tol, abs_tol).all())
    gs, ps = _snap(g.ravel()).reshape(g.shape), _snap(p.ravel()).reshape(p.shape)
    go = g[np.lexsort(gs.T[::-1])]
    po = p[np.lexsort(ps.T[::-1])]
    if _close_arrays(go, po, rel_tol, abs_tol).all():
        return True
    # Identical vectors are cancelled first: they keep the remaining problem small.
    left = Counter(map(tuple, g.tolist()))
    right = Counter(map(tuple, p.tolist()))
    common = left & right
    left, right = left - common, right - common
    gr = np.array(list(left.elements()), dtype=float).reshape(-1, d)
    pr = np.array(list(right.elements()), dtype=float).reshape(-1, d)
    if len(gr) != len(pr):  # cannot happen with equal totals; defensive
        return False
    if len(gr) == 0:
        return True
    if len(gr) > MAX_MATCHING_ROWS:
        return False  # too ambiguous to settle cheaply: under-count rather than guess
    order = np.argsort(pr[:, 0], kind="stable")
    first = pr[order, 0]
    adj: list[list[int]] = []
    budget = MAX_MATCHING_PAIRS
    for row in gr:
        a = row[0]
        if math.isfinite(a):
            # A superset of the values close to a on the first component; the exact test follows.
            reach = 2 * max(abs_tol, rel_tol * abs(a)) + abs_tol
            lo = int(np.searchsorted(first, a - reach, side="left"))
            hi = int(np.searchsorted(first, a + reach, side="right"))
        else:
            lo = int(np.searchsorted(first, a, side="left"))
            hi = int(np.searchsorted(first, a, side="right"))
        cand = order[lo:hi]
        budget -= len(cand)
        if budget < 0:
            return False
        ok = _close_arrays(pr[cand], row[None, :], rel_tol, abs_tol).all(axis=1)
        nbrs = cand[ok].tolist()
        if not nbrs:
            return False
        adj.append(nbrs)
    return _perfect_matching(adj, len(pr))


def _bag_match_tolerant(gcols: list[_Column], pcols: list[_Column], rel_tol: float, abs_tol: float) -> bool:
    """Bag equality of rows where numbers may be close without being equal.

    Rows are grouped by their exact (non-numeric) part; within a group the numeric parts are paired
    by :func:`_match_vectors`. Used only when the sort-based pairing failed and numbers are present.
    """
    def groups(cols: list[_Column]) -> dict[tuple, list[int]]:
        out: dict[tuple, list[int]] = defaultdict(list)
        for r in range(len(cols[0].values)):
            out[tuple(c.exact_key(r) for c in cols)].append(r)
        return out

    gg, pg = groups(gcols), groups(pcols)
    if gg.keys() != pg.keys() or any(len(gg[s]) != len(pg[s]) for s in gg):
        return False
    for sig, grows in gg.items():
        numeric = [j for j, part in enumerate(sig) if part == (_NUM,)]
        if not numeric:
            continue
        prows = pg[sig]
        gm = np.column_stack([gcols[j].nums[grows] for j in numeric])
        pm = np.column_stack([pcols[j].nums[prows] for j in numeric])
        if not _match_vectors(gm, pm, rel_tol, abs_tol):
            return False
    return True


def _row_order(cols: list[_Column]) -> np.ndarray:
    """Permutation sorting the rows lexicographically by the columns' value ranks (first column first)."""
    return np.lexsort([c.codes for c in reversed(cols)]).astype(np.intp)


def _bag_equal(gcols: list[_Column], pcols: list[_Column], gperm: np.ndarray,
               rel_tol: float, abs_tol: float) -> bool:
    """Rows equal as bags under one column mapping (gcols[i] <-> pcols[i]), gperm sorting gold rows."""
    pperm = _row_order(pcols)
    if all(_equal_at(g, p, gperm, pperm, rel_tol, abs_tol) for g, p in zip(gcols, pcols)):
        return True
    if not any(g.has_num for g in gcols):
        return False  # without numbers the sorted pairing was exact
    return _bag_match_tolerant(gcols, pcols, rel_tol, abs_tol)


def _columns(columns: list[str], rows: list[list], side: str) -> list[_Column]:
    width = len(columns)
    if set(map(len, rows)) - {width}:
        i = next(i for i, row in enumerate(rows) if len(row) != width)
        raise ValueError(f"{side} row {i} has {len(rows[i])} values for {width} columns")
    if not rows:
        return [_Column([]) for _ in range(width)]
    return [_Column(list(col)) for col in zip(*rows)]


def results_match(pred_columns: list[str], pred_rows: list[list], gold_columns: list[str],
                  gold_rows: list[list], *, order_matters: bool = False,
                  rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """Execution accuracy: whether the predicted result equals the gold result.

    Equal means: there is an injective mapping of gold columns onto predicted columns (column names
    and order ignored, extra predicted columns tolerated) under which the rows are equal as bags
    (multisets), or as lists when ``order_matters`` (the gold SQL orders its top-level result, see
    :func:`gold_orders_result`). Values are compared after :func:`normalize_value`; numbers with
    ``math.isclose(rel_tol, abs_tol)``. Row counts must be equal. Two empty results match when the
    prediction has at least as many columns.

    ``order_matters=True`` compares rows position by position, exactly: rows tied on the ORDER BY
    keys may legitimately come out in any order, and telling such ties apart is the caller's job
    (for instance, by comparing as bags when the ORDER BY keys are not unique).

    Cost: sort-based, O(n log n) per tested mapping; at most ``MAX_MAPPINGS`` mappings are tried
    (then the answer is False).
    """
    if len(pred_rows) != len(gold_rows) or len(pred_columns) < len(gold_columns):
        return False
    gcols = _columns(gold_columns, gold_rows, "gold")
    pcols = _columns(pred_columns, pred_rows, "predicted")
    if not gold_rows or not gcols:
        return True  # equal row counts; no values to tell the columns apart
    if order_matters:
        return _ordered_match(gcols, pcols, rel_tol, abs_tol)
    return _bag_match(gcols, pcols, rel_tol, abs_tol)


def _ordered_match(gcols: list[_Column], pcols: list[_Column], rel_tol: float, abs_tol: float) -> bool:
    # Position by position the test splits per column, so the mapping is a plain bipartite matching.
    adj = [[j for j, p in enumerate(pcols) if _equal_at(g, p, None, None, rel_tol, abs_tol)] for g in gcols]
    return all(adj) and _perfect_matching(adj, len(pcols))


def _bag_match(gcols: list[_Column], pcols: list[_Column], rel_tol: float, abs_tol: float) -> bool:
    cands = [[j for j, p in enumerate(pcols) if g.same_multiset(p, rel_tol, abs_tol)] for g in gcols]
    if not all(cands) or not _perfect_matching(cands, len(pcols)):
        return False

    # Interchangeable columns (exactly identical values) need to be tried only once.
    def classes(cols: list[_Column], indices: set[int]) -> dict[int, int]:
        rep: dict[int, int] = {}
        for j in sorted(indices):
            rep[j] = next((r for r in sorted(set(rep.values())) if cols[j].identical(cols[r])), j)
        return rep

    prep = classes(pcols, {j for c in cands for j in c})
    grep = classes(gcols, set(range(len(gcols))))

    # Exact columns lead the sort key: rows then group by their exact part, and float noise in a
    # numeric column can only reorder rows that agree on everything else.
    key_order = sorted(range(len(gcols)), key=lambda i: gcols[i].has_num)
    ordered_gold = [gcols[i] for i in key_order]
    gperm = _row_order(ordered_gold)

    # Most constrained gold column first; identical gold columns keep index order (see bound below).
    search = sorted(range(len(gcols)), key=lambda i: (len(cands[i]), i))
    assign: dict[int, int] = {}
    used: set[int] = set()
    tested = 0

    def backtrack(depth: int) -> bool:
        nonlocal tested
        if depth == len(search):
            tested += 1
            if tested > MAX_MAPPINGS:
                raise _SearchCapped
            return _bag_equal(ordered_gold, [pcols[assign[i]] for i in key_order], gperm, rel_tol, abs_tol)
        g = search[depth]
        # Identical gold columns are interchangeable: require increasing predicted indices.
        bound = max((assign[h] for h in assign if grep[h] == grep[g]), default=-1)
        tried: set[int] = set()
        for j in cands[g]:
            if j in used or j <= bound or prep[j] in tried:
                continue
            tried.add(prep[j])
            assign[g] = j
            used.add(j)
            if backtrack(depth + 1):
                return True
            used.discard(j)
            del assign[g]
        return False

    try:
        return backtrack(0)
    except _SearchCapped:
        return False


class _SearchCapped(Exception):
    """Raised inside the mapping search when MAX_MAPPINGS is exceeded."""


# --------------------------------------------------------------------------------------------------
# SQL-level metrics
# --------------------------------------------------------------------------------------------------

def _parse(sql: str) -> list[exp.Expression]:
    return [e for e in sqlglot.parse(sql, read="duckdb") if e is not None]


def gold_orders_result(sql: str) -> bool:
    """Whether the top-level query orders its result (ORDER BY on the outermost SELECT or set
    operation, through enclosing parentheses). ORDER BY only inside a subquery, CTE, window or
    aggregate does not count. False when the SQL does not parse."""
    try:
        statements = _parse(sql)
    except Exception:  # noqa: BLE001 -- sqlglot raises more than ParseError on odd input
        return False
    if not statements:
        return False
    node = statements[-1]  # DuckDB returns the result of the last statement
    while isinstance(node, (exp.Subquery, exp.Paren)) and node.args.get("order") is None:
        node = node.this
    return isinstance(node, (exp.Query, exp.Subquery)) and node.args.get("order") is not None


def _canonical_sql(sql: str) -> str:
    statements = _parse(sql)
    if not statements:
        raise ValueError("empty SQL")
    out = []
    for stmt in statements:
        # DuckDB identifiers are case-insensitive even when quoted, so case and quoting carry no meaning.
        stmt = normalize_identifiers(stmt, dialect="duckdb")
        for ident in stmt.find_all(exp.Identifier):
            ident.set("this", ident.name.lower())
            ident.set("quoted", False)
        out.append(stmt.sql(dialect="duckdb", normalize=True, pretty=False))
    return ";\n".join(out)


def exact_match(pred_sql: str, gold_sql: str) -> bool:
    """Whether the two SQL texts are the same query after canonical formatting.

    Both are parsed (DuckDB dialect), identifiers lowercased and unquoted, keywords and whitespace
    canonicalised by sqlglot's generator. False when the prediction does not parse; a gold that does
    not parse is compared as whitespace-collapsed text.
    """
    try:
        pred = _canonical_sql(pred_sql)
    except Exception:  # noqa: BLE001 -- sqlglot raises more than ParseError on odd input
        return False
    try:
        gold = _canonical_sql(gold_sql)
    except Exception:  # noqa: BLE001
        if not isinstance(gold_sql, str):
            return False
        return " ".join(pred_sql.split()).rstrip(";") == " ".join(gold_sql.split()).rstrip(";")
    return pred == gold


# --------------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------------

@dataclass
class ExecOutcome:
    """Result of running one SQL for evaluation: columns and rows, or the error text."""

    columns: list[str]
    rows: list[list]
    error: str | None


def execute_for_eval(con: duckdb.DuckDBPyConnection, sql: str, *, max_rows: int = 100_000,
                     timeout_s: float | None = None) -> ExecOutcome:
    """Run ``sql`` on ``con`` (the caller opens it read-only) and capture the outcome; never raises.

    A result with more than ``max_rows`` rows is an error, not a truncation: a truncated result could
    match a gold it does not equal. ``timeout_s`` interrupts a runaway query (error text returned).
    """
    if not isinstance(sql, str) or not sql.strip().strip(";").strip():
        return ExecOutcome([], [], "empty SQL")
    timer = threading.Timer(timeout_s, con.interrupt) if timeout_s else None
    try:
        if timer:
            timer.start()
        cursor = con.execute(sql)
        if cursor is None:  # only comments
            return ExecOutcome([], [], "empty SQL")
        if cursor.description is None:  # not a query (no result set)
            return ExecOutcome([], [], None)
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchmany(max_rows + 1)
        if len(rows) > max_rows:
            return ExecOutcome(columns, [], f"result has more than {max_rows} rows")
        return ExecOutcome(columns, [list(r) for r in rows], None)
    except Exception as exc:  # noqa: BLE001 -- every failure of a predicted query is a scored outcome
        text = f"{type(exc).__name__}: {exc}"
        if timer and not timer.is_alive() and "interrupt" in str(exc).lower():
            text = f"timeout after {timeout_s:g} s ({text})"
        return ExecOutcome([], [], text)
    finally:
        if timer:
            timer.cancel()
