"""The exact L2-regularised GLM fit: L-BFGS while Hessians are dear, damped Newton with Cholesky
solves to finish, and warm starts.

The fit minimises the objective of DESIGN.md §2,

    L(θ) = Σ_i s_i ℓ(x̃_i·θ, y_i) + (λ/2) ‖β‖²,   θ = (β, b), intercept last and unpenalised,

to machine precision.  On small designs: Newton steps with a backtracking line search until the
Newton decrement is at rounding level, then one final full step.  On big ones (at least
``LBFGS_MIN_PARAMS`` parameters and ``LBFGS_MIN_ENTRIES`` entries) a Hessian costs many
gradients, so L-BFGS (O(np) per iteration, one fused sweep over X per gradient) runs first to
within rounding of θ̂, and one Newton check with the exact stopping rule follows where its
Hessian is cheap next to what L-BFGS cost — that Hessian and its factor are then kept for an
Attributor (leaveout._reuse).  See :func:`minimise`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import _validation as v
from ._dask import any_dask
from .designs import make_design
from ._features import check_feature_names, check_same_rows, feature_names
from ._finite import check_finite_result
from ._linear import LinearLoss
from ._solve import factorize
from .solvers import FIT_SOLVERS, choose, hessian_factor
from ._reuse import FitCache
from ._threads import reproducible
from .exceptions import ConvergenceError, SingularHessianError
from .families import get_family

logger = logging.getLogger(__name__)

#: Newton decrement² below which (relative to Σ s_i|ℓ_i| + penalty) the fit is at rounding level.
DECREMENT_TOL = 1e-16
#: Condition estimate of the equilibrated Hessian at the optimum above which its columns are taken
#: as linearly dependent (≈ 1 / (5 · machine epsilon)): the optimum is then not unique to working
#: precision.
SINGULAR_COND = 1e15


def _norm(v: np.ndarray) -> float:
    """Euclidean norm without overflow of the squares (entries up to ~1e300)."""
    m = float(np.abs(v).max(initial=0.0))
    if m == 0.0 or not np.isfinite(m):
        return m
    return m * float(np.linalg.norm(v / m))


#: A final Newton step at most this large (relative, ∞-norm) leaves the Hessian of the last
#: iterate valid at the returned θ: its entries change by O(step), far below what any effect
#: can resolve, so callers may reuse it instead of recomputing it (one O(np²) product saved).
REUSE_STEP = 1e-12


@dataclass
class NewtonResult:
    theta: np.ndarray
    objective: float
    gradient_norm: float
    n_iter: int
    #: The Hessian and its factor at ``theta`` (to rounding), when the last step was negligible.
    hessian: np.ndarray | None = None
    factor: object = None
    #: η = X̃θ when the fit computed it at ``theta``.
    eta: np.ndarray | None = None


def _objective_scale(loss, theta, eta, f) -> float:
    """Σ s_i|ℓ_i| + (λ/2)‖β‖² at θ: L(θ) = ``f`` itself where ℓ ≥ 0 (logistic, squared), which
    saves a pass over the rows' losses; else :meth:`LinearLoss.objective_scale`."""
    if getattr(loss.family, "nonnegative_loss", False) and f is not None and np.isfinite(f):
        return float(f)
    return loss.objective_scale(theta, eta)


