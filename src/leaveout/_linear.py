"""Objective, gradient and Hessian of an L2-regularised linear model — written once for all families.

With x̃_i = (x_i, 1) (intercept last, unpenalised) and θ = (β, b):

    L(θ) = Σ_i s_i ℓ(x̃_i·θ, y_i) + (λ/2) ‖β‖²
    ∇L(θ) = X̃ᵀ r + λ P θ,           r_i = s_i ℓ'(η_i, y_i)      (row gradient scale)
    ∇²L(θ) = X̃ᵀ diag(w) X̃ + λ P,    w_i = s_i ℓ''(η_i, y_i)     (row curvature)

P = diag(1, …, 1, 0).  The per-row gradient is g_i = r_i x̃_i.
"""

from __future__ import annotations

import numpy as np

from .families import Family


class LinearLoss:
    """The objective of DESIGN.md §2 on one design.

    Parameters
    ----------
    design : DenseDesign
    family : Family
    y : ndarray of shape (n_samples,)
    weights : ndarray of shape (n_samples,)
        Sample weights s_i.
    l2 : float
        λ ≥ 0.
    """

    def __init__(self, design, family: Family, y: np.ndarray, weights: np.ndarray, l2: float):
        if family.n_outputs != 1:  # pragma: no cover - no such family yet
            raise NotImplementedError("families with several linear predictors per row")
        self.design = design
        self.family = family
        self.y = y
        self.weights = weights
        self.l2 = l2
        self.penalty = l2 * design.penalty_mask()
        #: How Newton steps apply H⁻¹ ("primal", "kernel" or "cg"; see leaveout.solvers).
        self.solver = "primal"
        #: (Family.fused_labels(y), all weights 1), made at the first fused sweep.
        self._fused = None

    def eta(self, theta: np.ndarray) -> np.ndarray:
        return self.design.matvec(theta)

    def initial_intercept(self) -> float:
        """The intercept of the cold start (the family's, from y and the weights)."""
        return self.family.initial_intercept(self.y, self.weights)

    def objective(self, theta: np.ndarray, eta: np.ndarray | None = None) -> float:
        if eta is None:
            eta = self.eta(theta)
        with np.errstate(over="ignore", invalid="ignore"):
            data = float(np.dot(self.weights, self.family.loss(eta, self.y)))
        return data + 0.5 * float(np.dot(self.penalty * theta, theta))

    def objective_scale(self, theta: np.ndarray, eta: np.ndarray) -> float:
        """Σ_i s_i |ℓ_i| + (λ/2)‖β‖²: the size of the terms summed into L, hence of its rounding."""
        with np.errstate(over="ignore", invalid="ignore"):
            data = float(np.dot(self.weights, np.abs(self.family.loss(eta, self.y))))
        return data + 0.5 * float(np.dot(self.penalty * theta, theta))

    def gradient_noise(self, theta: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """A bound on the rounding error of each gradient entry, shape (n_params,).

        Each r_i = s_i ℓ'(η_i, y_i) carries an error of about ε·s_i(c_i + ℓ''_i·|η|_i), with c_i
        the size of the terms whose difference is ℓ' (``Family.d1_scale``: |ℓ'| + |y| when ℓ' is
        a mean minus the label) and |η|_i = |x̃_i|·|θ| the size of the terms summed into η_i;
        X̃ᵀr adds ε|X̃|ᵀ|r|.  Newton cannot get the gradient below this, whatever the size of L.
        """
        eps = np.finfo(float).eps
        with np.errstate(over="ignore", invalid="ignore"):
            size_eta = self.design.abs_matvec(np.abs(theta))
            dr = self.weights * (self.family.d1_scale(eta, self.y)
                                 + self.family.d2(eta, self.y) * size_eta)
        return eps * (self.design.abs_rmatvec(dr) + np.abs(self.penalty * theta))

    def row_gradient_scale(self, eta: np.ndarray) -> np.ndarray:
        """r_i = s_i ℓ'(η_i, y_i), shape (n_samples,)."""
        return self.weights * self.family.d1(eta, self.y)

    def row_curvature(self, eta: np.ndarray) -> np.ndarray:
        """w_i = s_i ℓ''(η_i, y_i), shape (n_samples,)."""
        return self.weights * self.family.d2(eta, self.y)

    def gradient(self, theta: np.ndarray, eta: np.ndarray | None = None) -> np.ndarray:
        if eta is None:
            eta = self.eta(theta)
        return self.design.rmatvec(self.row_gradient_scale(eta)) + self.penalty * theta

    def objective_and_gradient(self, theta: np.ndarray, diagonal: bool = False,
                               value: bool = True):
        """(L(θ), ∇L(θ), η) in one sweep over the design (see ``value_and_gradient``).

        ``diagonal=True`` adds the Hessian's diagonal at θ (shape (n_params,)) from the same
        sweep.  ``value=False`` skips the per-row losses (L(θ) is then None; :meth:`objective`
        with η gives it later, without another pass over X): the line search of
        :func:`~leaveout.fitting.lbfgs` decides most steps from gradients alone.
        """
        if not hasattr(self.design, "value_and_gradient"):  # no fused sweep (sparse designs)
            eta = self.eta(theta)
            out = (self.objective(theta, eta) if value else None), self.gradient(theta, eta), eta
            if diagonal:
                out += (self.design.sq_rmatvec(self.row_curvature(eta)) + self.penalty,)
            return out
        fam, s = self.family, self.weights
        if self._fused is None:  # the labels as the family's fused terms read them; unit weights?
            self._fused = fam.fused_labels(self.y), bool(np.all(s == 1.0))
        labels, unit = self._fused

        def row_terms(sl, eta):
            if not value:
                r = fam.d1_fused(eta, *(a[sl] for a in labels))
                if not unit:
                    r *= s[sl]
                return 0.0, r
            v, r = fam.loss_and_d1(eta, *(a[sl] for a in labels))
            if unit:
                return float(v.sum()), r
            r *= s[sl]
            v *= s[sl]
            return float(v.sum()), r
        def curvature(sl, eta):
            w = fam.d2(eta, self.y[sl])
            return w if unit else w * s[sl]

        with np.errstate(over="ignore", invalid="ignore"):  # in every chunk worker too
            data, g, eta, *diag = self.design.value_and_gradient(
                theta, row_terms, curvature if diagonal else None)
        pt = self.penalty * theta
        out = (data + 0.5 * float(np.dot(pt, theta)) if value else None), g + pt, eta
        return out + (diag[0] + self.penalty,) if diagonal else out

    def hessian(self, theta: np.ndarray, eta: np.ndarray | None = None) -> np.ndarray:
        if eta is None:
            eta = self.eta(theta)
        H = self.design.weighted_gram(self.row_curvature(eta))
        H[np.diag_indices_from(H)] += self.penalty
        return H
