"""Exact sums by group, so that figures added up chunk by chunk do not depend on the chunks.

Floating-point addition is not associative: summing 50 million values in chunks of 997 or of
a million gives different last bits, and a metrics file would change with
``scale.chunk_customers``. :class:`ExactSums` keeps every sum *exactly* (as an integer
multiple of ``2**-1126``, the smallest power of two any double is a multiple of), so the
result is the correctly rounded sum of the inputs, whatever their order or chunking.

Method, vectorised: a finite double is ``x = M * 2**(e - 53)`` with the integer mantissa
``|M| < 2**53`` (``numpy.frexp``). Split ``M = hi * 2**26 + lo`` with ``0 <= lo < 2**26`` and
``|hi| < 2**27``; per (group, column, exponent) bucket the sums of ``hi`` and of ``lo`` over at
most ``2**26`` rows stay below ``2**53`` and are therefore exact in a float64 ``bincount``;
they are accumulated across chunks in int64 (exact up to ``2**36`` rows). Only when a result
is read are the buckets combined into Python integers (one term per used exponent).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

_SHIFT = 26
_LOW = 1 << _SHIFT
_EXP_MIN = -1073  # smallest frexp exponent (subnormals)
_N_EXP = 1024 - _EXP_MIN + 1
_SCALE_BITS = 53 - _EXP_MIN  # x * 2**_SCALE_BITS is an integer for every double
_BLOCK_ROWS = 1 << 16  # rows per bincount: bounds the temporaries (exactness needs <= 2**26)


class ExactSums:
    """Exact sums (and counts) of ``n_columns`` values per group ``0..n_groups-1``.

    ``add(groups, values)``: ``groups`` int array (n,), ``values`` float array (n, n_columns);
    NaN and infinite values are skipped (not counted). ``count`` (n_groups, n_columns) counts
    the finite values added; :meth:`fraction` is the exact sum, :meth:`totals` the sums rounded
    to float64 once.
    """

    def __init__(self, n_groups: int, n_columns: int) -> None:
        self.n_groups, self.n_columns = int(n_groups), int(n_columns)
        size = self.n_groups * self.n_columns * _N_EXP
        self._hi = np.zeros(size, dtype=np.int64)
        self._lo = np.zeros(size, dtype=np.int64)
        self.count = np.zeros((self.n_groups, self.n_columns), dtype=np.int64)

    def add(self, groups: np.ndarray, values: np.ndarray) -> None:
        groups = np.asarray(groups, dtype=np.int64)
        values = np.asarray(values, dtype="float64").reshape(len(groups), self.n_columns)
        for start in range(0, len(groups), _BLOCK_ROWS):
            stop = start + _BLOCK_ROWS
            self._add(groups[start:stop], values[start:stop])

    def _add(self, groups: np.ndarray, values: np.ndarray) -> None:
        finite = np.isfinite(values)
        cell = groups[:, None] * self.n_columns + np.arange(self.n_columns)[None, :]
        self.count += np.bincount(cell[finite], minlength=self.n_groups * self.n_columns).reshape(
            self.count.shape
        )
        x = values[finite]
        mantissa, exponent = np.frexp(x)
        m = np.ldexp(mantissa, 53)  # exact integer-valued double, |m| < 2**53
        hi = np.floor(m / _LOW)
        lo = m - hi * _LOW
        bucket = cell[finite] * _N_EXP + (exponent - _EXP_MIN)
        size = len(self._hi)
        self._hi += np.bincount(bucket, weights=hi, minlength=size).astype(np.int64)
        self._lo += np.bincount(bucket, weights=lo, minlength=size).astype(np.int64)

    def fraction(self, group: int, column: int) -> Fraction:
        """The exact sum of the values added to ``(group, column)``."""
        start = (group * self.n_columns + column) * _N_EXP
        hi = self._hi[start : start + _N_EXP]
        lo = self._lo[start : start + _N_EXP]
        total = 0
        for i in np.flatnonzero((hi != 0) | (lo != 0)):  # the exponents in use (a few dozen)
            e = int(i) + _EXP_MIN  # x = M 2**(e-53) = M 2**(e-EXP_MIN) / 2**SCALE_BITS
            total += ((int(hi[i]) << _SHIFT) + int(lo[i])) << (e - _EXP_MIN)
        return Fraction(total, 1 << _SCALE_BITS)