def newton(loss: LinearLoss, theta0: np.ndarray, *, max_iter: int = 100,
           start=None, polish: bool = False) -> NewtonResult:
    """Minimise ``loss`` from ``theta0`` to machine precision.

    ``start``: optional ``(objective, gradient, η)`` at ``theta0`` when the caller has them.
    ``polish=True`` (an Attributor checking a fitted model): when ``theta0`` already passes the
    test and its Newton step is at most ``REUSE_STEP`` (relative), ``theta0`` itself is returned
    with its Hessian and factor — the step would move θ by less than 1e-12 relative, and taking
    it costs one more sweep over X only to report the gradient there.

    Raises
    ------
    ConvergenceError
        If no finite optimum is reached in ``max_iter`` steps (typically separable data or
        all-equal labels with no penalty).
    SingularHessianError
        If the Hessian is singular at an iterate, or numerically singular at the optimum (the
        optimum is not unique).
    """
    theta = np.array(theta0, dtype=np.float64)
    g = None
    f, g, eta = start if start is not None else loss.objective_and_gradient(theta)
    if not np.isfinite(f):
        # A start far from the data's scale (e.g. an adopted model on other data): restart at 0.
        theta, g = np.zeros_like(theta), None
        eta = loss.eta(theta)
        f = loss.objective(theta, eta)
    previous, ratio = np.inf, 0.0
    for it in range(1, max_iter + 1):
        if g is None:
            g = loss.gradient(theta, eta)
        H, factor = hessian_factor(loss, theta, eta)
        step = -factor.solve(g)
        decrement2 = float(-np.dot(g, step))
        if not np.isfinite(decrement2):
            raise ConvergenceError("The Newton step is not finite; check the scale of the inputs.")
        # Rounding level: the decrement L can still resolve relative to the size of its terms
        # (not to 1, which stops early when L is tiny: nearly separable data, tiny penalty), or
        # the decrement that rounding errors of the gradient alone produce (an interpolating
        # least-squares fit, or labels far larger than the residuals) — whichever is larger.
        # The noise term only raises the scale: it is computed (two passes over |X̃|) only
        # where it can change a decision — near the optimum, or when the decrement stalls.
        scale = max(_objective_scale(loss, theta, eta, f), np.finfo(float).tiny)
        if decrement2 > DECREMENT_TOL * scale and (decrement2 <= 1e-8 * scale
                                                   or decrement2 > 0.1 * previous):
            gn = loss.gradient_noise(theta, eta)
            scale = max(scale, float(np.dot(gn, factor.solve(gn))) / DECREMENT_TOL)
        # Done when the decrement is at rounding level, or has stopped shrinking while small
        # (the rounding floor of an ill-conditioned problem).
        if decrement2 <= DECREMENT_TOL * scale:
            # Quadratic convergence: one more full step lands at rounding level.
            _check_unique(factor, loss.l2)
            small = np.abs(step).max(initial=0.0) <= REUSE_STEP * max(
                1.0, np.abs(theta).max(initial=0.0))
            if small and polish and it == 1:
                return NewtonResult(theta, f, _norm(g), 0, H, factor, eta=eta)
            theta = theta + step
            f, g, eta = loss.objective_and_gradient(theta)
            return NewtonResult(theta, f, _norm(g), it, *((H, factor) if small else ()), eta=eta)
        if decrement2 <= 1e-10 * scale and decrement2 > 0.1 * previous:
            _check_unique(factor, loss.l2)
            return NewtonResult(theta, f, _norm(g), it - 1, H, factor)
        ratio, previous = decrement2 / previous, decrement2
        # Backtracking (Armijo) line search; the full step is taken near the optimum.
        t = 1.0
        for _ in range(60):
            cand = theta + t * step
            eta_c = loss.eta(cand)
            f_c = loss.objective(cand, eta_c)
            if np.isfinite(f_c) and f_c <= f - 1e-4 * t * decrement2 + 1e-13 * scale:
                break
            t *= 0.5
        else:
            if decrement2 <= 1e-10 * scale:
                _check_unique(factor, loss.l2)
                return NewtonResult(theta, f, _norm(g), it - 1)
            raise ConvergenceError(
                "The line search failed: the objective could not be decreased along the Newton "
                "direction. The problem is badly scaled; standardise the features."
            )
        theta, eta, f, g = cand, eta_c, f_c, None
    exc = ConvergenceError(
        f"The fit did not converge in {max_iter} Newton steps (last decrement² "
        f"{decrement2:.3g}). The optimum is probably at infinity: perfectly separable labels, "
        f"all-equal labels, or counts that are all zero, with too little penalty. Use l2 > 0 "
        f"(and check the labels)."
    )
    exc.stalled = ratio > 0.1  # the decrement stopped shrinking: not quadratic convergence
    raise exc


#: L-BFGS first (Hessian-free) when the design has at least this many parameters and entries:
#: below it a Hessian costs about a gradient and Newton alone is as fast and more robust.
LBFGS_MIN_PARAMS = 64
LBFGS_MIN_ENTRIES = 2**18
#: L-BFGS memory (curvature pairs kept) and iteration cap before Newton takes over.
LBFGS_MEMORY = 10
LBFGS_MAX_ITER = 60
#: One Hessian costs about n_params / HESSIAN_PER_SWEEP fused gradient sweeps (measured on one
#: thread: ≈ p/37 at p = 500, p/27 at p = 100; benchmarks/bench_scale.py).  Since the sweeps
#: got cheaper (one-pass family terms, 2026-12-02) it is ≈ p/20 and p/15; the constant is kept,
#: so which fits end with a Newton check (and keep a Hessian for an Attributor) is unchanged.
HESSIAN_PER_SWEEP = 32.0


@dataclass
class FirstOrderResult:
    theta: np.ndarray
    objective: float
    gradient: np.ndarray
    eta: np.ndarray
    n_iter: int
    n_eval: int
    converged: bool


