"""Time and memory of fitting and all-row attribution against n and p, next to the alternatives.

Usage::

    python benchmarks/bench_scale.py            # n = 1e4, 3e4, 1e5 (p = 100); p = 50..500 (n = 2e4)
    python benchmarks/bench_scale.py --full     # adds n = 3e5, 1e6 and p = 1000 (GBs of memory)
    python benchmarks/bench_scale.py --ns 10000,20000 --ps 100   # any sizes

Everything runs on one BLAS thread; every time is the minimum over ``--repeats`` runs of the
process CPU time (the unit ``X.T @ X`` is timed before and after the other operations, the
minimum of both taken) (``time.process_time``, which on one thread is the work done whatever else runs
on a shared machine), and is printed as a ratio to one ``X.T @ X`` on the same data in the same
run — the proxy for the hardware limit: an exact fit and all-row effects cannot cost much less
than the O(np²) Gram product (for the effects, the floor is about 3: the Hessian and two
triangular products).  Synthetic logistic data (benchmarks/_common.py), l2 = 1 (sum
convention; scikit-learn ``C = 1``, glum ``alpha = 1/n``).

Rows (per size):

- ``X.T @ X`` — the unit.
- ``leaveout.fit`` — the exact optimum (gradient at rounding level); scikit-learn's
  ``LogisticRegression().fit`` (lbfgs, default tol 1e-4: it stops ~1e-2..1e-4 from the optimum)
  and glum's ``GeneralizedLinearRegressor(family="binomial").fit`` (default tolerances).
- ``Attributor(model, X, y).effects("rif")`` — all n rows, construction included;
  ``att.leverage`` and ``effects("rif", target=prediction(100 rows))``, construction included.
- ``explicit inverse (authors)`` — the formulation of the RIF paper's code: H from the fitted
  model, ``np.linalg.inv(H)``, then IF, leverages and RIF for every row (their numbers are
  checked against leaveout's to 1e-6 relative).  With ``--gram`` also their n × n matrix
  X̃ H⁻¹ X̃ᵀ (whose diagonal gives the leverages), for n ≤ 10,000.
- ``statsmodels GLMInfluence`` — at l2 = 0 (statsmodels has no penalised influence): the fit
  plus ``get_influence(observed=True)``'s ``d_params`` and ``hat_matrix_diag`` (n ≤ 100,000).
- ``LOO by retraining`` — exact leave-one-out by warm-started refits (``effects("retrain")``)
  of ``--loo-rows`` rows, extrapolated linearly to all n rows (each refit costs the same).

Peak memory (``tracemalloc``, newly allocated during the operation, output included) is given
as a ratio to size(X) for the attribution and the authors' formulation.

Writes ``docs/bench_scale.csv`` and the log-log figure ``docs/bench_scale.png``.
"""

from __future__ import annotations

import argparse
import csv
import gc
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import limit_blas_threads, logistic_data, machine_line  # noqa: E402

L2 = 1.0
M_TARGETS = 100
DOCS = Path(__file__).resolve().parent.parent / "docs"


