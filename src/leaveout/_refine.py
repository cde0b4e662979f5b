"""Refined Newton steps: the chord iteration on the retained objective (``newton`` with ``steps > 1``).

The Newton step of DESIGN.md §3 is the first iterate of Newton's method on the retained objective
L₋T(θ) = L(θ) − Σ_{i∈T} s_i ℓ(x̃_i·θ, y_i), started at θ̂.  Keeping its matrix H − H_T (the
curvature frozen at θ̂) and refreshing only the gradient gives the *chord* iteration

    Δ⁰ = (H − H_T)⁻¹ Σ_{i∈T} g_i,        Δᵗ⁺¹ = Δᵗ − (H − H_T)⁻¹ ∇L₋T(θ̂ + Δᵗ),

whose fixed point is the exact retained optimum θ̂₋T − θ̂ (L₋T is strictly convex, so its only
stationary point is the refit).  Each refresh costs one gradient of the retained objective,
∇L₋T(θ) = ∇L(θ) − X̃_Tᵀ r_T(θ) — one pass over the design through its seam (X̃θ, X̃ᵀr), O(np) —
plus a solve with the factorisation of H − H_T that the Newton step already built (Woodbury on
the factor of H, or the direct factor when the set has more rows than parameters).  A refit
costs several O(np²) Hessians instead.

The iteration converges linearly when the curvature of the retained rows changes little between
θ̂ and θ̂₋T, at the rate ‖I − (H − H_T)⁻¹ ∇²L₋T‖ along the path.  It does not contract when the
curvature grows by more than a factor of two in some direction (e.g. confidently classified
retained rows that become uncertain after a large removal, or a set whose removal leaves a
nearly flat direction — set leverage near 1); it is then stopped at the last iterate before an
update grew, reported in :class:`NewtonInfo`, and a :class:`~leaveout.NewtonStepsWarning`
recommends ``method="retrain"`` for those sets.  There is no automatic fall-back to a refit: a
refit costs a fit per set, which the caller of a cheap estimator must choose knowingly.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ._warn import warn
from .exceptions import NewtonStepsWarning

#: Default relative tolerance: stop once ‖update‖ ≤ tol · ‖Δ‖.
DEFAULT_TOL = 1e-10
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
#: Elements of the n × m blocks of linear predictors that per-row refinement holds at once.
BLOCK_ELEMENTS = 1 << 22


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
        ‖last computed update‖ / ‖Δθ‖ (Euclidean), the quantity ``tol`` bounds. For a set that
        stopped because an update grew, the size of that rejected update. NaN where no refresh
        was computed (``steps=1``, NaN sets); 0 for an empty set or an estimate exactly 0.
    ratio : ndarray of float, shape (n_sets,)
        Size of the last update over the one before it (the Newton step counts as the first),
        measured in the energy norm of H − H_T, where it tends to the contraction factor of
        the iteration. Well below 1: fast convergence; near 1: slow; ≥ 1: no contraction.
        NaN where no refresh was computed.
    error_estimate : ndarray of float, shape (n_sets,)
        Estimated remaining relative error of Δθ against the exact refit, the tail of a
        geometric series: ``rel_update · ratio / (1 − ratio)``; inf where the iteration did
        not contract, NaN where no refresh was computed.
    converged : ndarray of bool, shape (n_sets,)
        The last update was at most ``tol`` · ‖Δθ‖ (or at rounding level): Δθ is then the exact
        retained optimum to that tolerance.
    contracting : ndarray of bool, shape (n_sets,)
        False where an update grew (or became non-finite): the iteration stopped at the last
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
    """A call's ``steps`` and ``tol``, and the outcome per set (filled in place, one entry each)."""

    def __init__(self, m: int, steps: int, tol: float):
        self.max_steps = steps
        self.steps = np.zeros(m, dtype=np.intp)
        self.rel_update = np.full(m, np.nan)
        self.ratio = np.full(m, np.nan)
        self.converged = np.zeros(m, dtype=bool)
        self.contracting = np.ones(m, dtype=bool)
        self.tol = tol

    @property
    def iterate(self) -> "Refinement | None":
        """What the estimators refine with: None for ``steps=1`` (the Newton step alone)."""
        return self if self.max_steps > 1 else None

    def info(self, out: np.ndarray, sizes: np.ndarray) -> NewtonInfo:
        """The record as a NewtonInfo, given the call's results ``out`` (m, ...) and the sets'
        sizes (m,) (0: an empty set)."""
        if self.max_steps == 1:  # no iteration ran: one step for every finite non-empty set
            finite = np.isfinite(out.reshape(sizes.size, -1)).all(axis=1)
            self.steps[finite & (sizes > 0)] = 1
        empty = sizes == 0
        self.rel_update[empty] = 0.0
        self.converged[empty] = True
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = self.rel_update * self.ratio / (1.0 - self.ratio)
        est = np.where(self.ratio < 1.0, tail, np.where(self.converged, self.rel_update, np.inf))
        est[np.isnan(self.ratio) & ~empty] = np.nan
        est[empty] = 0.0
        est[~self.contracting] = np.inf
        return NewtonInfo(self.steps, self.rel_update, self.ratio, est, self.converged,
                          self.contracting, self.tol)