def lbfgs(loss: LinearLoss, theta0: np.ndarray, *, max_iter: int = LBFGS_MAX_ITER,
          memory: int = LBFGS_MEMORY) -> FirstOrderResult:
    """Minimise ``loss`` by L-BFGS from ``theta0``, with no Hessian: O(np) per iteration.

    Each objective-and-gradient is one fused sweep over X (:meth:`LinearLoss.objective_and_
    gradient`); the line search enforces the strong Wolfe conditions, so every curvature pair is
    positive, and the initial inverse Hessian is the inverse of the Hessian's diagonal at θ₀ —
    until, after ``PRECOND_MIN_ITER`` iterations, the average rate so far predicts more sweeps
    to convergence than a Hessian and ``PRECOND_ITER`` iterations cost (:func:`_slow`): then
    the Cholesky factor of the Hessian at that iterate (correlated or uncentred features:
    60 iterations without converging became 14–16 on such data, n = 20,000–100,000).
    Converged one step after the L-BFGS step — the estimate −H̃⁻¹∇L of the Newton step — is at
    most ``REUSE_STEP`` (1e-12) relative in the ∞-norm: θ is then within rounding of θ̂ (about
    1e-13 relative, the gradient within a few times its rounding bound on the benchmark data)
    and a Hessian computed there is θ̂'s.  ``converged`` is False when that did not
    happen in ``max_iter`` iterations or the line search failed (ill-conditioned problems):
    the caller then finishes with Newton.
    """
    theta = np.array(theta0, dtype=np.float64)
    # Diagonal preconditioner: the Hessian's diagonal at θ₀ (from the first sweep).  It evens
    # out the scales of the features and of the unpenalised intercept, whose curvature Σ w_i is
    # often hundreds of times the others' (L-BFGS with a scalar initial matrix crawls then).
    f, g, eta, D = loss.objective_and_gradient(theta, diagonal=True)
    n_eval = 1
    if not np.isfinite(f):
        return FirstOrderResult(theta, f, g, eta, 0, n_eval, False)
    slack = 1e-13 * max(_objective_scale(loss, theta, eta, f), np.finfo(float).tiny)
    D = np.maximum(D, 1e-12 * max(float(D.max(initial=0.0)), np.finfo(float).tiny))
    if not np.all(np.isfinite(D)):
        return FirstOrderResult(theta, f, g, eta, 0, n_eval, False)
    S, Y, rho = [], [], []
    # Once the rate of the first iterations says that L-BFGS needs more sweeps than a Hessian
    # costs (ill-conditioned data: correlated or uncentred features), the Cholesky factor of
    # the Hessian at the current iterate replaces D as the initial inverse-Hessian estimate.
    precond, first_step = None, None
    hessian_cost = loss.design.n_params / HESSIAN_PER_SWEEP
    for it in range(max_iter):
        # Two-loop recursion: d = −H̃ g with H̃ the L-BFGS inverse-Hessian estimate.
        q = g.copy()
        alpha = []
        for s_k, y_k, r_k in zip(reversed(S), reversed(Y), reversed(rho)):
            a = r_k * float(np.dot(s_k, q))
            alpha.append(a)
            q -= a * y_k
        if precond is not None:  # H̃₀ = H(θ_k)⁻¹
            q = precond.solve(q)
        else:
            q /= D
            if S:  # H̃₀ = γ D⁻¹, γ = sᵀy / yᵀD⁻¹y from the newest pair
                q *= float(np.dot(S[-1], Y[-1])) / float(np.dot(Y[-1], Y[-1] / D))
        for s_k, y_k, r_k, a in zip(S, Y, rho, reversed(alpha)):
            q += (a - r_k * float(np.dot(y_k, q))) * s_k
        d = -q
        gd = float(np.dot(g, d))
        if not (np.isfinite(gd) and gd < 0.0):
            converged = np.abs(g).max(initial=0.0) == 0.0
            return FirstOrderResult(theta, _value(loss, theta, f, eta), g, eta, it, n_eval,
                                    bool(converged))
        # Near θ̂ L-BFGS converges superlinearly: once its step is at most REUSE_STEP
        # (relative), one more step and θ is within rounding of θ̂ (as after Newton's test).
        final = bool(S) and np.abs(d).max() <= REUSE_STEP * max(1.0, np.abs(theta).max())
        # Strong Wolfe line search by bracketing: shrink on too little decrease or on
        # overshooting (the slope turned positive), grow while the slope is still steep.
        # L is convex along d, so the slope φ'(t) = ∇L(θ + td)·d decides most trials without
        # L itself (the sweeps skip the per-row losses): φ' ≤ c·φ'(0) < 0 means L decreased by
        # at least −t·φ'(t) ≥ c·t·|φ'(0)|, so the sufficient-decrease test holds for c ≥ 1e-4.
        # Only a slope near zero or slightly positive needs L (from η, no pass over X).
        t, lo, hi = 1.0, 0.0, np.inf
        for _ in range(40):
            cand = theta + t * d
            f_c, g_c, eta_c = loss.objective_and_gradient(cand, value=False)
            n_eval += 1
            slope = float(np.dot(g_c, d))
            if not np.isfinite(slope) or slope > -0.9 * gd:
                hi = t
            elif slope < 0.9 * gd:  # still steep: L decreased enough (convexity); go further
                lo = t
            elif slope <= 1e-4 * gd:  # the curvature condition, and L decreased enough
                break
            else:
                if f is None:
                    f = loss.objective(theta, eta)
                f_c = loss.objective(cand, eta_c)
                if np.isfinite(f_c) and f_c <= f + 1e-4 * t * gd + slack:
                    break
                hi = t
            t = 0.5 * (lo + hi) if np.isfinite(hi) else 2.0 * t
        else:
            return FirstOrderResult(theta, _value(loss, theta, f, eta), g, eta, it, n_eval, False)
        s_k, y_k = cand - theta, g_c - g
        sy = float(np.dot(s_k, y_k))
        if sy > 1e-12 * _norm(s_k) * _norm(y_k):
            S.append(s_k), Y.append(y_k), rho.append(1.0 / sy)
            if len(S) > memory:
                del S[0], Y[0], rho[0]
        step = float(np.abs(s_k).max())
        first_step = step if first_step is None else first_step
        theta, f, g, eta = cand, f_c, g_c, eta_c
        if final:
            return FirstOrderResult(theta, _value(loss, theta, f, eta), g, eta, it + 1, n_eval,
                                    True)
        if precond is None and it + 1 >= PRECOND_MIN_ITER and _slow(
                step, first_step, it, n_eval, theta, hessian_cost):
            try:
                precond = factorize(loss.hessian(theta, eta))
            except SingularHessianError:
                precond = False  # not positive definite to working precision: keep D
            else:
                logger.info("L-BFGS converges slowly; the Hessian at iteration %d preconditions "
                            "it.", it + 1)
                S, Y, rho = [], [], []
            if precond is False:
                precond = None
                hessian_cost = np.inf
    return FirstOrderResult(theta, _value(loss, theta, f, eta), g, eta, max_iter, n_eval, False)


