"""Choosing the penalty by leave-one-out risk: GLMCV against k-fold CV, exact LOO and RandALO.

Usage::

    python benchmarks/bench_cv.py                 # the four logistic designs of the benchmark
    python benchmarks/bench_cv.py --loo-rows 30   # fewer exact leave-one-out refits (faster)

Data: the benchmark's cached designs ``docs/results/data/<name>.npz`` (``leaveout bench``'s exact
train/test split; breast_cancer 456 × 30, digits_3v8 285 × 53, mnist_4v9 800 × 555 (p/n 0.69),
pd_speech 201 × 716 (p/n 3.56)).  One penalty path per dataset, shared by every method: the
25 penalties of ``GLMCV``'s default path.  For each method: the λ it chooses, the test log-loss
of the exact fit at that λ (the same fitter for all, so only the choice differs), and its CPU
time (one BLAS thread, ``time.process_time``), also as a ratio to one ``leaveout.fit`` at the
benchmark's λ timed in the same run.

- ``GLMCV rif``: ``leaveout.GLMCV()`` — the path, warm-started, scored by the ALO risk.
- ``GLMCV if``: the same with the IF version of η₋ᵢ (biased in high dimension).
- ``LogisticRegressionCV``: scikit-learn, 5-fold stratified (shuffled, seed 0), ``Cs = 1/l2s``
  (``C = 1/λ`` in the sum convention), ``scoring="neg_log_loss"``, lbfgs with tol 1e-6.
  Its folds train on 4/5 of the rows at the same λ (relatively 25 % more penalty).
- ``exact LOO``: leave-one-out risk by exact refits (warm-started ``Attributor.retrain``) on
  ``--loo-rows`` rows drawn at random (all rows when n is smaller); its time is extrapolated to
  all n rows (``× n / rows``) and marked ``(est.)``.  ALO's risk on the same rows is printed
  beside it (the agreement of the estimate with its ground truth).
- ``RandALO``: the randomized ALO of Nobel, LeJeune & Candès (``randalo`` package, 100
  Rademacher Jacobian–vector products with its BKS debiasing), given the exact fit at each λ and
  the Jacobian X̃H⁻¹X̃ᵀ·diag(−∂²ℓ/∂y∂η) as an operator on the fit's Cholesky factor (its own
  scikit-learn adapter ignores the intercept and fails with the installed torch-linops 0.2, so
  the operator is written here; that it is the right one is checked by RandALO's own exact ALO
  ``evaluate_alo``, which must equal GLMCV's risk).  Needs ``pip install ".[randalo]"`` (randalo,
  cvxpy) and torch (``pip install torch==2.13.0``, CPU build); benchmark-only dependencies.
- ``oracle``: the λ of smallest test loss on the path (not available in practice).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import limit_blas_threads, machine_line  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "docs" / "results" / "data"
DATASETS = ("breast_cancer", "digits_3v8", "mnist_4v9", "pd_speech")


def cpu(fn, *args, **kw):
    t = time.process_time()
    out = fn(*args, **kw)
    return out, time.process_time() - t


def mean_logloss(eta, y):
    return float(np.mean(np.logaddexp(0.0, eta) - y * eta))


def randalo_risk(att, X, y, seed, exact=False):
    """RandALO's risk estimate at the Attributor's fit (see the module docstring)."""
    import linops as lo
    import torch
    from randalo import LogisticLoss, RandALO
    from randalo import utils as ru

    fi = att.fit_intercept
    Xt = np.column_stack([X, np.ones(len(y))]) if fi else X
    eta = Xt @ att.params_
    ypm = torch.tensor(2 * y - 1, dtype=torch.float64)
    yhat = torch.tensor(eta, dtype=torch.float64)
    loss = LogisticLoss()
    d = ru.compute_derivatives(loss, ypm, yhat)
    d2both, d2hat = d[3].numpy(), d[4].numpy()
    # randalo's losses are means over the rows, so its derivatives are ours / n: the matching
    # Hessian carries λ / n.
    H = (Xt * d2hat[:, None]).T @ Xt
    H[np.diag_indices_from(H)] += att.l2 / len(y) * np.r_[np.ones(X.shape[1]),
                                                          np.zeros(int(fi))]
    from scipy.linalg import cho_factor, cho_solve
    c = cho_factor(H, lower=True)

    class Jac(lo.LinearOperator):
        supports_operator_matrix = True

        def __init__(self, adjoint=None):
            super().__init__()
            self._shape = (len(y), len(y))
            self._is_adj = adjoint is not None
            self._adjoint = adjoint if adjoint is not None else Jac(adjoint=self)

        def _matmul_impl(self, v):
            V = v.numpy()
            V2 = V[:, None] if V.ndim == 1 else V
            if self._is_adj:  # Jᵀv = diag(−d2both) X̃ H⁻¹ X̃ᵀ v
                out = -d2both[:, None] * (Xt @ cho_solve(c, Xt.T @ V2))
            else:             # J v = X̃ H⁻¹ X̃ᵀ diag(−d2both) v
                out = Xt @ cho_solve(c, Xt.T @ (-d2both[:, None] * V2))
            out = out[:, 0] if V.ndim == 1 else out
            return torch.from_numpy(np.ascontiguousarray(out))

    ra = RandALO(loss=loss, jac=Jac(), y=ypm, y_hat=yhat, dtype=torch.float64,
                 rng=torch.Generator().manual_seed(seed))

    def risk(yy, yt):
        return float(torch.nn.functional.softplus(-yy * yt).mean())

    return ra.evaluate_alo(risk) if exact else float(ra.evaluate(risk, n_matvecs=100))


def run(name, loo_rows, seed=0):
    import leaveout
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold

    d = np.load(DATA / f"{name}.npz", allow_pickle=False)
    X, y, Xte, yte = d["X"], d["y"], d["X_test"], d["y_test"]
    n, p = X.shape
    l2_bench = float(d["l2"])
    _, t_unit = cpu(leaveout.fit, X, y, l2=l2_bench)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv, t_rif = cpu(leaveout.GLMCV().fit, X, y)
        l2s = cv.l2s_
        cv_if, t_if = cpu(leaveout.GLMCV(l2s=l2s, method="if").fit, X, y)
        # test loss and exact fit time at every λ; exact LOO on a subset; RandALO
        S = np.sort(np.random.default_rng(seed).choice(n, min(loo_rows, n), replace=False))
        test, t_fits, exact_S, alo_S, rand, t_loo, t_rand = [], 0.0, [], [], [], 0.0, 0.0
        for l2 in l2s:
            model, t = cpu(leaveout.fit, X, y, l2=l2)
            t_fits += t
            test.append(mean_logloss(model.decision_function(Xte), yte))
            att = leaveout.Attributor(model, X, y)
            thetas, t = cpu(att.retrain, [[i] for i in S])
            t_loo += t
            Xs = np.column_stack([X[S], np.ones(S.size)])
            exact_S.append(mean_logloss(np.einsum("ij,ij->i", Xs, thetas), y[S]))
            alo_S.append(mean_logloss(att.loo_linear_predictor("rif")[S], y[S]))
            r, t = cpu(randalo_risk, att, X, y, seed)
            t_rand += t
            rand.append(r)
        check = abs(randalo_risk(leaveout.Attributor(cv.model_, X, y), X, y, seed, exact=True)
                    - cv.loo_risk_[cv.best_index_])
        skf = StratifiedKFold(5, shuffle=True, random_state=seed)
        lrcv, t_lrcv = cpu(LogisticRegressionCV(Cs=1.0 / l2s, cv=skf, scoring="neg_log_loss",
                                                tol=1e-6, max_iter=10000).fit, X, y)
    test = np.array(test)
    k_lrcv = int(np.argmin(np.abs(1.0 / l2s - lrcv.C_[0])))
    choices = [
        ("GLMCV rif (ALO)", cv.best_index_, t_rif, ""),
        ("GLMCV if", cv_if.best_index_, t_if, ""),
        ("LogisticRegressionCV 5-fold", k_lrcv, t_lrcv, ""),
        (f"exact LOO ({S.size} rows)", int(np.argmin(exact_S)), t_loo * n / S.size + t_fits,
         " (est.)" if S.size < n else ""),
        (f"ALO on the same {S.size} rows", int(np.argmin(alo_S)), np.nan, ""),
        ("RandALO (100 matvecs)", int(np.argmin(rand)), t_rand + t_fits, ""),
        ("oracle (best test loss)", int(np.argmin(test)), np.nan, ""),
    ]
    c = l2s[0] / 10.0
    for label, k, t, mark in choices:
        rows.append((name, f"{n} × {p}", label, l2s[k], l2s[k] / c, test[k], t, t / t_unit, mark))
    rel = np.abs(np.array(alo_S) - np.array(exact_S)) / np.array(exact_S)
    gap = (rel[cv.best_index_], float(np.median(rel)), float(rel.max()), l2s[int(np.argmax(rel))])
    return rows, gap, check, t_unit


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--loo-rows", type=int, default=60,
                    help="rows whose exact leave-one-out refits are timed (default 60)")
    args = ap.parse_args(argv)
    print(limit_blas_threads(1))
    try:
        import torch
        torch.set_num_threads(1)
        torch.set_default_dtype(torch.float64)  # RandALO mixes its dtype with the default
    except ImportError:
        sys.exit("bench_cv needs torch, randalo and cvxpy (pip install randalo cvxpy).")
    print(machine_line())
    print()
    print("| dataset | n × p | method | chosen λ | λ / c | test log-loss | CPU s | ÷ one fit |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    notes = []
    for name in args.datasets.split(","):
        rows, gap, check, t_unit = run(name, args.loo_rows)
        for (ds, shape, label, l2, rel, tl, t, ratio, mark) in rows:
            ts = "—" if np.isnan(t) else f"{t:.2f}{mark}"
            rs = "—" if np.isnan(t) else f"{ratio:.0f}×{mark}"
            print(f"| {ds} | {shape} | {label} | {l2:.4g} | {rel:.3g} | {tl:.4f} | {ts} | {rs} |")
        notes.append(f"{name}: ALO vs exact LOO risk on the same rows: relative gap "
                     f"{gap[0]:.2%} at GLMCV's λ, median {gap[1]:.2%} over the path, largest "
                     f"{gap[2]:.1%} (at λ = {gap[3]:.3g}); RandALO's exact ALO vs GLMCV's risk at "
                     f"l2_: {check:.1e}; one fit = {t_unit * 1e3:.0f} ms")
        sys.stdout.flush()
    print()
    for line in notes:
        print("-", line)


if __name__ == "__main__":
    main()
