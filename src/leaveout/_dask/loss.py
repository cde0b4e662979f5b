"""The objective on a Dask design, for the Newton fit of :mod:`leaveout.fitting` unchanged.

Distributed Newton: at each iterate θ one pass over the blocks computes, per block, the data
part of the objective, of its rounding scale, of the gradient (p), of the Hessian (p × p) and of
the gradient's rounding bound — with :class:`~leaveout._linear.LinearLoss` on that block, so the
formulas are the in-memory ones — and the partials are summed over a fixed tree.  The client
holds only p-sized state; the penalty is added there.  The same Newton loop
(:func:`leaveout.fitting.newton`) runs on it, so the iterations are those of the in-memory fit.

Every quantity at one θ comes from one pass (cached for the last few θ): the line search's trial
point is evaluated in full, so an accepted step costs no second pass.
"""

from __future__ import annotations

import numpy as np

from .._linear import LinearLoss
from ..exceptions import ConvergenceError, SingularHessianError
from ..families import Family
from ..fitting import _newton_from, _numerically_singular
from ..designs.dask import DaskDesign, _dense, aligned
from .inputs import Summary

_EPS = np.finfo(float).eps
_CACHE = 3


def _stats_block(xb, yb, sb, off, theta, family, fi):
    """Data parts of (objective, scale), gradient, Hessian, gradient noise / ε on one block."""
    loss = LinearLoss(_dense(xb, fi), family, aligned(yb), aligned(sb), 0.0)
    eta = loss.eta(theta)
    values = np.array([loss.objective(theta, eta), loss.objective_scale(theta, eta)])
    # With l2 = 0 the block's noise bound is ε·|X̃|ᵀ|dr| exactly; dividing by ε (a power of 2)
    # is exact, and the penalty's share is added once, on the client.
    return (values, loss.gradient(theta, eta), loss.hessian(theta, eta),
            loss.gradient_noise(theta, eta) / _EPS)


class DaskLinearLoss(LinearLoss):
    """:class:`LinearLoss` on a :class:`DaskDesign`; y and weights are Dask arrays (n,).

    ``eta`` returns a lazy Dask array; the other methods ignore the η they are given and use
    one fused pass at θ.
    """

    def __init__(self, design: DaskDesign, family: Family, y, weights, l2: float,
                 summary: Summary):
        super().__init__(design, family, y, weights, l2)
        self.summary = summary
        self._cache: dict[bytes, tuple] = {}

    def _data_parts(self, theta: np.ndarray) -> tuple:
        """The data parts of :func:`_stats_block`, summed over the blocks (one pass)."""
        return self.design.reduce_rows(
            _stats_block, self.y, self.weights,
            args=(np.array(theta, dtype=np.float64), self.family, self.design.fit_intercept),
            what="a Newton step (gradient and Hessian)")

    def _at(self, theta: np.ndarray) -> tuple:
        key = np.asarray(theta, dtype=np.float64).tobytes()
        if key not in self._cache:
            values, g, H, noise = self._data_parts(theta)
            pen = self.penalty * theta
            quad = 0.5 * float(np.dot(pen, theta))
            H[np.diag_indices_from(H)] += self.penalty
            self._cache[key] = (float(values[0]) + quad, float(values[1]) + quad, g + pen, H,
                                _EPS * (noise + np.abs(pen)))
            while len(self._cache) > _CACHE:
                self._cache.pop(next(iter(self._cache)))
        return self._cache[key]

    def initial_intercept(self) -> float:
        s = self.summary
        ybar = s.sum_wy / s.sum_w if s.sum_w > 0 else 0.0
        return self.family.initial_intercept(np.array([ybar]), np.array([1.0]))

    def objective(self, theta, eta=None) -> float:
        return self._at(theta)[0]

    def objective_scale(self, theta, eta=None) -> float:
        return self._at(theta)[1]

    def gradient(self, theta, eta=None) -> np.ndarray:
        return self._at(theta)[2].copy()

    def hessian(self, theta, eta=None) -> np.ndarray:
        return self._at(theta)[3].copy()

    def gradient_noise(self, theta, eta=None) -> np.ndarray:
        return self._at(theta)[4].copy()


def check_degenerate(loss: DaskLinearLoss) -> None:
    """The up-front checks of the in-memory fit, from the :class:`Summary` (no pass)."""
    s, family, fi, l2 = loss.summary, loss.family, loss.design.fit_intercept, loss.l2
    if s.n_active == 0 and (fi or l2 == 0.0):
        raise SingularHessianError(
            "No row has positive sample_weight, so nothing determines the parameters.")
    if fi and family.name == "logistic":
        n_pos, n_neg = s.support_counts[1], s.support_counts[2]
        if n_pos == 0 or n_neg == 0:
            label = 0 if n_pos == 0 else 1
            raise ConvergenceError(
                f"Every label (with positive weight) is {label}: the logistic intercept would "
                f"go to {'-' if label == 0 else '+'}infinity. Both classes must be present.")
    if fi and family.name == "poisson" and s.support_counts[1] == 0:
        raise ConvergenceError("Every count is 0: the Poisson intercept would go to -infinity.")
    if l2 != 0.0:
        return
    p = loss.design.n_params
    if p > s.n_active:
        raise SingularHessianError(
            f"With l2=0 the model has {p} parameters but only {s.n_active} rows with positive "
            f"weight, so the optimum is not unique. Use l2 > 0.")
    flat = (s.col_min == s.col_max) if fi else ~s.col_any
    if flat.any():
        what = "constant (a copy of the intercept)" if fi else "zero on every row"
        raise SingularHessianError(
            f"With l2=0 column(s) {np.flatnonzero(flat)[:10].tolist()} of X are {what}, so the "
            f"Hessian is singular and the optimum is not unique. Drop them or use l2 > 0.")


def exact_fit(loss: DaskLinearLoss, theta0: np.ndarray | None = None, *, max_iter: int = 100,
              hessian=None):
    """:func:`leaveout.fitting.exact_fit` for a Dask design.

    The same Newton iterations and stopping rule.  Always Newton (``hessian`` is accepted and
    ignored): on a Dask design a gradient costs a pass over the blocks as a Hessian does, and
    the pass, not the p × p work, is what counts, so the L-BFGS phase of in-memory fits would
    only add passes.  The checks that need all rows at once (the
    linear program that confirms separation with ``l2=0``, duplicated columns, the scale hint)
    are not run: duplicated columns are still caught by the condition estimate at the optimum.
    """
    check_degenerate(loss)
    try:
        return _newton_from(loss, theta0, max_iter)
    except ConvergenceError as exc:
        stalled = getattr(exc, "stalled", None)
        if (loss.family.name == "squared" or loss.l2 > 0.0) and stalled is not None:
            if stalled:
                raise _numerically_singular("Newton steps stall at rounding level",
                                            loss.l2) from exc
            raise ConvergenceError(
                f"The fit did not converge in {max_iter} Newton steps although its optimum is "
                f"finite; raise max_iter.") from exc
        if loss.l2 == 0.0:
            raise ConvergenceError(
                f"{exc} (On a Dask design leaveout does not run the linear program that "
                f"confirms separation; with l2=0 separable data is the likely cause.)") from exc
        raise
