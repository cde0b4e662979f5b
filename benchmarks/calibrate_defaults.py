"""Evidence for two defaults: first order vs plug-in target effects, and the set-leverage threshold.

Real data that ship with scikit-learn and statsmodels (offline): breast_cancer (logistic),
diabetes (squared), statsmodels' fair (logistic, affairs > 0), anes96 (logistic, vote) and
randhie (Poisson, mdvis).  Each is split 75/25 with a fixed seed, features standardised on the
training rows, l2 = 1 (sum convention).

Part 1 — per-row effects (``remove=None``): for up to 300 training rows (the 100 of highest
leverage and 200 at random), the change of the total test loss and of the summed test
prediction by ``rif`` (= ``newton`` for one row) to first order and plug-in, against the exact
refit.  Printed: median relative error and the fraction of signs right.

Part 2 — group removals: every level of every low-cardinality column (whole categories, up to
~50 % of the rows) and random / nearest-neighbour sets of 1–40 % of n.  Printed per set: the
set leverage λ_max(W_T^½ X̃_T H⁻¹ X̃_Tᵀ W_T^½), the relative error ‖Δ̂ − Δ‖ / ‖Δ‖ of IF, RIF and
Newton's Δθ against the exact refit, and the relative error of the default (plug-in) and first
order test-loss change by Newton.  The summary bins the sets by set leverage.

    PYTHONPATH=src OPENBLAS_NUM_THREADS=1 python benchmarks/calibrate_defaults.py
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

import leaveout
from leaveout import targets


def _standardise(Xtr, Xte):
    mu, sd = Xtr.mean(0), Xtr.std(0)
    sd[sd == 0] = 1.0
    return (Xtr - mu) / sd, (Xte - mu) / sd


def datasets():
    """(name, family, X_train_raw, y_train, X_test_raw, y_test, column names)."""
    from sklearn.datasets import load_breast_cancer, load_diabetes
    import statsmodels.api as sm

    out = []
    Xb, yb = load_breast_cancer(return_X_y=True)
    out.append(("breast_cancer", "logistic", Xb, yb.astype(float), None))
    Xd, yd = load_diabetes(return_X_y=True)
    out.append(("diabetes", "squared", Xd, yd / yd.std(), None))
    fair = sm.datasets.fair.load_pandas().data
    out.append(("fair", "logistic", fair.drop(columns="affairs").to_numpy(float),
                (fair["affairs"] > 0).to_numpy(float), list(fair.columns[:-1])))
    anes = sm.datasets.anes96.load_pandas().data
    cols = [c for c in anes.columns if c not in ("vote", "popul")]
    out.append(("anes96", "logistic", anes[cols].to_numpy(float), anes["vote"].to_numpy(float),
                cols))
    rh = sm.datasets.randhie.load_pandas().data
    cols = [c for c in rh.columns if c != "mdvis"]
    out.append(("randhie", "poisson", rh[cols].to_numpy(float), rh["mdvis"].to_numpy(float),
                cols))
    rng = np.random.default_rng(0)
    res = []
    for name, fam, X, y, names in out:
        perm = rng.permutation(len(y))
        cut = int(0.75 * len(y))
        tr, te = perm[:cut], perm[cut:]
        res.append((name, fam, X[tr], y[tr], X[te], y[te], names))
    return res


def _rel(est, true):
    return np.abs(est - true) / np.maximum(np.abs(true), 1e-300)


def part1(data):
    print("## Per-row effects: first order vs plug-in (rif), against exact refits\n")
    print("| dataset | target | rows | median rel. error first order | plug-in "
          "| signs right first order | plug-in |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, fam, Xr, y, Xtr, yte, _ in data:
        X, Xq = _standardise(Xr, Xtr)
        att = leaveout.Attributor(leaveout.fit(X, y, family=fam, l2=1.0), X, y)
        rng = np.random.default_rng(1)
        top = np.argsort(att.leverage)[-100:]
        rest = np.setdiff1d(np.arange(len(y)), top)
        rows = np.concatenate([top, rng.choice(rest, size=min(200, rest.size), replace=False)])
        for tname, tgt in (("test loss", targets.loss(Xq, yte, reduce="sum")),
                           ("test prediction", targets.prediction(Xq, reduce="sum"))):
            sets = [[int(i)] for i in rows]
            act = att.effects("retrain", remove=sets, target=tgt)
            lin = att.effects("rif", target=tgt, linearize=True)[rows]
            plug = att.effects("rif", remove=sets, target=tgt, linearize=False)
            keep = np.abs(act) > 1e-9 * np.abs(act).max()
            print(f"| {name} | {tname} | {keep.sum()} | {np.median(_rel(lin, act)[keep]):.2%} "
                  f"| {np.median(_rel(plug, act)[keep]):.2%} "
                  f"| {np.mean(np.sign(lin) == np.sign(act)):.0%} "
                  f"| {np.mean(np.sign(plug) == np.sign(act)):.0%} |")
    print()


def group_sets(Xr, names, n, rng):
    """(kind, rows) of whole categories and of random / nearest-neighbour sets."""
    out = []
    if names is not None:
        for j, c in enumerate(names):
            levels = np.unique(Xr[:, j])
            if 2 <= levels.size <= 12:
                for lv in levels:
                    T = np.flatnonzero(Xr[:, j] == lv)
                    if 0 < T.size <= 0.5 * n:
                        out.append((f"category {c}={lv:g}", T))
    Z = (Xr - Xr.mean(0)) / np.where(Xr.std(0) > 0, Xr.std(0), 1)
    for frac in (0.01, 0.05, 0.1, 0.2, 0.4):
        k = max(2, int(frac * n))
        for _ in range(3):
            out.append((f"random {frac:.0%}", rng.choice(n, size=k, replace=False)))
            c = rng.integers(n)
            out.append((f"nearest {frac:.0%}",
                        np.argsort(((Z - Z[c]) ** 2).sum(1))[:k]))
    return out


def part2(data):
    print("## Group removals: set leverage vs accuracy of IF / RIF / Newton\n")
    rows = []
    for name, fam, Xr, y, Xtr, yte, names in data:
        X, Xq = _standardise(Xr, Xtr)
        att = leaveout.Attributor(leaveout.fit(X, y, family=fam, l2=1.0), X, y)
        tgt = targets.loss(Xq, yte, reduce="sum")
        rng = np.random.default_rng(2)
        sets = group_sets(Xr, names, len(y), rng)
        Ts = [T for _, T in sets]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lev = np.atleast_1d(att.set_leverage(Ts))
            true = att.effects("retrain", remove=Ts)
            est = {m: att.effects(m, remove=Ts) for m in ("if", "rif", "newton")}
            f_act = att.effects("retrain", remove=Ts, target=tgt)
            f_plug = att.effects("newton", remove=Ts, target=tgt, linearize=False)
            f_lin = att.effects("newton", remove=Ts, target=tgt, linearize=True)
        norm = np.linalg.norm(true, axis=1)
        for k, (kind, T) in enumerate(sets):
            err = {m: np.linalg.norm(est[m][k] - true[k]) / norm[k] for m in est}
            rows.append((name, kind, T.size / len(y), lev[k], err["if"], err["rif"],
                         err["newton"], _rel(f_plug[k], f_act[k]), _rel(f_lin[k], f_act[k]),
                         np.sign(f_plug[k]) == np.sign(f_act[k]),
                         np.sign(f_lin[k]) == np.sign(f_act[k]), kind.startswith("category")))
    R = np.array([r[2:] for r in rows], dtype=float)
    print("| set leverage | sets | median ‖Δ̂−Δ‖/‖Δ‖ if | rif | newton | share with rif error > 25 % |")
    print("|---|---:|---:|---:|---:|---:|")
    edges = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (R[:, 1] >= lo) & (R[:, 1] < hi)
        if m.any():
            print(f"| [{lo:.1f}, {hi:.1f}) | {m.sum()} | {np.median(R[m, 2]):.1%} | "
                  f"{np.median(R[m, 3]):.1%} | {np.median(R[m, 4]):.2%} | "
                  f"{np.mean(R[m, 3] > 0.25):.0%} |")
    print()
    print("Candidate thresholds t (warn when set leverage > t), over all sets:\n")
    print("| t | sets warned | median rif error warned | not warned | warned among rif error "
          "> 25 % | warned among rif error < 10 % |")
    print("|---|---:|---:|---:|---:|---:|")
    for t in (0.1, 0.2, 0.25, 0.3, 0.4, 0.5):
        w = R[:, 1] > t
        bad, good = R[:, 3] > 0.25, R[:, 3] < 0.10
        print(f"| {t:g} | {w.sum()} / {w.size} | {np.median(R[w, 3]):.1%} | "
              f"{np.median(R[~w, 3]):.1%} | {np.mean(w[bad]):.0%} | {np.mean(w[good]):.0%} |")
    print()
    cat = R[:, 9] > 0
    print("Whole-category removals, test-loss change by newton (per dataset):\n")
    print("| dataset | groups | max share of rows | median rel. error plug-in | first order "
          "| signs right plug-in | first order |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in dict.fromkeys(r[0] for r in rows):
        m = cat & np.array([r[0] == name for r in rows])
        if m.any():
            print(f"| {name} | {m.sum()} | {R[m, 0].max():.0%} | {np.median(R[m, 5]):.2%} | "
                  f"{np.median(R[m, 6]):.1%} | {np.mean(R[m, 7]):.0%} | {np.mean(R[m, 8]):.0%} |")
    print()
    if "-v" in sys.argv:
        for r in rows:
            print(f"{r[0]:14s} {r[1]:28s} share {r[2]:.3f} lev {r[3]:.3f} if {r[4]:.3f} "
                  f"rif {r[5]:.3f} newton {r[6]:.4f}")


if __name__ == "__main__":
    data = datasets()
    part1(data)
    part2(data)