def _value(loss, theta, f, eta) -> float:
    """L(θ): ``f`` when known, else from η (one pass over the rows, none over X)."""
    return loss.objective(theta, eta) if f is None else f


#: L-BFGS iterations before its rate decides whether a Hessian preconditions it (the rate of
#: fewer is too noisy: well-conditioned problems look slow for their first few steps).
PRECOND_MIN_ITER = 8
#: Preconditioned L-BFGS iterations expected after the switch (measured: 4–8 on correlated or
#: uncentred features).
PRECOND_ITER = 8


def _slow(step, first_step, it, n_eval, theta, hessian_cost) -> bool:
    """Whether L-BFGS, at its average rate so far, needs more sweeps to converge than a
    Hessian (``hessian_cost`` sweeps) and ``PRECOND_ITER`` preconditioned iterations."""
    target = REUSE_STEP * max(1.0, float(np.abs(theta).max()))
    if step <= target or first_step <= 0.0:
        return False
    rate = (step / first_step) ** (1.0 / max(it, 1))
    if rate >= 1.0:
        return True
    remaining = np.log(target / step) / np.log(rate) * n_eval / (it + 1)
    return remaining > hessian_cost + PRECOND_ITER


def _use_first_order(loss) -> bool:
    """L-BFGS first: a dense design (fused sweeps) big enough, with the primal solver."""
    design = loss.design
    return (getattr(loss, "solver", "primal") == "primal"
            and hasattr(design, "value_and_gradient")
            and design.n_params >= LBFGS_MIN_PARAMS
            and design.n_samples * design.n_params >= LBFGS_MIN_ENTRIES)


def minimise(loss: LinearLoss, theta0: np.ndarray, *, max_iter: int = 100,
             hessian: str = "auto") -> NewtonResult:
    """L-BFGS while the Hessian is dear, then Newton only where L-BFGS does not converge.

    On designs big enough that a Hessian costs many gradients (``_use_first_order``), L-BFGS
    runs first (:func:`lbfgs`); its stopping rule leaves θ within rounding of θ̂, so a converged
    L-BFGS point is returned as it is, without a Hessian.  A final Newton check there would add
    a Hessian and its factor — measured on one thread, 5–6 sweeps at p = 64–100 and 14 at
    p = 500, i.e. +40–60 % of the fit at n = 100,000, p = 100 — for what only an Attributor
    needs; an Attributor computes it once, when asked (the fit keeps the Hessian for it only
    where it had one anyway: Newton on small designs).  When L-BFGS does not converge, Newton
    takes over from its last point.  ``hessian`` ("auto" or "never") is accepted for the callers
    that name it; both behave the same.
    """
    if not _use_first_order(loss):
        return newton(loss, theta0, max_iter=max_iter)
    res = lbfgs(loss, theta0)
    if not res.converged:
        logger.info("L-BFGS did not converge in %d iterations; Newton takes over.", res.n_iter)
        start = res.theta if np.isfinite(res.objective) else theta0
        out = newton(loss, start, max_iter=max_iter)
        out.n_iter += res.n_iter
        return out
    return NewtonResult(res.theta, res.objective, _norm(res.gradient), res.n_iter)


def _numerically_singular(detail: str, l2: float) -> SingularHessianError:
    if l2 == 0.0:
        why = ("This happens with l2=0 when columns are (nearly) linearly dependent: constant or "
               "duplicated columns, one column a combination of others, or high powers of a "
               "feature. Use l2 > 0, standardise, or drop the redundant columns.")
    else:
        why = (f"With l2={l2:g} this means the penalty is negligible next to the data: columns are "
               f"(nearly) linearly dependent, or the classes (nearly) separable so the fit runs "
               f"off towards infinity. Raise l2, standardise, or drop the redundant columns.")
    return SingularHessianError(
        f"The Hessian at the optimum is numerically singular ({detail}), so the optimum is not "
        f"unique to working precision. {why}")


def _check_unique(factor, l2: float) -> None:
    cond = factor.scaled_condition_estimate()
    if cond > SINGULAR_COND:
        raise _numerically_singular(f"condition number of the scaled Hessian ≈ {cond:.1e}", l2)


def cold_start(loss: LinearLoss) -> np.ndarray:
    """The default starting point: β = 0 and the intercept of the intercept-only model."""
    theta0 = np.zeros(loss.design.n_params)
    if loss.design.fit_intercept:
        theta0[-1] = loss.initial_intercept()
    return theta0


