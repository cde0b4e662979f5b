"""Summary statistics of the accuracy study: how close each estimator comes to retraining."""

from __future__ import annotations

import numpy as np


def _corr(a, b, kind):
    from scipy import stats

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float((stats.pearsonr if kind == "pearson" else stats.spearmanr)(a, b)[0])


def _time_ratio(g) -> float:
    """Median over sets of a method's seconds over the refit's (NaN without timings)."""
    if "seconds" not in g or "retrain_seconds" not in g:
        return float("nan")
    sec, ref = g["seconds"].to_numpy(float), g["retrain_seconds"].to_numpy(float)
    ok = ref > 0
    return float(np.median(sec[ok] / ref[ok])) if ok.any() else float("nan")


def summarise(df):
    """Per dataset × method × target: median predicted/actual, median relative error,
    Pearson and Spearman correlation of predicted with actual, median time per set over the
    refit's (``time_vs_retrain``), mean leverage, p/n.

    Ratios and relative errors use the sets whose actual change is not negligible
    (|actual| > 1e-9 · max |actual| of that dataset and target).
    """
    import pandas as pd

    out = []
    keys = ["dataset", "method", "target"]
    for (dataset, method, target), g in df.groupby(keys, sort=False):
        pred, act = g["predicted"].to_numpy(), g["actual"].to_numpy()
        ok = np.abs(act) > 1e-9 * max(np.abs(act).max(), 1e-300)
        ratio = pred[ok] / act[ok]
        rel = np.abs(pred[ok] - act[ok]) / np.abs(act[ok])
        first = g.iloc[0]
        out.append({
            "dataset": dataset, "method": method, "target": target, "n_sets": len(g),
            "median_ratio": float(np.median(ratio)) if ok.any() else float("nan"),
            "median_rel_error": float(np.median(rel)) if ok.any() else float("nan"),
            "pearson": _corr(pred, act, "pearson"), "spearman": _corr(pred, act, "spearman"),
            "time_vs_retrain": _time_ratio(g),
            "mean_leverage": float(first["mean_leverage"]), "p_over_n": float(first["p_over_n"]),
            "l2": float(first["l2"]), "sweep": first["sweep"], "family": first["family"],
        })
    return pd.DataFrame(out)