def cpu_min(fn, repeats):
    """(min CPU seconds over ``repeats`` runs of ``fn()``, the last result)."""
    best, out = np.inf, None
    for _ in range(repeats):
        out = None
        gc.collect()
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def peak_of(fn):
    """(peak bytes newly allocated by ``fn()``, its result), by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, out


def authors_all_rows(X, y, theta, l2, gram=False):
    """All-row IF, RIF and leverages as the RIF paper's code computes them: an explicit inverse.

    Mean-loss convention (their H_m = H / n); converted back, IF_i = H⁻¹ g_i, RIF_i =
    IF_i / (1 − h_i), h_i = w_i x̃_iᵀ H⁻¹ x̃_i in the sum convention of leaveout.
    """
    n = X.shape[0]
    Xt = np.hstack([X, np.ones((n, 1))])
    eta = Xt @ theta
    mu = 1.0 / (1.0 + np.exp(-eta))
    r, w = mu - y, mu * (1.0 - mu)
    P = np.eye(Xt.shape[1])
    P[-1, -1] = 0.0
    H_mean = Xt.T @ (Xt * w[:, None]) / n + (l2 / n) * P
    H_inv = np.linalg.inv(H_mean)
    A = Xt @ H_inv                                     # rows H_m⁻¹ x̃_i
    if gram:
        lev = w * np.diag(A @ Xt.T) / n                # the n × n matrix X̃ H_m⁻¹ X̃ᵀ
    else:
        lev = w * np.einsum("ij,ij->i", A, Xt) / n
    IF = A * (r / n)[:, None]
    RIF = IF / (1.0 - lev)[:, None]
    return IF, RIF, lev


def one_size(n, p, repeats, loo_rows, gram):
    import leaveout
    from leaveout import targets
    from sklearn.linear_model import LogisticRegression

    X, y, Xq, _ = logistic_data(n, p, seed=0, n_test=M_TARGETS)
    row = {"n": n, "p": p}
    row["xtx"], _ = cpu_min(lambda: X.T @ X, repeats)
    row["fit"], model = cpu_min(lambda: leaveout.fit(X, y, l2=L2), repeats)
    row["fit_gradient_norm"] = model.gradient_norm_
    row["sklearn"], _ = cpu_min(lambda: LogisticRegression(C=1.0 / L2).fit(X, y), repeats)
    try:
        from glum import GeneralizedLinearRegressor

        row["glum"], _ = cpu_min(lambda: GeneralizedLinearRegressor(
            family="binomial", alpha=L2 / n).fit(X, y), repeats)
    except ImportError:  # pragma: no cover
        row["glum"] = np.nan
    target = targets.prediction(Xq)
    row["rif"], rif = cpu_min(lambda: leaveout.Attributor(model, X, y).effects("rif"), repeats)
    row["leverage"], _ = cpu_min(lambda: leaveout.Attributor(model, X, y).leverage, repeats)
    row["targets"], _ = cpu_min(
        lambda: leaveout.Attributor(model, X, y).effects("rif", target=target), repeats)
    row["authors"], (IF, RIF, lev) = cpu_min(
        lambda: authors_all_rows(X, y, model.params_, L2), repeats)
    att = leaveout.Attributor(model, X, y)
    row["authors_match"] = float(np.abs(RIF - rif).max() / np.abs(rif).max())
    row["authors_lev_match"] = float(np.abs(lev - att.leverage).max() / att.leverage.max())
    del IF, RIF, lev, rif
    if gram and n <= 10_000:
        row["authors_gram"], _ = cpu_min(
            lambda: authors_all_rows(X, y, model.params_, L2, gram=True), 1)
    # The unit again, after the timed operations: a load spike during one set of X.T @ X runs
    # would otherwise skew every ratio of the size.
    row["xtx"] = min(row["xtx"], cpu_min(lambda: X.T @ X, repeats)[0])
    if n <= 100_000:
        row["statsmodels"] = statsmodels_time(X, y)
    sets = [[i] for i in range(min(loo_rows, n))]
    t, _ = cpu_min(lambda: att.effects("retrain", remove=sets), 1)
    row["loo_retrain"] = t / len(sets) * n
    # Peak memory, output included, as a ratio to size(X).
    size = X.nbytes
    peak, out = peak_of(lambda: leaveout.Attributor(model, X, y).effects("rif"))
    row["mem_rif"] = peak / size
    del out
    peak, out = peak_of(lambda: leaveout.Attributor(model, X, y, copy=False).effects("rif"))
    row["mem_rif_nocopy"] = peak / size
    del out
    peak, out = peak_of(lambda: authors_all_rows(X, y, model.params_, L2))
    row["mem_authors"] = peak / size
    del out
    return row


def statsmodels_time(X, y):
    import statsmodels.api as sm

    Xt = np.hstack([X, np.ones((X.shape[0], 1))])

    def run():
        res = sm.GLM(y, Xt, family=sm.families.Binomial()).fit()
        infl = res.get_influence(observed=True)
        return infl.d_params, infl.hat_matrix_diag

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, _ = cpu_min(run, 1)
    return t


COLUMNS = [
    ("fit", "leaveout.fit"), ("sklearn", "sklearn fit"), ("glum", "glum fit"),
    ("rif", "Attributor+effects(rif)"), ("leverage", "Attributor+leverage"),
    ("targets", f"Attributor+{M_TARGETS} targets"), ("authors", "explicit inverse (authors)"),
    ("authors_gram", "authors + n×n Gram"), ("statsmodels", "statsmodels (l2=0)"),
    ("loo_retrain", "LOO retrain (extrap.)"),
]


def print_table(rows, title):
    print(f"\n### {title}\n")
    print("Times in units of one X.T @ X on the same data (one BLAS thread, min CPU time); "
          "last columns: ratios that the issue's targets name.\n")
    head = ["n", "p", "X.T@X"] + [c[1] for c in COLUMNS] + [
        "fit / sklearn", "rif / authors", "peak rif / size(X)", "(copy=False)",
        "peak authors / size(X)", "authors' RIF vs ours"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---:|" * len(head))
    for r in rows:
        cells = [str(r["n"]), str(r["p"]), f"{r['xtx'] * 1e3:.1f} ms"]
        for key, _ in COLUMNS:
            v = r.get(key)
            cells.append("—" if v is None or not np.isfinite(v) else f"{v / r['xtx']:.2f}")
        cells += [f"{r['fit'] / r['sklearn']:.2f}", f"{r['rif'] / r['authors']:.2f}",
                  f"{r['mem_rif']:.2f}", f"{r['mem_rif_nocopy']:.2f}", f"{r['mem_authors']:.2f}",
                  f"{r['authors_match']:.1e}"]
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


def figure(by_n, by_p, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    for ax, rows, key, label in ((axes[0], by_n, "n", "n (p = 100)"),
                                 (axes[1], by_p, "p", "p (n = 20,000)")):
        xs = [r[key] for r in rows]
        for col, name in [("xtx", "X.T @ X")] + COLUMNS:
            ys = [r.get(col, np.nan) for r in rows]
            if np.all(~np.isfinite(np.asarray(ys, dtype=float))):
                continue
            style = "k--" if col == "xtx" else "-o"
            ax.loglog(xs, ys, style, label=name, markersize=4)
        ax.set_xlabel(label)
        ax.set_ylabel("CPU seconds (one BLAS thread, min of repeats)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    ax = axes[2]
    xs = [r["n"] for r in by_n]
    for col, name in (("mem_rif", "leaveout rif (private copy of X)"),
                      ("mem_rif_nocopy", "leaveout rif, copy=False"),
                      ("mem_authors", "explicit inverse (authors)")):
        ax.semilogx(xs, [r[col] for r in by_n], "-o", label=name)
    ax.set_xlabel("n (p = 100)")
    ax.set_ylabel("peak memory / size(X), output included")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("leaveout: fit and all-row RIF vs the alternatives (synthetic logistic, l2 = 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="also n = 3e5, 1e6 and p = 1000")
    ap.add_argument("--ns", default=None, help="comma-separated n values (p = 100)")
    ap.add_argument("--ps", default=None, help="comma-separated p values (n = 20,000)")
    ap.add_argument("--repeats", type=int, default=3, help="timings per operation (min taken)")
    ap.add_argument("--loo-rows", type=int, default=5, help="rows refitted for the LOO estimate")
    ap.add_argument("--gram", action="store_true", help="also the authors' n × n Gram (n ≤ 1e4)")
    ap.add_argument("--no-figure", action="store_true")
    args = ap.parse_args(argv)
    print("# leaveout scaling benchmark\n")
    print(machine_line())
    print(limit_blas_threads(1))
    ns = [int(v) for v in args.ns.split(",")] if args.ns else (
        [10_000, 30_000, 100_000] + ([300_000, 1_000_000] if args.full else []))
    ps = [int(v) for v in args.ps.split(",")] if args.ps else (
        [50, 100, 200, 500] + ([1000] if args.full else []))
    t0 = time.perf_counter()
    by_n = [one_size(n, 100, args.repeats, args.loo_rows, args.gram) for n in ns]
    print_table(by_n, "against n (p = 100)")
    by_p = [one_size(20_000, p, args.repeats, args.loo_rows, args.gram) for p in ps]
    print_table(by_p, "against p (n = 20,000)")
    DOCS.mkdir(exist_ok=True)
    keys = sorted({k for r in by_n + by_p for k in r})
    with open(DOCS / "bench_scale.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=keys)
        wr.writeheader()
        for r in by_n + by_p:
            wr.writerow(r)
    if not args.no_figure:
        figure(by_n, by_p, DOCS / "bench_scale.png")
    print(f"\nWrote docs/bench_scale.csv{'' if args.no_figure else ' and docs/bench_scale.png'}; "
          f"total wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
