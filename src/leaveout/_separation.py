"""Detecting (quasi-)separation: when an unpenalised GLM has no finite optimum.

With l2 = 0, a logistic fit diverges when some direction d makes every row's margin
(2y_i − 1)·x̃_i·d ≥ 0 with at least one strict inequality; a Poisson fit diverges when
x̃_i·d ≤ 0 on every zero count, strictly on one, and x̃_i·d = 0 on the positive counts.
Both are linear programs, solved with SciPy's HiGHS.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _design(X, fit_intercept):
    if sp.issparse(X):  # HiGHS takes sparse constraint matrices
        return sp.hstack([X, np.ones((X.shape[0], 1))], format="csr") if fit_intercept else X
    return np.column_stack([X, np.ones(X.shape[0])]) if fit_intercept else X


def separating_direction(family: str, X, y, weights, fit_intercept: bool) -> bool:
    """True if the unpenalised ``family`` objective has a direction of recession (no finite optimum)."""
    from scipy.optimize import linprog

    active = weights > 0
    Xt = _design(X[active], fit_intercept)
    y = y[active]
    p = Xt.shape[1]
    if family == "logistic":
        lo, hi = y == 0.0, y == 1.0
        mid = ~(lo | hi)
        A = (sp.vstack([-Xt[hi], Xt[lo]], format="csr") if sp.issparse(Xt)
             else np.vstack([-Xt[hi], Xt[lo]]))   # −margin ≤ 0
        A_eq = Xt[mid] if mid.any() else None
    elif family == "poisson":
        zero = y == 0.0
        A = Xt[zero]                               # x̃·d ≤ 0 on zero counts
        A_eq = Xt[~zero] if (~zero).any() else None
    else:
        return False
    if A.shape[0] == 0:
        return False
    res = linprog(c=np.asarray(A.sum(axis=0)).ravel(), A_ub=A, b_ub=np.zeros(A.shape[0]), A_eq=A_eq,
                  b_eq=None if A_eq is None else np.zeros(A_eq.shape[0]),
                  bounds=[(-1.0, 1.0)] * p, method="highs")
    if res.status != 0:
        return False
    scale = float(np.asarray(abs(A).sum(axis=1)).max())
    return bool(-res.fun > 1e-7 * max(scale, 1.0))
