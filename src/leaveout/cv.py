"""GLMCV: choose the penalty by leave-one-out risk at the cost of one fit per penalty.

For each λ on a path (fitted from the largest to the smallest, each fit warm-started at the
previous optimum) the leave-one-out risk

    R(λ) = Σ_i s_i ℓ(η₋ᵢ(λ), y_i) / Σ_i s_i        ((1/n) Σ_i ℓ(η₋ᵢ, y_i) without weights)

is estimated from that one fit by η₋ᵢ of :mod:`leaveout.loo` (DESIGN.md §9: with ``rif`` the
approximate leave-one-out, ALO, of Rad & Maleki 2020; exact for squared loss) and the λ of
smallest R is kept.
"""

from __future__ import annotations

import logging
import numbers
import time

import numpy as np
import scipy.sparse as sp

from . import _validation as v
from ._linear import LinearLoss
from ._warn import warn
from .estimators import METHODS, FittedState
from .exceptions import ConvergenceError, LeaveoutWarning, SingularHessianError
from .families import get_family
from .fitting import GLM, cold_start, exact_fit, training_data
from .loo import loo_losses

logger = logging.getLogger(__name__)

#: The default path: this many penalties, log-spaced over DEFAULT_DECADES times the data scale.
DEFAULT_N_L2S = 25
DEFAULT_DECADES = (1.0, -5.0)


class PathFitWarning(LeaveoutWarning):
    """Some penalties of a GLMCV path could not be fitted or scored; they are skipped."""


def default_l2s(loss: LinearLoss, n_l2s: int = DEFAULT_N_L2S) -> np.ndarray:
    """The default penalty path, decreasing: ``c · logspace(1, -5, n_l2s)``.

    The data scale c is the mean nonzero eigenvalue (at most) of the data part of the Hessian
    at the null model (β = 0, the intercept-only fit): its trace Σ_i w0_i ‖x_i − x̄‖² divided by
    its largest possible rank, min(n_features, rows of positive weight − 1 with an intercept),
    with w0_i = s_i ℓ''(η0_i, y_i) and x̄ the w0-weighted column means (no centring without an
    intercept).  λ = c penalises as much as the data curve the parameters in a typical
    direction, so the path runs from heavy shrinkage (10 c) to nearly none (1e-5 c).  It
    follows the units of the features and the number of rows (the penalty is a sum convention),
    and wide data (more features than rows) get the larger scale their Gram's nonzero
    eigenvalues have.
    """
    design = loss.design
    eta0 = design.matvec(cold_start(loss))
    w0 = loss.row_curvature(eta0)
    X = design.X
    total = float(w0.sum())
    if design.n_features == 0 or total <= 0.0:
        scale = 1.0
    else:
        mean = np.asarray(X.T @ w0) / total if design.fit_intercept \
            else np.zeros(design.n_features)
        rank = min(design.n_features, int(np.count_nonzero(loss.weights > 0))
                   - int(design.fit_intercept))
        if sp.issparse(X):  # Σ w0 ‖x − x̄‖² = Σ w0 ‖x‖² − total ‖x̄‖², without densifying X
            sq = float(design.sq_rmatvec(w0)[: design.n_features].sum())
            scale = max(sq - total * float(mean @ mean), 0.0) / max(rank, 1)
        else:
            scale = float(w0 @ ((X - mean) ** 2).sum(axis=1)) / max(rank, 1)
        if not (np.isfinite(scale) and scale > 0.0):
            scale = 1.0
    return scale * np.logspace(*DEFAULT_DECADES, n_l2s)


def _check_l2s(l2s) -> np.ndarray:
    where = "GLMCV"
    if isinstance(l2s, (str, bytes)) or isinstance(l2s, numbers.Number):
        raise TypeError(f"The 'l2s' parameter of {where} must be None or a 1-D sequence of "
                        f"penalties >= 0 (e.g. np.logspace(-3, 3, 13)); got {l2s!r}.")
    try:
        arr = np.asarray(l2s)
    except ValueError:
        arr = np.asarray(l2s, dtype=object)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"The 'l2s' parameter of {where} must hold numbers; got an array of "
                        f"dtype {arr.dtype}.")
    if arr.ndim != 1:
        raise ValueError(f"The 'l2s' parameter of {where} must be 1-D; got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"The 'l2s' parameter of {where} is empty: give at least one penalty, "
                         f"or l2s=None for the default path.")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The 'l2s' parameter of {where} contains NaN or inf at position(s) "
                         f"{np.flatnonzero(~np.isfinite(arr))[:10].tolist()}; every penalty "
                         f"must be a finite number >= 0.")
    if np.any(arr < 0):
        raise ValueError(f"The 'l2s' parameter of {where} contains negative penalties "
                         f"{arr[arr < 0][:5].tolist()}; every penalty must be >= 0.")
    return arr