def chord(delta: np.ndarray, g0: np.ndarray, refresh, rec: Refinement, at) -> np.ndarray:
    """Run the chord iteration on the Newton steps ``delta`` in place; fill ``rec[at]``.

    Successive updates are compared in the energy norm of J = H − H_T, ‖d‖_J = √(dᵀJd) = √(d·g)
    for d = J⁻¹g (free: both are in hand).  The linearised iteration e ↦ (I − J⁻¹H̄)e is
    self-adjoint in that norm, so its update ratio there tends to the contraction factor and
    reaches 1 only when the iteration stops contracting (in the Euclidean norm a converging
    iteration may show a transient ratio above 1).

    Parameters
    ----------
    delta : ndarray of shape (m, n_params)
        Δ⁰ = J⁻¹g0 of m removals (their Newton steps); overwritten with the refined estimates.
    g0 : ndarray of shape (m, n_params)
        Σ_{i∈T} g_i of each removal (= −∇L₋T(θ̂)).
    refresh : callable
        ``refresh(active, D)`` → (J⁻¹g, g) with g = ∇L₋T(θ̂ + D), both of shape
        (len(active), n_params), for the removals ``active`` (indices into the m) at the
        estimates ``D``.
    rec : Refinement
        The call's steps and tol; receives the outcome.
    at : ndarray of int, shape (m,)
        Where the m removals are in ``rec``.
    """
    tol = rec.tol
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        prev = np.sqrt(np.abs(np.einsum("ij,ij->i", delta, g0)))  # ‖Δ⁰‖_J
        finite = np.isfinite(delta).all(axis=1)
        rec.steps[at[finite]] = 1
        zero = finite & ~delta.any(axis=1)  # no gradient on T: θ̂ is the retained optimum
        rec.rel_update[at[zero]] = 0.0
        rec.converged[at[zero]] = True
        active = np.flatnonzero(finite & ~zero)
        for _ in range(rec.max_steps - 1):
            if active.size == 0:
                break
            step, g = refresh(active, delta[active])
            energy = np.sqrt(np.abs(np.einsum("ij,ij->i", step, g)))
            new = delta[active] - step
            rel = np.linalg.norm(step, axis=1) / np.linalg.norm(new, axis=1)
            ratio = energy / prev[active]
            ok = np.isfinite(rel) & np.isfinite(ratio)
            rel, ratio = np.where(ok, rel, np.inf), np.where(ok, ratio, np.inf)
            grew = ratio >= 1.0
            noise = grew & (rel <= ROUNDING_FLOOR)   # rounding noise, not divergence
            failed = grew & ~noise
            done = ~grew & (rel <= tol)
            apply = ~grew
            where = at[active]
            rec.ratio[where] = ratio
            rec.rel_update[where] = rel
            delta[active[apply]] = new[apply]
            rec.steps[where[apply]] += 1
            rec.converged[where[done | noise]] = True
            rec.contracting[where[failed]] = False
            prev[active[apply]] = energy[apply]
            active = active[apply & ~done]
    return delta


def woodbury_solver(factor, X_T, B_T, sw, cM):
    """V ↦ (H − H_T)⁻¹ V by Woodbury, from the factors the Newton step built.

    (H − SᵀS)⁻¹ v = u + H⁻¹Sᵀ M⁻¹ S u with u = H⁻¹v, S = W_T^{1/2} X̃_T, M = I − S H⁻¹ Sᵀ
    (Cholesky ``cM``), H⁻¹Sᵀ = (sw · B_T)ᵀ with B_T the rows H⁻¹x̃_i of the set.
    O(p² + kp + k²) per right-hand side.
    """
    def solve(v: np.ndarray) -> np.ndarray:
        u = factor.solve(v)
        z = sw * linalg.cho_solve(cM, sw * (X_T @ u), check_finite=False)
        return u + z @ B_T
    return solve


