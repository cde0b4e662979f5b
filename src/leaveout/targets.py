"""Targets: differentiable functions f(θ) of the fitted parameters whose change is attributed.

A target is described once by the user (query rows, what to compute, whether to sum) and bound to
a fitted model by :class:`~leaveout.Attributor`.  Three kinds:

- :func:`linear_predictor` — η_q = x̃_q·θ at each query row;
- :func:`prediction` — the mean prediction μ(η_q) (a probability for logistic, a rate for poisson);
- :func:`loss` — the loss ℓ(η_q, y_q) at each query row.

Each has ``reduce=None`` (one value per query row: the target has shape (m,)) or ``reduce="sum"``
(a scalar: the sum over the query rows, e.g. the total test loss).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _validation as v
from ._dask import is_dask
from ._features import check_same_rows, feature_names, query_labels
from ._finite import check_finite_result

_KINDS = ("linear_predictor", "prediction", "loss")
_REDUCE = (None, "sum", "mean")


class Target:
    """A target f(θ) on query rows; create with :func:`linear_predictor`, :func:`prediction`
    or :func:`loss`.

    Attributes
    ----------
    kind : {"linear_predictor", "prediction", "loss"}
    X : ndarray of shape (m, n_features)
        A read-only copy of the query rows.
    y : ndarray of shape (m,) or None
    reduce : {None, "sum", "mean"}
    feature_names : ndarray of str or None
        The query rows' column names when given as a DataFrame (checked against the model's).
    index : ndarray or None
        The query rows' pandas index labels (names of the query rows in labelled results).
    raw : DataFrame or None
        A copy of the query rows as given, when a DataFrame (an Attributor of a ``Pipeline``
        transforms these; they may then have non-numeric columns).
    """

    def __init__(self, kind: str, X, y=None, reduce=None):
        if kind not in _KINDS:
            raise ValueError(f"Unknown target kind {kind!r}; valid kinds: {', '.join(_KINDS)}.")
        if reduce not in _REDUCE:
            raise ValueError(f"reduce must be None, 'sum' or 'mean'; got {reduce!r}.")
        self.kind = kind
        self.reduce = reduce
        if is_dask(X) or is_dask(y):  # query rows on a cluster: scalar targets, by blocks
            from ._dask.targets import check_query

            self.X, self._y_raw, self.feature_names = check_query(X, y, reduce)
            self.index = self.raw = self._error = None
            return
        check_same_rows(X, y, "the target's y")
        self.feature_names = feature_names(X)
        self.index = query_labels(X)
        # A DataFrame is also kept as given (a deep copy): an Attributor of a Pipeline passes it
        # through the pipeline's fitted transformers, which may need its raw (e.g. string) columns.
        self.raw = X.copy(deep=True) if hasattr(X, "iloc") and getattr(X, "ndim", 0) == 2 else None
        self._error = None
        try:
            Xq = v.check_X(X, name="the target's X", allow_empty_columns=True)
            if sp.issparse(Xq):  # a new canonical CSR copy already: freeze it
                for a in (Xq.data, Xq.indices, Xq.indptr):
                    a.flags.writeable = False
                self.X = Xq
            else:
                self.X = np.array(Xq, dtype=np.float64, order="C", copy=True)  # edits must not leak
                self.X.flags.writeable = False
        except (TypeError, ValueError) as exc:
            if self.raw is None:
                raise
            self.X, self._error = None, exc  # raised when bound to a model without a pipeline
        self._y_raw = y
        self.reduce = reduce

    @property
    def n_rows(self) -> int:
        """Number of query rows m."""
        return len(self.raw) if self.X is None else self.X.shape[0]

    @property
    def shape(self) -> tuple:
        """Shape of f(θ): ``(m,)`` per query row, or ``()`` when reduced."""
        return () if self.reduce else (self.n_rows,)

    def __repr__(self) -> str:
        red = f", reduce={self.reduce!r}" if self.reduce else ""
        return f"targets.{self.kind}(<{self.n_rows} query rows>{red})"

    def bind(self, family, n_features: int, fit_intercept: bool,
             y_map=None) -> "BoundTarget":
        """Check the target against a model and return its evaluator.

        ``y_map`` maps the model's labels to the family's domain (for an adopted classifier,
        its ``classes_`` to 0/1), exactly as for the training labels.
        """
        if self.X is None:
            raise self._error
        if self.X.shape[1] != n_features:
            raise ValueError(
                f"The target's query rows have {self.X.shape[1]} features, but the model has "
                f"{n_features}; pass query rows with the same columns as the training X."
            )
        if is_dask(self.X):
            from ._dask.targets import DaskBoundTarget

            if self.kind == "loss" and self._y_raw is None:
                raise ValueError("targets.loss needs the query rows' labels y.")
            return DaskBoundTarget(self, family, fit_intercept,
                                   self._y_raw if self.kind == "loss" else None, y_map)
        y = None
        if self.kind == "loss":
            y = self._y_raw if y_map is None or self._y_raw is None else y_map(self._y_raw)
            y = v.check_y(y, self.X.shape[0], family, name="the target's y")
        return BoundTarget(self, family, fit_intercept, y)


class BoundTarget:
    """A target bound to a family: evaluates f(θ) and its Jacobian (m_out, p)."""

    def __init__(self, target: Target, family, fit_intercept: bool, y):
        self.target = target
        self.family = family
        self.fit_intercept = fit_intercept
        self.y = y
        self.X = target.X
        m = self.X.shape[0]
        self._weights = None
        if target.reduce == "sum":
            self._weights = np.ones(m)
        elif target.reduce == "mean":
            self._weights = np.full(m, 1.0 / m)

    @property
    def scalar(self) -> bool:
        return self._weights is not None

    @property
    def linear(self) -> bool:
        """Whether f is linear in θ, so that its plug-in change is the first-order one exactly."""
        return self.target.kind == "linear_predictor"

    def _eta(self, theta):
        d = self.X.shape[1]
        eta = np.asarray(self.X @ theta[:d])
        if self.fit_intercept:
            eta = eta + theta[-1]
        return eta

    def _per_row(self, eta):
        kind = self.target.kind
        if kind == "linear_predictor":
            return eta
        if kind == "prediction":
            return self.family.mean(eta)
        return self.family.loss(eta, self.y)

    def _per_row_change(self, eta, D):
        """Each query row's f(η + D) − f(η), in the family's cancellation-free form."""
        kind = self.target.kind
        if kind == "linear_predictor":
            return np.array(D, dtype=float)  # η is linear in θ: the change is D itself
        if kind == "prediction":
            return self.family.mean_change(eta, D)
        return self.family.loss_change(eta, D, self.y)

    def _per_row_derivative(self, eta):
        kind = self.target.kind
        if kind == "linear_predictor":
            return np.ones_like(eta)
        if kind == "prediction":
            return self.family.mean_derivative(eta)
        return self.family.d1(eta, self.y)

    def value(self, theta: np.ndarray) -> np.ndarray:
        """f(θ): shape (1,) for a scalar target, else (m,).

        Overflow at finite θ raises ValueError; a NaN θ (a documented degenerate removal) gives
        NaN.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            vals = self._per_row(self._eta(theta))
            if self.scalar:
                vals = np.array([self._weights @ vals])
        if np.all(np.isfinite(theta)):
            check_finite_result(vals, f"the target ({self.target.kind})")
        return vals

    def values(self, thetas: np.ndarray) -> np.ndarray:
        """f at each row of ``thetas`` (k, p); result (k, m_out)."""
        return np.stack([self.value(t) for t in thetas]) if len(thetas) else \
            np.zeros((0, 1 if self.scalar else self.X.shape[0]))

    def query_t(self) -> np.ndarray:
        """The query rows x̃_q as columns, shape (p, m): X̃_q Δθ is the shift of their η."""
        Q = self.X.T
        if sp.issparse(Q):  # sparse query rows stay sparse: (p, m) CSC
            ones = sp.csc_matrix(np.ones((1, self.X.shape[0])))
            return sp.vstack([Q, ones], format="csc") if self.fit_intercept else sp.csc_matrix(Q)
        if self.fit_intercept:
            Q = np.vstack([Q, np.ones((1, self.X.shape[0]))])
        return Q

    def change(self, theta: np.ndarray, D: np.ndarray) -> np.ndarray:
        """Plug-in change f(θ + Δ_k) − f(θ) for each row of D (k, m), D_k = X̃_q Δ_k.

        Differences are taken per query row before any sum (no cancellation between rows);
        result (k, m_out).  Rows of D with NaN (undefined removals) give NaN; overflow at a
        finite D raises ValueError.
        """
        eta = self._eta(theta)
        with np.errstate(over="ignore", invalid="ignore"):
            vals = self._per_row_change(eta[None, :], D)
            if self.scalar:
                vals = vals @ self._weights[:, None]
        finite = np.all(np.isfinite(D), axis=1)
        if finite.all():
            return check_finite_result(vals, f"the target ({self.target.kind})")
        vals[~finite] = np.nan
        check_finite_result(vals[finite], f"the target ({self.target.kind})")
        return vals

    def plugin(self, theta: np.ndarray, deltas: np.ndarray) -> np.ndarray:
        """Plug-in change f(θ + Δ_k) − f(θ) for each row of ``deltas`` (k, p); (k, m_out)."""
        return self.change(theta, np.asarray(self.query_t().T @ deltas.T).T)

    def jacobian_t(self, theta: np.ndarray) -> np.ndarray:
        """∇f(θ) as a (p, m_out) matrix (m_out = 1 for a scalar target)."""
        with np.errstate(over="ignore", invalid="ignore"):
            dv = self._per_row_derivative(self._eta(theta))
        check_finite_result(dv, f"the derivative of the target ({self.target.kind})")
        if self.scalar:
            dv = dv * self._weights
            d = self.X.shape[1]
            J = np.empty((d + int(self.fit_intercept), 1))
            J[:d, 0] = self.X.T @ dv
            if self.fit_intercept:
                J[-1, 0] = dv.sum()
            return J
        if sp.issparse(self.X):  # (d, m) sparse: columns x_q · dv_q, never densified here
            Xt = sp.csc_matrix(self.X.T.multiply(dv[None, :]))
            if self.fit_intercept:
                Xt = sp.vstack([Xt, sp.csc_matrix(dv[None, :])], format="csc")
            return Xt
        Xt = self.X.T * dv  # (d, m)
        if self.fit_intercept:
            Xt = np.vstack([Xt, dv[None, :]])
        return Xt

    def shape_result(self, arr: np.ndarray) -> np.ndarray:
        """Drop the trailing axis of a result for a scalar target."""
        return arr[..., 0] if self.scalar else arr


