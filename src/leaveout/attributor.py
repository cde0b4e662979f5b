"""The Attributor: how a fitted model, its predictions and losses change when rows are left out."""

from __future__ import annotations

import logging

import numpy as np

from . import _validation as v
from ._dask import any_dask
from ._design import make_design
from ._features import check_feature_names, check_same_rows, feature_names
from ._indices import check_indices
from ._linear import LinearLoss
from ._warn import warn
from .adapters import adopt
from .estimators import METHODS, FittedState
from .exceptions import IllConditionedWarning, PolishWarning, SingularHessianError
from .fitting import GLM, exact_fit
from .targets import Target

logger = logging.getLogger(__name__)

#: Relative parameter change by the polish above which a PolishWarning is emitted.
POLISH_WARN = 1e-4
#: Condition-number estimate of H above which an IllConditionedWarning is emitted.
COND_WARN = 1e12


def _private(validated: np.ndarray, given, copy: bool) -> np.ndarray:
    """``validated`` as an array the caller cannot change behind our back.

    Validation often made a new array already; it is copied only when it may be (a view of)
    memory the caller holds — the caller's own array, or a view of a DataFrame's block.  Arrays
    that are ours alone are made read-only.  With ``copy=False`` nothing is copied or frozen.
    """
    foreign = (validated is given or validated.base is not None
               or isinstance(given, np.ndarray) and np.may_share_memory(validated, given))
    if foreign and copy:
        validated, foreign = validated.copy(), False
    if not foreign:
        validated.flags.writeable = False
    return validated


def _check_n_features(n_features: int, adopted) -> None:
    if n_features != adopted.n_features:
        raise ValueError(
            f"X has {n_features} features, but the {adopted.source} was fitted with "
            f"{adopted.n_features}. Pass the training X the model was fitted on."
        )


