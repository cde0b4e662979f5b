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
    """Per dataset × method × target: median predicted/actual and median relative error of
    the first-order prediction (``median_ratio``, ``median_rel_error``) and of the plug-in one
    (``median_ratio_plugin``, ``median_rel_error_plugin``), Pearson and Spearman correlation of
    the first-order prediction with actual, median time per set over the refit's
    (``time_vs_retrain``), mean leverage, p/n.

    Ratios and relative errors use the sets whose actual change is not negligible
    (|actual| > 1e-9 · max |actual| of that dataset and target).
    """
    import pandas as pd

    out = []
    keys = ["dataset", "method", "target"]
    for (dataset, method, target), g in df.groupby(keys, sort=False):
        act = g["actual"].to_numpy()
        ok = np.abs(act) > 1e-9 * max(np.abs(act).max(), 1e-300)
        first = g.iloc[0]
        row = {"dataset": dataset, "method": method, "target": target, "n_sets": len(g)}
        for col, suffix in (("predicted", ""), ("predicted_plugin", "_plugin")):
            if col not in g:
                continue
            pred = g[col].to_numpy()
            row[f"median_ratio{suffix}"] = (float(np.median(pred[ok] / act[ok])) if ok.any()
                                            else float("nan"))
            row[f"median_rel_error{suffix}"] = (
                float(np.median(np.abs(pred[ok] - act[ok]) / np.abs(act[ok]))) if ok.any()
                else float("nan"))
            if not suffix:
                row["pearson"] = _corr(pred, act, "pearson")
                row["spearman"] = _corr(pred, act, "spearman")
        row.update({
            "time_vs_retrain": _time_ratio(g),
            "mean_leverage": float(first["mean_leverage"]), "p_over_n": float(first["p_over_n"]),
            "l2": float(first["l2"]), "sweep": first["sweep"], "family": first["family"],
        })
        out.append(row)
    return pd.DataFrame(out)
