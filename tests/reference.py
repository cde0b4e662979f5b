"""Plain NumPy/SciPy reference implementation of leaveout's mathematics, for tests only.

Written independently of ``src/leaveout`` from /work/shared/DESIGN.md.  Nothing here is
clever: dense matrices, explicit ``np.linalg.solve`` calls, exact refits from a cold start.

Conventions (DESIGN.md section 2):

    x~_i = (x_i, 1) when there is an intercept (intercept LAST, never penalised)
    L(theta) = sum_i s_i * l(eta_i, y_i) + (l2 / 2) * ||beta||^2,   eta_i = x~_i . theta
    g_i = s_i l'(eta_i, y_i) x~_i,  w_i = s_i l''(eta_i, y_i)
    H = sum_i w_i x~_i x~_i^T + l2 * P,  P = diag(1, ..., 1, 0)

Effects are theta_{-T} - theta_hat (the change WHEN T IS REMOVED).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

FAMILIES = ("logistic", "squared", "poisson")


# --------------------------------------------------------------------------- families
def loss(family, eta, y):
    """Per-row loss l(eta, y) (no sample weight)."""
    eta = np.asarray(eta, dtype=float)
    y = np.asarray(y, dtype=float)
    if family == "logistic":
        return np.logaddexp(0.0, eta) - y * eta
    if family == "squared":
        return 0.5 * (eta - y) ** 2
    if family == "poisson":
        return np.exp(eta) - y * eta
    raise ValueError(family)


def dloss(family, eta, y):
    """l'(eta, y) = d l / d eta."""
    eta = np.asarray(eta, dtype=float)
    y = np.asarray(y, dtype=float)
    if family == "logistic":
        return expit(eta) - y
    if family == "squared":
        return eta - y
    if family == "poisson":
        return np.exp(eta) - y
    raise ValueError(family)


def d2loss(family, eta, y=None):
    """l''(eta, y) = d^2 l / d eta^2 (does not depend on y for these families)."""
    eta = np.asarray(eta, dtype=float)
    if family == "logistic":
        p = expit(eta)
        return p * (1.0 - p)
    if family == "squared":
        return np.ones_like(eta)
    if family == "poisson":
        return np.exp(eta)
    raise ValueError(family)


def mean(family, eta):
    """Inverse link: the mean prediction mu(eta)."""
    eta = np.asarray(eta, dtype=float)
    if family == "logistic":
        return expit(eta)
    if family == "squared":
        return eta.copy()
    if family == "poisson":
        return np.exp(eta)
    raise ValueError(family)


def dmean(family, eta):
    """d mu / d eta.  For these canonical links it equals l''(eta)."""
    return d2loss(family, eta)


# --------------------------------------------------------------------------- design
def design(X, fit_intercept):
    X = np.asarray(X, dtype=float)
    if fit_intercept:
        return np.column_stack([X, np.ones(X.shape[0])])
    return X.copy()


def penalty_diag(p, fit_intercept, l2):
    d = np.full(p, float(l2))
    if fit_intercept:
        d[-1] = 0.0
    return d


def _weights(s, n):
    return np.ones(n) if s is None else np.asarray(s, dtype=float)


def objective(theta, Xt, y, family, l2, fit_intercept, s=None):
    s = _weights(s, Xt.shape[0])
    eta = Xt @ theta
    pen = penalty_diag(Xt.shape[1], fit_intercept, l2)
    return float(np.sum(s * loss(family, eta, y)) + 0.5 * np.sum(pen * theta**2))


def gradient(theta, Xt, y, family, l2, fit_intercept, s=None):
    s = _weights(s, Xt.shape[0])
    eta = Xt @ theta
    pen = penalty_diag(Xt.shape[1], fit_intercept, l2)
    return Xt.T @ (s * dloss(family, eta, y)) + pen * theta


def hessian(theta, Xt, y, family, l2, fit_intercept, s=None):
    s = _weights(s, Xt.shape[0])
    eta = Xt @ theta
    w = s * d2loss(family, eta, y)
    pen = penalty_diag(Xt.shape[1], fit_intercept, l2)
    return (Xt * w[:, None]).T @ Xt + np.diag(pen)