def direct_solver(c):
    """V ↦ (H − H_T)⁻¹ V from the Cholesky factorisation ``c`` of H − H_T itself."""
    def solve(v: np.ndarray) -> np.ndarray:
        return linalg.cho_solve(c, v, check_finite=False)
    return solve


def set_refresh(state, T: np.ndarray, X_T: np.ndarray, solve):
    """The ``refresh`` of :func:`chord` for one set T (m = 1).

    ∇L₋T(θ) = ∇L(θ) − X̃_Tᵀ r_T(θ): the full gradient by one pass over the design, minus the
    set's rows (already in hand as the dense k × p block ``X_T``).
    """
    loss = state.loss
    y_T, s_T = loss.y[T], loss.weights[T]

    def refresh(active, D):
        theta = state.theta + D[0]
        eta = loss.eta(theta)
        g = loss.gradient(theta, eta) - (s_T * loss.family.d1(eta[T], y_T)) @ X_T
        return solve(g)[None], g[None]
    return refresh


def refine_set(state, T, X_T, step, solve, rec: Refinement, k: int) -> np.ndarray:
    """Refine the Newton step ``step`` of set ``k`` (rows ``T``, dense rows ``X_T``); record it
    as entry k of ``rec``."""
    delta = step[None].copy()
    g0 = (state.r[T] @ X_T)[None]
    chord(delta, g0, set_refresh(state, T, X_T, solve), rec, np.array([k]))
    return delta[0]


def refine_rows(state, deltas: np.ndarray, rec: Refinement) -> np.ndarray:
    """Refine the per-row Newton steps ``deltas`` (n, p) in place: n one-row removals.

    Row i's retained Hessian is H − w_i x̃_i x̃_iᵀ, solved by Sherman–Morrison from the factor of
    H: (H − w x xᵀ)⁻¹ v = u + H⁻¹x · w (x·u) / (1 − h), u = H⁻¹v.  Rows are refined in blocks of
    m, each refresh a pass X̃ Dᵀ (n × m) and X̃ᵀR over the design: O(n²p) per step in all.
    """
    loss, design = state.loss, state.design
    n = design.n_samples
    h, w = state.leverage, state.w
    m = max(1, min(n, BLOCK_ELEMENTS // max(n, 1)))
    for start in range(0, n, m):
        stop = min(start + m, n)
        rows = np.arange(start, stop)

        def refresh(active, D, rows=rows):
            idx = rows[active]
            Theta = state.theta[:, None] + D.T                     # (p, a)
            E = state.eta[:, None] + design.matmat(D.T)            # (n, a) linear predictors
            R = loss.weights[:, None] * loss.family.d1(E, loss.y[:, None])
            G = np.stack([design.rmatvec(R[:, j]) for j in range(idx.size)], axis=1)
            G += loss.penalty[:, None] * Theta
            X_i = design.rows(idx)                                 # (a, p)
            G -= (R[idx, np.arange(idx.size)][:, None] * X_i).T    # drop each row's own term
            U = state.factor.solve(G)                              # (p, a)
            a = np.einsum("ij,ji->i", X_i, U) * w[idx] / (1.0 - h[idx])
            return U.T + a[:, None] * state.solved_rows(idx), G.T

        g0 = state.r[start:stop, None] * design.rows(rows)
        chord(deltas[start:stop], g0, refresh, rec, rows)  # a view: refined in place
    return deltas


def warn_not_contracting(info: NewtonInfo, what: str = "set") -> None:
    """One NewtonStepsWarning naming the sets (or rows) whose refined estimate is unreliable."""
    bad = info.unreliable
    if not bad.size:
        return
    shown = ", ".join(map(str, bad[:10])) + (f", … ({bad.size} in all)" if bad.size > 10 else "")
    grew = int((~info.contracting).sum())
    warn(
        f"The refined Newton iteration (steps > 1) is unreliable for {what}(s) {shown}: "
        f"{grew} did not contract (an update grew; the estimate stops before it) and "
        f"{bad.size - grew} contract too slowly (update ratio ≥ {SLOW_RATIO:g} and estimated "
        f"error above {SLOW_ERROR:.0%} after the last step). The curvature changes too much between θ̂ and the retained optimum "
        f"(a large or high-leverage removal), so these estimates may be far from retraining; "
        f"use method='retrain' for them (they are att.newton_info_.unreliable).",
        NewtonStepsWarning)