class GLMCV:
    """An L2-regularised GLM whose penalty is chosen by leave-one-out risk, without refits.

    Fits ``Σ_i s_i ℓ(x̃_i·θ, y_i) + (λ/2)‖β‖²`` (the sum convention of :class:`GLM`) for every λ
    in ``l2s`` — largest first, each fit warm-started at the previous optimum — scores each by
    the leave-one-out risk R(λ) = Σ_i s_i ℓ(η₋ᵢ, y_i) / Σ_i s_i estimated from that one fit
    (:meth:`Attributor.loo_linear_predictor`), and keeps the λ of smallest risk.

    Parameters
    ----------
    family : {"logistic", "squared", "poisson"}, default="logistic"
    l2s : array-like of shape (n_l2s,), optional
        Penalties λ ≥ 0 (finite).  Default: 25 values log-spaced from 10 c down to 1e-5 c, with
        c the data scale of :func:`default_l2s` (the trace of the data part of the Hessian at
        the null model over its largest possible rank, min(n_features, n_samples − 1)).
    fit_intercept : bool, default=True
    method : {"rif", "newton", "if", "retrain"}, default="rif"
        How η₋ᵢ is obtained: ``"rif"`` (= ``"newton"``, the ALO estimate; exact for squared
        loss), ``"if"`` (the influence-function version, biased in high dimension), or
        ``"retrain"`` (exact leave-one-out: n refits per penalty — a reference, not a tool).
    max_iter : int, default=100
        Maximum Newton steps per fit.

    Attributes
    ----------
    l2_ : float
        The chosen penalty.
    l2s_ : ndarray of shape (n_l2s,)
        The penalties, in the order given (default path: decreasing).
    loo_risk_ : ndarray of shape (n_l2s,)
        R(λ) for each penalty of ``l2s_`` (NaN where the fit or the score failed: see
        ``PathFitWarning``).
    best_index_ : int
        Position of ``l2_`` in ``l2s_`` (the first of equal minima).
    model_ : GLM
        The fit at ``l2_`` (attribute it with ``Attributor(cv.model_, X, y)``).
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    params_ : ndarray of shape (n_params,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when X had string column names
    fit_seconds_ : ndarray of shape (n_l2s,)
        Time of each penalty's fit plus its risk.

    Notes
    -----
    Sample weights: a row of weight s_i counts s_i times in the fit and in the risk, and η₋ᵢ
    removes the whole row (its weight with it); zero-weight rows do not count at all.
    ``score`` is minus the mean per-row loss, as :meth:`GLM.score`.

    Examples
    --------
    >>> import numpy as np, leaveout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 20)); y = (X[:, 0] + rng.normal(size=200) > 0).astype(float)
    >>> cv = leaveout.GLMCV(family="logistic", l2s=np.logspace(-1, 3, 9)).fit(X, y)
    >>> cv.loo_risk_.shape
    (9,)
    """

    _PARAMS = ("family", "l2s", "fit_intercept", "method", "max_iter")

    def __init__(self, *, family="logistic", l2s=None, fit_intercept=True, method="rif",
                 max_iter=100):
        self.family = family
        self.l2s = l2s
        self.fit_intercept = fit_intercept
        self.method = method
        self.max_iter = max_iter

    def __repr__(self) -> str:
        parts = [f"family={self.family!r}"]
        if self.l2s is not None:
            parts.append(f"l2s=<{np.size(self.l2s)} penalties>")
        if self.fit_intercept is not True:
            parts.append(f"fit_intercept={self.fit_intercept!r}")
        if self.method != "rif":
            parts.append(f"method={self.method!r}")
        if self.max_iter != 100:
            parts.append(f"max_iter={self.max_iter!r}")
        return f"GLMCV({', '.join(parts)})"

    # The scikit-learn estimator protocol, shared with GLM (both read ``_PARAMS``).
    get_params = GLM.get_params
    set_params = GLM.set_params
    __sklearn_tags__ = GLM.__sklearn_tags__


    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the path on ``X`` (n, n_features), ``y`` (n,), optional ``sample_weight`` (n,)."""
        family = get_family(self.family)
        fit_intercept = v.check_bool(self.fit_intercept, "fit_intercept", "GLMCV")
        method = v.check_method(self.method, METHODS)
        GLM(max_iter=self.max_iter)._validated()  # the one max_iter check
        names, Xa, ya, sw, design = training_data(X, y, sample_weight, family, fit_intercept)
        if self.l2s is None:
            l2s = default_l2s(LinearLoss(design, family, ya, sw, 1.0))
        else:
            l2s = _check_l2s(self.l2s)
        order = np.argsort(-l2s, kind="stable")  # largest penalty first: the best warm starts
        risks = np.full(l2s.size, np.nan)
        seconds = np.zeros(l2s.size)
        thetas = np.full((l2s.size, design.n_params), np.nan)
        theta, failed = None, []
        for k in order:
            t0 = time.perf_counter()
            loss = LinearLoss(design, family, ya, sw, float(l2s[k]))
            try:
                res = exact_fit(loss, theta, max_iter=self.max_iter)
                state = FittedState(loss, res.theta, res.hessian, res.factor)
                loo, _ = loo_losses(state, method)
            except (ConvergenceError, SingularHessianError) as exc:
                failed.append((float(l2s[k]), str(exc).split(". ")[0]))
                seconds[k] = time.perf_counter() - t0
                continue
            theta = res.theta
            thetas[k] = theta
            risks[k] = float(np.dot(sw, loo) / sw.sum())  # NaN if a row's removal is singular
            seconds[k] = time.perf_counter() - t0
            logger.info("GLMCV: l2=%g  loo risk=%.6g  (%d Newton steps, %.3fs)", l2s[k],
                        risks[k], res.n_iter, seconds[k])
        reasons = "; ".join(f"l2={a:g}: {why}" for a, why in failed[:3]) + (
            "; …" if len(failed) > 3 else "")
        if np.all(np.isnan(risks)):
            raise ValueError(
                f"GLMCV could not score any of the {l2s.size} penalties: every fit failed or "
                f"had a row whose removal leaves no finite optimum (leverage 1, or the only "
                f"row of its class)" + (f" ({reasons})" if failed else "")
                + ". Use larger penalties (l2s).")
        if failed:
            warn(f"GLMCV could not fit {len(failed)} of {l2s.size} penalties (skipped, "
                 f"loo_risk_ NaN): {reasons}. Raise the smallest penalty.", PathFitWarning)
        best = int(np.nanargmin(risks))
        model = GLM(family=family.name, l2=float(l2s[best]), fit_intercept=fit_intercept,
                    max_iter=self.max_iter)
        model._set_params(thetas[best], Xa.shape[1], fit_intercept, family, float(l2s[best]))
        if names is not None:
            model.feature_names_in_ = names
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):  # a refit on unnamed columns
            del self.feature_names_in_
        self.model_ = model
        self.l2s_ = l2s
        self.loo_risk_ = risks
        self.fit_seconds_ = seconds
        self.best_index_ = best
        self.l2_ = float(l2s[best])
        self.params_ = model.params_.copy()
        self.coef_ = model.coef_.copy()
        self.intercept_ = model.intercept_
        self.n_features_in_ = model.n_features_in_
        return self

    # -- prediction (the model at l2_) ----------------------------------------------------------
    def _fitted(self) -> GLM:
        if not hasattr(self, "model_"):
            raise ValueError("This GLMCV is not fitted yet; call fit(X, y) first.")
        return self.model_

    def decision_function(self, X) -> np.ndarray:
        """Linear predictor η = X β + b of the chosen model, shape (n,)."""
        return self._fitted().decision_function(X)

    def predict(self, X) -> np.ndarray:
        """Mean prediction μ(η) of the chosen model (a probability for logistic), shape (n,)."""
        return self._fitted().predict(X)

    def loss(self, X, y) -> np.ndarray:
        """Per-row loss ℓ(η_i, y_i) of the chosen model, shape (n,)."""
        return self._fitted().loss(X, y)

    def score(self, X, y, sample_weight=None) -> float:
        """Minus the (weighted) mean per-row loss of the chosen model: higher is better."""
        return self._fitted().score(X, y, sample_weight)