def _newton_from(loss: LinearLoss, theta0, max_iter: int, hessian=None,
                 polish: bool = False) -> NewtonResult:
    """Newton from ``theta0`` (a warm start), falling back to :func:`cold_start` when that fails.

    A warm start far from the optimum (an adopted model given other data, rescaled features, a
    poor user guess) can leave Newton in a region where the Hessian is numerically singular or
    the line search cannot progress; the cold start's failure is then the data's verdict.
    With ``hessian`` ("auto" or "never"), :func:`minimise` (L-BFGS, then Newton) instead.
    """
    def run(start):
        if hessian is None:
            return newton(loss, start, max_iter=max_iter, polish=polish and start is theta0)
        return minimise(loss, start, max_iter=max_iter, hessian=hessian)

    cold = cold_start(loss)
    if theta0 is None or np.array_equal(theta0, cold):
        return run(cold)
    try:
        return run(theta0)
    except (ConvergenceError, SingularHessianError):
        logger.info("Newton from the warm start failed; restarting from the cold start.")
        return run(cold)


def exact_fit(loss: LinearLoss, theta0: np.ndarray | None = None, *,
              max_iter: int = 100, hessian: str | None = None,
              polish: bool = False) -> NewtonResult:
    """:func:`newton` with the checks that make its answer the unique finite optimum.

    ``theta0`` is a warm start (default: :func:`cold_start`); if Newton fails from it, the fit is
    retried from the cold start before any error is raised.  ``hessian=None`` runs Newton alone
    (the polish of an adopted model, which needs the Hessian at θ̂ anyway); ``"auto"`` or
    ``"never"`` run :func:`minimise` (L-BFGS first on big designs: :meth:`GLM.fit`, refits).
    ``polish=True`` (the polish): a ``theta0`` already at the optimum is returned unchanged
    (see :func:`newton`).

    Rejects, before fitting, data whose optimum is visibly at infinity or not unique (one class,
    all-zero counts, too few rows, constant or duplicated columns with ``l2=0``) and, with
    ``l2=0``, confirms suspected (quasi-)separation by a linear program.  Used by every fit in
    leaveout: :meth:`GLM.fit`, the polish of an adopted model and each exact retraining.

    Raises
    ------
    ConvergenceError
        The optimum is at infinity.
    SingularHessianError
        The optimum is not unique.
    """
    X, family, y, sw, l2 = loss.design.X, loss.family, loss.y, loss.weights, loss.l2
    fit_intercept = loss.design.fit_intercept
    _check_degenerate(family, y, sw, l2, fit_intercept, X)
    try:
        try:
            res = _newton_from(loss, theta0, max_iter, hessian, polish)
        except ConvergenceError as exc:
            _raise_if_separated(family, X, y, sw, l2, fit_intercept)
            stalled = getattr(exc, "stalled", None)
            if (family.name == "squared" or l2 > 0.0) and stalled is not None:
                # The optimum is finite here: Newton either stalled on rounding errors of its
                # solves (a numerically singular Hessian) or was given too few steps.
                if stalled:
                    raise _numerically_singular("Newton steps stall at rounding level",
                                                l2) from exc
                raise ConvergenceError(
                    f"The fit did not converge in {max_iter} Newton steps although its optimum "
                    f"is finite; raise max_iter.") from exc
            raise
    except SingularHessianError as exc:
        hint = _scale_hint(X[sw > 0], fit_intercept)
        if hint:
            raise SingularHessianError(f"{exc} {hint}") from None
        raise
    if l2 == 0.0 and np.abs(loss.eta(res.theta)[sw > 0]).max(initial=0.0) > 20.0:
        # Suspicious: fitted probabilities within 1e-9 of 0 or 1.  Confirm by an LP.
        _raise_if_separated(family, X, y, sw, l2, fit_intercept)
    return res