# --------------------------------------------------------------------------- exact fit
def fit_theta(Xt, y, family, l2, fit_intercept, s=None, max_iter=200):
    """Exact minimiser by damped Newton from theta = 0 (a cold start, always).

    Damped Newton into the quadratic region, then a few pure Newton steps to machine
    precision; raises if the gradient is not below 1e-8 (relative).  Squared loss is solved directly.
    """
    Xt = np.asarray(Xt, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = Xt.shape
    s = _weights(s, n)
    theta = np.zeros(p)
    if family == "squared":
        H = hessian(theta, Xt, y, family, l2, fit_intercept, s)
        theta = np.linalg.solve(H, Xt.T @ (s * y))
        # one refinement step (iterative refinement) for good measure
        g = gradient(theta, Xt, y, family, l2, fit_intercept, s)
        return theta - np.linalg.solve(H, g)
    g_scale = max(1.0, float(np.abs(Xt.T @ (s * dloss(family, Xt @ theta, y))).max()))
    # phase 1: damped Newton (Armijo backtracking on the objective) until the Newton
    # decrement is small relative to the objective -- safely inside the quadratic region.
    f = objective(theta, Xt, y, family, l2, fit_intercept, s)
    for _ in range(max_iter):
        g = gradient(theta, Xt, y, family, l2, fit_intercept, s)
        H = hessian(theta, Xt, y, family, l2, fit_intercept, s)
        step = np.linalg.solve(H, g)
        decrement = float(g @ step)
        if decrement < 1e-10 * max(1.0, abs(f)):
            break
        t = 1.0
        while True:
            cand = theta - t * step
            fc = objective(cand, Xt, y, family, l2, fit_intercept, s)
            if np.isfinite(fc) and fc <= f - 1e-4 * t * decrement:
                break
            t *= 0.5
            if t < 1e-10:
                raise RuntimeError("reference fit: line search failed far from the optimum")
        theta, f = cand, fc
    # phase 2: pure Newton steps (objective values cannot resolve further progress in
    # floating point); keep the iterate with the smallest gradient.
    best = theta
    best_g = np.abs(gradient(theta, Xt, y, family, l2, fit_intercept, s)).max()
    for _ in range(6):
        g = gradient(theta, Xt, y, family, l2, fit_intercept, s)
        H = hessian(theta, Xt, y, family, l2, fit_intercept, s)
        theta = theta - np.linalg.solve(H, g)
        gn = np.abs(gradient(theta, Xt, y, family, l2, fit_intercept, s)).max()
        if gn < best_g:
            best, best_g = theta, gn
    theta = best
    g = gradient(theta, Xt, y, family, l2, fit_intercept, s)
    if np.abs(g).max() > 1e-8 * g_scale:
        raise RuntimeError(f"reference fit did not converge: |grad|={np.abs(g).max():.3e}")
    return theta


class Reference:
    """Everything the tests need, computed the plain way at the exact optimum."""

    def __init__(self, X, y, family, l2=1.0, fit_intercept=True, sample_weight=None):
        self.X = np.asarray(X, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self.family = family
        self.l2 = float(l2)
        self.fit_intercept = bool(fit_intercept)
        self.Xt = design(self.X, self.fit_intercept)
        self.n, self.p = self.Xt.shape
        self.s = _weights(sample_weight, self.n)
        self.theta = fit_theta(self.Xt, self.y, family, self.l2, self.fit_intercept, self.s)
        eta = self.Xt @ self.theta
        self.eta = eta
        # per-row gradient g_i (n, p) and curvature w_i (n,)
        self.G = (self.s * dloss(family, eta, self.y))[:, None] * self.Xt
        self.w = self.s * d2loss(family, eta, self.y)
        self.H = hessian(self.theta, self.Xt, self.y, family, self.l2, self.fit_intercept, self.s)

    # ---- parameters
    @property
    def coef(self):
        return self.theta[:-1] if self.fit_intercept else self.theta

    @property
    def intercept(self):
        return float(self.theta[-1]) if self.fit_intercept else 0.0

    # ---- per-row quantities
    def leverage(self):
        HinvXt = np.linalg.solve(self.H, self.Xt.T)  # (p, n)
        return self.w * np.einsum("ij,ji->i", self.Xt, HinvXt)

    def _idx(self, T):
        return np.asarray(list(T), dtype=int)

    # ---- estimators for one set T: theta_{-T} - theta_hat
    def effect(self, method, T):
        T = self._idx(T)
        if T.size == 0:
            return np.zeros(self.p)
        if method == "if":
            return np.linalg.solve(self.H, self.G[T].sum(axis=0))
        if method == "rif":
            out = np.zeros(self.p)
            for i in T:
                # (H - w_i x_i x_i^T)^{-1} g_i, solved directly (no Sherman-Morrison)
                Hi = self.H - self.w[i] * np.outer(self.Xt[i], self.Xt[i])
                out += np.linalg.solve(Hi, self.G[i])
            return out
        if method == "newton":
            HT = (self.Xt[T] * self.w[T, None]).T @ self.Xt[T]
            return np.linalg.solve(self.H - HT, self.G[T].sum(axis=0))
        if method == "retrain":
            return self.refit_without(T) - self.theta
        raise ValueError(method)

    def refit_without(self, T):
        keep = np.ones(self.n, dtype=bool)
        keep[self._idx(T)] = False
        return fit_theta(
            self.Xt[keep], self.y[keep], self.family, self.l2, self.fit_intercept, self.s[keep]
        )

    def effects_rows(self, method):
        """(n, p) single-row effects."""
        return np.stack([self.effect(method, [i]) for i in range(self.n)])

    def effects_sets(self, method, sets):
        return np.stack([self.effect(method, T) for T in sets])

    # ---- targets: gradient matrix (m, p) and value f(theta) (m,)
    def query_design(self, Xq):
        return design(Xq, self.fit_intercept)

    def target_value(self, kind, theta, Xq, yq=None):
        Xqt = self.query_design(Xq)
        eta = Xqt @ theta
        if kind == "linear_predictor":
            return eta
        if kind == "prediction":
            return mean(self.family, eta)
        if kind == "loss":
            return loss(self.family, eta, yq)
        raise ValueError(kind)

    def target_grad(self, kind, Xq, yq=None):
        """Rows are grad_theta f_j(theta_hat), shape (m, p)."""
        Xqt = self.query_design(Xq)
        eta = Xqt @ self.theta
        if kind == "linear_predictor":
            return Xqt
        if kind == "prediction":
            return dmean(self.family, eta)[:, None] * Xqt
        if kind == "loss":
            return dloss(self.family, eta, yq)[:, None] * Xqt
        raise ValueError(kind)


# --------------------------------------------------------------------------- data
def make_data(family, n=80, p=10, seed=0, scale=1.0):
    """Gaussian design with features ~ N(0, 1/p) so that eta = O(1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) / np.sqrt(p) * scale
    beta = rng.standard_normal(p) * 1.5
    eta = X @ beta + 0.3
    if family == "logistic":
        y = (rng.random(n) < expit(eta)).astype(float)
    elif family == "squared":
        y = eta + 0.5 * rng.standard_normal(n)
    elif family == "poisson":
        y = rng.poisson(np.exp(0.7 * eta)).astype(float)
    else:
        raise ValueError(family)
    return X, y