class Attributor:
    """Leave-rows-out effects of a fitted L2-regularised GLM.

    Parameters
    ----------
    model : leaveout.GLM or fitted scikit-learn estimator
        ``LogisticRegression`` (binary, L2), ``Ridge``, ``LinearRegression`` or
        ``PoissonRegressor``; converted to the sum convention (DESIGN.md §6) and polished by
        Newton steps to the exact optimum on ``(X, y, sample_weight)``.  λ and any class weights
        are computed once, here, and held fixed for every removal.
    X : array-like of shape (n_samples, n_features)
        The training rows the model was fitted on.
    y : array-like of shape (n_samples,)
        Training labels (class labels for a scikit-learn classifier).
    sample_weight : array-like of shape (n_samples,), optional
        The sample weights the model was fitted with.
    copy : bool, default=True
        Keep private copies of X, y and sample_weight where they would share memory with your
        arrays (effects are computed lazily, so later edits to your arrays must not reach them).
        ``copy=False`` saves size(X) of memory; X, y and sample_weight must then not be modified
        while the Attributor is in use.

    Attributes
    ----------
    model_ : GLM
        The polished model in the sum convention.
    params_ : ndarray of shape (n_params,)
        θ̂ = (coef, intercept last when fitted).
    family : Family
    l2 : float
        λ in the sum convention.
    fit_intercept : bool
    n_samples, n_params : int
    condition_number_ : float
        Estimate of the 1-norm condition number of the Hessian H (LAPACK ``pocon``).
    scaled_condition_number_ : float
        The same for D^{-1/2} H D^{-1/2}, D = diag(H): large only for (nearly) collinear
        columns, not for badly scaled ones; an ``IllConditionedWarning`` is raised above 1e12.
    polish_shift_ : float
        ‖θ̂ − θ₀‖ / max(‖θ₀‖, tiny): how far polishing moved the adopted parameters (inf when
        they were not finite and the model was refitted from scratch).
    feature_names_in_ : ndarray of str or None
        The model's column names when it was fitted on a DataFrame; DataFrames passed as X or
        as a target's query rows must then have exactly these columns, in this order.

    Examples
    --------
    >>> import numpy as np, leaveout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); y = (X[:, 0] + rng.normal(size=200) > 0).astype(float)
    >>> att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    >>> att.effects("rif").shape
    (200, 6)
    """

    def __init__(self, model, X, y, sample_weight=None, *, copy=True):
        adopted = adopt(model)
        family = adopted.family
        copy = v.check_bool(copy, "copy", "Attributor")
        fit_exact, State = exact_fit, FittedState
        if any_dask(X, y, sample_weight):  # a Dask design: lazy per-row outputs (DESIGN.md §8)
            from ._dask import api

            loss, names = api.attributor_loss(adopted, model, X, y, sample_weight,
                                              lambda d: _check_n_features(d, adopted))
            check_feature_names(adopted.feature_names, names, "X", adopted.source)
            fit_exact, State = api.exact_fit, api.DaskFittedState
        else:
            check_feature_names(adopted.feature_names, feature_names(X), "X", adopted.source)
            check_same_rows(X, y, "y")
            check_same_rows(X, sample_weight, "sample_weight")
            Xa = v.check_X(X, allow_empty_columns=adopted.fit_intercept)
            _check_n_features(Xa.shape[1], adopted)
            ya = v.check_y(adopted.y_map(y), Xa.shape[0], family)
            sw = adopted.weight_map(ya, v.check_sample_weight(sample_weight, Xa.shape[0]))
            l2 = float(adopted.l2_of(sw))
            # Private copies: the effects are computed lazily, so later changes to the caller's
            # arrays must not reach them.
            Xa, ya, sw = (_private(a, g, copy) for a, g in ((Xa, X), (ya, y), (sw, sample_weight)))
            loss = LinearLoss(make_design(Xa, adopted.fit_intercept), family, ya, sw, l2)
        design, l2 = loss.design, loss.l2
        theta0 = adopted.theta0
        finite0 = bool(np.all(np.isfinite(theta0)))
        try:
            res = fit_exact(loss, theta0 if finite0 else None)
            theta = res.theta
        except SingularHessianError as exc:
            raise SingularHessianError(
                f"Cannot attribute: {exc} (n_samples={design.n_samples}, n_params="
                f"{design.n_params}, l2={l2:g}).") from None
        if finite0:
            denom = max(float(np.linalg.norm(theta0)), np.finfo(float).tiny)
            self.polish_shift_ = float(np.linalg.norm(theta - theta0)) / denom
        else:
            self.polish_shift_ = np.inf  # NaN or inf parameters: refitted from scratch
        if not finite0:
            warn(
                f"The {adopted.source}'s parameters contain NaN or inf; it was refitted from "
                f"scratch on these X, y, sample_weight.", PolishWarning)
        elif self.polish_shift_ > POLISH_WARN and adopted.source != "leaveout.GLM":
            warn(
                f"Polishing the {adopted.source} to the exact optimum moved its parameters by "
                f"{self.polish_shift_:.2e} (relative). It had probably stopped early (raise "
                f"max_iter / lower tol), or X, y, sample_weight differ from what it was fitted "
                f"on. Effects are computed at the polished optimum.", PolishWarning)
        elif self.polish_shift_ > POLISH_WARN:
            warn(
                f"The GLM is not at the optimum for these X, y, sample_weight (the exact optimum "
                f"differs by {self.polish_shift_:.2e}, relative): was it fitted on other data? "
                f"Effects are computed at the optimum for the data given here.", PolishWarning)
        self.family = family
        self.l2 = l2
        self.fit_intercept = adopted.fit_intercept
        self.n_samples, self.n_params = design.n_samples, design.n_params
        self.params_ = theta
        self.feature_names_in_ = adopted.feature_names
        self._y_map = adopted.y_map  # the model's labels → the family's (classes_ → 0/1)
        model_ = GLM(family=family.name, l2=l2, fit_intercept=adopted.fit_intercept)
        model_._set_params(theta, design.n_features, adopted.fit_intercept, family, l2)
        if adopted.feature_names is not None:
            model_.feature_names_in_ = adopted.feature_names
        self.model_ = model_
        self._state = State(loss, theta, res.hessian, res.factor)
        factor = self._state.factor
        self.condition_number_ = factor.condition_estimate()
        self.scaled_condition_number_ = factor.scaled_condition_estimate()
        # Cholesky solves are accurate to the condition of the diagonally rescaled Hessian
        # (van der Sluis): a badly scaled but well-posed problem loses nothing, so only the
        # scaled condition number says what to distrust.
        if self.scaled_condition_number_ > COND_WARN:
            warn(
                f"The Hessian is ill-conditioned even after rescaling its diagonal (condition "
                f"number ≈ {self.scaled_condition_number_:.1e}): effects can lose up to "
                f"{np.log10(self.scaled_condition_number_):.0f} of 16 digits. Drop nearly "
                f"duplicated or collinear columns, or raise l2.",
                IllConditionedWarning)

    def __repr__(self) -> str:
        return (f"Attributor(family={self.family.name!r}, l2={self.l2:g}, "
                f"n_samples={self.n_samples}, n_params={self.n_params})")

    @property
    def leverage(self) -> np.ndarray:
        """Leverages h_i = w_i x̃_iᵀ H⁻¹ x̃_i, array of shape (n_samples,), each in [0, 1)."""
        return self._state.leverage.copy()

    def effects(self, method: str = "rif", remove=None, target: Target | None = None, *,
                linearize: bool | None = None, checkpoint=None):
        """Change of the parameters (or of a target) when training rows are removed.

        Parameters
        ----------
        method : {"if", "rif", "newton", "retrain"}, default="rif"
            Estimator of θ̂₋T − θ̂ (DESIGN.md §3); ``"retrain"`` refits exactly, warm-started.
        remove : None, sequence of int, boolean mask, or list of those
            ``None``: each training row alone (result has a leading axis of n_samples).
            One set of row indices (or a boolean mask of length n_samples): one result.
            A list of sets (or a 2-D integer array, one set per row): one result per set.
            ``remove=[]`` is one empty set (its effect is 0); ``remove=[[]]`` a list of one.
        target : Target, optional
            A target from :mod:`leaveout.targets`. Without one, effects are on the parameters.
        linearize : bool, optional
            How a target's change is computed from Δθ: ``True`` — first order, ∇f(θ̂)·Δθ;
            ``False`` — plug-in, f(θ̂ + Δθ) − f(θ̂) (for ``retrain`` the exact change).
            Default: ``False`` for ``retrain``, ``True`` otherwise.
        checkpoint : path-like, optional
            Only for ``retrain``: a directory where each finished refit is saved atomically.
            Rerunning the same call (same data and model) after an interruption reuses them and
            refits only the missing sets. Progress is logged (``logging``, INFO).

        Returns
        -------
        ndarray
            Without a target: (n_samples, n_params), (n_params,) or (n_sets, n_params).
            With a target of m values: (n_samples, m), (m,) or (n_sets, m); with a scalar target
            (``reduce="sum"``) the last axis is dropped.
        """
        method = v.check_method(method, METHODS)
        bound = None
        if target is not None:
            bound = self._bind(target)
        if linearize is None:
            linearize = method != "retrain"
        linearize = v.check_bool(linearize, "linearize", "effects")
        if checkpoint is not None and method != "retrain":
            raise ValueError(f"checkpoint applies to method='retrain' only (the other methods "
                             f"are cheap); got method={method!r}.")
        st = self._state

        if remove is None:
            if bound is None:
                return st.per_row(method, checkpoint)
            if linearize:
                return bound.shape_result(
                    st.per_row_linear(method, bound.jacobian_t(st.theta), checkpoint))
            deltas = st.per_row(method, checkpoint)
            return bound.shape_result(self._plugin(bound, deltas))

        sets, single = check_indices(remove, self.n_samples)
        deltas = st.sets(method, sets, checkpoint)
        if bound is None:
            out = deltas
        elif linearize:
            out = bound.shape_result(deltas @ bound.jacobian_t(st.theta))
        else:
            out = bound.shape_result(self._plugin(bound, deltas))
        return out[0] if single else out

    def _bind(self, target):
        if not isinstance(target, Target):
            raise TypeError(
                f"target must be made by leaveout.targets (linear_predictor, prediction or "
                f"loss); got {type(target).__name__}.")
        check_feature_names(self.feature_names_in_, target.feature_names, "The target's X",
                            "model")
        return target.bind(self.family, self.n_params - int(self.fit_intercept),
                           self.fit_intercept, self._y_map)

    def evaluate(self, target: Target, params=None) -> np.ndarray:
        """Value of ``target`` at θ̂, or at each row of ``params`` (k, n_params).

        Returns an array of the target's shape (``()`` for a scalar target, ``(m,)`` otherwise),
        with a leading axis of k when ``params`` is 2-D.
        """
        bound = self._bind(target)
        if params is None:
            return bound.shape_result(bound.value(self.params_))
        try:
            P = np.asarray(params)
        except ValueError:  # ragged nested sequences
            P = np.asarray(params, dtype=object)
        if P.dtype.kind not in "biuf":
            raise TypeError(f"params must be a numeric array of shape (n_params,) or (k, "
                            f"n_params); got an array of dtype {P.dtype} (ragged or not numbers).")
        P = P.astype(np.float64)
        if P.ndim not in (1, 2) or P.shape[-1] != self.n_params:
            raise ValueError(f"params must have shape (n_params,) or (k, n_params) with "
                             f"n_params={self.n_params}; got {P.shape}.")
        if not np.all(np.isfinite(P)):
            raise ValueError("params contains NaN or inf; pass finite parameter vectors.")
        if P.ndim == 1:
            return bound.shape_result(bound.value(P))
        return bound.shape_result(bound.values(P))

    def _plugin(self, bound, deltas):
        base = bound.value(self.params_)
        if any_dask(deltas):  # per-row effects of a Dask design: evaluated block by block
            from ._dask.api import plugin_rows

            return plugin_rows(bound, self.params_, base, deltas)
        return bound.values(self.params_ + deltas) - base

    def retrain(self, remove, *, checkpoint=None) -> np.ndarray:
        """Exact parameters θ̂₋T after removing ``remove`` (same forms and ``checkpoint`` as in
        :meth:`effects`)."""
        sets, single = check_indices(remove, self.n_samples)
        thetas = self.params_ + self._state.sets("retrain", sets, checkpoint)
        return thetas[0] if single else thetas