def linear_predictor(X, *, reduce=None) -> Target:
    """Target η = X̃θ at the query rows ``X`` (m, n_features); ``reduce="sum"`` sums them."""
    return Target("linear_predictor", X, reduce=reduce)


def prediction(X, *, reduce=None) -> Target:
    """Target μ(η): the model's mean prediction at the query rows (a probability for logistic)."""
    return Target("prediction", X, reduce=reduce)


def loss(X, y, *, reduce=None) -> Target:
    """Target ℓ(η_q, y_q): the loss at the query rows; ``reduce="sum"`` gives the total loss."""
    return Target("loss", X, y=y, reduce=reduce)


class Coefficient(Target):
    """The value of one fitted parameter θ_j; create with :func:`coefficient`.

    A scalar target (shape ``()``) whose gradient is the unit vector e_j: its first-order
    change is exactly the parameter change Δθ_j.
    """

    kind = "coefficient"

    def __init__(self, j):
        # Target's query-row attributes, for code that reads them: a coefficient has none.
        self.X = self.raw = self.feature_names = self.index = self._y_raw = None
        self.reduce = "sum"
        if isinstance(j, (bool, np.bool_)) or not isinstance(j, (int, np.integer, str)):
            raise TypeError(f"targets.coefficient takes a parameter's index (int) or a "
                            f"feature name (str); got {j!r} ({type(j).__name__}).")
        if not isinstance(j, str) and j < 0:
            raise ValueError(f"targets.coefficient index must be >= 0 (indices are not wrapped "
                             f"around); got {j}. The intercept, when fitted, is the last "
                             f"index (n_features).")
        self.j = j if isinstance(j, str) else int(j)

    n_rows = 1
    shape = ()

    def __repr__(self) -> str:
        return f"targets.coefficient({self.j!r})"

    def bind(self, family, n_features: int, fit_intercept: bool, y_map=None,
             param_names=None) -> "BoundTarget":
        """Resolve the index or name against the model's parameters (``param_names``: the
        feature names, or x0, x1, …, then ``"intercept"``)."""
        n_params = n_features + int(fit_intercept)
        names = list(param_names) if param_names is not None else (
            [f"x{k}" for k in range(n_features)] + (["intercept"] if fit_intercept else []))
        if isinstance(self.j, str):
            if self.j not in names:
                shown = ", ".join(map(repr, names[:8])) + (", …" if len(names) > 8 else "")
                raise ValueError(f"targets.coefficient({self.j!r}): the model has no parameter "
                                 f"of that name; its parameters are {shown} ({n_params} in "
                                 f"all).")
            index = names.index(self.j)
        else:
            if self.j >= n_params:
                raise ValueError(f"targets.coefficient({self.j}) is out of range: the model has "
                                 f"{n_params} parameters (indices 0..{n_params - 1}"
                                 f"{', the intercept last' if fit_intercept else ''}).")
            index = self.j
        return _BoundCoefficient(self, family, fit_intercept, index, n_params)


