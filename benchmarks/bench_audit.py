"""Robustness audits on real data: how many rows must go to flip a conclusion?

Usage::

    python benchmarks/bench_audit.py                  # 4 datasets, 8 coefficients + 8 predictions each
    python benchmarks/bench_audit.py --targets 4      # faster

For each of the benchmark's cached logistic designs (``docs/results/data/<name>.npz``, fitted at
its λ) and each target — the coefficients at evenly spaced quantiles of |θ_j| (excluding the
intercept), and the linear predictors of test rows from the less confident half (evenly spaced quantiles of |η|
up to the median; the sign of η is the predicted class) — the
smallest set of training rows whose removal flips the target's sign, with a budget of 10 % of n:

- ``AMIP predicted``: rows ranked once by their IF effect on the target, the smallest prefix
  whose summed IF effects cross 0 (Broderick, Giordano & Meager); ``verified`` = whether the
  exact refit without that prefix really flips.
- ``one-shot IF`` / ``one-shot RIF``: the smallest prefix of that ranking whose *exact refit*
  flips (as found by ``smallest_removal``'s baseline search).
- ``greedy``: ``smallest_removal``'s re-ranked greedy (its own verified set).
- ``returned``: what ``smallest_removal`` returns (the smallest verified of all of them).

Sizes are medians over the targets flipped by the returned set (a search that found nothing
counted as larger than the budget); "flipped" counts targets with any verified set within the
budget.  CPU time per audit (one BLAS thread).
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


def targets_of(att, Xte, m):
    from leaveout import targets

    d = att.n_params - int(att.fit_intercept)
    mags = np.abs(att.params_[:d])
    order = np.argsort(mags)
    picks = order[np.linspace(d // 4, d - 1, m).astype(int)]
    out = [("coef", targets.coefficient(int(j))) for j in dict.fromkeys(picks.tolist())]
    # test rows from the less confident half: evenly spaced quantiles of |η| in (0, 0.5]
    eta = np.abs(att.evaluate(targets.linear_predictor(Xte)))
    by = np.argsort(eta)
    rows = by[np.linspace(len(by) // (2 * m), len(by) // 2, m).astype(int)]
    out += [("pred", targets.linear_predictor(Xte[i:i + 1])) for i in dict.fromkeys(rows.tolist())]
    return out


def amip(att, target, value, budget):
    """AMIP's one-shot IF set: predicted size and whether its exact refit flips."""
    e = np.ravel(att.effects("if", target=target, linearize=True))
    gain = -np.sign(value) * e
    order = np.argsort(-gain, kind="stable")
    cum = np.cumsum(np.clip(gain[order], 0, None))
    k = int(np.searchsorted(cum, abs(value), side="right")) + 1
    if k > budget:
        return None, False
    after = value + float(np.ravel(att.effects("retrain", remove=order[:k], target=target))[0])
    return k, bool(np.sign(after) == -np.sign(value))


def run(name, m):
    import leaveout

    d = np.load(DATA / f"{name}.npz", allow_pickle=False)
    X, y, Xte = d["X"], d["y"], d["X_test"]
    n = len(y)
    budget = max(1, n // 10)
    att = leaveout.Attributor(leaveout.fit(X, y, l2=float(d["l2"])), X, y)
    rows = []
    for kind, tgt in targets_of(att, Xte, m):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(np.ravel(att.evaluate(tgt))[0])
            t = time.process_time()
            res = att.smallest_removal(tgt, max_rows=budget)
            secs = time.process_time() - t
            k_amip, amip_ok = amip(att, tgt, value, budget)
        b_if, b_rif = res.baselines
        rows.append(dict(kind=kind, flipped=res.flipped, size=res.size if res.flipped else None,
                         greedy=res.greedy_size, one_if=b_if.rows.size if b_if.flipped else None,
                         one_rif=b_rif.rows.size if b_rif.flipped else None, amip=k_amip,
                         amip_ok=amip_ok, found_by=res.found_by, secs=secs,
                         refits=res.n_refits, moved=res.moved / abs(value)))
    return n, X.shape[1], budget, rows


def med(vals, budget):
    """Median size with 'not found within the budget' counted as larger than any size."""
    if not vals:
        return "—"
    m = np.median([np.inf if v is None else v for v in vals])
    found = sum(v is not None for v in vals)
    return (f"{m:.0f}" if np.isfinite(m) else f">{budget}") + f" ({found})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--targets", type=int, default=8, help="coefficients and predictions each")
    args = ap.parse_args(argv)
    print(limit_blas_threads(1))
    print(machine_line())
    print("\n| dataset | n × p | budget | kind | flipped / targets | returned | greedy | "
          "one-shot RIF | one-shot IF | AMIP predicted (refit flips) | greedy < one-shot IF | "
          "CPU s per audit |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for name in args.datasets.split(","):
        n, p, budget, rows = run(name, args.targets)
        for kind in ("coef", "pred"):
            rs = [r for r in rows if r["kind"] == kind]
            fl = [r for r in rs if r["flipped"]]
            amip_pred = [r["amip"] for r in fl]
            amip_ok = sum(r["amip_ok"] for r in fl if r["amip"] is not None)
            amip_n = sum(r["amip"] is not None for r in fl)
            better = sum(1 for r in fl if r["greedy"] is not None and (
                r["one_if"] is None or r["greedy"] < r["one_if"]))
            print(f"| {name} | {n} × {p} | {budget} | {kind} | {len(fl)} / {len(rs)} | "
                  f"{med([r['size'] for r in fl], budget)} | "
                  f"{med([r['greedy'] for r in fl], budget)} | "
                  f"{med([r['one_rif'] for r in fl], budget)} | "
                  f"{med([r['one_if'] for r in fl], budget)} | "
                  f"{med(amip_pred, budget)}, refit flips {amip_ok} | {better} / {len(fl)} | "
                  f"{np.median([r['secs'] for r in rs]):.2f} |")
        sys.stdout.flush()
    print("\nSizes: medians over the targets the returned set flips, a search that found no "
          "verified set within the budget counted as larger than any (>budget); in brackets, on "
          "how many of them it found one. AMIP predicted: IF's own prediction of the size, "
          "unverified; 'refit flips' = on how many its predicted set really flips.")


if __name__ == "__main__":
    main()
