"""One self-contained HTML page explaining an Attributor's results (public API only).

:func:`html_report` returns the page as a string: figures are embedded as base64 PNG images,
styles are inline, and there are no scripts and no external resources, so the file can be
mailed or archived and opens offline.  Needs matplotlib (``leaveout[plot]``).
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from . import plot
from .targets import Target

__all__ = ["html_report"]

_UNITS = {"logistic": "log-odds (a change of +0.1 multiplies the odds by e^0.1 ≈ 1.105)",
          "squared": "the units of the target",
          "poisson": "log of the expected count (+0.1 multiplies the expected count by ≈ 1.105)"}

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: 0.5rem 0; }
.note { color: #555; font-size: 0.92rem; }
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _e(x) -> str:
    return html.escape(str(x))


def _num(x) -> str:
    return "nan" if not np.isfinite(x) else f"{x:+.4g}"


def _table(header, rows, left=1) -> str:
    th = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>'
                 for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{_e(c)}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def html_report(att, target: Target, *, k: int = 10, n_verify: int = 8, notes=(),
                title: str = "leaveout report", max_queries: int = 20,
                progress=lambda items, desc: items) -> str:
    """The report on ``att`` for the query rows of ``target``, as an HTML string.

    Parameters
    ----------
    att : Attributor
    target : Target
        Usually ``targets.linear_predictor(query_rows)``; one table of top rows per query row
        (the first ``max_queries``), figures for the first few.
    k : int
        Training rows listed per query row.
    n_verify : int
        Single-row removals verified by exact retraining (the rows with the largest absolute
        RIF effect on the first query row); 0 skips the verification.
    notes : sequence of str
        Lines about the data shown at the top (e.g. the one-hot mapping).
    progress : callable
        ``progress(items, description)`` wraps the loop of refits (e.g. with a progress bar).
    """
    family = att.family.name
    kind = {"linear_predictor": "linear predictor", "prediction": "prediction",
            "loss": "loss"}[target.kind]
    units = _UNITS[family] if target.kind == "linear_predictor" else "the target's units"
    h = att.leverage
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1>",
             f"<p>Model: {_e(family)} GLM, L2 penalty λ = {att.l2:g} on Σ loss + (λ/2)‖β‖² "
             f"(intercept unpenalised), fitted exactly on {att.n_samples} training rows with "
             f"{att.n_params} parameters.</p>"]
    if notes:
        parts.append("<ul class='note'>" + "".join(f"<li>{_e(n)}</li>" for n in notes)
                     + "</ul>")
    parts.append(
        "<h2>How to read every number</h2><ul>"
        "<li><b>Sign.</b> Every effect is the change of a quantity <i>when the training row is "
        "removed</i> and the model refitted: value without the row − value with it. A "
        "positive effect means the row was pulling the quantity <i>down</i>; removing it "
        "raises it.</li>"
        f"<li><b>Units.</b> Effects on a query row's {_e(kind)} are in {_e(units)}.</li>"
        "<li><b>Methods.</b> <i>if</i> (influence function) and <i>rif</i> (rescaled influence "
        "function, IF / (1 − leverage)) are estimates from the one fitted model; <i>newton</i> "
        "takes one Newton step without the rows; <i>retrain</i> refits exactly (the truth, at "
        "the cost of a fit). IF underestimates effects by about the factor (1 − leverage); "
        "RIF removes that bias at the same cost. For one removed row, newton equals rif.</li>"
        "<li><b>Leverage</b> h ∈ [0, 1): how much a row's own fitted value depends on its own "
        "label. Near 0: one of many similar rows; near 1: the model fits it almost "
        "alone.</li></ul>")
    parts.append(
        f"<h2>Leverage of the training rows</h2><p>Mean {np.nanmean(h):.3f}, largest "
        f"{np.nanmax(h):.3f} (Σ h = {np.nansum(h):.1f}, the effective number of parameters). "
        f"Rows on the right have their removal effects most underestimated by IF.</p>")
    parts.append(_png(plot.leverage(att)))
    parts.append(
        f"<h2>IF vs RIF, per removed row</h2><p>Each point is one training row: the change of "
        f"the first query row's {_e(kind)} ({_e(units)}) when that row is removed, estimated by "
        f"IF (x) and RIF (y). Points off the grey diagonal are rows whose leverage makes IF "
        f"too small.</p>")
    parts.append(_png(plot.if_vs_rif(att, target, query=0)))

    table = att.top(target, k=k, method="rif")
    queries = list(dict.fromkeys(table["query"]))
    now = np.atleast_1d(att.evaluate(target))
    parts.append(
        f"<h2>Most influential training rows per query row</h2><p>For each query row, the "
        f"{k} training rows whose removal changes its {_e(kind)} most (by absolute value), "
        f"estimated by RIF. <i>effect</i> is in {_e(units)}; each heading gives the query's "
        f"current value.</p>")
    for j, q in enumerate(queries[:max_queries]):
        rows = table[table["query"] == q]
        parts.append(f"<h3>query {_e(q)} — {_e(kind)} now {now[j]:.4g}</h3>")
        if j < 3:
            parts.append(_png(plot.top_rows(att, target, query=j, k=k)))
        parts.append(_table(["rank", "training row", "effect (rif)"],
                            [(r["rank"], r["train"], _num(r["effect"]))
                             for _, r in rows.iterrows()]))
    if len(queries) > max_queries:
        parts.append(f"<p class='note'>{len(queries) - max_queries} more query rows not "
                     f"shown.</p>")

    if n_verify:
        first = table[table["query"] == queries[0]]["train"].tolist()
        positions = {lab: i for i, lab in enumerate(
            att.row_labels_ if att.row_labels_ is not None else range(att.n_samples))}
        sets = [[positions[lab]] for lab in first[:n_verify]]
        est = {m: np.asarray(att.effects(m, remove=sets, target=target, by="position"))
               .reshape(len(sets), -1)[:, 0] for m in ("if", "rif", "newton")}
        exact = np.array([np.atleast_1d(att.effects("retrain", remove=s, target=target,
                                                    by="position"))[0]
                          for s in progress(sets, "retraining")])
        parts.append(
            f"<h2>Predicted vs actual, for {len(sets)} verified removals</h2><p>The "
            f"{len(sets)} most influential rows for query {_e(queries[0])}, each removed alone "
            f"and the model refitted exactly: the actual change of its {_e(kind)} (x) against "
            f"each method's estimate (y). On the diagonal an estimate is exact.</p>")
        parts.append(_png(plot.predicted_vs_actual(att, target, sets, query=0, by="position")))
        rows = [(first[i], _num(est["if"][i]), _num(est["rif"][i]), _num(est["newton"][i]),
                 _num(exact[i])) for i in range(len(sets))]
        parts.append(_table(["removed row", "if", "rif", "newton", "retrain (actual)"], rows))
    parts.append("<p class='note'>Made by leaveout. Transformers or encodings applied "
                 "before the model are held fixed.</p></body></html>")
    return "\n".join(parts)
