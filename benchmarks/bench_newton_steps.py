"""Refined Newton steps against exact retraining: accuracy per number of steps, and time per set.

For each dataset (the exact designs the last full ``leaveout bench`` run saved in
``docs/results/data``), removal sets of 1–10 % of the rows — the random and clustered sets of that
run (``docs/results/sets``) of at least 1 % of n, plus one random, one feature-cluster and one
L2-cluster set of 10 % drawn here with the benchmark's own strategies — are removed and

* Δθ is computed by ``effects("newton", remove=T, steps=k)`` for k = 1, 2, 3, 5, 10 and by
  ``effects("retrain", remove=T)`` (exact warm-started refit);
* the relative error ‖Δθ_k − Δθ_retrain‖ / ‖Δθ_retrain‖ is summarised by its median and
  90th percentile over the sets;
* the time per set of ``steps=5`` and of the refit are measured in the same run, interleaved
  set by set, one BLAS thread, as CPU time of the process (``time.process_time``: on a shared
  machine other processes' load does not count, and with one thread it is the wall time of a
  quiet machine): the ratio is the median over sets of (steps=5 time) / (retrain time), each
  the minimum of ``--repeats`` runs, one call per set;
* and the same with every set in one call (``effects("newton", remove=sets, steps=5)``, whose
  gradient refreshes run side by side), per set, against the median refit.

Also printed: how many sets ``NewtonStepsWarning`` flagged (``newton_info_.unreliable``) at
steps=5 and their median error.

Usage::

    python benchmarks/bench_newton_steps.py                      # the default datasets
    python benchmarks/bench_newton_steps.py --datasets breast_cancer,digits_3v8 --max-sets 12
    python benchmarks/bench_newton_steps.py --update chord      # the plain chord, to compare
    python benchmarks/bench_newton_steps.py --datasets gauss:333:130   # synthetic, high leverage

Uses the public API of leaveout (and ``leaveout.bench.strategies`` for the 10 % sets).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import limit_blas_threads, machine_line  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
STEPS = (1, 2, 3, 5, 10)
DEFAULT = ("breast_cancer", "digits_3v8", "mnist_4v9", "pd_speech", "synthetic_p0.6",
           "bikeshare", "fine_food_minilm")
KINDS = ("random", "cluster_feature", "cluster_l2")


def _synthetic(name):
    """``gauss:n:p`` — logistic, X ~ N(0, 1) entries, β ~ N(0, 1/p), intercept, l2 = 1 (high
    leverage: ‖x_i‖² ≈ p against l2 = 1)."""
    _, n, p = name.split(":")
    n, p = int(n), int(p)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, p))
    eta = X @ (rng.normal(size=p) / np.sqrt(p))
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return X, y, "logistic", 1.0, True


def load(name):
    if name.startswith("gauss:"):
        return _synthetic(name)
    z = np.load(RESULTS / "data" / f"{name}.npz", allow_pickle=False)
    if "X" in z:
        X = z["X"]
    else:
        from scipy import sparse

        X = sparse.csr_matrix((z["X_data"], z["X_indices"], z["X_indptr"]),
                              shape=tuple(z["X_shape"])).toarray()
    return (np.ascontiguousarray(X, dtype=float), z["y"], str(z["family"]), float(z["l2"]),
            bool(z["fit_intercept"]))


def removal_sets(name, X, att, max_sets, seed):
    """The stored random/clustered sets of ≥ 1 % of n, plus three 10 % sets drawn here."""
    from leaveout.bench.strategies import Scores, pick

    n = X.shape[0]
    rng = np.random.default_rng(seed)
    zero = np.zeros(n)
    if name.startswith("gauss:"):  # no stored sets: 1, 2, 5 % (three of each kind) drawn here
        sets = [(k, pick(k, int(np.ceil(f * n)), X, Scores(zero, zero, zero), rng))
                for f in (0.01, 0.02, 0.05) for k in KINDS for _ in range(3)]
    else:
        plan = json.loads((RESULTS / "sets" / f"{name}.json").read_text())
        plan = plan["sets"] if isinstance(plan, dict) else plan
        stored = np.load(RESULTS / "sets" / f"{name}.npz")
        sets = [(p["strategy"], stored[str(p["set_id"])]) for p in plan
                if p["strategy"] in KINDS and 0.01 <= p["size"] / n <= 0.1]
    sets += [(k, pick(k, int(np.ceil(0.1 * n)), X, Scores(zero, zero, zero), rng)) for k in KINDS]
    if max_sets and len(sets) > max_sets:  # keep the 10 % sets and an even spread of the rest
        keep = np.linspace(0, len(sets) - 4, max_sets - 3).round().astype(int)
        sets = [sets[i] for i in sorted(set(keep))] + sets[-3:]
    return sets


def timed(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return out, best


def run(name, args):
    import leaveout

    X, y, family, l2, fi = load(name)
    model = leaveout.fit(X, y, family=family, l2=l2, fit_intercept=fi)
    att = leaveout.Attributor(model, X, y)
    att.leverage  # noqa: B018 - the one-time factorisation work, outside the per-set timings
    sets = removal_sets(name, X, att, args.max_sets, args.seed)
    errs = {k: [] for k in STEPS}
    t5, tr, flagged, flag_err = [], [], 0, []
    for _, T in sets:
        exact, t_re = timed(lambda: att.effects("retrain", remove=T), args.repeats)
        norm = np.linalg.norm(exact)
        for k in STEPS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", leaveout.LeaveoutWarning)
                d, t = timed(lambda: att.effects("newton", remove=T, steps=k), args.repeats)
                info = att.newton_info_
            e = float(np.linalg.norm(d - exact) / norm)
            errs[k].append(e)
            if k == 5:
                t5.append(t)
                tr.append(t_re)
                if info.unreliable.size:
                    flagged += 1
                    flag_err.append(e)
    ratio = np.median(np.array(t5) / np.array(tr))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", leaveout.LeaveoutWarning)
        _, t_all = timed(lambda: att.effects("newton", remove=[T for _, T in sets], steps=5),
                         args.repeats)
    t_all /= len(sets)
    n, p = X.shape
    cells = " | ".join(f"{100 * np.median(errs[k]):.3g} % ({100 * np.quantile(errs[k], 0.9):.2g})"
                       for k in STEPS)
    flag = f"{flagged} ({100 * np.median(flag_err):.2g} %)" if flagged else "0"
    line = (f"| {name} ({family}, {n} × {p + int(fi)}) | {len(sets)} | {cells} | "
            f"{1e3 * np.median(t5):.3g} ms / {1e3 * np.median(tr):.3g} ms = {ratio:.3f} | "
            f"{1e3 * t_all:.3g} ms = {t_all / np.median(tr):.3f} | {flag} |")
    return line


def full_run_table(names):
    """newton and newton5 on the full run's own sets, against its stored exact changes.

    For every set of ``docs/results`` (all strategies, 0.1 %–5 % of n) the change of both targets
    is predicted by ``newton`` and ``newton5`` (plug-in, the library's default; for the linear
    ``test_prediction`` it equals first order) and compared with the ``actual`` change that run
    stored from its exact refits. No refit is done here.
    """
    import pandas as pd

    import leaveout
    from leaveout import targets

    df = pd.read_csv(RESULTS / "results.csv")
    print("| dataset | sets | test_prediction: newton / newton5 (median relative error) | "
          "test_loss, plug-in: newton / newton5 | median predicted/actual, test_loss plug-in: "
          "newton / newton5 |")
    print("|---|---:|---|---|---|")
    for name in names:
        X, y, family, l2, fi = load(name)
        z = np.load(RESULTS / "data" / f"{name}.npz", allow_pickle=False)
        Xt = z["X_test"] if "X_test" in z else None
        if Xt is None:
            from scipy import sparse

            Xt = sparse.csr_matrix((z["X_test_data"], z["X_test_indices"], z["X_test_indptr"]),
                                   shape=tuple(z["X_test_shape"])).toarray()
        tgts = {"test_prediction": targets.linear_predictor(Xt, reduce="sum"),
                "test_loss": targets.loss(Xt, z["y_test"], reduce="sum")}
        att = leaveout.Attributor(leaveout.fit(X, y, family=family, l2=l2, fit_intercept=fi),
                                  X, y)
        stored = np.load(RESULTS / "sets" / f"{name}.npz")
        d = df[(df["dataset"] == name) & (df["method"] == "newton")]
        cells, ratios = [], []
        for tname in ("test_prediction", "test_loss"):
            rows = d[d["target"] == tname]
            act = rows["actual"].to_numpy()
            ok = np.abs(act) > 1e-9 * max(np.abs(act).max(), 1e-300)
            errs, rat = [], []
            for steps in (1, 5):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", leaveout.LeaveoutWarning)
                    pred = np.array([float(att.effects("newton", remove=stored[str(i)],
                                                       target=tgts[tname], steps=steps,
                                                       linearize=False))
                                     for i in rows["set_id"]])
                errs.append(np.median(np.abs(pred[ok] - act[ok]) / np.abs(act[ok])))
                rat.append(np.median(pred[ok] / act[ok]))
            cells.append(" / ".join(f"{100 * e:.2g} %" for e in errs))
            ratios = rat
        print(f"| {name} | {len(d) // 2} | {cells[0]} | {cells[1]} | "
              f"{ratios[0]:.3f} / {ratios[1]:.3f} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=",".join(DEFAULT))
    ap.add_argument("--max-sets", type=int, default=30, help="sets per dataset (0: all)")
    ap.add_argument("--repeats", type=int, default=1, help="timing repeats (minimum kept)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (0: leave as is)")
    ap.add_argument("--update", choices=("secant", "chord"), default="secant",
                    help="chord: the plain chord iteration (no secant correction), to compare")
    ap.add_argument("--full-run-table", action="store_true",
                    help="instead: newton and newton5 on every set of the stored full run, "
                         "against its stored exact changes (no timing, no refits)")
    args = ap.parse_args(argv)
    if args.full_run_table:
        print(machine_line())
        full_run_table(args.datasets.split(","))
        return
    if args.update == "chord":
        from leaveout import _refine

        _refine.MEMORY = 0  # benchmark-only switch: the plain chord Δ − (H − H_T)⁻¹∇L₋T
    blas = limit_blas_threads(args.threads)
    print(machine_line())
    print(blas)
    print(f"refinement: {args.update}; sets of 1–10 % of n (random, cluster_feature, cluster_l2); median relative error of "
          f"Δθ vs retrain (90th percentile); time per set, median over sets, steps=5 vs retrain")
    print()
    print("| dataset | sets | " + " | ".join(f"steps={k}" for k in STEPS)
          + " | time per set: steps=5 / retrain | all sets in one call: per set, ÷ retrain "
          "| flagged at steps=5 (median error) |")
    print("|---|---:|" + "---:|" * len(STEPS) + "---:|---:|---:|")
    for name in args.datasets.split(","):
        t0 = time.perf_counter()
        print(run(name, args), flush=True)
        print(f"<!-- {name}: {time.perf_counter() - t0:.0f} s -->", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
