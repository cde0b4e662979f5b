"""Targets whose query rows are a Dask array (a test set too big for the client).

Only scalar targets (``reduce="sum"`` or ``"mean"``): one value per query row would make every
per-row effect an n × m array.  Each quantity is one pass over the query blocks, with the
in-memory :class:`~leaveout.targets.BoundTarget` of that block (``reduce="sum"``) doing the
arithmetic, summed over the blocks in a fixed order:

- f(θ) and f at k parameter vectors;
- ∇f(θ) (p × 1), for first-order effects;
- the plug-in change f(θ̂ + Δ_k) − f(θ̂) for k sets at once (per block X̃_b Δᵀ, m_b × k).

Per-row plug-in effects (``remove=None`` without ``linearize=True``) would need every
training row's Δ against every query row: refused with the fix.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .. import _validation as v
from ..designs.dask import DaskDesign, aligned
from ..targets import BoundTarget
from .inputs import _short, dask_X


def check_query(X, y, reduce):
    """The query rows (and y) as Dask arrays chunked alike; raises for a per-row target."""
    if reduce not in ("sum", "mean"):
        raise ValueError(
            "A target whose query rows are a Dask array must be a scalar: pass reduce='sum' or "
            "reduce='mean' (one value per query row would make each per-row effect an n × m "
            "array). For per-row targets, compute the query rows first (X.compute()).")
    Xd, names = dask_X(X, allow_empty_columns=True)
    yd = None
    if y is not None:
        from dask import array as da

        if hasattr(y, "to_dask_array"):
            y = y.to_dask_array(lengths=True)
        if isinstance(y, da.Array):
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.ndim != 1 or y.shape[0] != Xd.shape[0]:
                raise ValueError(f"The target's y must have shape ({Xd.shape[0]},) like its "
                                 f"query rows; got {y.shape}.")
            if tuple(y.chunks[0]) != tuple(Xd.chunks[0]):
                raise ValueError(
                    f"The target's y chunks {_short(y.chunks[0])} do not line up with its "
                    f"query rows' chunks {_short(Xd.chunks[0])}; rechunk it: "
                    f"y = y.rechunk((X.chunks[0],)).")
            yd = y
        else:
            y = np.asarray(y)
            if y.shape[0] != Xd.shape[0]:
                raise ValueError(f"The target's y has {y.shape[0]} entries but its query rows "
                                 f"are {Xd.shape[0]}; they must match.")
            yd = da.from_array(y, chunks=(Xd.chunks[0],))
    return Xd, yd, names


def _block_target(kind, xb, fi, family, yb):
    """The in-memory BoundTarget (reduce="sum") of one block of query rows."""
    t = SimpleNamespace(kind=kind, reduce="sum", X=aligned(xb))
    return BoundTarget(t, family, fi, None if yb is None else aligned(yb))


def _check_block(xb, *yb, off, kind, family, y_map):
    where = f"In the target's Dask block of query rows {off} to {off + xb.shape[0] - 1}"
    try:
        v.check_X(xb, name="the target's X", allow_empty_columns=True)
        if yb:
            y = yb[0] if y_map is None else y_map(yb[0])
            v.check_y(y, xb.shape[0], family, name="the target's y")
    except (TypeError, ValueError) as exc:
        return type(exc), f"{where}: {exc}"
    return None


def _values_block(xb, *rest, kind, family, fi, thetas):
    *yb, off = rest
    bt = _block_target(kind, xb, fi, family, yb[0] if yb else None)
    return bt.values(thetas)[:, 0]


def _jacobian_block(xb, *rest, kind, family, fi, theta):
    *yb, off = rest
    return _block_target(kind, xb, fi, family, yb[0] if yb else None).jacobian_t(theta)[:, 0]


def _plugin_block(xb, *rest, kind, family, fi, theta, deltas):
    *yb, off = rest
    bt = _block_target(kind, xb, fi, family, yb[0] if yb else None)
    return bt.change(theta, np.asarray(bt.query_t().T @ deltas.T).T)[:, 0]


class DaskBoundTarget(BoundTarget):
    """A scalar target on Dask query rows, bound to a family (see the module docstring)."""

    def __init__(self, target, family, fit_intercept: bool, y, y_map=None):
        self.target = target
        self.family = family
        self.fit_intercept = fit_intercept
        self.X = target.X
        self.design = DaskDesign(target.X, fit_intercept)
        self.y = y
        self._weights = True  # scalar (see ``scalar``); sums are scaled by ``_scale``
        m = self.design.n_samples
        self._scale = 1.0 if target.reduce == "sum" else 1.0 / m
        self._arrays = () if y is None else (y,)
        self._kw = {"kind": target.kind, "family": family, "fi": fit_intercept}
        errors = self.design.per_block(_check, *self._arrays,
                                       args=(target.kind, family, y_map),
                                       what="checking the target's query rows")
        for err in errors:
            if err is not None:
                raise err[0](err[1])
        if y_map is not None and y is not None:
            self.y = y.map_blocks(lambda b: np.asarray(y_map(b), dtype=np.float64),
                                  dtype=np.float64)
            self._arrays = (self.y,)

    def _sum(self, func, what, **kw) -> np.ndarray:
        return self._scale * self.design.reduce_rows(
            _kwargs_block, *self._arrays, args=(func, {**self._kw, **kw}), what=what)

    def value(self, theta: np.ndarray) -> np.ndarray:
        return self.values(np.asarray(theta, dtype=np.float64)[None, :])[0]

    def values(self, thetas: np.ndarray) -> np.ndarray:
        thetas = np.asarray(thetas, dtype=np.float64)
        if not len(thetas):
            return np.zeros((0, 1))
        return self._sum(_values_block, "the target's value", thetas=thetas)[:, None]

    def jacobian_t(self, theta: np.ndarray) -> np.ndarray:
        return self._sum(_jacobian_block, "the target's gradient", theta=theta)[:, None]

    def plugin(self, theta: np.ndarray, deltas: np.ndarray) -> np.ndarray:
        deltas = np.asarray(deltas, dtype=np.float64)
        if not len(deltas):
            return np.zeros((0, 1))
        return self._sum(_plugin_block, "the target's plug-in change", theta=theta,
                         deltas=deltas)[:, None]

    def query_t(self):
        raise ValueError(
            "Per-row plug-in effects on a target whose query rows are a Dask array would pair "
            "every training row's Δθ with every query row. Pass linearize=True (first order: "
            "∇f·Δθ, one pass for ∇f), or removal sets (remove=[...]).")

    def change(self, theta, D):
        return self.query_t()


def _check(xb, *rest):
    *yb, off, kind, family, y_map = rest
    return _check_block(xb, *yb, off=off, kind=kind, family=family, y_map=y_map)


def _kwargs_block(xb, *rest):
    *arrays, func, kw = rest
    return func(xb, *arrays, **kw)
