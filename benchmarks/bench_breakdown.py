"""Where the time of a warm-model attribution goes, next to the BLAS floor, in units of one X.T @ X.

Usage::

    python benchmarks/bench_breakdown.py                      # 20,000 × 500 and 10,000 × 100
    python benchmarks/bench_breakdown.py --sizes 20000x100 --repeats 9

One BLAS thread; every time is the minimum over ``--repeats`` interleaved runs of the process
CPU time, divided by the minimum of one ``X.T @ X`` on the same data in the same run.  Synthetic
logistic data (benchmarks/_common.py), l2 = 1, the model from ``leaveout.fit`` (so an
Attributor reuses the fit's Hessian where the fit kept one: p ≤ 250 here).

Two blocks per size:

- **floor** — the products an all-row RIF cannot avoid, done with raw NumPy/SciPy BLAS on the
  same data: the weighted Gram X̃ᵀWX̃ (``syrk`` in row chunks), one triangular product of all
  rows with L⁻¹ (``trmm``, copying the rows in first), a second ``trmm``, and a product of all
  rows with a p × 100 matrix (``gemm``: per-row effects on 100 targets).
- **leaveout** — the public calls: ``Attributor(model, X, y)``; on a warm Attributor (built
  outside the timing, nothing cached yet) ``att.leverage``, ``effects("rif")`` and
  ``effects("rif", target=prediction(100 rows))`` first order and plug-in; and the cold totals
  (construction included) that the issue's bars name.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import limit_blas_threads, logistic_data, machine_line  # noqa: E402

L2 = 1.0
M_TARGETS = 100


def floor_ops(X):
    """Raw BLAS versions of the unavoidable products (no leaveout code)."""
    from scipy.linalg import blas, lapack

    n, d = X.shape
    p = d + 1
    w = np.full(n, 0.2)
    sw = np.sqrt(w)
    rows = 1024 if p <= 256 else 4096

    def gram():
        G = np.zeros((p, p))
        for s in range(0, n, 4096):
            S = np.empty((min(4096, n - s), p))
            np.multiply(X[s:s + 4096], sw[s:s + 4096, None], out=S[:, :d])
            S[:, d] = sw[s:s + 4096]
            G += S.T @ S
        return G

    G = gram() + np.eye(p)
    L = np.linalg.cholesky(G)
    Li = lapack.dtrtri(np.asfortranarray(L), lower=1)[0]
    out = np.empty((n, p))
    V = np.ascontiguousarray(np.random.default_rng(0).standard_normal((d, M_TARGETS)))

    def trmm(trans):
        def run():
            for s in range(0, n, rows):
                R = out[s:s + rows]
                if trans == 0:
                    R[:, :d] = X[s:s + rows]
                    R[:, d] = 1.0
                blas.dtrmm(1.0, Li, R.T, lower=1, trans_a=trans, overwrite_b=1)
        return run

    return {
        "weighted Gram X̃ᵀWX̃ (syrk, chunks)": gram,
        "copy rows + trmm with L⁻¹": trmm(0),
        "trmm with L⁻ᵀ (in place)": trmm(1),
        f"X @ (p × {M_TARGETS}) (gemm)": lambda: X @ V,
    }


def leaveout_ops(X, y, Xq):
    import leaveout
    from leaveout import targets

    model = leaveout.fit(X, y, l2=L2)
    tq = targets.prediction(Xq)

    def warm(call):
        def run(att):
            return call(att)
        return ("warm", run)

    def cold(call):
        return ("cold", lambda: call(leaveout.Attributor(model, X, y)))

    return model, {
        "Attributor(model, X, y)": ("cold", lambda: leaveout.Attributor(model, X, y)),
        "  att.leverage (warm)": warm(lambda a: a.leverage),
        "  att.effects('rif') (warm)": warm(lambda a: a.effects("rif")),
        f"  {M_TARGETS} targets, first order (warm)": warm(
            lambda a: a.effects("rif", target=tq, linearize=True)),
        f"  {M_TARGETS} targets, plug-in (warm)": warm(lambda a: a.effects("rif", target=tq)),
        "Attributor + effects('rif')": cold(lambda a: a.effects("rif")),
        "Attributor + leverage": cold(lambda a: a.leverage),
        f"Attributor + {M_TARGETS} targets, first order": cold(
            lambda a: a.effects("rif", target=tq, linearize=True)),
        f"Attributor + {M_TARGETS} targets, plug-in": cold(lambda a: a.effects("rif", target=tq)),
    }


def one_size(n, p, repeats):
    import leaveout

    X, y, Xq, _ = logistic_data(n, p, seed=0, n_test=M_TARGETS)
    floor = floor_ops(X)
    model, ops = leaveout_ops(X, y, Xq)
    best = {k: np.inf for k in ["X.T @ X", *floor, *ops]}
    for _ in range(repeats):
        for name in best:
            if name == "X.T @ X":
                fn = lambda: X.T @ X  # noqa: E731
            elif name in floor:
                fn = floor[name]
            else:
                kind, call = ops[name]
                if kind == "warm":
                    att = leaveout.Attributor(model, X, y)
                    fn = (lambda c, a: (lambda: c(a)))(call, att)
                else:
                    fn = call
            gc.collect()
            t0 = time.process_time()
            out = fn()
            best[name] = min(best[name], time.process_time() - t0)
            del out
            fn = att = None
    unit = best["X.T @ X"]
    print(f"\n### {n:,} × {p}: one X.T @ X = {unit * 1e3:.1f} ms\n")
    print("| operation | ÷ X.T @ X |\n|---|---:|")
    for name, t in best.items():
        if name != "X.T @ X":
            print(f"| {'floor: ' if name in floor else ''}{name} | {t / unit:.2f} |")
    sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20000x500,10000x100", help="comma-separated n×p")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved runs (min taken)")
    args = ap.parse_args(argv)
    print("# leaveout attribution breakdown\n")
    print(machine_line())
    print(limit_blas_threads(1))
    warnings.simplefilter("ignore")
    for size in args.sizes.split(","):
        n, p = (int(v) for v in size.lower().split("x"))
        one_size(n, p, args.repeats)


if __name__ == "__main__":
    main()
