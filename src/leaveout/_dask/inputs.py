"""Dask inputs checked at the public boundary: shapes and chunks without computing, values in
one pass over the blocks that also gathers what the fit's up-front checks need.

The values of each block go through the same checks as an in-memory array
(:func:`~leaveout._validation.check_X`, ``check_y``, ``check_sample_weight``), so a bad value
gets the same message, prefixed by the block and the rows it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from .. import _validation as v
from .._linear import LinearLoss
from ..estimators import FittedState
from . import require_dask
from ..designs.dask import DaskDesign, _dense, aligned


def _is_frame(obj) -> bool:
    return hasattr(obj, "to_dask_array") and hasattr(obj, "npartitions")


def _unknown(chunks) -> bool:
    return any(np.isnan(c) for c in chunks)


def dask_X(X, *, allow_empty_columns: bool):
    """A Dask array (or DataFrame) X as a float64 Dask array chunked by rows; feature names."""
    da = require_dask("Dask inputs")
    names = None
    if _is_frame(X):
        if hasattr(X, "columns"):
            names = np.asarray([str(c) for c in X.columns], dtype=object)
            if not all(isinstance(c, str) for c in X.columns):
                names = None
        bad = v._non_numeric_columns(X)
        if bad:
            raise TypeError(
                f"X has non-numeric column(s) {bad[:10]}. Encode them as numbers first (e.g. "
                f"one-hot with dask.dataframe.get_dummies after categorize()) or drop them.")
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a Dask array or DataFrame here; got {type(X).__name__}.")
    if X.dtype == object:
        raise TypeError(
            "X is a Dask array of dtype object; leaveout needs numbers. Encode strings or "
            "categories as numbers, then cast: X = X.astype(float).")
    if X.dtype.kind == "c":
        raise TypeError("X is complex-valued; leaveout needs real numbers.")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold numbers; got a Dask array of dtype {X.dtype}. Encode "
                        f"strings or categories as numbers first (e.g. one-hot).")
    if X.ndim != 2:
        hint = " For a single feature use X.reshape(-1, 1)." if X.ndim == 1 else ""
        raise ValueError(f"X must be 2-D of shape (n_samples, n_features); got {X.ndim}-D "
                         f"with shape {X.shape}.{hint}")
    if _unknown(X.chunks[0]):
        raise ValueError(
            "X has unknown chunk sizes along its rows (NaN in X.chunks, typical after boolean "
            "indexing or from a DataFrame's .values); leaveout pairs rows of X, y and "
            "sample_weight by block. Call X.compute_chunk_sizes() first (or make it from a "
            "DataFrame with to_dask_array(lengths=True)).")
    if len(X.chunks[1]) > 1:
        raise ValueError(
            f"X is chunked along its features too ({len(X.chunks[1])} column chunks: "
            f"{X.chunks[1][:5]}); leaveout needs whole rows in each block. Rechunk it: "
            f"X = X.rechunk({{1: -1}}).")
    if X.shape[0] == 0:
        raise ValueError(f"X has no rows (shape {X.shape}); at least one row is needed.")
    if X.shape[1] == 0 and not allow_empty_columns:
        raise ValueError(f"X has no columns (shape {X.shape}).")
    if X.dtype != np.float64:
        X = X.astype(np.float64)
    return X, names


def dask_vector(obj, name: str, design: DaskDesign):
    """y or sample_weight as a 1-D Dask array with X's row chunks (NumPy input is wrapped)."""
    da = require_dask("Dask inputs")
    if _is_frame(obj):
        obj = obj.to_dask_array(lengths=True)
    if not isinstance(obj, da.Array):
        return None  # in memory: checked by the NumPy checks, then wrapped by the caller
    if obj.dtype == object:
        raise TypeError(f"{name} is a Dask array of dtype object; leaveout needs numbers: "
                        f"{name} = {name}.astype(float).")
    if obj.ndim == 2 and obj.shape[1] == 1:
        obj = obj[:, 0]
    if obj.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape (n_samples,); got shape {obj.shape}.")
    if _unknown(obj.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes (NaN in {name}.chunks, typical after boolean "
            f"indexing); call {name}.compute_chunk_sizes() first.")
    if obj.shape[0] != design.n_samples:
        raise ValueError(f"{name} has {obj.shape[0]} entries but X has {design.n_samples} rows; "
                         f"they must match.")
    if tuple(int(c) for c in obj.chunks[0]) != design.row_chunks:
        raise ValueError(
            f"{name}'s chunks {_short(obj.chunks[0])} do not line up with X's row chunks "
            f"{_short(design.row_chunks)}; rows are paired block by block. Rechunk it: "
            f"{name} = {name}.rechunk((X.chunks[0],)).")
    return obj


def _short(chunks) -> str:
    chunks = tuple(int(c) for c in chunks)
    return str(chunks) if len(chunks) <= 6 else f"({', '.join(map(str, chunks[:5]))}, …)"


def wrap_vector(arr: np.ndarray, design: DaskDesign):
    da = require_dask("Dask inputs")
    return da.from_array(np.ascontiguousarray(arr, dtype=np.float64),
                         chunks=(design.row_chunks,))


@dataclass
class Summary:
    """What one pass over the blocks learned about the data (all of it small)."""

    n_active: int = 0
    #: Per support mask of :class:`FittedState` (same order): rows in it, first such row.
    support_counts: list = field(default_factory=list)
    support_first: list = field(default_factory=list)
    #: Σ s_i and Σ s_i y_i (for the intercept of the cold start).
    sum_w: float = 0.0
    sum_wy: float = 0.0
    #: Column-wise min / max of X over rows of positive weight; any non-zero per column.
    col_min: np.ndarray | None = None
    col_max: np.ndarray | None = None
    col_any: np.ndarray | None = None


def support_masks(loss: LinearLoss) -> list[np.ndarray]:
    """The row masks of :attr:`FittedState._support_masks` (same definition), for ``loss``."""
    return FittedState._support_masks.func(SimpleNamespace(loss=loss, design=loss.design))


def _check_block(xb, yb, sb, off, family, fi, l2, y_map, weight_map):
    """Checks of one block; returns (error or None, partial summary)."""
    n = xb.shape[0]
    where = f"rows {off} to {off + n - 1}; positions in the message count from row {off}"
    try:
        Xc = aligned(v.check_X(xb, allow_empty_columns=fi))
    except (ValueError, TypeError) as exc:
        return (type(exc), f"In X's Dask block of {where}: {exc}"), None
    try:
        yc = aligned(v.check_y(y_map(yb), n, family))
    except (ValueError, TypeError) as exc:
        return (type(exc), f"In y's Dask block of {where}: {exc}"), None
    try:
        # One extra row of weight 1: a block may legitimately have only zero weights.
        sc = v.check_sample_weight(np.append(np.asarray(sb, dtype=np.float64), 1.0), n + 1)[:-1]
    except (ValueError, TypeError) as exc:
        return (type(exc), f"In sample_weight's Dask block of {where}: {exc}"), None
    sc = aligned(weight_map(yc, sc))
    masks = support_masks(LinearLoss(_dense(Xc, fi), family, yc, sc, l2))
    active = sc > 0
    Xa = Xc[active]
    part = (
        np.array([active.sum(), sc.sum(), np.dot(sc, yc)], dtype=np.float64),
        np.array([m.sum() for m in masks], dtype=np.float64),
        np.array([off + np.flatnonzero(m)[0] if m.any() else np.inf for m in masks]),
        Xa.min(axis=0, initial=np.inf), Xa.max(axis=0, initial=-np.inf),
        (Xa != 0).any(axis=0),
    )
    return None, part


def summarise(design: DaskDesign, y, sw, family, l2, y_map, weight_map) -> Summary:
    """One pass over the blocks: every value checked; the :class:`Summary` of the data."""
    results = design.per_block(
        _check_block, y, sw,
        args=(family, design.fit_intercept, l2, y_map, weight_map), what="checking the inputs")
    for err, _ in results:
        if err is not None:
            raise err[0](err[1])
    parts = [p for _, p in results]
    totals = np.sum([p[0] for p in parts], axis=0)  # in block order
    return Summary(
        n_active=int(totals[0]), sum_w=float(totals[1]), sum_wy=float(totals[2]),
        support_counts=[int(c) for c in np.sum([p[1] for p in parts], axis=0)],
        support_first=[int(f) if np.isfinite(f) else -1
                       for f in np.min([p[2] for p in parts], axis=0)],
        col_min=np.min([p[3] for p in parts], axis=0),
        col_max=np.max([p[4] for p in parts], axis=0),
        col_any=np.any([p[5] for p in parts], axis=0),
    )
