"""``leaveout cv`` and ``leaveout audit``: choosing the penalty and auditing a conclusion on the
user's files (the public API: :class:`leaveout.GLMCV`, :meth:`Attributor.smallest_removal`)."""

from __future__ import annotations

import click
import numpy as np

from ._cli_data import _note, _path, data_options, encode_train, fit_train, query_design, \
    write_csv
from ._tabular import UserError, read_table


def _floats(text: str | None, option: str):
    if text is None:
        return None
    parts = [t.strip() for t in text.split(",") if t.strip()]
    if not parts:
        raise UserError(f"{option}: expected comma-separated numbers, got {text!r}")
    try:
        return [float(t) for t in parts]
    except ValueError:
        raise UserError(f"{option}: expected comma-separated numbers, got {text!r}") from None


@click.command()
@data_options(l2=False)
@click.option("--l2s", metavar="A,B,...", default=None,
              help="Penalties to try (default: 25 values from 10c to 1e-5c, c a scale of the "
                   "data; see leaveout.GLMCV).")
@click.option("--method", type=click.Choice(["rif", "if", "retrain"]), default="rif",
              show_default=True,
              help="Leave-one-out predictions: rif (one fit per penalty), if, or retrain "
                   "(exact: n refits per penalty).")
@click.option("--test", type=_path(exists=True), default=None,
              help="Test rows with the target column: their mean loss at every penalty.")
@click.option("--out", type=_path(), default=None,
              help="Write the path as CSV: l2, loo_risk[, test_loss], chosen.")
def cv(train, target, family, id_column, drop, features, quiet, l2s, method, test, out):
    """Choose the L2 penalty for TRAIN by leave-one-out risk, one fit per penalty.

    Prints every penalty's leave-one-out risk (the mean loss of each row predicted without it)
    and marks the smallest; for squared loss this is exact leave-one-out.
    """
    import pandas as pd

    import leaveout

    grid = _floats(l2s, "--l2s")
    enc_l2 = 1.0 if grid is None else min(grid)  # l2 = 0 on the path: drop one level per column
    _, enc, X, y = encode_train(train, target, family, enc_l2, id_column, features, drop, quiet)
    est = leaveout.GLMCV(family=enc.family, l2s=grid, method=method).fit(X, y)
    table = pd.DataFrame({"l2": est.l2s_, "loo_risk": est.loo_risk_})
    if test is not None:
        frame = read_table(test, "TEST")
        Xt, yt = enc.design(frame, "TEST"), enc.target_values(frame, "TEST")
        table["test_loss"] = [
            np.nan if np.isnan(r) else float(np.mean(
                leaveout.fit(X, y, family=enc.family, l2=lam).loss(Xt, yt)))
            for lam, r in zip(est.l2s_, est.loo_risk_)]
    table["chosen"] = np.arange(len(table)) == est.best_index_
    click.echo(f"Leave-one-out risk ({method}) of a {enc.family} GLM on {len(y)} rows: the mean "
               f"loss of each row predicted by the model fitted without it.")
    cols = "  ".join(f"{c:>12}" for c in table.columns if c != "chosen")
    click.echo(f"  {cols}")
    for _, r in table.iterrows():
        vals = "  ".join(f"{r[c]:>12.5g}" for c in table.columns if c != "chosen")
        click.echo(f"  {vals}{'  <- chosen' if r['chosen'] else ''}")
    click.echo(f"chosen l2 = {est.l2_:.6g}")
    if out is not None:
        write_csv(table, out)
        _note(quiet, f"wrote {len(table)} rows to {out}")
    return 0


@click.command()
@data_options
@click.option("--coef", metavar="NAMES", default=None,
              help="Comma-separated coefficients to audit, named as in `leaveout effect` "
                   "(a numeric column, or COLUMN=LEVEL of a one-hot coded one; 'intercept').")
@click.option("--query", type=_path(exists=True), default=None,
              help="Audit the linear predictor of each row of QUERY (for logistic its sign is "
                   "the predicted class).")
@click.option("--threshold", type=float, default=None,
              help="Move the value past this number instead of flipping its sign.")
@click.option("--max-rows", type=click.IntRange(min=1), default=None,
              help="The most rows a set may hold (default: 10 % of TRAIN).")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Confirm every set by an exact refit (without it nothing is claimed).")
@click.option("--out", type=_path(), default=None,
              help="Write one CSV row per audited value: target, value, flipped, refit, "
                   "estimate, size, rows.")
def audit(train, target, family, l2, id_column, drop, features, quiet, coef, query, threshold,
          max_rows, verify, out):
    """Would a conclusion survive dropping a few rows of TRAIN? The smallest set of rows found
    whose removal flips the sign of each coefficient (--coef) or query prediction (--query),
    verified by an exact refit."""
    import pandas as pd

    from . import targets

    if (coef is None) == (query is None):
        raise click.UsageError("give exactly one of --coef NAMES or --query FILE")
    fitted = fit_train(train, target, family, l2, id_column, features, drop, quiet)
    att = fitted.att
    if coef is not None:
        names = [t.strip() for t in coef.split(",") if t.strip()]
        if not names:
            raise UserError(f"--coef: expected comma-separated coefficient names, got {coef!r}")
        unknown = [t for t in names if t not in att.param_names_]
        if unknown:
            raise UserError(f"--coef: no coefficient {unknown[0]!r}; the coefficients are "
                            f"{', '.join(att.param_names_[:10])}"
                            f"{', ...' if len(att.param_names_) > 10 else ''}")
        jobs = [(f"coefficient {t}", targets.coefficient(t)) for t in names]
    else:
        _, Xq = query_design(fitted, query)
        jobs = [(f"query {lab}", targets.linear_predictor(Xq.iloc[[i]]))
                for i, lab in enumerate(Xq.index)]
    records = []
    for label, tgt in jobs:
        res = att.smallest_removal(tgt, max_rows=max_rows, threshold=threshold, verify=verify)
        ids = [str(fitted.X.index[i]) for i in res.rows]
        click.echo(f"{label}: {res}")
        shown = ", ".join(ids[:20]) + (", ..." if len(ids) > 20 else "")
        click.echo(f"  rows: {shown}")
        records.append((label, res.value, res.flipped, res.actual, res.predicted, res.size,
                        " ".join(ids)))
    if out is not None:
        write_csv(pd.DataFrame(records, columns=["target", "value", "flipped", "refit",
                                                 "estimate", "size", "rows"]), out)
        _note(quiet, f"wrote {len(records)} rows to {out}")
    return 0


def register(group) -> None:
    for command in (cv, audit):
        group.add_command(command)
