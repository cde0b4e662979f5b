"""The fitted state on a Dask design: the estimators of :mod:`leaveout.estimators`, per block.

Nothing here restates an estimator's formula.  Per-row outputs run
:class:`~leaveout.estimators.FittedState` on each block of rows, with the full data's θ̂, H and
its Cholesky factor broadcast to the workers (one p × p object in the graph), and come back as
lazy Dask arrays chunked like X.  Set effects gather the sets' rows (a computation of just those
rows) into an in-memory :class:`FittedState` holding the full data's H.  Exact retraining is
distributed Newton (:mod:`leaveout._dask.loss`) with the removed rows' weights set to zero — the
same objective as dropping them — warm-started at θ̂, one set after the other; each Newton step
is one pass over the blocks, run by the workers.

What needs every row at once is computed on the client from small per-block results: which
rows have leverage within ``WARN_GAP`` of 1 (one pass, the first time a per-row ``rif`` or
``newton`` output is asked for, so that its warning comes when the output is made), and which
rows are the only one of their class (from the input summary, no pass).
"""

from __future__ import annotations

import contextvars
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from functools import cached_property

import dask
import numpy as np

from .._checkpoint import RefitStore
from .._linear import LinearLoss
from ..estimators import SINGULAR_GAP, WARN_GAP, FittedState
from ..exceptions import ConvergenceError, SingularHessianError
from ..families import get_family
from .compute import concat, current_client, persist
from ..designs.dask import _dense, aligned, gather
from .inputs import support_masks
from .loss import DaskLinearLoss, exact_fit
from . import refits
from .refresh import refine_sets

#: Refits of ``retrain`` whose Newton loops run side by side on a distributed cluster.
MAX_CONCURRENT_REFITS = 8

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Spec:
    """What every block's task needs of the fitted model (p-sized and p × p state only)."""

    family: str
    l2: float
    fit_intercept: bool
    theta: np.ndarray
    H: np.ndarray
    factor: object

    def __dask_tokenize__(self):
        return (self.family, self.l2, self.fit_intercept, self.theta.tobytes(), self.H.tobytes())


class _SubsetState(FittedState):
    """A :class:`FittedState` on some rows of the data, with the full data's H and factor.

    Removal sets are given in local positions; messages name the rows by ``row_ids``.  Whether
    a set leaves no finite optimum is decided against the full data's support counts.
    """

    #: The :class:`~leaveout._dask.refresh.LockstepGradients` of refined Newton steps in
    #: progress (their gradients need every row of the data, not just the gathered ones).
    rounds = None

    def __init__(self, loss, theta, hessian, factor, row_ids, support_counts):
        super().__init__(loss, theta, hessian, factor)
        self.row_ids = row_ids
        self._totals = support_counts

    def retained_gradient(self, T: np.ndarray):
        """D ↦ ∇L₋T(θ̂ + D) over all rows of the data, for :mod:`leaveout._refine` (one pass per
        round of refreshes, shared by the sets refined together)."""
        return self.rounds.request

    def _degenerate(self, T: np.ndarray) -> bool:
        return any(total and M[T].sum() == total
                   for M, total in zip(self._support_masks, self._totals))