class _BoundCoefficient(BoundTarget):
    """θ ↦ θ_j, with Jacobian e_j."""

    linear = True

    def __init__(self, target, family, fit_intercept, index: int, n_params: int):
        self.target, self.family, self.fit_intercept, self.y = target, family, fit_intercept, None
        self.index, self.n_params = index, n_params
        self._weights = np.ones(1)  # scalar

    def value(self, theta: np.ndarray) -> np.ndarray:
        return np.array([theta[self.index]], dtype=np.float64)

    def values(self, thetas: np.ndarray) -> np.ndarray:
        return np.asarray(thetas, dtype=np.float64)[:, [self.index]].copy()

    def jacobian_t(self, theta: np.ndarray) -> np.ndarray:
        J = np.zeros((self.n_params, 1))
        J[self.index, 0] = 1.0
        return J

    def query_t(self) -> np.ndarray:
        """e_j as a (p, 1) column: D = Δθ e_j is the change Δθ_j itself."""
        return self.jacobian_t(None)

    def change(self, theta: np.ndarray, D: np.ndarray) -> np.ndarray:
        """The plug-in change of θ_j is exactly Δθ_j (f is linear): D itself, shape (k, 1)."""
        return np.array(D, dtype=np.float64, copy=True)


def coefficient(j) -> Coefficient:
    """Target θ_j: one fitted coefficient, by index (0-based; the intercept, when fitted, is
    index n_features) or by name (a feature name of a model fitted on a DataFrame, ``"x3"`` for
    plain arrays, or ``"intercept"``).  A scalar target; its change is Δθ_j."""
    return Coefficient(j)


__all__ = ["Coefficient", "Target", "coefficient", "linear_predictor", "loss", "prediction"]
