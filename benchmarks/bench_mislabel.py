"""Mislabel detection by self-influence: RIF against IF against plain training loss.

Usage::

    python benchmarks/bench_mislabel.py               # 5 seeds per dataset
    python benchmarks/bench_mislabel.py --seeds 2     # faster

For each dataset (the benchmark's cached logistic designs ``docs/results/data/<name>.npz`` and
two synthetic Gaussian designs of higher leverage) and each seed, 5 % of the training labels are
flipped at random, the model is refitted at the dataset's λ, and the rows are ranked by

- ``rif``: self-influence ℓ(η₋ᵢ, yᵢ) − ℓ(ηᵢ, yᵢ) with η₋ᵢ = ηᵢ + rᵢqᵢ/(1 − hᵢ)
  (``att.self_influence("rif")``),
- ``if``: the same with η₋ᵢ = ηᵢ + rᵢqᵢ (what IF-based tools rank by),
- ``loss``: the training loss ℓ(ηᵢ, yᵢ) (no attribution at all),
- ``retrain``: exact self-influence by n refits (the ground truth), on the small datasets.

Precision at k = (flipped rows among the top k) / k, with k = the number of flipped rows, and
at k = half of it; mean over seeds (± the standard deviation across seeds).  Also: the mean
leverage of the flipped rows and of all rows, and the overlap of the RIF and IF top-k sets.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import limit_blas_threads, logistic_data, machine_line  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "docs" / "results" / "data"
DATASETS = ("breast_cancer", "digits_3v8", "mnist_4v9", "pd_speech", "synthetic_p0.6",
            "synthetic_p0.6_l2=0.1")
RETRAIN_MAX_N = 500  # exact self-influence (n refits) only up to this many rows


def load(name):
    if name.startswith("synthetic"):
        # DESIGN.md §4's design: n = 1000, p = 600; λ = 1 or 0.1 (mean leverage 0.15 / 0.37)
        X, y, _, _ = logistic_data(1000, 600, seed=1)
        return X, y, (0.1 if name.endswith("l2=0.1") else 1.0)
    d = np.load(DATA / f"{name}.npz", allow_pickle=False)
    return d["X"], d["y"], float(d["l2"])


def precision_at(score, flipped, k):
    top = np.argsort(-score, kind="stable")[:k]
    return float(np.mean(flipped[top]))


def run(name, seeds, frac):
    import leaveout

    X, y, l2 = load(name)
    n, p = X.shape
    out = {m: ([], []) for m in ("rif", "if", "loss", "retrain")}
    lev_flipped, lev_all, overlap, secs = [], [], [], {m: 0.0 for m in out}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        k = max(1, int(round(frac * n)))
        bad = rng.choice(n, k, replace=False)
        yf = y.copy()
        yf[bad] = 1.0 - yf[bad]
        flipped = np.zeros(n, dtype=bool)
        flipped[bad] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            att = leaveout.Attributor(leaveout.fit(X, yf, l2=l2), X, yf)
            h = att.leverage
            scores = {}
            for m in ("rif", "if"):
                t = time.process_time()
                scores[m] = att.self_influence(m)
                secs[m] += time.process_time() - t
            eta = att.evaluate(leaveout.targets.linear_predictor(X))
            scores["loss"] = np.logaddexp(0.0, eta) - yf * eta
            if n <= RETRAIN_MAX_N:
                t = time.process_time()
                scores["retrain"] = att.self_influence("retrain")
                secs["retrain"] += time.process_time() - t
        for m, s in scores.items():
            s = np.where(np.isnan(s), -np.inf, s)
            out[m][0].append(precision_at(s, flipped, k))
            out[m][1].append(precision_at(s, flipped, max(1, k // 2)))
        lev_flipped.append(h[flipped].mean())
        lev_all.append(h.mean())
        top_r = set(np.argsort(-scores["rif"])[:k])
        top_i = set(np.argsort(-scores["if"])[:k])
        overlap.append(len(top_r & top_i) / k)
    return dict(name=name, shape=f"{n} × {p}", pn=p / n, l2=l2, k=k, out=out,
                lev_flipped=float(np.mean(lev_flipped)), lev_all=float(np.mean(lev_all)),
                overlap=float(np.mean(overlap)), secs=secs, seeds=seeds)


def fmt(vals):
    if not vals:
        return "—"
    return f"{np.mean(vals):.2f} ± {np.std(vals):.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--fraction", type=float, default=0.05)
    args = ap.parse_args(argv)
    print(limit_blas_threads(1))
    print(machine_line())
    print(f"\n{args.fraction:.0%} of training labels flipped, {args.seeds} seeds; "
          f"precision at k = #flipped (and at k/2), mean ± sd over seeds\n")
    print("| dataset | n × p | p/n | λ | mean leverage: flipped / all | P@k rif | P@k if | "
          "P@k loss | P@k retrain | P@k/2 rif / if / loss | top-k overlap rif∩if |")
    print("|---|---|---:|---:|---|---|---|---|---|---|---:|")
    for name in args.datasets.split(","):
        r = run(name, args.seeds, args.fraction)
        o = r["out"]
        half = " / ".join(f"{np.mean(o[m][1]):.2f}" for m in ("rif", "if", "loss"))
        print(f"| {r['name']} | {r['shape']} | {r['pn']:.2f} | {r['l2']:g} | "
              f"{r['lev_flipped']:.3f} / {r['lev_all']:.3f} | {fmt(o['rif'][0])} | "
              f"{fmt(o['if'][0])} | {fmt(o['loss'][0])} | {fmt(o['retrain'][0])} | {half} | "
              f"{r['overlap']:.2f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
