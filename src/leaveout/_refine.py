"""Refined Newton steps on the retained objective (``effects("newton", steps=k)``, k > 1).

The Newton step of DESIGN.md §3 is the first iterate of Newton's method on the retained objective
L₋T(θ) = L(θ) − Σ_{i∈T} s_i ℓ(x̃_i·θ, y_i), started at θ̂.  Keeping its matrix J = H − H_T (the
curvature frozen at θ̂) and refreshing only the gradient gives the *chord* iteration

    Δ⁰ = J⁻¹ Σ_{i∈T} g_i,        Δᵗ⁺¹ = Δᵗ − J⁻¹ ∇L₋T(θ̂ + Δᵗ),

whose fixed point is the exact retained optimum θ̂₋T − θ̂ (L₋T is strictly convex, so its only
stationary point is the refit).  Each refresh costs one gradient of the retained objective,
∇L₋T(θ) = X̃ᵀ r₋T(θ) + λPθ (row gradient scales zeroed on T) — one pass over the design through
its seam (X̃θ, X̃ᵀr), O(np), the design never copied — plus a solve with the factorisation of J
that the Newton step already built (Woodbury on the factor of H, or the direct factor when the
set has more rows than parameters).  A refit costs several O(np²) Hessians instead.

The plain chord converges only linearly, at the rate ‖I − J⁻¹∇²L₋T‖ along the path: slowly
where the removal changes the curvature of the retained rows much, and not at all where it grows
by more than a factor of two in some direction.  So each refresh here is the chord step
*corrected by secant pairs*: the differences (sₜ, yₜ) of the previous iterates and gradients
update J⁻¹ by the limited-memory BFGS two-loop recursion (Nocedal & Wright, *Numerical
Optimization*, Alg. 7.4, with J⁻¹ as the initial inverse Hessian).  Same cost per refresh (one
gradient, one solve with J, O(mp) vector work for m ≤ ``MEMORY`` pairs), the same fixed point,
and it learns the curvature change along the directions the iteration explores: measured on
synthetic logistic data of mean leverage 0.37 (333 × 130, sets of 1–10 %), median error of Δθ
after 5 steps 0.04 % against the plain chord's 1.9 %, worst set 2.5 % against 42 %
(``benchmarks/bench_newton_steps.py --update chord`` runs the plain chord).  ``MEMORY = 0`` is
the plain chord.

Where even that does not contract (the Newton decrement √(gᵀJₜ⁻¹g) of a step grows; e.g. a
removal that changes the curvature several-fold), the iteration is stopped at the last iterate
before that step, reported in :class:`NewtonInfo`, and a :class:`~leaveout.NewtonStepsWarning`
recommends ``method="retrain"`` for those sets.  There is no automatic fall-back to a refit: a
refit costs a fit per set, which the caller of a cheap estimator must choose knowingly.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas, lapack

from ._threads import sum_chunks
from ._warn import warn
from .designs.dense import DenseDesign
from .exceptions import NewtonStepsWarning

_symv, _syr2, _gemv, _ddot, _daxpy = blas.dsymv, blas.dsyr2, blas.dgemv, blas.ddot, blas.daxpy

#: Default relative tolerance: stop once ‖step‖ ≤ tol · ‖Δ‖ and the estimated remaining error
#: ‖step‖·q/(1 − q) (q: the slowest step ratio so far, see :func:`settled`) is at most
#: ``ERROR_SHARE · tol`` of ‖Δ‖ (``tol=0`` runs every step).  Each step shrinks the error by
#: its step ratio (typically 0.01–0.1 on real data), so the update alone overstates the error
#: of the estimate it leaves; the second condition holds back the sets that contract slowly.
#: Measured against retraining (``benchmarks/bench_newton_steps.py``, steps=5, sets of 1–10 %
#: of n, ten datasets, 2026-12-03): median error 8e-6 – 5e-4, figures in the README.  ``NewtonInfo.error_estimate`` reports the
#: remaining error of each set.
DEFAULT_TOL = 1e-2
#: The share of ``tol`` that the estimated remaining error of a converged set may reach.
ERROR_SHARE = 0.1
#: Secant pairs kept by the limited-memory BFGS correction of the chord step (0: plain chord).
MEMORY = 10
#: Rows whose H⁻¹x̃_i per-row refinement solves for at once.
ROWS_AT_ONCE = 256
#: An update that does not shrink is rounding noise, not divergence, below this size relative
#: to ‖Δ‖ (the iteration has then converged as far as float64 allows).
ROUNDING_FLOOR = 1e-8
#: A set that has not converged is flagged (and warned about) as contracting too slowly when
#: its last update ratio is at least SLOW_RATIO and its estimated remaining relative error
#: exceeds SLOW_ERROR.  Below that ratio each step at least halves the error, so more steps
#: would fix it (``error_estimate`` says how far it is); at or above it the iteration is near
#: its limit of convergence (curvature changing about 1.5-fold or more).
SLOW_RATIO = 0.5
SLOW_ERROR = 0.01


def settled(rel, slowest, tol):
    """Has an iteration converged: its last update ``rel`` (relative to the estimate) at most
    ``tol`` and its estimated remaining error rel·q/(1 − q), q = ``slowest`` step ratio < 1, at
    most :data:`ERROR_SHARE` · tol?  Scalars or arrays (elementwise)."""
    return (rel <= tol) & (rel * slowest <= ERROR_SHARE * tol * (1.0 - slowest))


@dataclass(frozen=True)
class NewtonInfo:
    """How the Newton estimates of the last ``effects("newton", ...)`` call were computed.

    One entry per removal set (per training row for ``remove=None``; a single set gives arrays
    of length 1).  Read it as ``att.newton_info_`` after the call.  With ``steps=1`` only
    ``steps`` is informative (nothing is measured beyond the Newton step).

    Attributes
    ----------
    steps : ndarray of int, shape (n_sets,)
        Steps applied: 1 is the Newton step alone, each further one a gradient refresh
        (at most the ``steps`` asked for).  0 for an empty set and for sets whose effect is
        NaN (degenerate or singular removals).
    rel_update : ndarray of float, shape (n_sets,)
        ‖last computed step‖ / ‖Δθ‖ (Euclidean), the quantity ``tol`` bounds. For a set that
        stopped because a step grew, the size of that rejected step. NaN where no refresh
        was computed (``steps=1``, NaN sets); 0 for an empty set or an estimate exactly 0.
    ratio : ndarray of float, shape (n_sets,)
        Size of the last step over the one before it (the Newton step counts as the first),
        measured by their Newton decrements √(gᵀJₜ⁻¹g) in the current curvature model (for the
        plain chord, the energy norm of H − H_T, where it tends to the contraction factor).
        Well below 1: fast convergence; near 1: slow; ≥ 1: no contraction. NaN where no
        refresh was computed.
    error_estimate : ndarray of float, shape (n_sets,)
        Estimated remaining relative error of Δθ against the exact refit, the tail of a
        geometric series at the slowest step ratio q of the set's iteration (the largest
        ``ratio`` of its steps, not only the last: the ratios fluctuate from step to step):
        ``rel_update · q / (1 − q)``; inf where the iteration did not contract, NaN where no
        refresh was computed.
    converged : ndarray of bool, shape (n_sets,)
        The last update was at most ``tol`` · ‖Δθ‖ (or at rounding level): Δθ is then the exact
        retained optimum to that tolerance.
    contracting : ndarray of bool, shape (n_sets,)
        False where a step grew (or became non-finite): the iteration stopped at the last
        iterate before it.
    tol : float
        The tolerance of the call.
    """

    steps: np.ndarray
    rel_update: np.ndarray
    ratio: np.ndarray
    error_estimate: np.ndarray
    converged: np.ndarray
    contracting: np.ndarray
    tol: float

    @property
    def unreliable(self) -> np.ndarray:
        """Positions (among the call's sets) of the sets a ``NewtonStepsWarning`` named: not
        contracting, or contracting too slowly (not converged, ``ratio`` ≥ 0.5 and
        ``error_estimate`` above 1 %). Shape (k,)."""
        slow = ~self.converged & (self.ratio >= SLOW_RATIO) & (self.error_estimate > SLOW_ERROR)
        return np.flatnonzero(~self.contracting | slow)

    def __repr__(self) -> str:
        n = self.steps.size
        done = self.steps[self.steps > 0]
        steps = f"{done.min()}–{done.max()}" if done.size and done.min() != done.max() else (
            f"{done[0]}" if done.size else "0")
        worst = self.error_estimate[np.isfinite(self.error_estimate)]
        return (f"NewtonInfo(n_sets={n}, steps={steps}, converged={int(self.converged.sum())}/"
                f"{n}, not_contracting={int((~self.contracting).sum())}, unreliable="
                f"{self.unreliable.size}, max finite error_estimate="
                f"{worst.max() if worst.size else float('nan'):.1e}, tol={self.tol:g})")


def check_steps_tol(method: str, steps, tol) -> tuple[int, float]:
    """``(steps, tol)`` checked; ``None`` means the default (1 and :data:`DEFAULT_TOL`)."""
    if type(steps) is int and steps >= 1 and method == "newton" and (
            tol is None or type(tol) is float and 0.0 <= tol < math.inf):
        return steps, DEFAULT_TOL if tol is None else tol  # the common case, checked
    given = [name for name, val in (("steps", steps), ("tol", tol)) if val is not None]
    if given and method != "newton":
        names = " and ".join(given)
        raise ValueError(
            f"{names} {'apply' if len(given) > 1 else 'applies'} to method='newton' only "
            f"(refined Newton steps); got method={method!r}. Drop {names}, or use "
            f"method='newton'.")
    if steps is None:
        steps = 1
    elif isinstance(steps, (bool, np.bool_)) or not isinstance(steps, numbers.Integral):
        raise TypeError(f"The 'steps' parameter of effects must be a positive int (1 = the Newton "
                        f"step alone). Got {steps!r} ({type(steps).__name__}) instead.")
    elif steps < 1:
        raise ValueError(f"The 'steps' parameter of effects must be a positive int (1 = the "
                         f"Newton step alone). Got {steps!r} instead.")
    if tol is None:
        tol = DEFAULT_TOL
    elif isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real):
        raise TypeError(f"The 'tol' parameter of effects must be a float in [0, inf). Got "
                        f"{tol!r} ({type(tol).__name__}) instead.")
    elif not (np.isfinite(float(tol)) and float(tol) >= 0.0):
        raise ValueError(f"The 'tol' parameter of effects must be a float in [0, inf). Got "
                         f"{tol!r} instead.")
    return int(steps), float(tol)


class Refinement:
    """A call's ``steps`` and ``tol``, and the outcome per set (filled in place, one entry each).

    The per-set arrays (``steps``, ``rel_update``, ``ratio``, ``slowest``, ``converged``,
    ``contracting``) are made on first use; a call of one set refined by :func:`chord` keeps
    its outcome as Python scalars (:meth:`record`) until they are asked for — seven small
    arrays and their writes cost as much as a refresh at a few hundred rows."""

    _FIELDS = ("steps", "rel_update", "ratio", "slowest", "converged", "contracting")

    def __init__(self, m: int, steps: int, tol: float):
        self.max_steps = steps
        self.tol = tol
        self.m = m
        self._one = None   # one set's outcome, as recorded by record(), before any array

    def __getattr__(self, name):
        if name not in Refinement._FIELDS:
            raise AttributeError(name)
        m = self.m
        self.steps = np.zeros(m, dtype=np.intp)
        self.rel_update = np.empty(m)
        self.rel_update.fill(np.nan)
        self.ratio = self.rel_update.copy()
        self.slowest = np.zeros(m)   # the largest accepted step ratio of each iteration
        self.converged = np.zeros(m, dtype=bool)
        self.contracting = np.ones(m, dtype=bool)
        one, self._one = self._one, None
        if one is not None:
            self.record(*one)
        return self.__dict__[name]

    def record(self, k: int, steps: int, ratio: float, rel: float, slowest: float,
               converged: bool, contracting: bool) -> None:
        """Entry k's outcome (scalars)."""
        if self.m == 1 and "steps" not in self.__dict__:
            self._one = (k, steps, ratio, rel, slowest, converged, contracting)
            return
        self.steps[k], self.ratio[k], self.rel_update[k] = steps, ratio, rel
        self.slowest[k], self.converged[k], self.contracting[k] = slowest, converged, contracting

    def may_warn(self) -> bool:
        """Whether :func:`warn_not_contracting` could name a set of this record: some set did
        not contract or had a step ratio ≥ SLOW_RATIO (its own early exit, without the
        NewtonInfo)."""
        one = self._one
        if one is not None:
            return not one[6] or one[2] >= SLOW_RATIO
        if "steps" not in self.__dict__:
            return False   # nothing recorded: every set empty or NaN
        return not self.contracting.all() or bool((self.ratio >= SLOW_RATIO).any())

    @property
    def iterate(self) -> "Refinement | None":
        """What the estimators refine with: None for ``steps=1`` (the Newton step alone)."""
        return self if self.max_steps > 1 else None

    def info(self, out: np.ndarray, sizes: np.ndarray) -> NewtonInfo:
        """The record as a NewtonInfo, given the call's results ``out`` (m, ...) and the sets'
        sizes (m,) (0: an empty set)."""
        empty = sizes == 0
        if self.max_steps == 1:  # no iteration ran: one step for every finite non-empty set
            finite = np.isfinite(out.reshape(sizes.size, -1)).all(axis=1)
            self.steps[finite & ~empty] = 1
            self.rel_update[empty] = 0.0
            self.converged[empty] = True
            return NewtonInfo(self.steps, self.rel_update, self.ratio,
                              np.where(empty, 0.0, np.nan), self.converged, self.contracting,
                              self.tol)
        self.rel_update[empty] = 0.0
        self.converged[empty] = True
        ratio, rel = self.ratio, self.rel_update
        # ratio < 1: the geometric tail rel·ratio/(1 − ratio); ratio ≥ 1: rel where converged
        # (rounding noise), else inf; no refresh computed (ratio NaN): NaN; empty sets: 0.
        est = np.where(self.converged, rel, np.inf)
        below = ratio < 1.0          # the last step was accepted: slowest ≥ ratio
        q = self.slowest
        np.multiply(rel, q, out=est, where=below)
        np.divide(est, 1.0 - q, out=est, where=below)
        est[np.isnan(ratio)] = np.nan
        est[empty] = 0.0
        est[~self.contracting] = np.inf
        return NewtonInfo(self.steps, self.rel_update, self.ratio, est, self.converged,
                          self.contracting, self.tol)


def chord(delta: np.ndarray, g0: np.ndarray, gradient, solve, rec: Refinement,
          k: int) -> np.ndarray:
    """Refine the Newton step ``delta`` of removal ``k`` by secant-corrected chord steps; fill
    ``rec[k]``.

    Step t solves with the limited-memory BFGS inverse Jₜ⁻¹ built on J⁻¹ from the pairs
    (sᵢ, yᵢ) = (Δⁱ⁺¹ − Δⁱ, ∇L₋T(θ̂ + Δⁱ⁺¹) − ∇L₋T(θ̂ + Δⁱ)), the first being (Δ⁰, ∇L₋T(θ̂ + Δ⁰)
    + g0).  Successive steps are compared by their Newton decrement √(gᵀJₜ⁻¹g) = √(d·g) (free:
    d = Jₜ⁻¹g and g are in hand), the size of a step in the metric of the current curvature
    model; for the plain chord (``MEMORY = 0``) it is the energy norm of J, in which the
    linearised iteration is self-adjoint, so the ratio tends to its contraction factor.  A
    ratio ≥ 1 means the iteration does not contract there (in the Euclidean norm a converging
    iteration may show a transient ratio above 1).  Scalar bookkeeping, one removal at a time:
    the same iteration as :func:`chord_many` (which runs many removals side by side, tested
    equal to rounding), cheaper for one.

    Parameters
    ----------
    delta : ndarray of shape (n_params,)
        Δ⁰ = J⁻¹g0, the Newton step.
    g0 : ndarray of shape (n_params,)
        Σ_{i∈T} g_i (= −∇L₋T(θ̂)).
    gradient : callable
        ``gradient(D)`` → ∇L₋T(θ̂ + D), shape (n_params,).
    solve : callable
        ``solve(v)`` → J⁻¹v.
    rec : Refinement
        The call's steps and tol; receives the outcome as entry ``k``.

    Returns
    -------
    ndarray of shape (n_params,)
        The refined estimate (a new array).
    """
    size = _ddot(delta, delta)
    if not math.isfinite(size) and not np.isfinite(delta).all():
        return delta  # a singular removal: NaN, no step taken
    if size == 0.0:  # no gradient on T: θ̂ is the retained optimum
        rec.record(k, 1, math.nan, 0.0, 0.0, True, True)
        return delta
    prev = math.sqrt(abs(_ddot(delta, g0)))  # Newton decrement of Δ⁰
    # With J⁻¹ explicit and every pair kept (steps − 1 ≤ MEMORY), Jₜ⁻¹ itself is updated by the
    # BFGS inverse formula — the two-loop recursion's matrix, one rank-2 update per pair.
    if isinstance(solve, ExplicitSolve) and MEMORY and rec.max_steps - 1 <= MEMORY:
        return _chord_dense(delta, g0, gradient, solve, rec, k, prev)
    # The pairs are kept as (t, y, ρ) with t = −s (the step itself: no negation per refresh);
    # the two-loop recursion reads them with that sign (:func:`_two_loop`, ``negated``).
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []
    t_last, g_last = -delta, -g0
    # Scalars stay Python floats until the end (fewer small array writes per step); vectors
    # are combined by BLAS level 1 (ddot, daxpy: a fraction of the call cost of ``@``).
    steps, ratio, rel, converged, contracting, slowest = 1, math.nan, math.nan, False, True, 0.0
    tol = rec.tol
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(rec.max_steps - 1):
            g = gradient(delta)
            if MEMORY:
                y = g - g_last
                sy = -_ddot(t_last, y)
                if sy > 0.0 and math.isfinite(sy):  # curvature condition (convexity)
                    pairs.append((t_last, y, 1.0 / sy))
                    del pairs[:-MEMORY]
            step = _two_loop(g, solve, pairs, negated=True)
            energy = math.sqrt(abs(_ddot(step, g)))
            new = delta - step
            size, new_size = _ddot(step, step), _ddot(new, new)
            rel = math.sqrt(size / new_size) if new_size > 0 else math.inf
            ratio = energy / prev if prev > 0 else math.inf
            if not (math.isfinite(rel) and math.isfinite(ratio)):
                rel = ratio = math.inf
            if ratio >= 1.0:  # the step grew: stop before it
                if rel <= ROUNDING_FLOOR:
                    converged = True  # rounding noise, not divergence
                else:
                    contracting = False
                break
            delta, prev, t_last, g_last = new, energy, step, g
            steps += 1
            if ratio > slowest:
                slowest = ratio
            if settled(rel, slowest, tol):
                converged = True
                break
    rec.record(k, steps, ratio, rel, slowest, converged, contracting)
    return delta


def _chord_dense(delta, g0, gradient, solve, rec: Refinement, k: int, prev: float):
    """:func:`chord` with Jₜ⁻¹ kept as a matrix (:class:`_DenseBFGS`' update, written out):
    the same steps, stopping rule and record, in the fewest calls — at a few hundred rows a
    refresh is ~15 calls of a microsecond or less, so their number is the cost.  Vectors are
    combined by BLAS level 1 (``ddot``, ``daxpy``: a tenth of the call cost of ``@``), and the
    pair's s = Δᵗ⁺¹ − Δᵗ is kept as t = −s (the step itself, no negation per refresh):
    sᵀy = −tᵀy and s vᵀ + v sᵀ = t uᵀ + u tᵀ with u = −v = (c/2) t + ρ Jₜ⁻¹y."""
    H = solve.lower
    if not (solve.private and H.flags.f_contiguous):
        H = np.array(H, order="F")
    t_last, g_last = -delta, -g0
    steps, ratio, rel, converged, contracting, slowest = 1, math.nan, math.nan, False, True, 0.0
    tol = rec.tol
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(rec.max_steps - 1):
            g = gradient(delta)
            y = g - g_last
            sy = -_ddot(t_last, y)
            if sy > 0.0 and math.isfinite(sy):  # curvature condition (convexity)
                rho = 1.0 / sy
                Hy = _symv(1.0, H, y, lower=1)
                u = (0.5 * (rho + rho * rho * _ddot(y, Hy))) * t_last
                u = _daxpy(Hy, u, a=rho)
                H = _syr2(1.0, t_last, u, lower=1, a=H, overwrite_a=1)  # in place (Fortran)
            step = _symv(1.0, H, g, lower=1)
            energy = math.sqrt(abs(_ddot(step, g)))
            new = delta - step
            size, new_size = _ddot(step, step), _ddot(new, new)
            rel = math.sqrt(size / new_size) if new_size > 0 else math.inf
            ratio = energy / prev if prev > 0 else math.inf
            if not (math.isfinite(rel) and math.isfinite(ratio)):
                rel = ratio = math.inf
            if ratio >= 1.0:  # the step grew: stop before it
                if rel <= ROUNDING_FLOOR:
                    converged = True  # rounding noise, not divergence
                else:
                    contracting = False
                break
            delta, prev, t_last, g_last = new, energy, step, g
            steps += 1
            if ratio > slowest:
                slowest = ratio
            if settled(rel, slowest, tol):
                converged = True
                break
    rec.record(k, steps, ratio, rel, slowest, converged, contracting)
    return delta


class _DenseBFGS:
    """Jₜ⁻¹ as a matrix, from J⁻¹ by BFGS inverse updates: for a pair (s, y, ρ = 1/sᵀy),
    H ← (I − ρsyᵀ) H (I − ρysᵀ) + ρssᵀ = H + s(cs − u)ᵀ − usᵀ with u = ρHy, c = ρ + ρ²yᵀHy.
    After the pairs so far it is the matrix the two-loop recursion applies (Nocedal & Wright,
    §7.2), so it gives the same steps, at one product per step instead of 4 per pair.

    Kept as the lower triangle of a Fortran-ordered array (what LAPACK ``potri`` returns): the
    update is one symmetric rank-2 BLAS call (``syr2``: H + s vᵀ + v sᵀ with v = (c/2)s − u)
    and each product one ``symv`` — at the p of this path, their call overhead is the cost.
    """

    def __init__(self, J_inv: np.ndarray, own: bool = False):
        self.H = J_inv if own and J_inv.flags.f_contiguous else np.array(J_inv, order="F")

    def update(self, s: np.ndarray, y: np.ndarray, rho: float) -> None:
        Hy = _symv(1.0, self.H, y, lower=1)
        v = (0.5 * (rho + rho * rho * float(y @ Hy))) * s
        v -= rho * Hy
        self.H = _syr2(1.0, s, v, lower=1, a=self.H, overwrite_a=1)  # in place (Fortran)

    def __call__(self, g: np.ndarray) -> np.ndarray:
        return _symv(1.0, self.H, g, lower=1)


def _two_loop(g: np.ndarray, solve, pairs, negated: bool = False) -> np.ndarray:
    """Jₜ⁻¹g by the L-BFGS two-loop recursion on the initial inverse ``solve`` = J⁻¹, for the
    pairs (s, y, ρ) — or (−s, y, ρ) with ``negated`` (the sign is carried by the scalars)."""
    if not pairs:
        return solve(g)
    sign = -1.0 if negated else 1.0
    q = g.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * _ddot(s, q)   # (−)α
        q = _daxpy(y, q, a=-sign * a)  # q −= α y, in place
        alphas.append(a)
    r = solve(q)
    if not (r.flags.c_contiguous and r.dtype == np.float64):  # pragma: no cover
        r = np.array(r, dtype=float)
    for (s, y, rho), a in zip(pairs, reversed(alphas)):
        # r += (α − ρ yᵀr) s, in place; with t = −s: (−α + ρ yᵀr) t
        r = _daxpy(s, r, a=a - sign * rho * _ddot(y, r))
    return r


def chord_many(delta: np.ndarray, g0: np.ndarray, gradients, solves, rec: Refinement,
               ks: np.ndarray) -> np.ndarray:
    """Refine the Newton steps of m removals side by side; fill ``rec`` at entries ``ks``.

    Each removal runs its own iteration — its own solves, secant pairs, step sizes and stopping
    rule, the iteration of :func:`chord` (equal to rounding) — but they advance in lock-step, so
    that the gradient refreshes of all removals still running are computed together (one pass
    over the data per step: :func:`retained_gradients`) and the vector work is done on (m, p)
    arrays, not in a Python loop per removal.

    Step t solves with the limited-memory BFGS inverse Jₜ⁻¹ built on J⁻¹ from the pairs
    (sᵢ, yᵢ) = (Δⁱ⁺¹ − Δⁱ, ∇L₋T(θ̂ + Δⁱ⁺¹) − ∇L₋T(θ̂ + Δⁱ)), the first being (Δ⁰, ∇L₋T(θ̂ + Δ⁰)
    + g0); a pair failing the curvature condition sᵀy > 0 is skipped, the last ``MEMORY``
    accepted ones are used.  Successive steps are compared by their Newton decrement
    √(gᵀJₜ⁻¹g) = √(d·g) (free: d = Jₜ⁻¹g and g are in hand), the size of a step in the metric
    of the current curvature model; for the plain chord (``MEMORY = 0``) it is the energy norm
    of J, in which the linearised iteration is self-adjoint, so the ratio tends to its
    contraction factor.  A ratio ≥ 1 means the iteration does not contract there (in the
    Euclidean norm a converging iteration may show a transient ratio above 1).

    Parameters
    ----------
    delta, g0 : ndarray of shape (m, n_params)
        The Newton steps Δ⁰ = J⁻¹g0 and Σ_{i∈T} g_i of each removal.
    gradients : callable
        ``gradients(idx, D)`` → ∇L₋T(θ̂ + D_j) of the removals ``idx`` (positions among the m),
        shape (len(idx), n_params).
    solves : callable
        ``solves(idx, V)`` → rows J⁻¹v_j of the removals ``idx``.
    rec : Refinement
        The call's steps and tol; removal j's outcome goes to entry ``ks[j]``.

    Returns
    -------
    ndarray of shape (m, n_params)
        The refined estimates (a new array).
    """
    delta = np.array(delta, dtype=float)
    m = delta.shape[0]
    finite = np.isfinite(delta).all(axis=1)          # a singular removal: NaN, no step taken
    rec.steps[ks[finite]] = 1
    zero = finite & ~delta.any(axis=1)                # no gradient on T: θ̂ is the optimum
    rec.rel_update[ks[zero]], rec.converged[ks[zero]] = 0.0, True
    active = np.flatnonzero(finite & ~zero)
    if rec.max_steps == 1 or not active.size:
        return delta
    with np.errstate(invalid="ignore", over="ignore"):
        prev = np.sqrt(np.abs(np.einsum("ij,ij->i", delta, g0)))   # Newton decrement of Δ⁰
    if MEMORY and rec.max_steps - 1 <= MEMORY:  # every pair is kept: the compact form
        return _chord_many_kept(delta, np.asarray(g0, dtype=float), gradients, solves, rec,
                                ks, active, prev)
    slots = min(rec.max_steps - 1, MEMORY) if MEMORY else 0
    S = np.zeros((m, max(slots, 1), delta.shape[1]))  # secant pairs per removal, oldest first
    Y = np.zeros_like(S)
    rho = np.zeros((m, max(slots, 1)))                # 0: an empty or skipped slot
    s_last, g_last = delta.copy(), -np.asarray(g0, dtype=float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for t in range(rec.max_steps - 1):
            A = active
            g = gradients(A, delta[A])
            if slots:
                y = g - g_last[A]
                sy = np.einsum("ij,ij->i", s_last[A], y)
                ok = (sy > 0.0) & np.isfinite(sy)       # curvature condition (convexity)
                _push(S, Y, rho, A[ok], s_last[A[ok]], y[ok], 1.0 / sy[ok])
            step = _two_loop_many(g, A, S, Y, rho, solves)
            energy = np.sqrt(np.abs(np.einsum("ij,ij->i", step, g)))
            new = delta[A] - step
            size = np.einsum("ij,ij->i", step, step)
            new_size = np.einsum("ij,ij->i", new, new)
            rel = np.where(new_size > 0, np.sqrt(size / np.where(new_size > 0, new_size, 1.0)),
                           np.inf)
            ratio = np.where(prev[A] > 0, energy / np.where(prev[A] > 0, prev[A], 1.0), np.inf)
            bad = ~(np.isfinite(rel) & np.isfinite(ratio))
            rel[bad] = ratio[bad] = np.inf
            kA = ks[A]
            rec.ratio[kA], rec.rel_update[kA] = ratio, rel
            grew = ratio >= 1.0                         # the step grew: stop before it
            noise = grew & (rel <= ROUNDING_FLOOR)      # rounding noise, not divergence
            rec.converged[kA[noise]] = True
            rec.contracting[kA[grew & ~noise]] = False
            go = ~grew
            Ag = A[go]
            delta[Ag], prev[Ag] = new[go], energy[go]
            s_last[Ag], g_last[Ag] = -step[go], g[go]
            rec.steps[kA[go]] += 1
            rec.slowest[kA[go]] = np.maximum(rec.slowest[kA[go]], ratio[go])
            conv = go & settled(rel, rec.slowest[kA], rec.tol)
            rec.converged[kA[conv]] = True
            active = A[go & ~conv]
            if not active.size:
                break
    return delta


def _chord_many_kept(delta, g0, gradients, solves, rec: Refinement, ks, active, prev):
    """:func:`chord_many` where no secant pair is ever dropped (steps − 1 ≤ MEMORY), with
    every array aligned with the removals still running: the pairs of refresh t are stored
    once as (a, p) arrays for all of them (zero, with ρ = 0, where a removal skipped its pair:
    a no-op in the two-loop recursion, exactly), and the arrays are cut down only when some
    removal stops — no per-removal slots to find and no fancy indexing per pair and refresh.
    The same iteration and record as the general form, step for step."""
    A = active
    D, P = delta[A], prev[A]
    t_last, g_last = -D, -g0[A]         # t = −s (the last step), as in _chord_dense
    pairs: list = []                    # (S, Y, ρ) of each refresh so far, aligned with A
    tol = rec.tol
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(rec.max_steps - 1):
            g = gradients(A, D)
            y = g - g_last
            sy = -np.einsum("ij,ij->i", t_last, y)
            ok = (sy > 0.0) & np.isfinite(sy)         # curvature condition (convexity)
            if ok.all():
                pairs.append((-t_last, y, 1.0 / sy))
            else:
                pairs.append((np.where(ok[:, None], -t_last, 0.0),
                              np.where(ok[:, None], y, 0.0), np.where(ok, 1.0 / sy, 0.0)))
            q = g.copy()
            alphas = []
            for S, Y, rho in reversed(pairs):
                a = rho * np.einsum("ij,ij->i", S, q)
                q -= a[:, None] * Y
                alphas.append(a)
            step = solves(A, q)
            for (S, Y, rho), a in zip(pairs, reversed(alphas)):
                step += (a - rho * np.einsum("ij,ij->i", Y, step))[:, None] * S
            energy = np.sqrt(np.abs(np.einsum("ij,ij->i", step, g)))
            new = D - step
            size = np.einsum("ij,ij->i", step, step)
            new_size = np.einsum("ij,ij->i", new, new)
            pos = new_size > 0
            rel = np.sqrt(size / np.where(pos, new_size, 1.0))
            rel[~pos] = np.inf
            grown = ~(P > 0)
            ratio = energy / np.where(grown, 1.0, P)
            ratio[grown] = np.inf
            bad = ~(np.isfinite(rel) & np.isfinite(ratio))
            rel[bad] = ratio[bad] = np.inf
            kA = ks[A]
            rec.ratio[kA], rec.rel_update[kA] = ratio, rel
            grew = ratio >= 1.0                         # the step grew: stop before it
            go = ~grew
            if grew.any():
                noise = grew & (rel <= ROUNDING_FLOOR)  # rounding noise, not divergence
                rec.converged[kA[noise]] = True
                rec.contracting[kA[grew & ~noise]] = False
                delta[A[grew]] = D[grew]
            kg = kA[go]
            rec.steps[kg] += 1
            rec.slowest[kg] = np.maximum(rec.slowest[kg], ratio[go])
            conv = go & settled(rel, rec.slowest[kA], tol)
            rec.converged[kA[conv]] = True
            if conv.any():
                delta[A[conv]] = new[conv]
            keep = go & ~conv
            if keep.all():
                D, P, t_last, g_last = new, energy, step, g
                continue
            A = A[keep]
            if not A.size:
                break
            D, P, t_last, g_last = new[keep], energy[keep], step[keep], g[keep]
            pairs = [(S[keep], Y[keep], rho[keep]) for S, Y, rho in pairs]
        else:
            delta[A] = D  # the sets that ran every step
    return delta


def _push(S, Y, rho, idx, s, y, r) -> None:
    """Append the pairs (s, y, ρ) of the removals ``idx``, dropping each one's oldest when its
    ``MEMORY`` slots are full (slot order per removal: oldest first)."""
    if not idx.size:
        return
    full = rho[idx, -1] != 0.0
    if full.any():  # shift the full ones left by a slot
        f = idx[full]
        S[f, :-1], Y[f, :-1], rho[f, :-1] = S[f, 1:], Y[f, 1:], rho[f, 1:]
    # the first empty slot of each (slots fill from the left; full ones now have the last free)
    n_used = np.count_nonzero(rho[idx], axis=1)
    n_used[full] = rho.shape[1] - 1
    S[idx, n_used], Y[idx, n_used], rho[idx, n_used] = s, y, r


def _two_loop_many(g: np.ndarray, A: np.ndarray, S, Y, rho, solves) -> np.ndarray:
    """Rows Jₜ⁻¹g_j by the L-BFGS two-loop recursion on the initial inverse J⁻¹ (``solves``),
    for the removals ``A``; empty slots (ρ = 0, s = y = 0) contribute nothing."""
    q = g.copy()
    used = int(np.count_nonzero(rho[A], axis=1).max()) if rho.size and A.size else 0
    alphas = np.zeros((A.size, max(used, 1)))
    for j in range(used - 1, -1, -1):
        a = rho[A, j] * np.einsum("ij,ij->i", S[A, j], q)
        q -= a[:, None] * Y[A, j]
        alphas[:, j] = a
    r = solves(A, q)
    for j in range(used):
        b = rho[A, j] * np.einsum("ij,ij->i", Y[A, j], r)
        r += (alphas[:, j] - b)[:, None] * S[A, j]
    return r


def h_solver(factor):
    """v ↦ H⁻¹v (v of shape (p,) or (m, p), rows) for refined steps: by the factor's
    :meth:`~leaveout._solve.CholeskyFactor.inverse_product` where it has one (an explicit H⁻¹,
    several times faster per solve than ``potrs``), else by its solves."""
    if hasattr(factor, "inverse_product"):
        return factor.inverse_product
    return lambda V: factor.solve(V) if V.ndim == 1 else factor.solve(V.T).T


class WoodburySolve:
    """v ↦ (H − H_T)⁻¹v by Woodbury, from the factors the Newton step built.

    (H − SᵀS)⁻¹ v = u + H⁻¹Sᵀ M⁻¹ S u with u = H⁻¹v, S = W_T^{1/2} X̃_T, M = I − S H⁻¹ Sᵀ
    (Cholesky ``cM``), H⁻¹Sᵀ = (sw · B_T)ᵀ with B_T the rows H⁻¹x̃_i of the set.
    O(p² + kp + k²) per right-hand side; :meth:`correct` is the part after u = H⁻¹v, so that
    the u of many sets come from one solve with H.
    """

    def __init__(self, factor, X_T, B_T, sw, cM):
        self.factor, self.X_T, self.B_T, self.sw = factor, X_T, B_T, sw
        self.L = cM[0]
        self._h = h_solver(factor)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        return self.correct(self._h(v))

    def correct(self, u: np.ndarray) -> np.ndarray:
        z = self.sw * lapack.dpotrs(self.L, self.sw * (self.X_T @ u), lower=1)[0]
        return u + z @ self.B_T


class WhitenedSolve(WoodburySolve):
    """:class:`WoodburySolve` without the rows B_T = H⁻¹x̃_i: H⁻¹Sᵀ M⁻¹ S u is applied as
    H⁻¹(X̃_Tᵀ c), one more product with the explicit H⁻¹ per solve — for the Newton steps of
    :func:`whitened_newton`, which skip B_T's k × p triangular product (k p² flops)."""

    def __init__(self, factor, X_T, sw, cM):
        super().__init__(factor, X_T, None, sw, cM)

    def correct(self, u: np.ndarray) -> np.ndarray:
        z = self.sw * lapack.dpotrs(self.L, self.sw * (self.X_T @ u), lower=1)[0]
        return u + self._h(z @ self.X_T)


#: Below this many parameters the Newton step of a refined set forms B_T = X̃_T H⁻¹ as the
#: plain step does (cheap there, and the explicit J⁻¹ of small p needs it); above it,
#: :func:`whitened_newton`.
WHITENED_MIN_PARAMS = 256


def whitened_newton(factor, X_T, r_T, sw):
    """(Newton step, Cholesky factor of M, C) of a set for refined steps, from one triangular
    product: Z = X̃_T L⁻ᵀ (k × p), C = ZZᵀ = X̃_T H⁻¹ X̃_Tᵀ, M = I − W_T^½ C W_T^½ and the step
    H⁻¹X̃_Tᵀ(r_T + z) by one product with the explicit H⁻¹ — not the plain step's second
    triangular product for B_T (k p² flops: the larger part of a refined step's cost at
    p ≈ 600, k ≈ 50).  None for M where the removal is singular."""
    Z = factor.whiten_rows(X_T.copy())
    C = Z @ Z.T
    M = np.eye(C.shape[0]) - (sw[:, None] * C) * sw[None, :]
    cM, info = lapack.dpotrf(M, lower=1, clean=0)
    if info != 0:
        return None, None
    z = sw * lapack.dpotrs(cM, sw * (C @ r_T), lower=1)[0]
    return factor.inverse_product((r_T + z) @ X_T), WhitenedSolve(factor, X_T, sw, (cM, True))


class ExplicitSolve:
    """v ↦ J⁻¹v by a product with J⁻¹ = (H − H_T)⁻¹ formed from the Cholesky factors: for small
    p, where the k × p Woodbury solve's few calls cost more than the arithmetic.

    J⁻¹ = H⁻¹ + Zᵀ M⁻¹ Z with Z = W_T^{1/2} B_T (Woodbury written out; H⁻¹ from the factor's
    triangular inverse, M⁻¹Z by ``potrs`` with M's Cholesky factor), or from the Cholesky
    factor of J itself (:meth:`from_cholesky`).  J only sets the pace of the chord iteration,
    not its fixed point (the exact refit), so the rounding of the explicit form cannot move
    the answer; it is symmetric and positive definite like J⁻¹.

    ``private``: the matrix belongs to this solve alone (made for one set's iteration), which
    may then update it in place (:class:`_DenseBFGS`).
    """

    private = False

    def __init__(self, factor, B_T, sw, cM):
        Z = sw[:, None] * B_T
        self._full = factor.inverse + Z.T @ lapack.dpotrs(cM[0], Z, lower=1)[0]
        self._lower = None

    @classmethod
    def from_cholesky(cls, c) -> "ExplicitSolve":
        """J⁻¹ from the Cholesky factor ``c`` of J itself (LAPACK ``potri``): its lower
        triangle (Fortran order), private to this solve — all that the one-set iteration reads
        (symmetric BLAS products); :attr:`J_inv` fills in the rest when asked."""
        inv, info = lapack.dpotri(c[0], lower=1)
        if info != 0:  # pragma: no cover - c is a finite Cholesky factor
            raise np.linalg.LinAlgError("potri failed on a Cholesky factor")
        out = cls.__new__(cls)
        out._full, out._lower, out.private = None, inv, True
        return out

    @property
    def J_inv(self) -> np.ndarray:
        """J⁻¹ as a full symmetric matrix (p × p)."""
        if self._full is None:
            L = self._lower
            self._full = np.where(_lower_mask(L.shape[0]), L, L.T)
        return self._full

    @property
    def lower(self) -> np.ndarray:
        """A matrix whose lower triangle is J⁻¹'s (Fortran order when private)."""
        return self._lower if self._lower is not None else self._full

    def __call__(self, v: np.ndarray) -> np.ndarray:
        if self._full is None:  # the lower triangle only
            return _symv(1.0, self._lower, v, lower=1)
        return self._full @ v


_MASKS: dict = {}


def _lower_mask(p: int) -> np.ndarray:
    """The (cached) boolean mask of the lower triangle, diagonal included, of a p × p matrix."""
    m = _MASKS.get(p)
    if m is None:
        m = _MASKS[p] = np.tri(p, dtype=bool)
    return m


#: Per-solve call overhead of the Woodbury form in flops (≈ 10 µs of calls on these machines),
#: against which forming J⁻¹ explicitly (p²k flops, once per set) is weighed.
SOLVE_OVERHEAD_FLOPS = 50_000


def woodbury_solver(factor, X_T, B_T, sw, cM, steps: int = 0):
    """v ↦ (H − H_T)⁻¹ v: by Woodbury (:class:`WoodburySolve`), or, where that is cheaper for
    the ``steps - 1`` solves ahead and the factor offers H⁻¹, by the explicit form
    (:class:`ExplicitSolve`)."""
    k, p = B_T.shape
    explicit = hasattr(factor, "inverse") and p * p * k <= max(steps - 1, 0) * (
        p * p + 2 * k * p + k * k + SOLVE_OVERHEAD_FLOPS) and p * p <= 2**16
    if explicit:
        return ExplicitSolve(factor, B_T, sw, cM)
    return WoodburySolve(factor, X_T, B_T, sw, cM)


#: One NumPy/BLAS call's overhead in flops (≈ 1 µs at the ~5 Gflop/s of one thread on these
#: small operands), for the cost model of :func:`direct_solver`.
CALL_FLOPS = 5_000


def direct_solver(c, steps: int = 0, batched: bool = False):
    """V ↦ (H − H_T)⁻¹ V from the Cholesky factorisation ``c`` of H − H_T itself: by ``potrs``
    (the secant pairs then applied by the two-loop recursion), or by a product with the
    explicit inverse (``potri``), whichever costs less for the ``steps - 1`` refreshes ahead.

    Measured (one thread, OpenBLAS 0.3): ``potri`` ≈ p³/2 flops + a call (4.7 µs at p = 31,
    16.6 µs at p = 54, 24 µs at p = 65), ``potrs`` ≈ 2.6p² flops + a call (1.3 / 2.4 / 2.9
    µs), a call ≈ :data:`CALL_FLOPS`.  One set alone (:func:`chord`): the matrix form's update
    and product per refresh (:func:`_chord_dense`, ≈ 1.5p² + 3 calls: 3.2 µs at p = 31) cost
    about what they save (``potrs`` and the two-loop's ~1 call per pair held: 1, 2, … on
    successive refreshes), so the inverse pays off only for many steps (steps=10 below
    p ≈ 40), not at steps=5.  Sets refined side by side (``batched``, :func:`refine_sets`):
    the explicit inverses of all the sets are applied by one batched product, so each refresh
    saves a ``potrs`` and its Python call per set — the inverse pays off below p ≈ 45 at
    steps=5."""
    p = c[0].shape[0]
    R = max(steps - 1, 0)
    inverse = p**3 / 2 + CALL_FLOPS
    if batched:
        saved = R * (2.4 * p * p + 1.6 * CALL_FLOPS)
    else:
        saved = R * (1.1 * p * p - 2.4 * CALL_FLOPS) + R * (R + 1) // 2 * CALL_FLOPS
    if p * p <= 2**16 and R <= MEMORY and inverse <= saved:
        return ExplicitSolve.from_cholesky(c)
    return _potrs(c)


def direct_is_cheaper(k: int, p: int, steps: int) -> bool:
    """For a set of k ≤ p rows refined by ``steps`` > 1: is factorising H − H_T directly (k p²
    for H_T, p³/3 for its factor, then ``potrs`` or J⁻¹ by :func:`direct_solver`, a handful
    of calls) cheaper than the Woodbury form (two k × p triangular products, the k × k
    system, J⁻¹ written out: about twice the calls)?  At small p the calls are the cost.

    Same-run timings of ``steps=5`` (one thread; direct vs Woodbury for every set of k ≤ p):
    direct 12 % faster at 285 × 54 (sets of 3–29 rows), equal at 456 × 31, 5 % slower at
    333 × 131 (4–34 rows); the allowance of 3 × SOLVE_OVERHEAD_FLOPS makes it direct for
    every k below p ≈ 60 and leaves p ≳ 100 with the Woodbury form for k ≲ p/3."""
    return steps > 1 and p * p <= 2**16 and (
        p**3 <= 3 * k * p * p + k * k * p + 3 * SOLVE_OVERHEAD_FLOPS)


def _potrs(c):
    """v ↦ A⁻¹v for ``c = cho_factor(A, lower=True)``: LAPACK ``potrs`` called directly (what
    ``cho_solve`` calls, bit for bit, without its per-call checks — they cost more than the
    solve itself at small p, and a refresh is a few such calls)."""
    L = c[0]

    def solve(v: np.ndarray) -> np.ndarray:
        return lapack.dpotrs(L, v, lower=1)[0]
    return solve


def set_gradient(state, T: np.ndarray):
    """D ↦ ∇L₋T(θ̂ + D) for a set T, shape (n_params,).

    ∇L₋T(θ) = X̃ᵀ r₋T(θ) + λPθ with r₋T the row gradient scales zeroed on T: one pass over the
    design through its seam (X̃θ, then X̃ᵀr), the design never copied or subset.
    """
    if hasattr(state, "retained_gradient"):  # a state whose rows are not all in memory (Dask)
        return state.retained_gradient(T)
    loss = state.loss
    theta0, penalty, design = state.theta, loss.penalty, loss.design
    if hasattr(design, "value_and_gradient"):
        # Dense designs: one fused sweep (each row chunk read once for X̃θ and, still in
        # cache, for X̃ᵀr), with the weights of the rows in T set to 0.
        fam, y = loss.family, loss.y
        s = loss.weights.copy()
        s[T] = 0.0
        if isinstance(design, DenseDesign) and design.single_fused_slice:
            return _one_pass_gradient(state, fam, y, s, theta0)
        if isinstance(design, DenseDesign) and isinstance(design.X, np.ndarray):
            return _chunked_gradient(design, fam, y, s, theta0, penalty)

        def row_terms(sl, eta):
            return 0.0, s[sl] * fam.d1_fast(eta, y[sl])

        def fused(D):
            theta = theta0 + D
            return design.value_and_gradient(theta, row_terms)[1] + penalty * theta
        return fused

    def gradient(D):
        theta = theta0 + D
        r = loss.row_gradient_scale(loss.eta(theta))
        r[T] = 0.0
        return design.rmatvec(r) + penalty * theta
    return gradient


def penalised_design(state) -> np.ndarray | None:
    """X̃ with √(λP) stacked under it, ((n + p) × p, Fortran order), made once per state; None
    unless the design is dense and of one fused chunk (at most FUSED_BYTES of X), all in
    memory.

    X̃' θ = [X̃θ; √(λP)θ] and X̃'ᵀ[r; √(λP)θ] = X̃ᵀr + λPθ, so a gradient refresh is one ``gemv``
    (or ``gemm`` for many sets) each way, its row terms overwritten in place in the first n
    entries and the penalty's already in the last p — no separate passes for the intercept
    or the penalty, which cost more than the arithmetic at a few hundred rows.  BLAS reads the
    Fortran-ordered matrix fastest both ways.  Its first n rows are X̃'s (the rows X̃_T of a
    set, copied by one index)."""
    Xp = state.__dict__.get("_penalised_design")
    if Xp is not None:
        return Xp
    design = state.loss.design
    if not (isinstance(design, DenseDesign) and design.single_fused_slice) or \
            hasattr(state, "retained_gradient"):
        return None
    n, p = design.n_samples, design.n_params
    Xp = np.zeros((n + p, p), order="F")
    design.rows_into(slice(0, n), Xp[:n])
    Xp[n + np.arange(p), np.arange(p)] = np.sqrt(state.loss.penalty)
    state.__dict__["_penalised_design"] = Xp
    return Xp


def _one_pass_gradient(state, fam, y, s, theta0):
    """D ↦ X̃ᵀ(s ∘ ℓ'(X̃(θ̂ + D), y)) + λP(θ̂ + D) for a dense X small enough to be one chunk:
    the same sums as the fused sweep, without its chunk machinery, in the fewest calls (one
    ``gemv`` each way on :func:`penalised_design`, the family's weighted derivative in place
    between them)."""
    Xp = penalised_design(state)
    n = y.shape[0]
    sy = s * y

    def gradient(D):
        e = _gemv(1.0, Xp, theta0 + D)   # [X̃θ; √(λP)θ]
        fam.weighted_d1_into(e[:n], y, s, sy)
        return _gemv(1.0, Xp, e, trans=1)
    return gradient


def _chunked_gradient(design, fam, y, s, theta0, penalty):
    """The fused sweep of a dense design over its row chunks (each read for X̃θ and, still in
    cache, for X̃ᵀr), in one loop with the family's weighted derivative in place — the sums
    of ``value_and_gradient`` in the same chunk order, without its per-chunk machinery
    (measured: 0.095 → 0.082 of a refit per set at 800 × 556, steps=5)."""
    X, d, n = design.X, design.n_features, design.n_samples
    intercept = design.fit_intercept
    slices = list(design.fused_slices())
    sy = s * y
    eta = np.empty(n)

    def gradient(D):
        theta = theta0 + D
        beta = theta[:d]
        b = float(theta[d]) if intercept else 0.0
        g = penalty * theta
        gb = g[:d]
        total = 0.0
        for sl in slices:
            Xc, e = X[sl], eta[sl]
            np.matmul(Xc, beta, out=e)
            if b:
                e += b
            r = fam.weighted_d1_into(e, y[sl], s[sl], sy[sl])
            gb += r @ Xc
            if intercept:
                total += float(r.sum())
        if intercept:
            g[d] += total
        return g
    return gradient


def refine_set(state, T, step, g0, solve, rec: Refinement, k: int) -> np.ndarray:
    """Refine the Newton step ``step`` of set ``k`` (rows ``T``, ``g0`` = Σ_{i∈T} g_i,
    ``solve`` = (H − H_T)⁻¹); record it as entry k of ``rec``."""
    return chord(step, g0, set_gradient(state, T), solve, rec, k)


#: Sets refined side by side by :func:`refine_sets`: their gradients are refreshed together,
#: X̃Θ and X̃ᵀR for all of them in one pass over a dense design (BLAS-3 instead of one
#: matrix–vector pass per set).  Bounds what the pending sets hold (rows, factors) at once.
SETS_AT_ONCE = 64


def refine_sets(state, pending: list, rec: Refinement) -> dict:
    """Refine the Newton steps of several sets side by side: ``{k: refined estimate}``.

    ``pending`` holds ``(k, T, step, g0, solve)`` per set (as for :func:`refine_set`).  Every
    set runs its own iteration (:func:`chord_many`: its own solves, secant pairs and stopping
    rule); the gradient refreshes of the sets still running are computed together, one pass
    over the design per step (:func:`retained_gradients`), and so are the solves with H inside
    their Woodbury solves.  A set's estimate may differ from a call with that set alone at
    rounding level (BLAS-3 products sum in another order), not more.
    """
    if len(pending) == 1:  # one set: the scalar iteration, cheaper than the (1, p) arrays
        k, T, step, g0, solve = pending[0]
        return {k: refine_set(state, T, step, g0, solve, rec, k)}
    ks = np.array([k for k, *_ in pending], dtype=np.intp)
    sets = [T for _, T, *_ in pending]
    solves = [solve for *_, solve in pending]
    delta = np.stack([step for _, _, step, _, _ in pending])
    g0 = np.stack([g0 for *_, g0, _ in pending])
    factor = state.factor
    h_solve = h_solver(factor)
    gradients = RetainedGradients(state, sets)

    explicit = np.array([isinstance(f, ExplicitSolve) for f in solves])
    wood = np.array([isinstance(f, WoodburySolve) for f in solves])  # (WhitenedSolve too)
    J_inv = _stacked_inverses(solves) if explicit.all() else None
    cut: list = [None, None]  # J_inv of the last subset of sets asked for, and its key

    def solve_many(idx, V):
        if J_inv is not None:  # every set's J⁻¹ explicit: one batched product
            if len(idx) == len(J_inv):
                J = J_inv
            else:
                key = idx.tobytes()
                if cut[1] != key:
                    cut[:] = J_inv[idx], key
                J = cut[0]
            return np.matmul(J, V[:, :, None])[:, :, 0]
        out = np.empty_like(V)
        if wood[idx].any():
            U = h_solve(V)   # the solves with H of all the sets at once
        for i, j in enumerate(idx):
            out[i] = solves[j].correct(U[i]) if wood[j] else solves[j](V[i])
        return out

    refined = chord_many(delta, g0, gradients, solve_many, rec, ks)
    return dict(zip(ks.tolist(), refined))


#: Most entries of the n × m weight matrix that :class:`RetainedGradients` keeps for a dense
#: design of one fused chunk (2 MiB of float64); beyond it the zeroed rows are scattered.
MASK_ENTRIES = 1 << 18


class RetainedGradients:
    """``(idx, D)`` ↦ rows ∇L₋T_j(θ̂ + D_i) for the sets T_j, j = idx[i], of a fixed list
    ``sets``, shape (len(idx), n_params) — the gradient refreshes of :func:`chord_many`.

    On a dense design one pass computes all of them: E = X̃(θ̂ + D)ᵀ (n × m), the row gradient
    scales R = s ∘ ℓ'(E, y) with each set's own rows zeroed in its column, then X̃ᵀR — row
    chunk by row chunk, summed in a fixed order.  What does not change between refreshes is
    made once: for a design of one fused chunk the weights s with each set's rows zeroed in
    its column (n × m, at most :data:`MASK_ENTRIES`), so that a refresh is two ``gemm`` on the
    cached X̃ and one elementwise family pass; otherwise the sorted (row, column) pairs to
    zero, per list of active sets.  Other designs (sparse, Dask) refresh one set at a time
    through :func:`set_gradient` (one closure per set, kept).
    """

    def __init__(self, state, sets: list):
        self.state, self.sets = state, sets
        design = state.loss.design
        self._closures = self._W = None
        if not isinstance(design, DenseDesign) or hasattr(state, "retained_gradient"):
            self._closures = {}
            return
        n, m = design.n_samples, len(sets)
        if design.single_fused_slice and n * m <= MASK_ENTRIES:
            W = np.empty((n, m))
            W[:] = state.loss.weights[:, None]
            for j, T in enumerate(sets):
                W[T, j] = 0.0
            self._W, self._WY = W, W * state.loss.y[:, None]
            self._Xp = penalised_design(state)
            self._cut: tuple = (None, None, None)   # W and W ∘ y of the last subset, its key
        self._zeros: dict = {}

    def __call__(self, idx, D: np.ndarray) -> np.ndarray:
        state = self.state
        if self._closures is not None:
            out = np.empty_like(D)
            for i, j in enumerate(idx):
                f = self._closures.get(j)
                if f is None:
                    f = self._closures[j] = set_gradient(state, self.sets[j])
                out[i] = f(D[i])
            return out
        loss = state.loss
        theta = state.theta + D                       # (m, p)
        if self._W is None:
            return self._chunked(idx, theta)
        if len(idx) == self._W.shape[1]:
            W, WY = self._W, self._WY
        else:
            key = np.asarray(idx).tobytes()
            if self._cut[0] != key:
                self._cut = (key, self._W[:, idx], self._WY[:, idx])
            _, W, WY = self._cut
        Xp = self._Xp
        n = W.shape[0]
        E = Xp @ theta.T                              # [X̃Θᵀ; √(λP)Θᵀ], (n + p, m)
        loss.family.weighted_d1_into(E[:n], loss.y[:, None], W, WY)
        return E.T @ Xp

    def _chunked(self, idx, theta: np.ndarray) -> np.ndarray:
        state, loss = self.state, self.state.loss
        design = loss.design
        fam, X, y, s = loss.family, design.X, loss.y, loss.weights
        d, p, fi = design.n_features, design.n_params, design.fit_intercept
        m = len(idx)
        key = np.asarray(idx).tobytes()
        zeros = self._zeros.get(key)
        if zeros is None:
            sets = [self.sets[j] for j in idx]
            rows = np.concatenate(sets)
            cols = np.repeat(np.arange(m), [T.size for T in sets])
            order = np.argsort(rows, kind="stable")
            zeros = self._zeros[key] = (rows[order], cols[order])
        rows, cols = zeros
        beta_t = np.ascontiguousarray(theta[:, :d].T)  # (d, m)

        def part(sl):
            Xc = X[sl]
            E = Xc @ beta_t
            if fi:
                E += theta[:, d]
            R = fam.d1_fast(E, y[sl, None])
            R *= s[sl, None]
            lo, hi = np.searchsorted(rows, (sl.start, sl.stop))
            R[rows[lo:hi] - sl.start, cols[lo:hi]] = 0.0
            out = np.empty((m, p))
            out[:, :d] = R.T @ Xc
            if fi:
                out[:, d] = R.sum(axis=0)
            return out

        G = sum_chunks(part, design.fused_slices(), np.zeros((m, p)))
        G += loss.penalty * theta
        return G


def _stacked_inverses(solves: list) -> np.ndarray:
    """The J⁻¹ of explicit solves as one (m, p, p) array of full symmetric matrices: the
    lower triangles of those made by ``potri`` mirrored in one pass for all of them."""
    J = np.stack([f.lower for f in solves])
    lower_only = np.array([f._full is None for f in solves])
    if lower_only.any():
        mask = _lower_mask(J.shape[1])
        part = J[lower_only]
        J[lower_only] = np.where(mask, part, part.transpose(0, 2, 1))
    return J


def retained_gradients(state, sets: list, D: np.ndarray) -> np.ndarray:
    """Row j: ∇L₋T_j(θ̂ + D_j) for the sets T_j, shape (len(sets), n_params) (one use of
    :class:`RetainedGradients`)."""
    return RetainedGradients(state, sets)(np.arange(len(sets)), D)


def refine_rows(state, deltas: np.ndarray, rec: Refinement) -> np.ndarray:
    """Refine the per-row Newton steps ``deltas`` (n, p) in place: n one-row removals.

    Row i's retained Hessian is H − w_i x̃_i x̃_iᵀ, solved by Sherman–Morrison from the factor of
    H: (H − w x xᵀ)⁻¹ v = u + H⁻¹x · w (x·u) / (1 − h), u = H⁻¹v.  Each refresh is a pass over
    the design, so n rows cost O(n²p) per step; ``ROWS_AT_ONCE`` rows are refined side by side
    (:func:`chord_many`, their refreshes in one pass).
    """
    h, w = state.leverage, state.w
    factor = state.factor
    h_solve = h_solver(factor)
    n = state.design.n_samples
    for start in range(0, n, ROWS_AT_ONCE):
        block = np.arange(start, min(start + ROWS_AT_ONCE, n))
        B = state.solved_rows(block)  # rows H⁻¹x̃_i of the block, (len(block), p)
        X_b = state.design.rows(block)
        hb = h[block]
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(hb < 1.0, w[block] / (1.0 - hb), np.nan)
        gradients = RetainedGradients(state, [block[j:j + 1] for j in range(block.size)])

        def solves(idx, V, X_b=X_b, B=B, c=c):
            U = h_solve(V)
            return U + (c[idx] * np.einsum("ij,ij->i", X_b[idx], U))[:, None] * B[idx]

        g0 = state.r[block, None] * X_b
        deltas[block] = chord_many(deltas[block], g0, gradients, solves, rec, block)
    return deltas


def warn_not_contracting(info: NewtonInfo, what: str = "set") -> None:
    """One NewtonStepsWarning naming the sets (or rows) whose refined estimate is unreliable."""
    if info.contracting.all() and not (info.ratio >= SLOW_RATIO).any():
        return  # nothing to flag (with steps=1 nothing was measured: the ratios are NaN)
    bad = info.unreliable
    if not bad.size:
        return
    shown = ", ".join(map(str, bad[:10])) + (f", … ({bad.size} in all)" if bad.size > 10 else "")
    grew = int((~info.contracting).sum())
    warn(
        f"The refined Newton iteration (steps > 1) is unreliable for {what}(s) {shown}: "
        f"{grew} did not contract (a step grew; the estimate stops before it) and "
        f"{bad.size - grew} contract too slowly (step ratio ≥ {SLOW_RATIO:g} and estimated "
        f"error above {SLOW_ERROR:.0%} after the last step). The curvature changes too much between θ̂ and the retained optimum "
        f"(a large or high-leverage removal), so these estimates may be far from retraining; "
        f"use method='retrain' for them (they are att.newton_info_.unreliable).",
        NewtonStepsWarning)
