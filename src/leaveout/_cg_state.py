"""The estimators with H⁻¹ applied by conjugate gradients (``Attributor(solver="cg")``).

For data where neither n nor p is small (DESIGN.md §5) nothing n × n or p × p is formed: every
product with H⁻¹ is a preconditioned CG solve on Hessian–vector products (``solvers.cg``),
O(nnz) per iteration.  What each estimator costs, in solves:

- a target (``effects(method, target=...)``, m query columns): m solves;
- a removal set for ``if``/``rif``: one solve (H⁻¹ X̃_Tᵀ c); for ``newton``: k + 1 (the k × k
  Woodbury block C = X̃_T H⁻¹ X̃_Tᵀ, then the step);
- leverages (needed by ``rif``): ``probes`` solves, once, by the random sketch below;
- the parameter effects of every row: n solves — refused, with a pointer to targets and sets.

Leverages (two independent random estimates from the same solves, each with an exactly
known distribution).  With A = [W^½ X̃; (λP)^½] ((n + p) × p), AᵀA = H, so Π = A H⁻¹ Aᵀ is the
orthogonal projection onto the range of A in R^{n+p}, and its first n diagonal entries are the
leverages: Π_ii = w_i x̃_iᵀH⁻¹x̃_i = h_i.  For a Gaussian probe g ~ N(0, I_{n+p}) and a row
i ≤ n, (Πg)_i ~ N(0, h_i) and ((I − Π)g)_i ~ N(0, 1 − h_i), and the two are independent
(jointly Gaussian with covariance [Π(I − Π)]_ii = 0).  With s probes

    ĥ_i = (1/s) Σ_j (Πg_j)_i² ~ h_i χ²_s / s,     ĝ_i = (1/s) Σ_j (g_j − Πg_j)_i² ~ (1 − h_i) χ²_s / s,

two independent unbiased estimates of h_i and of 1 − h_i, each with relative standard error
√(2/s) (the Johnson–Lindenstrauss form of Drineas, Magdon-Ismail, Mahoney & Woodruff, "Fast
approximation of matrix coherence and statistical leverage", JMLR 2012, with H^{-1/2}
replaced by the exact factor A H⁻¹; the complement is what makes the 1 / (1 − h) of ``rif``
well known for rows of high leverage).  One solve per probe: (Πg)_{1..n} = W^½ X̃ H⁻¹ Aᵀg,
Aᵀg = X̃ᵀ(W^½ g_{1..n}) + (λP)^½ g_{n+1..n+p}.  :func:`combine_sides` weights the two by their
inverse variances: standard error √(2/s) · h(1 − h)/√(h² + (1 − h)²) ≤ √(2/s) · min(h, 1 − h),
so both a small leverage and the 1 / (1 − h) of a large one are known to about √(2/s) relative.

(Hutchinson's diagonal estimator mean_j z_j ⊙ (S z_j) on the hat matrix S has variance
(‖S_i‖² − h_i²)/s, can be negative, and its error depends on off-diagonal mass that no single
row reveals.)  The probes are drawn from ``numpy.random.default_rng(random_state)`` in a fixed
order (blocks of ``cg.BLOCK``), so the same inputs give the same leverages.  ``probes`` = s
solves in all.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import linalg

from .estimators import FittedState
from .exceptions import ProblemTooLargeError
from .solvers import gib
from .solvers.cg import BLOCK, CGFactor

#: Default relative residual ‖Hz − v‖ / ‖v‖ of the solves behind effects.
RTOL = 1e-10
#: Default number of random probes behind the leverages (one solve each; standard error at
#: most √(2/64) ≈ 18 % of min(h, 1 − h)).
PROBES = 64
#: The leverage probes are solved to max(rtol, LEVERAGE_RTOL): their statistical error (√(2/s),
#: ≥ 1 % for any practical s) dwarfs a solve error of this size.
LEVERAGE_RTOL = 1e-6
#: Set leverages of sets larger than BLOCK rows are found by Lanczos on the k × k matrix,
#: stopped when its residual bound ‖Gv − θv‖ falls below this (or after k steps: exact).
SET_LEVERAGE_TOL = 1e-4
#: ... and for the SetLeverageWarning check of if/rif on a set (threshold 0.3): 1e-2.
SET_LEVERAGE_WARN_TOL = 1e-2
#: Sets of one if/rif call solved side by side (more: one solve after another).
PREFETCH_SETS = 128
#: The pilot leverage that weights the two sketches is at most 1 − PILOT_GAP.
PILOT_GAP = 1e-3


def lanczos_top(matvec, k: int, tol: float) -> tuple[float, float]:
    """(largest eigenvalue estimate, residual bound) of a symmetric k × k operator.

    Lanczos with full reorthogonalisation from the normalised ones vector; stops when the top
    Ritz pair's residual ‖Gv − θv‖ ≤ tol (then some eigenvalue lies within it of θ) or after k
    steps (exact in exact arithmetic).
    """
    q = np.full(k, 1.0 / np.sqrt(k))
    Q = np.empty((k, k))
    alpha, beta = [], []
    theta, resid = 0.0, np.inf
    for j in range(k):
        Q[j] = q
        v = matvec(q)
        alpha.append(float(q @ v))
        v = v - alpha[-1] * q - (beta[-1] * Q[j - 1] if j else 0.0)
        for _ in range(2):                                   # full reorthogonalisation
            v -= Q[: j + 1].T @ (Q[: j + 1] @ v)
        b = float(np.linalg.norm(v))
        if j:
            ev, vec = linalg.eigh_tridiagonal(np.array(alpha), np.array(beta))
        else:
            ev, vec = np.array(alpha), np.ones((1, 1))
        theta, resid = float(ev[-1]), b * abs(float(vec[-1, -1]))
        if resid <= tol or b <= 1e-14 * max(abs(theta), 1e-300):
            break
        beta.append(b)
        q = v / b
    return theta, resid


def combine_sides(h: np.ndarray, g: np.ndarray, w: np.ndarray, s: int):
    """(leverage, standard error) from ĥ ~ h χ²_s/s and ĝ ~ (1 − h) χ²_s/s (independent).

    Inverse-variance weighting with the variances 2h²/s and 2(1 − h)²/s evaluated at a pilot
    h̄ (the side with the smaller variance at the two sides' mean, at most 1 − PILOT_GAP):
    weight (1 − h̄)² / (h̄² + (1 − h̄)²) on ĥ, standard error
    √(2/s) h̄(1 − h̄) / √(h̄² + (1 − h̄)²) ≤ √(2/s) · min(h̄, 1 − h̄).  Rows of zero curvature
    have h = 0 exactly.
    """
    mean = 0.5 * (h + 1.0 - g)
    pilot = np.clip(np.where(mean < 0.5, h, 1.0 - g), 0.0, 1.0 - PILOT_GAP)
    a2, b2 = pilot**2, (1.0 - pilot) ** 2
    tot = a2 + b2
    est = (b2 * h + a2 * (1.0 - g)) / tot
    se = np.sqrt(2.0 / s) * np.sqrt(a2 * b2 / tot)
    zero = ~(w > 0)
    est[zero], se[zero] = 0.0, 0.0
    return est, se


class CGState(FittedState):
    """:class:`~leaveout.estimators.FittedState` with H⁻¹ applied by conjugate gradients.

    Parameters
    ----------
    loss, theta, eta
        As for :class:`FittedState` (a factor handed over by the fit is not reused: this state
        makes its own, with its ``rtol``).
    rtol : float
        Relative residual of every solve behind an effect.
    probes : int
        Random probes behind the leverages.
    random_state : int
        Seed of the probes.
    """

    solver = "cg"

    def __init__(self, loss, theta, hessian=None, factor=None, eta=None, *, rtol: float = RTOL,
                 probes: int = PROBES, random_state: int = 0):
        self.rtol, self.probes, self.random_state = float(rtol), int(probes), int(random_state)
        self._leverage_solves: list[int] = []     # indices into factor.info
        super().__init__(loss, theta, None, None, eta)
        # One solve on a fixed vector with every eigen-direction of the preconditioned
        # Hessian in it: its Lanczos coefficients give the condition estimate.
        sign = np.where(np.random.default_rng(self.random_state).random(self.design.n_params)
                        < 0.5, -1.0, 1.0)
        self.factor.solve(sign / np.sqrt(self.factor._pinv))
        self.scaled_condition = self.factor.scaled_condition_estimate()

    def _new_factor(self, loss, theta):
        return None, CGFactor(loss.design, self.w, loss.penalty, rtol=self.rtol)

    def solved_rows(self, T: np.ndarray) -> np.ndarray:
        """H⁻¹x̃_i for the rows T, (len(T), n_params): len(T) solves."""
        return self.factor.solve(np.ascontiguousarray(self.design.rows(T).T)).T

    # -- X̃_Tᵀ without dense k × p rows --------------------------------------------------------
    def _rows_t(self, c_full: np.ndarray) -> np.ndarray:
        return self.design.rmatvec(c_full)

    def _rows_t_matmat(self, C: np.ndarray) -> np.ndarray:
        """X̃ᵀ C, shape (n_params, m), for C of shape (n_samples, m)."""
        design, d = self.design, self.design.n_features
        out = np.empty((design.n_params, C.shape[1]))
        out[:d] = design.feature_matmat(C)
        if design.fit_intercept:
            out[d] = C.sum(axis=0)
        return out

    def _combine(self, T: np.ndarray, c: np.ndarray) -> np.ndarray:
        pre = self._prefetched
        if pre is not None and id(T) in pre:
            return pre.pop(id(T))
        full = np.zeros(self.design.n_samples)
        np.add.at(full, T, c)
        return self.factor.solve(self._rows_t(full))

    #: H⁻¹ X̃_Tᵀ c of the sets of one ``sets`` call, solved side by side (id(T) → result).
    _prefetched = None

    def sets(self, method, sets, checkpoint=None, refine=None):
        """As :meth:`FittedState.sets`; for ``if``/``rif`` the sets' solves (up to
        PREFETCH_SETS of them) run side by side in one block CG instead of one by one."""
        todo = [T for T in sets if T.size and not self._degenerate(T)]
        if method in ("if", "rif") and 1 < len(todo) <= PREFETCH_SETS:
            coef = self.r if method == "if" else self._rif[0]
            C = np.zeros((self.design.n_samples, len(todo)))
            for j, T in enumerate(todo):
                np.add.at(C[:, j], T, coef[T])
            Z = self.factor.solve(self._rows_t_matmat(C))
            self._prefetched = {id(T): Z[:, j] for j, T in enumerate(todo)}
        try:
            return super().sets(method, sets, checkpoint, refine)
        finally:
            self._prefetched = None

    def _cross(self, T: np.ndarray) -> np.ndarray:
        """C = X̃_T H⁻¹ X̃_Tᵀ (k × k) by k solves, BLOCK at a time (never k × p at once)."""
        k = T.size
        C = np.empty((k, k))
        for start in range(0, k, BLOCK):
            idx = T[start:start + BLOCK]
            Z = self.factor.solve(np.ascontiguousarray(self.design.rows(idx).T))
            C[:, start:start + idx.size] = self.design.matmat(Z)[T]
        return 0.5 * (C + C.T)

    def _woodbury_parts(self, T: np.ndarray):
        return self._cross(T), lambda c: self._combine(T, c), None, None

    def set_leverage(self, T: np.ndarray) -> float:
        """λ_max(W_T^½ X̃_T H⁻¹ X̃_Tᵀ W_T^½): exactly (k solves) for k ≤ BLOCK rows, else by
        Lanczos to a residual of SET_LEVERAGE_TOL (one solve per step)."""
        if T.size == 0:
            return 0.0
        sw = np.sqrt(self.w[T])
        if T.size <= BLOCK:
            G = (sw[:, None] * self._cross(T)) * sw[None, :]
            m = G.shape[0]
            return float(linalg.eigvalsh(G, subset_by_index=[m - 1, m - 1],
                                         check_finite=False)[0])
        n = self.design.n_samples

        def matvec(v):
            full = np.zeros(n)
            np.add.at(full, T, sw * v)
            return sw * self.design.matvec(self.factor.solve(self._rows_t(full)))[T]

        return lanczos_top(matvec, T.size, self._lanczos_tol)[0]

    _lanczos_tol = SET_LEVERAGE_TOL

    def _warn_set_leverage(self, method, sets):
        self._lanczos_tol = SET_LEVERAGE_WARN_TOL
        try:
            super()._warn_set_leverage(method, sets)
        finally:
            del self._lanczos_tol

    # -- leverages by random probes -------------------------------------------------------------
    @cached_property
    def _sketch(self) -> tuple[np.ndarray, np.ndarray]:
        """(ĥ, its standard error), each of shape (n_samples,): see the module docstring."""
        design, n, p, s = self.design, self.design.n_samples, self.design.n_params, self.probes
        rng = np.random.default_rng(self.random_state)
        sw, sp_ = np.sqrt(self.w), np.sqrt(self.loss.penalty)
        rtol = max(self.rtol, LEVERAGE_RTOL)
        acc_h = np.zeros(n)                      # Σ_j (Π g_j)_i²
        acc_g = np.zeros(n)                      # Σ_j ((I − Π) g_j)_i²
        for start in range(0, s, BLOCK):
            m = min(BLOCK, s - start)
            Gn = rng.standard_normal((n, m))
            Gp = rng.standard_normal((p, m))
            rhs = self._rows_t_matmat(sw[:, None] * Gn)
            rhs += sp_[:, None] * Gp             # Aᵀ g
            before = len(self.factor.info)
            Y = self.factor.solve(rhs, rtol=rtol)
            self._leverage_solves += range(before, len(self.factor.info))
            Pi = sw[:, None] * design.matmat(Y)  # rows n of A H⁻¹ Aᵀ g
            acc_h += np.einsum("ij,ij->i", Pi, Pi)
            Gn -= Pi
            acc_g += np.einsum("ij,ij->i", Gn, Gn)
        return combine_sides(acc_h / s, acc_g / s, self.w, s)

    @property
    def leverage(self) -> np.ndarray:
        return self._sketch[0]

    @property
    def leverage_se(self) -> np.ndarray:
        return self._sketch[1]

    # -- what is refused ------------------------------------------------------------------------
    def per_row(self, method: str, checkpoint=None, refine=None) -> np.ndarray:
        if method == "retrain":
            return super().per_row(method, checkpoint, refine)
        n, p = self.design.n_samples, self.design.n_params
        its = [r["iterations"] for r in self.factor.info if r["iterations"]]
        per = f" (~{int(np.median(its))} iterations each here)" if its else ""
        raise ProblemTooLargeError(
            f"With solver='cg' the parameter effects of every row are not available: they need "
            f"H⁻¹x̃_i for all {n} rows, i.e. {n} conjugate-gradient solves{per}, and a dense "
            f"{n} x {p} result of {gib(8.0 * n * p)}. Ask for the effects on a target instead "
            f"(effects(method, target=...): n_samples x m, m solves), or for chosen removal sets "
            f"(remove=[...]: one solve per set, k + 1 for newton on k rows).")

    # -- what was reached -----------------------------------------------------------------------
    def info(self) -> dict:
        """The accuracy the solves reached (see ``Attributor.solver_info_``)."""
        recs = self.factor.info
        lev = set(self._leverage_solves)
        eff = [r for i, r in enumerate(recs) if i not in lev]
        out = {
            "solver": "cg",
            "exact": False,
            "rtol": self.rtol,
            "solves": len(eff),
            "iterations": int(sum(r["iterations"] for r in eff)),
            "max_iterations": int(max((r["iterations"] for r in eff), default=0)),
            "max_residual": float(max((r["residual"] for r in eff), default=0.0)),
            "scaled_condition_estimate": self.scaled_condition,
            "leverage_probes": self.probes,
            "random_state": self.random_state,
            "leverage_rtol": max(self.rtol, LEVERAGE_RTOL),
            "leverage_computed": "_sketch" in self.__dict__,
        }
        if "_sketch" in self.__dict__:
            lrec = [recs[i] for i in self._leverage_solves]
            h, se = self._sketch
            out.update({
                "leverage_solves": len(lrec),
                "leverage_iterations": int(sum(r["iterations"] for r in lrec)),
                "leverage_max_residual": float(max(r["residual"] for r in lrec)),
                "leverage_se_max": float(se.max(initial=0.0)),
                "leverage_se_median": float(np.median(se)) if se.size else 0.0,
            })
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(h < 1.0, se / (1.0 - h), np.inf)   # of rif's 1 / (1 − h)
            out.update({"rif_scale_relative_se_max": float(rel.max(initial=0.0)),
                        "rif_scale_relative_se_median": float(np.median(rel)) if rel.size
                        else 0.0})
        return out