class DaskFittedState(FittedState):
    """:class:`FittedState` for a :class:`~leaveout._dask.loss.DaskLinearLoss`.

    ``leverage``, ``per_row`` and ``per_row_linear`` return lazy Dask arrays chunked like X's
    rows; ``sets`` returns NumPy.
    """

    def __init__(self, loss: DaskLinearLoss, theta: np.ndarray, hessian=None, factor=None,
                 eta=None):
        self.loss = loss
        self.design = loss.design
        self.theta = theta
        if hessian is None or factor is None:
            from .._solve import factorize

            hessian = loss.hessian(theta)
            factor = factorize(hessian)
        self.H = hessian
        self.factor = factor
        self.spec = Spec(loss.family.name, loss.l2, self.design.fit_intercept, theta, hessian,
                         factor)
        self._spec = dask.delayed(self.spec, pure=True)  # one key, shared by every block's task

    @property
    def eta(self):
        return self.loss.eta(self.theta)

    @property
    def r(self):
        return self.loss.row_gradient_scale(self.eta)

    @property
    def w(self):
        return self.loss.row_curvature(self.eta)

    # -- per row ---------------------------------------------------------------------------
    def _map(self, what: str, n_cols, *extra):
        s = self.loss.summary
        degenerate = np.array([f for f, c in zip(s.support_first, s.support_counts) if c == 1],
                              dtype=np.int64)
        return self.design.map_rows(_rows_block, self.loss.y, self.loss.weights,
                                    n_cols=n_cols, args=(self._spec, degenerate, what, *extra))

    @cached_property
    def leverage(self):
        """h_i for every row: a lazy Dask array of shape (n_samples,)."""
        return self._map("leverage", None)

    @cached_property
    def _flagged(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows with 1 − h ≤ SINGULAR_GAP, and with SINGULAR_GAP < 1 − h ≤ WARN_GAP (one pass)."""
        parts = self.design.per_block(_flag_block, self.loss.y, self.loss.weights,
                                      args=(self._spec,), what="checking the leverages")
        return concat([p[0] for p in parts]), concat([p[1] for p in parts])

    def _warn_rows(self, method: str) -> None:
        if method != "if":
            self.warn_high_leverage(*self._flagged)
        s = self.loss.summary
        self.warn_degenerate_rows(np.array(
            [f for f, c in zip(s.support_first, s.support_counts) if c == 1], dtype=np.intp))

    def per_row(self, method: str, checkpoint=None, refine=None):
        """Effect of removing each row alone: a lazy Dask array (n_samples, n_params)."""
        _no_refine(refine)
        if method == "retrain":
            sets = [np.array([i]) for i in range(self.design.n_samples)]
            return _as_rows(self.retrain(sets, checkpoint), self.design)
        self._warn_rows(method)
        return self._map("per_row", self.design.n_params, method)

    def per_row_linear(self, method: str, J: np.ndarray, checkpoint=None, refine=None):
        """First-order target effects of removing each row: lazy Dask (n_samples, m)."""
        _no_refine(refine)
        if method == "retrain":
            return self.per_row("retrain", checkpoint) @ J
        self._warn_rows(method)
        return self._map("per_row_linear", J.shape[1], method, J)

    def per_row_plugin(self, method: str, Q: np.ndarray, change, checkpoint=None):
        """Plug-in target effects of removing each row alone: lazy Dask (n_samples, m_out).

        ``change`` (a block of query-predictor shifts → the target's change) runs on the
        workers, block by block, as in :meth:`FittedState.per_row_plugin`.
        """
        m_out = np.asarray(change(np.zeros((1, Q.shape[1])))).shape[1]
        if method == "retrain":
            deltas = self.per_row("retrain", checkpoint)
            return deltas.map_blocks(_plugin_block, Q, change, dtype=np.float64,
                                     chunks=(deltas.chunks[0], (m_out,)))
        self._warn_rows(method)
        return self._map("per_row_plugin", m_out, method, Q, change)

    # -- sets --------------------------------------------------------------------------------
    def _subset(self, sets: list[np.ndarray]):
        """(the rows of ``sets`` gathered into a :class:`_SubsetState`, the sets in its
        positions); None for the state when the sets are all empty."""
        rows = np.unique(concat([np.asarray(T, dtype=np.intp) for T in sets]))
        if rows.size == 0:
            return None, sets
        X_U, y_U, s_U = gather(rows, self.design.X, self.loss.y, self.loss.weights)
        loss = LinearLoss(_dense(X_U, self.design.fit_intercept), self.loss.family,
                          aligned(y_U), aligned(s_U), self.loss.l2)
        local = _SubsetState(loss, self.theta, self.H, self.factor, rows,
                             self.loss.summary.support_counts)
        return local, [np.searchsorted(rows, T) for T in sets]

    def sets(self, method: str, sets: list[np.ndarray], checkpoint=None,
             refine=None) -> np.ndarray:
        """Parameter effect of removing each set, NumPy (len(sets), n_params).

        ``refine`` (``newton`` only): the chord refreshes of all sets run in lockstep, each
        round one pass over the blocks (:mod:`leaveout._dask.refresh`).
        """
        if method == "retrain":
            return self.retrain(sets, checkpoint)
        local, sets = self._subset(sets)
        if local is None:
            return np.zeros((len(sets), self.design.n_params))
        if refine is not None:
            return refine_sets(self, local, sets, refine)
        return local.sets(method, sets)

    def set_leverage(self, T: np.ndarray) -> float:
        """λ_max(W_T^½ X̃_T H⁻¹ X̃_Tᵀ W_T^½), from a gather of the rows T."""
        local, (T_local,) = self._subset([T])
        return 0.0 if local is None else local.set_leverage(T_local)

    def retrain(self, sets: list[np.ndarray], checkpoint=None) -> np.ndarray:
        """Exact θ̂₋T − θ̂ for each set: distributed Newton per set, warm-started at θ̂.

        The fits of up to :data:`~leaveout._dask.refits.REFITS_PER_PASS` sets share each pass
        over the blocks (:mod:`leaveout._dask.refits`); with ``REFITS_PER_PASS = 1`` each fit
        makes its own passes, up to :data:`MAX_CONCURRENT_REFITS` side by side on a
        distributed cluster.  The same bits either way.

        With ``checkpoint`` (a directory) each finished refit is saved as it finishes and
        reused by a later call on the same fitted problem (:class:`~leaveout._checkpoint.
        RefitStore`, named by θ̂, H and the Dask names of the inputs).
        """
        out = np.zeros((len(sets), self.design.n_params))
        sets = [np.asarray(T, dtype=np.intp) for T in sets]
        if checkpoint is not None or refits.REFITS_PER_PASS > 1:
            store = None if checkpoint is None else self._store(checkpoint)
            saved = {} if store is None else {
                k: th for k, T in enumerate(sets)
                if T.size and (th := store.get(T, self.design.n_params)) is not None}
            todo = [np.zeros(0, dtype=np.intp) if k in saved else T for k, T in enumerate(sets)]
            if store is not None:
                logger.info("retrain: %d of %d sets reused from the checkpoint %s",
                            len(saved), len(sets), store.dir)

            def fit_one(sub, T, k):
                theta = self._fit_retained(sub, T, k)
                if store is not None and np.isfinite(theta).all():
                    store.put(T, theta)  # as each fit finishes: an interrupted call keeps it
                return theta

            thetas = refits.refit_sets(self, todo, self._retained_summaries(todo), fit_one)
            for k, theta in {**thetas, **saved}.items():
                out[k] = theta - self.theta
            logger.info("retrain: %d sets", len(sets))
            return out
        lanes = min(len(sets), MAX_CONCURRENT_REFITS) if current_client() is not None else 1
        if lanes <= 1:
            for k, T in enumerate(sets):
                out[k] = self.refit(T, k) - self.theta
                logger.info("retrain: %d/%d sets", k + 1, len(sets))
            return out
        # Each refit's passes are Dask tasks; running the refits' Newton loops side by side (one
        # client thread each, in the caller's context so they see its client) keeps the
        # cluster busy with several refits at once.  Each refit's graph and reduction tree are
        # those of the serial loop, so the answers are the same bits.
        with ThreadPoolExecutor(lanes) as pool:
            futures = {pool.submit(contextvars.copy_context().run, self.refit, T, k): k
                       for k, T in enumerate(sets)}
            for done, fut in enumerate(as_completed(futures), 1):
                out[futures[fut]] = fut.result() - self.theta
                logger.info("retrain: %d/%d sets", done, len(sets))
        return out

    def refit(self, T: np.ndarray, k: int = 0) -> np.ndarray:
        """θ̂₋T by distributed Newton with the weights of T set to 0 (the rows then count for
        nothing: the same objective as without them), making its own passes."""
        if T.size == 0:
            return self.theta.copy()
        loss = self.loss
        weights = persist(loss.weights.map_blocks(_zero_rows, np.sort(T), self.design.offsets,
                                                  dtype=np.float64))
        sub = DaskLinearLoss(self.design, loss.family, loss.y, weights, loss.l2,
                             self._retained_summaries([T])[0])
        return self._fit_retained(sub, T, k)

    def _store(self, checkpoint) -> RefitStore:
        """The checkpoint store of this fitted problem, named without a pass over the data: by
        θ̂ and H (sums over every row) and the Dask names of X, y and the weights (tokens of
        their graphs), so a store is reused only for the same data in the same order."""
        loss, d = self.loss, self.design
        tag = (f"dask|{loss.family.name}|{loss.l2!r}|{d.fit_intercept}|{d.row_chunks}|"
               f"{d.X.name}|{loss.y.name}|{loss.weights.name}")
        return RefitStore(checkpoint, (self.theta, self.H), tag)

    def _fit_retained(self, sub: DaskLinearLoss, T: np.ndarray, k: int) -> np.ndarray:
        try:
            return exact_fit(sub, self.theta).theta
        except (SingularHessianError, ConvergenceError) as exc:
            return self._failed_refit(T, k, str(exc))

    def _retained_summaries(self, sets: list[np.ndarray]) -> dict:
        """{k: the input summary of the data without the rows of set k} for the non-empty
        sets, from one gather of their rows.

        The column ranges used by the ``l2=0`` checks are those of all rows: a column constant
        only on the retained rows is caught by the condition estimate at the optimum instead.
        """
        rows = np.unique(concat([T for T in sets]))
        if rows.size == 0:
            return {}
        X_U, y_U, s_U = gather(rows, self.design.X, self.loss.y, self.loss.weights)
        part = LinearLoss(_dense(X_U, self.design.fit_intercept), self.loss.family,
                          aligned(y_U), aligned(s_U), self.loss.l2)
        masks = support_masks(part)
        s = self.loss.summary
        out = {}
        for k, T in enumerate(sets):
            if not T.size:
                continue
            at = np.searchsorted(rows, np.unique(T))
            s_T, y_T = s_U[at], y_U[at]
            out[k] = replace(
                s, n_active=s.n_active - int((s_T > 0).sum()),
                support_counts=[c - int(m[at].sum()) for c, m in zip(s.support_counts, masks)],
                sum_w=s.sum_w - float(s_T.sum()), sum_wy=s.sum_wy - float(np.dot(s_T, y_T)))
        return out


def _as_rows(arr: np.ndarray, design):
    import dask.array as da

    return da.from_array(arr, chunks=(design.row_chunks, (arr.shape[1],)))


def _zero_rows(sb, T, offsets, block_info=None):
    """``sb`` with the rows of T (global, sorted) set to 0."""
    k = block_info[0]["chunk-location"][0]
    lo, hi = offsets[k], offsets[k + 1]
    local = T[(T >= lo) & (T < hi)] - lo
    out = np.array(sb, dtype=np.float64, copy=True)
    out[local] = 0.0
    return out


def _chunk_state(spec: Spec, xb, yb, sb) -> FittedState:
    loss = LinearLoss(_dense(xb, spec.fit_intercept), get_family(spec.family), aligned(yb),
                      aligned(sb), spec.l2)
    st = FittedState(loss, spec.theta, spec.H, spec.factor)
    # Rows whose removal leaves no finite optimum are a property of the whole data: decided on
    # the client (``degenerate``), not from this block's rows.
    st.__dict__["_support_masks"] = []
    return st


def _rows_block(xb, yb, sb, off, spec, degenerate, what, *args):
    """``FittedState.<what>`` on one block (``leverage``, or a per-row method with ``args``)."""
    st = _chunk_state(spec, xb, yb, sb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warned about on the client, once, for all rows
        if what == "leverage":
            return st.leverage
        out = getattr(st, what)(*args)
    local = degenerate[(degenerate >= off) & (degenerate < off + xb.shape[0])] - off
    out[local] = np.nan
    return out


def _plugin_block(db, Q, change):
    return change(db @ Q)


def _no_refine(refine) -> None:
    if refine is not None:
        raise ValueError("Refined Newton steps (steps > 1) of every row alone (remove=None) are "
                         "not supported for Dask designs: each of the n removals needs its own "
                         "gradient over all rows per step (O(n²p) a step). Pass the sets to "
                         "refine as remove=[...], or use steps=1 (the Newton step).")


def _flag_block(xb, yb, sb, off, spec):
    gap = 1.0 - _chunk_state(spec, xb, yb, sb).leverage
    singular = gap <= SINGULAR_GAP
    near = (gap <= WARN_GAP) & ~singular
    return np.flatnonzero(singular) + off, np.flatnonzero(near) + off