class GLM:
    """An L2-regularised generalised linear model fitted exactly.

    Minimises ``Σ_i s_i ℓ(x̃_i·θ, y_i) + (l2/2) ‖β‖²`` (a sum over rows; intercept unpenalised).

    Parameters
    ----------
    family : {"logistic", "squared", "poisson"}, default="logistic"
    l2 : float, default=1.0
        Penalty λ ≥ 0 in the sum convention (scikit-learn's ``LogisticRegression(C)`` is
        ``l2 = 1/C``, ``Ridge(alpha)`` is ``l2 = alpha``).
    fit_intercept : bool, default=True
    max_iter : int, default=100
        Maximum number of Newton steps (the L-BFGS phase of big designs has its own cap,
        ``LBFGS_MAX_ITER``, after which Newton takes over).
    solver : {"auto", "primal", "kernel", "cg"}, default="auto"
        How Newton steps apply H⁻¹ (see :mod:`leaveout.solvers`): the p × p Cholesky
        ("primal"), the bordered (n+1) × (n+1) kernel form ("kernel", needs l2 > 0), or
        conjugate gradients on Hessian–vector products ("cg"); "auto" chooses by cost (and
        "cg" when neither the primal nor the kernel form fits in memory).  Every
        solver reaches the same optimum (gradient at rounding level).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
        0.0 when ``fit_intercept=False``.
    params_ : ndarray of shape (n_params,)
        ``coef_`` followed by ``intercept_`` when there is one.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when X had string column names
    n_iter_ : int
        Iterations taken: L-BFGS iterations (big designs) plus Newton steps.
    objective_ : float
        Objective value at the optimum.
    gradient_norm_ : float
        Euclidean norm of the objective's gradient at the optimum.
    solver_, solver_reason_ : str
        The solver the fit used and why it was chosen.
    """

    def __init__(self, *, family="logistic", l2=1.0, fit_intercept=True, max_iter=100,
                 solver="auto"):
        self.family = family
        self.l2 = l2
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.solver = solver

    _PARAMS = ("family", "l2", "fit_intercept", "max_iter", "solver")

    def __repr__(self) -> str:
        extra = "" if self.max_iter == 100 else f", max_iter={self.max_iter!r}"
        extra += "" if self.solver == "auto" else f", solver={self.solver!r}"
        return (f"GLM(family={self.family!r}, l2={self.l2!r}, "
                f"fit_intercept={self.fit_intercept!r}{extra})")

    # -- scikit-learn estimator protocol (clone, Pipeline, GridSearchCV) ----------------------
    def get_params(self, deep: bool = True) -> dict:
        """The constructor parameters, as scikit-learn's ``get_params``."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params) -> "GLM":
        """Set constructor parameters (checked at the next ``fit``); returns self."""
        unknown = sorted(set(params) - set(self._PARAMS))
        if unknown:
            raise ValueError(f"Invalid parameter(s) {unknown} for {type(self).__name__}; valid "
                             f"parameters are "
                             f"{list(self._PARAMS)}.")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        """Estimator tags for scikit-learn's meta-estimators (imported only when they ask).

        Not a classifier or regressor by type: ``predict`` returns the mean (a probability for
        logistic); ``score`` is minus the mean per-row loss.
        """
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=True))

    # -- fitting ------------------------------------------------------------------------------
    def _validated(self):
        family = get_family(self.family)
        l2 = v.check_param_float(self.l2, "l2", "fit")
        fit_intercept = v.check_bool(self.fit_intercept, "fit_intercept", "fit")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, (int, np.integer)) \
                or self.max_iter < 1:
            raise ValueError(f"The 'max_iter' parameter of fit must be an int >= 1. Got "
                             f"{self.max_iter!r} instead.")
        return family, l2, fit_intercept

    @reproducible
    def fit(self, X, y, sample_weight=None, *, warm_start=None):
        """Fit to ``X`` (n, n_features), ``y`` (n,), optional ``sample_weight`` (n,).

        ``warm_start`` : optional ndarray of shape (n_params,) to start Newton from.
        """
        family, l2, fit_intercept = self._validated()
        fit_exact = exact_fit
        requested = v.check_choice(self.solver, "solver", "fit", FIT_SOLVERS)
        if any_dask(X, y, sample_weight):  # distributed Newton on the Dask design
            from ._dask import api

            loss, names = api.loss_of(X, y, sample_weight, family, fit_intercept, l2=l2)
            design, fit_exact, choice = loss.design, api.exact_fit, api.choice(requested)
        else:
            names, Xa, ya, sw, design = training_data(X, y, sample_weight, family,
                                                      fit_intercept)
            loss = LinearLoss(design, family, ya, sw, l2)
            choice = choose(design, l2, requested, purpose="fit")
        loss.solver = choice.name
        if warm_start is None:
            theta0 = None
        else:
            theta0 = _check_warm_start(warm_start, design.n_params)
        try:
            res = fit_exact(loss, theta0, max_iter=self.max_iter, hessian="auto")
        except SingularHessianError as exc:
            raise SingularHessianError(
                f"Cannot fit: {exc} (n_samples={design.n_samples}, n_params={design.n_params}, "
                f"l2={l2:g})."
            ) from None
        self._set_params(res.theta, design.n_features, fit_intercept, family, l2)
        # The final Hessian and factor, for an Attributor on the same data (leaveout._reuse);
        # not for a Dask design, whose fingerprint would read all of its data again.  A kernel
        # factor is kept too, made at θ̂ when the last step was not negligible (one n × n
        # factorisation of the K already computed); a CG factor is not kept.
        if fit_exact is exact_fit and choice.name == "kernel" and res.hessian is None and \
                getattr(res.factor, "kind", "") != "kernel":
            res.factor = hessian_factor(loss, res.theta, loss.eta(res.theta))[1]
        reusable = fit_exact is exact_fit and res.factor is not None and (
            res.hessian is not None or getattr(res.factor, "kind", "") == "kernel")
        self._fit_cache = (FitCache.of(loss, res.theta, res.hessian, res.factor) if reusable
                           else None)
        self.n_iter_ = res.n_iter
        self.solver_, self.solver_reason_ = choice.name, choice.reason
        self.objective_ = res.objective
        self.gradient_norm_ = res.gradient_norm
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):  # a refit on unnamed columns
            del self.feature_names_in_
        return self

    def __getstate__(self):
        # The Hessian kept for an Attributor is a p × p cache, not part of the model.
        state = dict(self.__dict__)
        state.pop("_fit_cache", None)
        return state

    def _set_params(self, theta, n_features, fit_intercept, family, l2):
        # The settings of the fit, kept apart from the constructor parameters so that changing
        # those after fitting (without refitting) cannot misdescribe the fitted model.
        self.family_ = family
        self.l2_ = float(l2)
        self.fit_intercept_ = bool(fit_intercept)
        self.params_ = np.asarray(theta, dtype=np.float64).copy()
        self.coef_ = self.params_[:n_features].copy()
        self.intercept_ = float(self.params_[-1]) if fit_intercept else 0.0
        self.n_features_in_ = n_features

    # -- prediction ---------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise ValueError("This GLM is not fitted yet; call fit(X, y) first.")

    def _X(self, X):
        self._check_fitted()
        check_feature_names(getattr(self, "feature_names_in_", None), feature_names(X), "X",
                            "GLM")
        Xa = v.check_X(X, allow_empty_columns=True)
        if Xa.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Xa.shape[1]} features, but the model was fitted with "
                             f"{self.n_features_in_}.")
        return Xa

    def decision_function(self, X) -> np.ndarray:
        """Linear predictor η = X β + b, shape (n,) (a lazy Dask array for a Dask X)."""
        if any_dask(X):
            from ._dask.api import linear_predictor

            self._check_fitted()
            return linear_predictor(X, self.coef_, self.intercept_)
        Xa = self._X(X)
        with np.errstate(over="ignore", invalid="ignore"):
            eta = Xa @ self.coef_ + self.intercept_
        return check_finite_result(eta, "the linear predictor")

    def predict(self, X) -> np.ndarray:
        """Mean prediction μ(η): a probability (logistic), the response (squared), a rate (poisson)."""
        eta = self.decision_function(X)
        if any_dask(eta):
            return self.family_.mean(eta)  # lazy: overflow shows as inf when computed
        with np.errstate(over="ignore"):
            return check_finite_result(self.family_.mean(eta), "the mean prediction")

    def loss(self, X, y) -> np.ndarray:
        """Per-row loss ℓ(η_i, y_i), shape (n,), without weights or penalty.

        ``y`` in the family's domain: 0/1 labels (or probabilities) for logistic, counts ≥ 0 for
        poisson, real values for squared.  Logistic: log(1 + e^η) − yη (the log-loss); squared:
        (y − η)²/2; poisson: e^η − yη (half the deviance up to a term in y alone).
        """
        eta = self.decision_function(X)
        y = v.check_y(y, eta.shape[0], self.family_)
        with np.errstate(over="ignore", invalid="ignore"):
            return check_finite_result(self.family_.loss(eta, y), "the loss")

    def score(self, X, y, sample_weight=None) -> float:
        """Minus the (weighted) mean per-row loss: higher is better, as scikit-learn expects.

        What ``cross_val_score`` and ``GridSearchCV`` use when no ``scoring`` is given.
        """
        losses = self.loss(X, y)
        sw = v.check_sample_weight(sample_weight, losses.shape[0])
        return -float(np.dot(sw, losses) / sw.sum())


def training_data(X, y, sample_weight, family, fit_intercept: bool):
    """Validate a fit's inputs once: (feature names or None, X, y, weights, design)."""
    names = feature_names(X)
    check_same_rows(X, y, "y")
    check_same_rows(X, sample_weight, "sample_weight")
    Xa = v.check_X(X, allow_empty_columns=fit_intercept)
    ya = v.check_y(y, Xa.shape[0], family)
    sw = v.check_sample_weight(sample_weight, Xa.shape[0])
    return names, Xa, ya, sw, make_design(Xa, fit_intercept)


