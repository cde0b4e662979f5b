"""The Attributor: how a fitted model, its predictions and losses change when rows are left out."""

from __future__ import annotations

import logging
import numbers

import numpy as np
import scipy.sparse as sp

from . import _validation as v
from ._dask import any_dask
from .designs import make_design
from ._features import check_feature_names, check_same_rows, feature_names, query_labels
from ._frames import effects_frame, param_names, top_frame
from ._indices import RowLabels, check_by
from ._linear import LinearLoss
from ._threads import reproducible
from ._pipeline import FixedTransform, is_pipeline
from ._refits import check_n_jobs, check_progress
from ._polish import POLISH_ERROR, POLISH_WARN, check_polish  # noqa: F401 (re-exported)
from ._refine import Refinement, check_steps_tol, warn_not_contracting
from ._warn import warn
from .adapters import adopt
from .estimators import METHODS, FittedState, KernelState
from .exceptions import IllConditionedWarning, SingularHessianError
from .fitting import GLM, NewtonResult, exact_fit
from ._cg_state import PROBES as CG_PROBES, RTOL as CG_RTOL, CGState
from .solvers import SOLVERS, choose
from .targets import Coefficient, Target

logger = logging.getLogger(__name__)

#: Condition-number estimate of H above which an IllConditionedWarning is emitted.
COND_WARN = 1e12


def _private(validated: np.ndarray, given, copy: bool) -> np.ndarray:
    """``validated`` as an array the caller cannot change behind our back.

    Validation often made a new array already; it is copied only when it may be (a view of)
    memory the caller holds — the caller's own array, or a view of a DataFrame's block.  Arrays
    that are ours alone are made read-only.  With ``copy=False`` nothing is copied or frozen.
    """
    if sp.issparse(validated):
        # check_sparse_X always returns a new matrix: freeze its arrays.
        for a in (validated.data, validated.indices, validated.indptr):
            a.flags.writeable = False
        return validated
    foreign = (validated is given or validated.base is not None
               or isinstance(given, np.ndarray) and np.may_share_memory(validated, given))
    if foreign and copy:
        validated, foreign = validated.copy(), False
    if not foreign:
        validated.flags.writeable = False
    return validated


