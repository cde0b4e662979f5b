"""Plots of an Attributor's results (matplotlib, the optional extra ``leaveout[plot]``).

Each function draws on ``ax`` when given (and returns its figure), else on a new
:class:`matplotlib.figure.Figure` (no pyplot, so no GUI backend is needed), and returns the
figure: save it with ``fig.savefig("name.png")``.  They use the public API only.

- :func:`leverage` — the distribution of the leverages h_i;
- :func:`if_vs_rif` — IF against RIF, one point per training row;
- :func:`top_rows` — the training rows whose removal moves one query's target most;
- :func:`predicted_vs_actual` — the estimators against exact retraining for a few removals.

Signs follow the library: an effect is the change of the quantity *when the row is removed*.
"""

from __future__ import annotations

import numpy as np

from .targets import Target

__all__ = ["if_vs_rif", "leverage", "predicted_vs_actual", "top_rows"]


def _axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError('leaveout.plot needs matplotlib: pip install "leaveout[plot]" (or '
                          "pip install matplotlib).") from None
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _target_name(target: Target | None) -> str:
    if target is None:
        return "‖Δθ‖ (parameters)"
    name = {"linear_predictor": "linear predictor", "prediction": "prediction",
            "loss": "loss"}[target.kind]
    return f"{target.reduce} of the {name}s" if target.reduce else name


def _one_query(values: np.ndarray, query: int) -> np.ndarray:
    """The column of one query row from an (n,) or (n, m) array of effects."""
    values = np.asarray(values)
    if values.ndim == 1:
        return values
    if not 0 <= query < values.shape[1]:
        raise ValueError(f"query must be a position in 0..{values.shape[1] - 1} (the target's "
                         f"query rows); got {query}.")
    return values[:, query]


def leverage(att, *, bins: int = 40, ax=None):
    """Histogram of the leverages h_i (array of shape (n_samples,)).

    A row of leverage h alone makes IF underestimate its removal effect by about the factor
    (1 − h); rows near 1 are nearly unidentified without themselves.
    """
    fig, ax = _axes(ax, (6, 3.5))
    h = att.leverage
    finite = h[np.isfinite(h)]
    if finite.size and np.ptp(finite) <= 1e-9 * max(1.0, float(np.abs(finite).max())):
        bins = 1  # (nearly) equal leverages: one bar (matplotlib cannot split a zero range)
    ax.hist(finite, bins=bins, color="#4c72b0", edgecolor="white")
    mean = float(np.nanmean(h))
    ax.axvline(mean, color="#c44e52", linestyle="--", label=f"mean {mean:.3f}")
    ax.set_xlabel("leverage h_i  (0 = no pull on its own fit, 1 = fits itself exactly)")
    ax.set_ylabel("training rows")
    ax.set_title(f"Leverage of the {att.n_samples} training rows")
    ax.legend()
    return fig


def if_vs_rif(att, target: Target | None = None, *, query: int = 0, ax=None):
    """IF against RIF for each training row removed alone.

    Without a target: the size of the parameter change ‖Δθ‖; with one: the change of the
    target (of its query row number ``query`` when it has several).  Points are coloured by
    leverage; RIF = IF / (1 − h) row by row, so points leave the diagonal as h grows.
    """
    fig, ax = _axes(ax, (5, 4.5))
    if target is None:
        a = np.linalg.norm(att.effects("if"), axis=1)
        b = np.linalg.norm(att.effects("rif"), axis=1)
    else:
        a = _one_query(att.effects("if", target=target), query)
        b = _one_query(att.effects("rif", target=target), query)
    ok = np.isfinite(a) & np.isfinite(b)
    sc = ax.scatter(a[ok], b[ok], c=att.leverage[ok], s=12, cmap="viridis")
    fig.colorbar(sc, ax=ax, label="leverage h_i")
    lo = float(min(a[ok].min(), b[ok].min())) if ok.any() else 0.0
    hi = float(max(a[ok].max(), b[ok].max())) if ok.any() else 1.0
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, label="IF = RIF")
    what = _target_name(target)
    ax.set_xlabel(f"IF: change of the {what}")
    ax.set_ylabel(f"RIF: change of the {what}")
    ax.set_title("Influence function vs rescaled IF, per removed row")
    ax.legend(loc="upper left")
    return fig


def top_rows(att, target: Target, *, query: int = 0, k: int = 10, method: str = "rif",
             ax=None):
    """Bar chart of the k training rows whose removal moves one query's target most.

    Bars are signed: the change of the target when that row alone is removed (in the target's
    units), largest absolute effect on top.
    """
    table = att.top(target, k=k, method=method)
    names = list(dict.fromkeys(table["query"]))
    if not 0 <= query < len(names):
        raise ValueError(f"query must be a position in 0..{len(names) - 1} (the target's query "
                         f"rows); got {query}.")
    rows = table[table["query"] == names[query]]
    fig, ax = _axes(ax, (6, 0.35 * len(rows) + 1.5))
    effect = rows["effect"].to_numpy()
    colours = np.where(effect >= 0, "#55a868", "#c44e52")
    ax.barh(np.arange(len(rows)), effect, color=colours)
    ax.set_yticks(np.arange(len(rows)), [f"row {t}" for t in rows["train"]])
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"change of the {_target_name(target)} when the row is removed ({method})")
    ax.set_title(f"Most influential training rows for query {names[query]}")
    return fig


def predicted_vs_actual(att, target: Target, remove=None, *, query: int = 0,
                        methods=("if", "rif", "newton"), ax=None, by=None):
    """Estimated against exact (retrained) change of a target, for a few removals.

    Parameters
    ----------
    remove : list of sets, optional
        The removals to verify (each one set of row positions; default: each of the 8 rows with
        the largest absolute RIF effect removed alone).  One exact refit per set.
    query : int
        Which query row of a target with several.
    by : {None, "position", "label"}, optional
        How ``remove`` names rows, as in :meth:`Attributor.effects`.
    """
    fig, ax = _axes(ax, (5, 4.5))
    if remove is None:
        rif = _one_query(att.effects("rif", target=target), query)
        key = np.where(np.isfinite(rif), -np.abs(rif), np.inf)
        remove, by = [[int(i)] for i in np.argsort(key, kind="stable")[:8]], "position"
    actual = _one_query(np.atleast_1d(att.effects("retrain", remove=remove, target=target,
                                                  by=by)).reshape(len(remove), -1), query)
    lo, hi = float(np.nanmin(actual)), float(np.nanmax(actual))
    markers = {"if": "o", "rif": "s", "newton": "^"}
    for method in methods:
        pred = _one_query(np.atleast_1d(att.effects(method, remove=remove, target=target, by=by))
                          .reshape(len(remove), -1), query)
        ax.scatter(actual, pred, label=method, marker=markers.get(method, "o"), s=28, alpha=0.8)
        lo, hi = min(lo, float(np.nanmin(pred))), max(hi, float(np.nanmax(pred)))
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, label="exact")
    what = _target_name(target)
    ax.set_xlabel(f"actual change of the {what} (retrained)")
    ax.set_ylabel("predicted change")
    ax.set_title(f"Predicted vs actual for {len(remove)} verified removals")
    ax.legend()
    return fig