def _check_warm_start(warm_start, n_params: int) -> np.ndarray:
    arr = np.asarray(warm_start)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"warm_start must be an array of {n_params} floats; got "
                        f"{type(warm_start).__name__} of dtype {arr.dtype}.")
    if arr.shape != (n_params,):
        raise ValueError(f"warm_start must have shape ({n_params},); got {arr.shape}.")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.abs(arr).max(initial=0.0) > v.MAX_ABS:
        raise ValueError(f"warm_start must be finite with entries of magnitude at most "
                         f"{v.MAX_ABS:g}; got {arr.tolist()[:5]}{'…' if n_params > 5 else ''}.")
    return arr


def _scale_hint(X: np.ndarray, fit_intercept: bool) -> str:
    """What about X's scale can make a well-posed Hessian numerically singular, if anything."""
    if X.shape[0] * X.shape[1] == 0:
        return ""
    big = float(abs(X).max())
    if 0.0 < big < 1e-100:
        return (f"X's largest value is {big:.1e}: products of such values underflow float64. "
                f"Rescale X (e.g. standardise it).")
    if fit_intercept and X.shape[0] > 1:
        if sp.issparse(X):
            mean = np.asarray(X.mean(axis=0)).ravel()
            std = np.sqrt(np.maximum(np.asarray(X.multiply(X).mean(axis=0)).ravel()
                                     - mean**2, 0.0))
        else:
            mean, std = X.mean(axis=0), X.std(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(std > 0, np.abs(mean) / std, 0.0)
        j = int(np.argmax(ratio))
        if ratio[j] > 1e4:
            return (f"Column {j} of X has mean/std ≈ {ratio[j]:.1e}: next to the intercept it is "
                    f"nearly constant. Centre X (X - X.mean(axis=0)); with an intercept that is "
                    f"an exact reparametrisation and leaves predictions unchanged.")
    return ""


def _raise_if_separated(family, X, y, sw, l2, fit_intercept):
    from ._separation import separating_direction

    if l2 == 0.0 and separating_direction(family.name, X, y, sw, fit_intercept):
        what = ("the classes are perfectly (or quasi-) separable" if family.name == "logistic"
                else "the zero counts are separable from the others")
        raise ConvergenceError(
            f"The unpenalised {family.name} fit has no finite optimum: {what}, so some "
            f"coefficients go to infinity. Use l2 > 0 (or drop the separating features)."
        )


def _check_degenerate(family, y, sw, l2, fit_intercept, X):
    """Reject data whose optimum is at infinity or not unique for reasons visible up front."""
    active = sw > 0
    if not active.any() and (fit_intercept or l2 == 0.0):
        raise SingularHessianError(
            "No row has positive sample_weight, so nothing determines the parameters.")
    ya = y[active]
    if family.name == "logistic" and fit_intercept and (np.all(ya == 0) or np.all(ya == 1)):
        raise ConvergenceError(
            f"Every label (with positive weight) is {ya[0]:g}: the logistic intercept would go to "
            f"{'-' if ya[0] == 0 else '+'}infinity. Both classes must be present."
        )
    if family.name == "poisson" and fit_intercept and np.all(ya == 0):
        raise ConvergenceError("Every count is 0: the Poisson intercept would go to -infinity.")
    if l2 != 0.0:
        return
    if X.shape[1] + int(fit_intercept) > int(active.sum()):
        raise SingularHessianError(
            f"With l2=0 the model has {X.shape[1] + int(fit_intercept)} parameters but only "
            f"{int(active.sum())} rows with positive weight, so the optimum is not unique. "
            f"Use l2 > 0."
        )
    Xa = X[active]
    if sp.issparse(Xa):
        _check_sparse_columns(Xa, fit_intercept)
        return
    flat = np.ptp(Xa, axis=0) == 0 if fit_intercept else ~Xa.any(axis=0)
    if flat.any():
        what = "constant (a copy of the intercept)" if fit_intercept else "zero on every row"
        raise SingularHessianError(
            f"With l2=0 column(s) {np.flatnonzero(flat)[:10].tolist()} of X are {what}, so the "
            f"Hessian is singular and the optimum is not unique. Drop them or use l2 > 0."
        )
    _, first, inverse = np.unique(Xa.T, axis=0, return_index=True, return_inverse=True)
    dup = np.flatnonzero(first[inverse.ravel()] != np.arange(Xa.shape[1]))
    if dup.size:
        j = int(dup[0])
        raise SingularHessianError(
            f"With l2=0 column {j} of X duplicates column {int(first[inverse.ravel()[j]])}, so "
            f"the Hessian is singular and the optimum is not unique. Drop one of them or use "
            f"l2 > 0."
        )


def _check_sparse_columns(Xa, fit_intercept: bool) -> None:
    """:func:`_check_degenerate`'s column checks on a sparse X, without densifying it."""
    Xc = sp.csc_matrix(Xa)
    lo = np.asarray(Xc.min(axis=0).toarray()).ravel()
    hi = np.asarray(Xc.max(axis=0).toarray()).ravel()
    flat = (lo == hi) if fit_intercept else (np.diff(Xc.indptr) == 0)
    if flat.any():
        what = "constant (a copy of the intercept)" if fit_intercept else "zero on every row"
        raise SingularHessianError(
            f"With l2=0 column(s) {np.flatnonzero(flat)[:10].tolist()} of X are {what}, so the "
            f"Hessian is singular and the optimum is not unique. Drop them or use l2 > 0.")
    seen = {}
    for j in range(Xc.shape[1]):
        a, b = Xc.indptr[j], Xc.indptr[j + 1]
        key = (Xc.indices[a:b].tobytes(), Xc.data[a:b].tobytes())
        if key in seen:
            raise SingularHessianError(
                f"With l2=0 column {j} of X duplicates column {seen[key]}, so the Hessian is "
                f"singular and the optimum is not unique. Drop one of them or use l2 > 0.")
        seen[key] = j


def fit(X, y, family="logistic", l2=1.0, fit_intercept=True, sample_weight=None, *,
        max_iter=100, solver="auto") -> GLM:
    """Fit an L2-regularised GLM exactly; shorthand for ``GLM(...).fit(X, y, sample_weight)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    family : {"logistic", "squared", "poisson"}, default="logistic"
    l2 : float, default=1.0
        λ in ``Σ_i s_i ℓ_i + (λ/2) ‖β‖²`` (sum convention; intercept unpenalised).
    fit_intercept : bool, default=True
    sample_weight : array-like of shape (n_samples,), optional
    solver : {"auto", "primal", "kernel", "cg"}, default="auto"
        See :class:`GLM`.

    Returns
    -------
    GLM
        The fitted model, at the exact optimum (gradient norm at rounding level).
    """
    return GLM(family=family, l2=l2, fit_intercept=fit_intercept, max_iter=max_iter,
               solver=solver).fit(X, y, sample_weight)