def check_cg_options(rtol, probes, random_state) -> dict:
    """The Attributor's CG knobs, validated (scikit-learn's message format)."""
    where = "Attributor"
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not (
            np.isfinite(rtol) and 0.0 < rtol < 1.0):
        raise ValueError(f"The 'rtol' parameter of {where} must be a float in (0, 1). Got "
                         f"{rtol!r} instead.")
    for name, value, low in (("probes", probes, 1), ("random_state", random_state, 0)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
                or value < low:
            raise ValueError(f"The {name!r} parameter of {where} must be an int in "
                             f"[{low}, inf). Got {value!r} instead.")
    return {"rtol": float(rtol), "probes": int(probes), "random_state": int(random_state)}


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
    model : leaveout.GLM, fitted scikit-learn estimator or Pipeline
        ``LogisticRegression`` (binary, L2), ``Ridge``, ``LinearRegression`` or
        ``PoissonRegressor``; converted to the sum convention (DESIGN.md §6) and polished by
        Newton steps to the exact optimum on ``(X, y, sample_weight)``.  λ and any class weights
        are computed once, here, and held fixed for every removal.  A fitted ``Pipeline`` whose
        last step is one of these is attributed in that step's feature space: its fitted
        transformers are held fixed (a removal does not refit them).
    X : array-like of shape (n_samples, n_features)
        The training rows the model was fitted on (raw rows for a ``Pipeline``).
    y : array-like of shape (n_samples,)
        Training labels (class labels for a scikit-learn classifier).
    sample_weight : array-like of shape (n_samples,), optional
        The sample weights the model was fitted with.
    copy : bool, default=True
        Keep private copies of X, y and sample_weight where they would share memory with your
        arrays (effects are computed lazily, so later edits to your arrays must not reach them).
        ``copy=False`` saves size(X) of memory; X, y and sample_weight must then not be modified
        while the Attributor is in use.  A scipy.sparse X is always copied (it is converted to
        canonical CSR on the way in), which costs O(nnz).
    solver : {"auto", "primal", "kernel", "cg"}, default="auto"
        How H⁻¹ is applied (DESIGN.md §5, :mod:`leaveout.solvers`): the p × p Cholesky
        ("primal"), the bordered (n+1) × (n+1) kernel form ("kernel", needs l2 > 0; nothing
        p × p is formed), or conjugate gradients on Hessian–vector products ("cg": nothing
        n × n or p × p, O(nnz) per iteration; see ``rtol`` and ``probes``).  "auto" takes the
        primal form while p ≤ n or p ≤ 500, otherwise the cheaper exact one, and "cg" when
        neither exact form fits in memory.  Primal and kernel give the same effects to
        rounding; "cg" to the accuracy :attr:`solver_info_` reports.  With "cg" the parameter
        effects of every row (``effects(method)`` without ``remove`` or ``target``, n solves)
        are refused: ask for a target or for removal sets.
    refit_ok : bool, default=False
        A model that polishing moves by more than 0.1 (relative, :attr:`polish_shift_`) does
        not look fitted on these X, y, sample_weight (other data, rescaled columns, a solver
        stopped far from its optimum): that raises :class:`~leaveout.ModelMismatchError`.
        ``refit_ok=True`` attributes the refitted optimum instead, with a ``PolishWarning``.
        Shifts between 1e-4 and 0.1 always only warn.
    rtol : float in (0, 1), default=1e-10
        ``solver="cg"`` only: the time/accuracy knob.  Each solve behind an effect stops at a
        relative residual ‖Hz − v‖ / ‖v‖ ≤ rtol; the relative error of z is at most
        cond(H) · rtol (on well-conditioned problems the default gives effects equal to the
        exact ones to ~1e-8 or better).  A looser rtol takes fewer iterations.
    probes : int ≥ 1, default=64
        ``solver="cg"`` only: random probes behind :attr:`leverage` (one solve each); the
        leverages' relative standard error is √(2 / probes) (18 % at 64, 9 % at 256).
    random_state : int ≥ 0, default=0
        ``solver="cg"`` only: seed of the probes (same inputs, same seed: same leverages).

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
        Estimate of the 1-norm condition number of the Hessian H (LAPACK ``pocon``); NaN with
        ``solver="cg"``, which forms no factor.
    scaled_condition_number_ : float
        The same for D^{-1/2} H D^{-1/2}, D = diag(H): large only for (nearly) collinear
        columns, not for badly scaled ones; an ``IllConditionedWarning`` is raised above 1e12.
        With ``solver="cg"`` a lower bound: the ratio of extreme Ritz values of one Jacobi-
        preconditioned CG solve made at construction.
    polish_shift_ : float
        ‖θ̂ − θ₀‖ / max(‖θ₀‖, tiny): how far polishing moved the adopted parameters (inf when
        they were not finite and the model was refitted from scratch).  Above 1e-4 a
        ``PolishWarning``; above 0.1 (``POLISH_ERROR``) a ``ModelMismatchError`` unless
        ``refit_ok=True``.
    solver_, solver_reason_ : str
        The solver used ("primal", "kernel" or "cg") and why it was chosen (also logged, INFO).
    solver_info_ : dict
        What the solver reached (iterations and recomputed residuals with "cg"; see below).
    newton_info_ : NewtonInfo
        Set by every ``effects("newton", ...)`` call: per set (or row), the steps taken, the
        last relative update, the observed contraction ratio, and whether it converged or
        failed to contract (see the ``steps`` parameter of :meth:`effects`).
    feature_names_in_ : ndarray of str or None
        The model's column names when it was fitted on a DataFrame; DataFrames passed as X or
        as a target's query rows must then have exactly these columns, in this order.
    param_names_ : list of str
        A name per parameter: the feature names (the model's ``feature_names_in_``, a
        pipeline's ``get_feature_names_out``, else ``x0, x1, ...``), then ``"intercept"``.
    row_labels_ : ndarray or None
        The pandas index of X (names of the training rows in labelled results), or None.
    pipeline_ : sklearn Pipeline or None
        The pipeline given as ``model``, if any.  Its last step is attributed on the output of
        its fitted transformers, which are held fixed (not refitted for a removal); a target's
        query rows are given raw and go through the same transformers.

    Examples
    --------
    >>> import numpy as np, leaveout
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); y = (X[:, 0] + rng.normal(size=200) > 0).astype(float)
    >>> att = leaveout.Attributor(leaveout.fit(X, y, l2=1.0), X, y)
    >>> att.effects("rif").shape
    (200, 6)
    """

    @reproducible
    def __init__(self, model, X, y, sample_weight=None, *, copy=True, solver="auto",
                 refit_ok=False, rtol=CG_RTOL, probes=CG_PROBES, random_state=0):
        self.row_labels_ = None if any_dask(X) else query_labels(X)
        pipe = None
        if is_pipeline(model):  # attributed in its final estimator's space (leaveout._pipeline)
            check_same_rows(X, y, "y")
            check_same_rows(X, sample_weight, "sample_weight")
            pipe = FixedTransform(model)
            model, X = pipe.final, pipe.transform(X)
        adopted = adopt(model)
        family = adopted.family
        copy = v.check_bool(copy, "copy", "Attributor")
        solver = v.check_choice(solver, "solver", "Attributor", SOLVERS)
        cg_options = check_cg_options(rtol, probes, random_state)
        cache = getattr(model, "_fit_cache", None) if isinstance(model, GLM) else None
        fit_exact = exact_fit
        if any_dask(X, y, sample_weight):  # a Dask design: lazy per-row outputs (DESIGN.md §8)
            from ._dask import api

            loss, names = api.attributor_loss(adopted, model, X, y, sample_weight,
                                              lambda d: _check_n_features(d, adopted))
            check_feature_names(adopted.feature_names, names, "X", adopted.source)
            fit_exact, cache, choice = api.exact_fit, None, api.choice(solver)
            loss.solver = choice.name
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
            choice = choose(loss.design, l2, solver)
            # The polish (and the refits of retrain) may take Newton steps by conjugate
            # gradients when that is cheaper than factorising; the effects use `choice`.
            loss.solver = choose(loss.design, l2, solver, purpose="fit").name \
                if solver == "auto" else choice.name
        design, l2 = loss.design, loss.l2
        self.solver_, self.solver_reason_ = choice.name, choice.reason
        theta0 = adopted.theta0
        finite0 = bool(np.all(np.isfinite(theta0)))
        try:
            eta0 = cache.matches(loss, theta0) if finite0 and cache is not None else None
            if eta0 is not None:
                # A leaveout fit on these very data: its final Hessian and factor are θ̂'s.
                res = NewtonResult(theta0, np.nan, np.nan, 0, cache.hessian, cache.factor, eta0)
            else:
                res = (fit_exact(loss, theta0 if finite0 else None, polish=True)
                       if fit_exact is exact_fit else fit_exact(loss, theta0 if finite0 else None))
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
        check_polish(adopted.source, self.polish_shift_, finite0,
                     v.check_bool(refit_ok, "refit_ok", "Attributor"))
        self.family = family
        self.l2 = l2
        self.fit_intercept = adopted.fit_intercept
        self.n_samples, self.n_params = design.n_samples, design.n_params
        self._rows = RowLabels(self.row_labels_, self.n_samples)  # remove= by label
        self.params_ = theta
        self.feature_names_in_ = adopted.feature_names
        self._y_map = adopted.y_map  # the model's labels → the family's (classes_ → 0/1)
        model_ = GLM(family=family.name, l2=l2, fit_intercept=adopted.fit_intercept)
        model_._set_params(theta, design.n_features, adopted.fit_intercept, family, l2)
        if adopted.feature_names is not None:
            model_.feature_names_in_ = adopted.feature_names
        self.model_ = model_
        self._pipe = pipe
        self.pipeline_ = None if pipe is None else pipe.pipeline
        if pipe is not None:
            self.feature_names_in_ = pipe.feature_names_in
        out_names = adopted.feature_names if pipe is None else pipe.feature_names_out
        self.param_names_ = param_names(out_names, design.n_features, adopted.fit_intercept)
        state_class = KernelState if choice.name == "kernel" else FittedState
        if fit_exact is not exact_fit:
            state_class = api.DaskFittedState
        if choice.name == "cg":
            self._state = CGState(loss, theta, eta=res.eta, **cg_options)
            self.condition_number_ = np.nan
            self.scaled_condition_number_ = self._state.scaled_condition
        else:
            self._state = state_class(loss, theta, res.hessian, res.factor, res.eta)
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
    @reproducible
    def leverage(self) -> np.ndarray:
        """Leverages h_i = w_i x̃_iᵀ H⁻¹ x̃_i, array of shape (n_samples,), each in [0, 1).

        Exact (to rounding) with the primal and kernel forms.  With ``solver="cg"`` they are
        estimated from ``probes`` random Gaussian probes (one CG solve each, on first use):
        ĥ_i is distributed as h_i · χ²_s / s (s = probes), unbiased with relative standard
        error √(2/s) (:attr:`leverage_se`), and may exceed 1 for a row of leverage near 1;
        ``"rif"`` effects (and :meth:`loo_linear_predictor`, :meth:`self_influence`) use these
        estimates (see :attr:`solver_info_`).
        """
        return self._state.leverage.copy()

    @property
    @reproducible
    def leverage_se(self) -> np.ndarray:
        """Standard error of each :attr:`leverage`, shape (n_samples,).

        Zeros for the exact primal and kernel forms; with ``solver="cg"``, √(2/s) · ĥ_i for s
        random probes (computing it computes the leverages).  The error of ``"rif"``'s scale
        factor 1 / (1 − h_i) is then about se_i / (1 − h_i) relative.
        """
        se = getattr(self._state, "leverage_se", None)
        return np.zeros(self.n_samples) if se is None else se.copy()

    @property
    def solver_info_(self) -> dict:
        """What the solver reached so far (a fresh dict on each access).

        For the exact forms: ``{"solver": "primal" or "kernel", "exact": True}``.  With
        ``solver="cg"``: ``rtol``; over the solves behind effects so far (including one made
        at construction for the condition estimate) ``solves``, ``iterations`` (total),
        ``max_iterations`` and ``max_residual`` — the largest relative residual
        ‖Hz − v‖ / ‖v‖, recomputed from each returned z (the error of z relative to H⁻¹v is at
        most cond(H) times it; ``scaled_condition_estimate`` is a Lanczos lower bound on the
        condition of the diagonally scaled H, which governs CG's iterations); ``leverage_probes``,
        ``random_state`` and ``leverage_rtol`` (probes are solved to max(rtol, 1e-6): their
        statistical error dominates), and once the leverages are computed ``leverage_solves``,
        ``leverage_iterations``, ``leverage_max_residual``, ``leverage_se_max``,
        ``leverage_se_median``, and ``rif_scale_relative_se_max`` / ``_median``: the relative
        standard error se_i / (1 − ĥ_i) of the factor 1 / (1 − h_i) that ``"rif"`` applies.
        """
        info = getattr(self._state, "info", None)
        if info is None:
            return {"solver": self.solver_, "exact": True}
        return info()

    @reproducible
    def effects(self, method: str = "rif", remove=None, target: Target | None = None, *,
                linearize: bool | None = None, checkpoint=None, steps: int | None = None,
                tol: float | None = None, as_frame: bool = False, by: str | None = None,
                progress: bool | None = None, n_jobs: int | None = None):
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
            How a target's change is computed from Δθ: ``False`` (the default) — plug-in,
            f(θ̂ + Δθ) − f(θ̂) (for ``retrain`` the exact change); ``True`` — first order,
            ∇f(θ̂)·Δθ (additive over rows, one solve for a scalar target).  The default is the
            plug-in for every method and every form of ``remove``, on evidence from real
            data against exact retraining (``benchmarks/calibrate_defaults.py``: sklearn's
            breast_cancer and diabetes, statsmodels' fair, anes96, randhie; l2 = 1):

            - removal sets (whole category levels, 1–50 % of n, test loss by ``newton``):
              median relative error 0.6–3.9 % plug-in vs 22–66 % first order, with every
              sign right plug-in and 80–89 % to first order;
            - single rows (``remove=None``, 300 rows per dataset, ``rif``): total test loss
              0.00–0.10 % plug-in vs 0.2–5.9 % first order; summed test probabilities both
              ≤ 0.1 %.

            Per-row plug-in costs O(n·p·m) for m query rows even when the target is a sum
            (first order: O(n·p)), computed in blocks of rows, never n × m at once.
        checkpoint : path-like, optional
            Only for ``retrain``: a directory where each finished refit is saved atomically.
            Rerunning the same call (same data and model) after an interruption reuses them and
            refits only the missing sets. Progress is logged (``logging``, INFO), with how many
            refits were reused.
        progress : bool, optional
            Only for ``retrain``: a progress bar on stderr (tqdm, optional).  Default: shown
            when stderr is a terminal and tqdm is installed; ``False`` never, ``True`` whenever
            tqdm is installed.  It counts checkpointed refits as done and says how many.
        n_jobs : int, optional
            Only for ``retrain``: refit on this many worker processes (joblib, optional; -1:
            every core).  The results are identical to a serial run, in the same order.
        steps : int, optional
            Only for ``newton``: the most steps per set (default 1, the Newton step alone,
            unchanged). Each further step refreshes the gradient of the retained objective at
            the current estimate — one pass over the data, O(np), plus solves with the
            factorisation of H − H_T already built — and moves by (H − H_T)⁻¹ times it,
            corrected by the secant pairs of the previous steps (a chord iteration with an
            L-BFGS update; its fixed point is the exact refit). Also for ``remove=None`` (n
            one-row removals, O(n²p) per step). How each set went is in
            :attr:`newton_info_`; sets whose iteration does not contract raise a
            :class:`~leaveout.NewtonStepsWarning` (no automatic refit: use ``retrain`` for them).
        tol : float, optional
            Only for ``newton``: stop a set early once an update is at most ``tol`` times its
            estimate and the estimated remaining error (the update times q/(1 − q), q the
            slowest step ratio so far: ``newton_info_.error_estimate``) is at most
            ``tol / 10`` (default 1e-2: each step shrinks the error by its step ratio, so a
            converged set is then within about 1e-3 of the refit, typically far closer; 0
            always takes ``steps`` steps).
        as_frame : bool, default=False
            Return a labelled pandas DataFrame (see Returns).
        by : {None, "position", "label"}, optional
            How ``remove`` names rows when X was a DataFrame (its index is kept at
            construction).  A pandas ``Index`` / ``Series`` and strings are labels of X's
            index, a boolean ``Series`` a mask aligned by label; plain integers are positions
            when X's index is 0..n-1 (or X had none) and are **refused** otherwise unless
            ``by="label"`` or ``by="position"`` says which (see :class:`leaveout._indices.RowLabels`
            for why an error rather than a warning).

        Returns
        -------
        ndarray or DataFrame
            Without a target: (n_samples, n_params), (n_params,) or (n_sets, n_params).
            With a target of m values: (n_samples, m), (m,) or (n_sets, m); with a scalar target
            (``reduce="sum"``) the last axis is dropped.
            With ``as_frame=True`` a DataFrame always: rows named by X's index (``remove=None``)
            or numbered sets (index ``"set"``; one row for one set); columns named by
            :attr:`param_names_` or by the target's query rows (their index, else 0..m-1; one
            column for a scalar target).
        """
        if as_frame is not False and v.check_bool(as_frame, "as_frame", "effects"):
            out = self.effects(method, remove, target, linearize=linearize, checkpoint=checkpoint,
                               steps=steps, tol=tol, by=by, progress=progress, n_jobs=n_jobs)
            return effects_frame(self, out, remove, target)
        if progress is not None or n_jobs is not None:
            if v.check_method(method, METHODS) != "retrain":
                raise ValueError(f"progress and n_jobs apply to method='retrain' only (the "
                                 f"other methods are cheap); got method={method!r}.")
            with self._state.retraining(check_progress(progress), check_n_jobs(n_jobs)):
                return self.effects(method, remove, target, linearize=linearize,
                                    checkpoint=checkpoint, steps=steps, tol=tol, by=by)
        method = v.check_method(method, METHODS)
        steps, tol = check_steps_tol(method, steps, tol)
        bound = None
        if target is not None:
            bound = self._bind(target)
        if linearize is None:
            linearize = False  # plug-in: see the docstring for the evidence
        else:
            linearize = v.check_bool(linearize, "linearize", "effects")
        if checkpoint is not None and method != "retrain":
            raise ValueError(f"checkpoint applies to method='retrain' only (the other methods "
                             f"are cheap); got method={method!r}.")
        st = self._state
        if by is not None:
            check_by(by)

        if remove is None:
            sizes = np.ones(self.n_samples, dtype=np.intp)
            record, refine = self._refinement(method, sizes, steps, tol)
            if bound is not None and (linearize or bound.linear):  # linear f: plug-in = ∇f·Δθ
                out = st.per_row_linear(method, bound.jacobian_t(st.theta), checkpoint, refine)
                return bound.shape_result(self._newton_done(record, out, sizes, "row"))
            if bound is not None and refine is None:  # plug-in in blocks of rows
                out = st.per_row_plugin(method, bound.query_t(),
                                        lambda D: bound.change(st.theta, D), checkpoint)
                return bound.shape_result(self._newton_done(record, out, sizes, "row"))
            deltas = self._newton_done(record, st.per_row(method, checkpoint, refine), sizes,
                                       "row")
            return deltas if bound is None else bound.shape_result(self._plugin(bound, deltas))

        sets, single = self._rows.resolve(remove, by)
        sizes = np.array([T.size for T in sets], dtype=np.intp)
        record, refine = self._refinement(method, sizes, steps, tol)
        deltas = self._newton_done(record, st.sets(method, sets, checkpoint, refine), sizes,
                                   "set")
        if bound is None:
            out = deltas
        elif linearize:
            J = bound.jacobian_t(st.theta)
            out = bound.shape_result(np.asarray(J.T @ deltas.T).T)  # J may be sparse
        else:
            out = bound.shape_result(self._plugin(bound, deltas))
        return out[0] if single else out

    @staticmethod
    def _refinement(method, sizes, steps, tol):
        """(record, refine) of a call: the record of a ``newton`` call (None otherwise), and
        what the estimators refine with (None unless ``steps > 1``: with ``steps=1`` the
        Newton step's own code path runs, unchanged)."""
        if method != "newton":
            return None, None
        record = Refinement(sizes.size, steps, tol)
        return record, record.iterate

    def _newton_done(self, record, out, sizes, what):
        """``out`` unchanged; after a ``newton`` call, :attr:`newton_info_` set and sets that did
        not contract warned about.

        With ``steps > 1`` and nothing to warn about, the :class:`NewtonInfo` is built when
        :attr:`newton_info_` is first read (it needs only the call's own record and set sizes,
        not ``out``): a call that is not asked for it does not pay for it (≈ 6 µs, a tenth of
        a refined set's time at a few hundred rows)."""
        if record is None:
            return out
        if type(out) is not np.ndarray and any_dask(out):  # lazy per-row output: no record
            self._newton_info = None
        elif record.max_steps > 1 and not record.may_warn():
            self._newton_info = (record, sizes)  # built on first read
        else:
            self._newton_info = info = record.info(out, sizes)
            warn_not_contracting(info, what)
        return out

    @property
    def newton_info_(self):
        """The :class:`~leaveout.NewtonInfo` of the last ``effects("newton", ...)`` call (see
        the class docstring); None after a lazy per-row call on a Dask design."""
        try:
            info = self._newton_info
        except AttributeError:
            raise AttributeError("newton_info_ is set by effects('newton', ...); call it "
                                 "first.") from None
        if type(info) is tuple:
            record, sizes = info
            self._newton_info = info = record.info(None, sizes)
        return info

    def _bind(self, target):
        if not isinstance(target, Target):
            raise TypeError(
                f"target must be made by leaveout.targets (linear_predictor, prediction or "
                f"loss); got {type(target).__name__}.")
        if isinstance(target, Coefficient):  # no query rows: resolved by parameter name
            return target.bind(self.family, self.n_params - int(self.fit_intercept),
                               self.fit_intercept, param_names=self.param_names_)
        if self._pipe is not None:
            target = self._pipe.transform_target(target)
        else:
            check_feature_names(self.feature_names_in_, target.feature_names, "The target's X",
                                "model")
        return target.bind(self.family, self.n_params - int(self.fit_intercept),
                           self.fit_intercept, self._y_map)

    def top(self, target: Target, k: int = 10, *, method: str = "rif", verify: bool = False):
        """The k training rows whose removal moves each query's target most.

        Parameters
        ----------
        target : Target
            From :mod:`leaveout.targets`: one value per query row, or a scalar (one "query").
        k : int, default=10
            Rows per query (fewer when there are fewer training rows).
        method : {"if", "rif", "newton", "retrain"}, default="rif"
            The estimator of each single-row removal effect.
        verify : bool, default=False
            Also retrain without each listed row (one exact refit per distinct row) and give
            the exact change of the target in a column ``"retrained"``.

        Returns
        -------
        DataFrame
            ``k`` rows per query, ranked by ``|effect|`` (largest first, ties in training order):
            columns ``query`` (the query row's label), ``rank`` (1..k), ``train`` (the training
            row's label: X's index, else its position), ``effect`` (the change of the target
            when that row alone is removed, in the target's own units: for a prediction a
            probability, for a linear predictor log-odds/the response/log-rate), ``method``, and
            ``retrained`` with ``verify=True``.
        """
        return top_frame(self, target, k, method, verify)

    @reproducible
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
        return bound.plugin(self.params_, deltas)

    @reproducible
    def retrain(self, remove, *, checkpoint=None, by=None, progress=None,
                n_jobs=None) -> np.ndarray:
        """Exact parameters θ̂₋T after removing ``remove`` (same forms, ``checkpoint``, ``by``,
        ``progress`` and ``n_jobs`` as in :meth:`effects`)."""
        sets, single = self._rows.resolve(remove, by)
        with self._state.retraining(check_progress(progress), check_n_jobs(n_jobs)):
            thetas = self.params_ + self._state.sets("retrain", sets, checkpoint)
        return thetas[0] if single else thetas

    def set_leverage(self, remove, *, by=None):
        """Set leverage of each removal set: the largest eigenvalue of
        W_T^½ X̃_T H⁻¹ X̃_Tᵀ W_T^½ (k × k for a set of k rows).

        It is h_i for a single row and lies in [0, 1]: the fraction of the curvature in the
        most affected direction that the set supplies.  With ``solver="cg"`` it takes k solves
        for a set of k ≤ 32 rows, and above that Lanczos iterations (one solve each) stopped
        at a residual bound of 1e-4.  Additive estimates (``"if"``,
        ``"rif"``) ignore the interactions inside a set; they break down as it grows (see
        :data:`leaveout.estimators.SET_LEVERAGE_WARN`), while ``"newton"`` accounts for them.

        Parameters
        ----------
        remove : sequence of int, boolean mask, or list of those
            The same forms as in :meth:`effects`.
        by : {None, "position", "label"}, optional
            As in :meth:`effects`.

        Returns
        -------
        float or ndarray of shape (n_sets,)
            A float for one set, an array for a list of sets.
        """
        sets, single = self._rows.resolve(remove, by)
        lev = np.array([self._state.set_leverage(T) for T in sets])
        return float(lev[0]) if single else lev

    # -- answers built on the estimators (DESIGN.md §9) ------------------------------------------
    def _loo_args(self, method, checkpoint, caller):
        method = v.check_method(method, METHODS)
        if checkpoint is not None and method != "retrain":
            raise ValueError(f"checkpoint applies to method='retrain' only (the other methods "
                             f"are cheap); got method={method!r} in {caller}.")
        return method

    def loo_linear_predictor(self, method: str = "rif", *, checkpoint=None) -> np.ndarray:
        """Each training row's own linear predictor η₋ᵢ = x̃_i·θ̂₋ᵢ when that row is left out.

        Parameters
        ----------
        method : {"if", "rif", "newton", "retrain"}, default="rif"
            ``"if"``: η_i + r_i q_i; ``"rif"`` (and ``"newton"``, identical for one row):
            η_i + r_i q_i / (1 − h_i), with r_i = s_i ℓ'(η_i, y_i), q_i = x̃_iᵀH⁻¹x̃_i and
            h_i = w_i q_i the leverage; ``"retrain"``: n exact refits (warm-started).  For
            squared loss ``"rif"`` is exact (y_i − η₋ᵢ is the PRESS residual e_i / (1 − h_i)).
        checkpoint : path-like, optional
            Only for ``"retrain"``: a directory where each finished refit is saved atomically
            and reused by a rerun (as in :meth:`effects`).

        Returns
        -------
        ndarray of shape (n_samples,)
            NaN for a row whose removal alone is singular (leverage 1: ``HighLeverageWarning``)
            or leaves no finite optimum (``DegenerateRemovalWarning``).  A row of zero sample
            weight gets η₋ᵢ = η_i (removing it changes nothing).
        """
        from .loo import loo_linear_predictor

        method = self._loo_args(method, checkpoint, "loo_linear_predictor")
        return loo_linear_predictor(self._state, method, checkpoint)

    def self_influence(self, method: str = "rif", *, checkpoint=None) -> np.ndarray:
        """How much worse each training row is predicted when it is not trained on.

        ℓ(η₋ᵢ, y_i) − ℓ(η_i, y_i) with η₋ᵢ from :meth:`loo_linear_predictor` (same ``method``
        and ``checkpoint``).  The per-row loss ℓ is **not** multiplied by the sample weight s_i:
        the weight enters through η₋ᵢ (a heavier row moves its own fit more), but the score is
        in the units of one row's loss, so rows of different weights compare on one scale
        (multiply by ``sample_weight`` yourself for the change of the weighted objective term).
        Ranking rows by it, largest first, is the standard detector of mislabelled rows.

        Returns
        -------
        ndarray of shape (n_samples,)
            NaN where :meth:`loo_linear_predictor` is NaN.
        """
        from .loo import loo_losses

        method = self._loo_args(method, checkpoint, "self_influence")
        loo, full = loo_losses(self._state, method, checkpoint)
        return loo - full

    def smallest_removal(self, target: Target, *, max_rows: int | None = None, threshold=None,
                         verify: bool = True, method: str = "newton"):
        """The smallest set of training rows found whose removal flips a scalar target.

        A robustness audit (AMIP, Broderick, Giordano & Meager 2020): would the conclusion —
        the sign of a coefficient, a prediction — survive dropping a handful of rows?  Rows are
        removed greedily by their per-row effects, re-ranked on the model refitted without the
        rows removed so far (so rows that mask each other are found), and the set is verified
        by an exact refit.  The one-shot sets ranked once by IF (AMIP's) and by RIF are
        searched too, and the smallest verified set of all is returned.

        Parameters
        ----------
        target : Target
            A scalar target: :func:`targets.coefficient`, a target with ``reduce="sum"`` or
            ``"mean"``, or a target on one query row.
        max_rows : int, optional
            The most rows the set may hold, 1 ≤ max_rows ≤ n_samples (default n_samples // 10).
        threshold : float, optional
            ``None``: flip the sign (cross 0).  A number: move the target past it, from the
            side it is on now.
        verify : bool, default=True
            Refit exactly (the greedy's steps and the final check).  ``False`` uses one Newton
            step per greedy round instead, and nothing is claimed: ``flipped`` is False and
            ``actual`` NaN.
        method : {"newton", "rif", "if"}, default="newton"
            The estimate reported as ``predicted`` (and the greedy's ranking: IF effects with
            ``"if"``, RIF effects otherwise).

        Returns
        -------
        RemovalAudit
            ``rows``, ``predicted``, ``actual`` and ``flipped``; ``flipped`` is True only when
            the exact refit without ``rows`` crosses the threshold.  If no set of at most
            ``max_rows`` rows is found, ``flipped`` is False and ``rows`` / ``actual`` describe
            the set that moved the target furthest (``moved`` = actual − value).
        """
        from .audit import check_max_rows
        from .audit import smallest_removal as search

        method = v.check_method(method, ("newton", "rif", "if"))
        bound = self._bind(target)
        if not (bound.scalar or target.shape == (1,)):
            raise ValueError(
                f"smallest_removal needs a scalar target; {target!r} has shape {target.shape}. "
                f"Use reduce='sum' (or 'mean'), a single query row, or targets.coefficient(j).")
        max_rows = check_max_rows(max_rows, self.n_samples)
        verify = v.check_bool(verify, "verify", "smallest_removal")
        if threshold is None:
            threshold = 0.0
        elif isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real) \
                or not np.isfinite(threshold):
            raise ValueError(f"threshold must be None (sign flip) or a finite number; got "
                             f"{threshold!r}.")
        value = float(bound.value(self.params_)[0])
        if value == float(threshold):
            raise ValueError(f"The target already equals the threshold ({value:g}): there is no "
                             f"side to move it from. Choose another threshold.")
        return search(self._state, bound, max_rows=max_rows, threshold=float(threshold),
                      verify=verify, method=method)
