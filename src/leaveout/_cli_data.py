"""``leaveout attribute``, ``effect`` and ``report``: the public API on the user's files.

Each command reads TRAIN (CSV or Parquet), encodes it (:mod:`leaveout._tabular`), fits the
L2-regularised GLM exactly with :func:`leaveout.fit`, and asks an :class:`leaveout.Attributor`.
Notes (the family chosen, the one-hot mapping) go to stderr, results to stdout, so that
``leaveout attribute ... > table.txt`` keeps only the table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click
import numpy as np

from ._tabular import Encoding, UserError, read_table, split_names

METHOD_CHOICE = click.Choice(["if", "rif", "newton", "retrain"])

#: The units of each kind of target, by family (the report and the tables say them).
UNITS = {
    "linear_predictor": {"logistic": "log-odds", "squared": "units of the target",
                         "poisson": "log of the expected count"},
    "prediction": {"logistic": "probability", "squared": "units of the target",
                   "poisson": "expected count"},
    "loss": {"logistic": "log-loss, nats", "squared": "half squared error",
             "poisson": "negative log-likelihood, up to a constant"},
}


def _path(**kw):
    return click.Path(dir_okay=False, path_type=str, **kw)


def data_options(f=None, *, l2: bool = True):
    """TRAIN and the options every data command shares (``l2=False``: without ``--l2``, for a
    command that chooses the penalty itself)."""
    if f is None:
        return lambda g: data_options(g, l2=l2)
    for decorator in reversed([
        click.argument("train", type=_path(exists=True)),
        click.option("--target", required=True, metavar="COL",
                     help="The column to predict."),
        click.option("--family", type=click.Choice(["auto", "logistic", "squared", "poisson"]),
                     default="auto", show_default=True,
                     help="GLM family; auto = logistic for a two-valued target, else squared."),
        *([click.option("--l2", type=click.FloatRange(min=0.0), default=1.0, show_default=True,
                        help="L2 penalty λ in Σ loss + (λ/2)‖β‖² (intercept unpenalised).")]
          if l2 else []),
        click.option("--id", "id_column", metavar="COL", default=None,
                     help="Column naming the rows (default: 0-based row numbers)."),
        click.option("--drop", metavar="A,B", default=None,
                     help="Columns to leave out of the features."),
        click.option("--features", metavar="A,B", default=None,
                     help="Use only these feature columns."),
        click.option("-q", "--quiet", is_flag=True,
                     help="No notes or progress bars (results and errors only)."),
    ]):
        f = decorator(f)
    return f


def _note(quiet: bool, text: str) -> None:
    if not quiet:
        click.echo(text, err=True)


def progress(items, desc: str, quiet: bool):
    """``items`` with a progress bar on stderr (tqdm, optional) unless quiet or not a TTY."""
    if quiet:
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, file=sys.stderr, disable=None, leave=False)


@dataclass
class Fitted:
    enc: Encoding
    frame: object  # the TRAIN DataFrame as read
    X: object      # encoded features, index = ids
    y: np.ndarray
    att: object
    l2: float

    @property
    def family(self) -> str:
        return self.enc.family

    def units(self, kind: str) -> str:
        return UNITS[kind][self.family]

    def position(self, label) -> int:
        return self._positions[label]

    def __post_init__(self):
        self._positions = {lab: i for i, lab in enumerate(self.X.index)}


def encode_train(train, target, family, l2, id_column, features, drop, quiet):
    """Read and encode TRAIN (notes to stderr): (frame, encoding, X, y)."""
    frame = read_table(train, "TRAIN")
    enc = Encoding.fit(frame, target, family=family, l2=l2, id_column=id_column,
                       features=split_names(features, "--features"),
                       drop=split_names(drop, "--drop"))
    X = enc.design(frame, "TRAIN")
    y = enc.target_values(frame, "TRAIN")
    for line in enc.notes + enc.mapping_lines():
        _note(quiet, line)
    return frame, enc, X, y


def fit_train(train, target, family, l2, id_column, features, drop, quiet) -> Fitted:
    """Read, encode, fit and attribute TRAIN."""
    import leaveout

    frame, enc, X, y = encode_train(train, target, family, l2, id_column, features, drop, quiet)
    model = leaveout.fit(X, y, family=enc.family, l2=l2)
    att = leaveout.Attributor(model, X, y, copy=False)
    _note(quiet, f"fitted: {enc.family}, l2 = {l2:g}, {att.n_samples} training rows, "
                 f"{att.n_params} parameters (intercept included)")
    return Fitted(enc, frame, X, y, att, l2)


def query_design(fitted: Fitted, path, what="QUERY"):
    frame = read_table(path, what)
    return frame, fitted.enc.design(frame, what)


def write_csv(frame, path) -> None:
    """Write a DataFrame as CSV atomically (a killed run leaves the old file or the new)."""
    from ._atomic import atomic_write_bytes

    atomic_write_bytes(path, frame.to_csv(index=False).encode("utf-8"))


def _fmt(x) -> str:
    return "nan" if not np.isfinite(x) else f"{x:+.4g}"


# ---------------------------------------------------------------------------------------------
# attribute
# ---------------------------------------------------------------------------------------------

#: Query rows attributed at once (bounds the n × m matrix of effects to about 20 M numbers).
MAX_CELLS = 20_000_000


def top_table(fitted: Fitted, Xq, k: int, method: str, verify: bool, quiet: bool):
    """att.top on the linear predictor of every query row, in chunks; optionally verified."""
    import pandas as pd

    from . import targets

    att = fitted.att
    step = len(Xq) if method == "retrain" else max(1, MAX_CELLS // max(att.n_samples, 1))
    chunks = [Xq.iloc[i:i + step] for i in range(0, len(Xq), step)]
    if method == "retrain":
        _note(quiet, f"retraining without each of the {att.n_samples} rows ...")
    parts = [att.top(targets.linear_predictor(c), k=k, method=method)
             for c in progress(chunks, "attributing", quiet or len(chunks) == 1)]
    table = pd.concat(parts, ignore_index=True)
    if verify:
        rows = list(dict.fromkeys(table["train"]))
        target = targets.linear_predictor(Xq)
        exact = {}
        for label in progress(rows, "retraining", quiet):
            exact[label] = np.asarray(att.effects("retrain", remove=[fitted.position(label)],
                                                  target=target, by="position"))
        qpos = {lab: j for j, lab in enumerate(Xq.index)}
        table["retrained"] = [float(exact[t][qpos[q]]) for q, t in
                              zip(table["query"], table["train"])]
    return table


def print_top(fitted: Fitted, table, eta, method: str, max_queries: int | None) -> None:
    units = fitted.units("linear_predictor")
    click.echo(f"Training rows whose removal changes each query row's linear predictor "
               f"({units}) most, by |effect|.")
    click.echo(f"effect = change of the query's linear predictor when that training row alone "
               f"is removed and the model refitted, estimated by {method}; positive means the "
               f"row was pulling the prediction down.")
    has_exact = "retrained" in table.columns
    queries = list(dict.fromkeys(table["query"]))
    shown = queries if max_queries is None else queries[:max_queries]
    for q in shown:
        rows = table[table["query"] == q]
        click.echo(f"\nquery {q}   (linear predictor now {eta[q]:.4g})")
        width = max(5, max(len(str(t)) for t in rows["train"]))
        head = f"  rank  {'train':>{width}}  {'effect':>10}"
        click.echo(head + (f"  {'retrained':>10}" if has_exact else ""))
        for _, r in rows.iterrows():
            line = f"  {r['rank']:>4}  {str(r['train']):>{width}}  {_fmt(r['effect']):>10}"
            if has_exact:
                line += f"  {_fmt(r['retrained']):>10}"
            click.echo(line)
    if len(shown) < len(queries):
        click.echo(f"\n... {len(queries) - len(shown)} more query rows in the --out file")


@click.command()
@data_options
@click.option("--query", required=True, type=_path(exists=True),
              help="CSV/Parquet of query rows (the feature columns of TRAIN; --id names them "
                   "when present, else 0-based row numbers).")
@click.option("--method", type=METHOD_CHOICE, default="rif", show_default=True,
              help="Estimator of each single-row removal effect (retrain: n exact refits).")
@click.option("--top", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Training rows per query row.")
@click.option("--out", type=_path(), default=None,
              help="Write the table as CSV: query, rank, train, effect, method[, retrained].")
@click.option("--verify", is_flag=True,
              help="Retrain without each listed row and show the exact effect beside it.")
def attribute(train, target, family, l2, id_column, drop, features, quiet, query, method, k,
              out, verify):
    """For each row of QUERY, the training rows of TRAIN whose removal changes that row's
    linear predictor most (by absolute value).

    The model is the L2-regularised GLM fitted exactly on TRAIN (categorical columns one-hot
    encoded, the mapping shown). effect = linear predictor without the row − with it.
    """
    from . import targets

    fitted = fit_train(train, target, family, l2, id_column, features, drop, quiet)
    _, Xq = query_design(fitted, query)
    table = top_table(fitted, Xq, k, method, verify, quiet)
    if out is not None:
        write_csv(table, out)
        _note(quiet, f"wrote {len(table)} rows to {out}")
    if out is None or not quiet:
        eta = dict(zip(Xq.index, fitted.att.evaluate(targets.linear_predictor(Xq))))
        print_top(fitted, table, eta, method, None if out is None else 20)
    return 0


# ---------------------------------------------------------------------------------------------
# effect
# ---------------------------------------------------------------------------------------------


def select_rows(fitted: Fitted, remove: str | None, where: str | None) -> list:
    """Positions of the rows named by --remove (ids) or selected by --where (a pandas query)."""
    if remove is not None:
        wanted = [t.strip() for t in remove.split(",") if t.strip()]
        if not wanted:
            raise UserError(f"--remove: expected comma-separated row ids, got {remove!r}")
        by_text = {str(lab): i for i, lab in enumerate(fitted.X.index)}
        unknown = [t for t in wanted if t not in by_text]
        if unknown:
            what = f"--id column {fitted.enc.id_column!r}" if fitted.enc.id_column else \
                "0-based row numbers (or use --id COL)"
            raise UserError(f"--remove: no training row {unknown[0]!r} (rows are named by "
                            f"{what})")
        return sorted({by_text[t] for t in wanted})
    try:
        mask = fitted.frame.eval(where)
    except Exception as exc:  # noqa: BLE001 - pandas raises many types for a bad expression
        raise UserError(f"--where {where!r}: cannot evaluate it on TRAIN's columns "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                        ) from None
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (len(fitted.frame),):
        raise UserError(f"--where {where!r}: must be a condition true or false on each row "
                        f"(e.g. source == \"vendor_b\")")
    rows = np.flatnonzero(mask).tolist()
    if not rows:
        raise UserError(f"--where {where!r}: selects no training row")
    return rows


@click.command()
@data_options
@click.option("--remove", metavar="IDS", default=None,
              help="Comma-separated ids (of --id, else 0-based row numbers) of the rows to "
                   "remove.")
@click.option("--where", metavar="EXPR", default=None,
              help="Remove the rows where this pandas expression on TRAIN's columns holds, "
                   "e.g. 'source == \"vendor_b\"'.")
@click.option("--query", type=_path(exists=True), default=None,
              help="Query rows: the change of each one's prediction.")
@click.option("--test", type=_path(exists=True), default=None,
              help="Test rows with the target column: the change of their total loss (default: "
                   "QUERY's rows, when it has the target column).")
@click.option("--retrain/--no-retrain", default=True, show_default=True,
              help="Also refit without the rows (exact answer, one fit).")
@click.option("--out", type=_path(), default=None,
              help="Write every number as CSV: quantity, name, now, method, effect.")
def effect(train, target, family, l2, id_column, drop, features, quiet, remove, where, query,
           test, retrain, out):
    """The effect of removing a group of TRAIN's rows on the coefficients, on QUERY's
    predictions and on the test loss, by each method (if, rif, newton, and retrain).

    Every number is the change when the rows are removed: value without them − value with them.
    if / rif / newton estimate it from the one fit (first order for predictions and the loss);
    retrain refits exactly.
    """
    import pandas as pd

    from . import targets

    if (remove is None) == (where is None):
        raise click.UsageError("give exactly one of --remove IDS or --where EXPR")
    fitted = fit_train(train, target, family, l2, id_column, features, drop, quiet)
    att = fitted.att
    rows = select_rows(fitted, remove, where)
    methods = ["if", "rif", "newton"] + (["retrain"] if retrain else [])
    labels = [fitted.X.index[i] for i in rows]
    shown = ", ".join(str(x) for x in labels[:10]) + (", ..." if len(labels) > 10 else "")
    click.echo(f"Removing {len(rows)} of {att.n_samples} training rows: {shown}")
    click.echo("Each number is the change when these rows are removed (without − with).")
    records = []

    def section(title, names, now, results, unit):
        click.echo(f"\n{title} ({unit})")
        width = max(8, max(len(str(n)) for n in names))
        click.echo(f"  {'':<{width}}  {'now':>10}" + "".join(f"  {m:>10}" for m in methods))
        for j, name in enumerate(names):
            click.echo(f"  {str(name):<{width}}  {now[j]:>10.4g}"
                       + "".join(f"  {_fmt(results[m][j]):>10}" for m in methods))
            for m in methods:
                records.append((title, name, float(now[j]), m, float(results[m][j])))

    coef = {m: att.effects(m, remove=rows, by="position") for m in methods}
    section("coefficients", att.param_names_, att.params_, coef, "model parameters")
    test_frame = None
    if query is not None:
        qframe, Xq = query_design(fitted, query)
        t = targets.prediction(Xq)
        preds = {m: np.atleast_1d(att.effects(m, remove=rows, target=t, by="position"))
                 for m in methods}
        section("query predictions", list(Xq.index), np.atleast_1d(att.evaluate(t)), preds,
                fitted.units("prediction"))
        if target in qframe.columns and test is None:
            test_frame, test_name = qframe, "QUERY"
    if test is not None:
        test_frame, test_name = read_table(test, "TEST"), "TEST"
    if test_frame is not None:
        Xt = fitted.enc.design(test_frame, test_name)
        yt = fitted.enc.target_values(test_frame, test_name)
        t = targets.loss(Xt, yt, reduce="sum")
        losses = {m: np.atleast_1d(att.effects(m, remove=rows, target=t, by="position"))
                  for m in methods}
        section(f"total loss over the {len(yt)} {test_name} rows", ["test loss"],
                np.atleast_1d(att.evaluate(t)), losses, fitted.units("loss"))
    if out is not None:
        write_csv(pd.DataFrame(records, columns=["quantity", "name", "now", "method", "effect"]),
                  out)
        _note(quiet, f"wrote {len(records)} rows to {out}")
    return 0


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


@click.command()
@data_options
@click.option("--query", type=_path(exists=True), default=None,
              help="Query rows to explain (default: the first 5 training rows).")
@click.option("--out", type=_path(), required=True, help="The HTML file to write.")
@click.option("--top", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Training rows listed per query row.")
@click.option("--verify", "n_verify", type=click.IntRange(min=0), default=8, show_default=True,
              help="Removals verified by retraining for the predicted-vs-actual figure.")
def report(train, target, family, l2, id_column, drop, features, quiet, query, out, k,
           n_verify):
    """Write one self-contained HTML page (figures embedded, no external resources)
    explaining the model's leverages and its most influential training rows."""
    from . import targets
    from ._atomic import atomic_write_bytes
    from .report import html_report

    fitted = fit_train(train, target, family, l2, id_column, features, drop, quiet)
    if query is not None:
        _, Xq = query_design(fitted, query)
        where = f"the {len(Xq)} rows of {query}"
    else:
        Xq = fitted.X.iloc[:5]
        where = "the first 5 training rows (no --query given)"
    notes = [f"Data: {train}, {fitted.att.n_samples} rows; target column {target!r}.",
             f"Query rows: {where}."] + fitted.enc.notes + fitted.enc.mapping_lines()
    html = html_report(fitted.att, targets.linear_predictor(Xq), k=k, n_verify=n_verify,
                       notes=notes, title=f"leaveout report: {target}",
                       progress=lambda items, desc: progress(items, desc, quiet))
    atomic_write_bytes(out, html.encode("utf-8"))
    _note(quiet, f"wrote {out}")
    return 0


def register(group) -> None:
    for command in (attribute, effect, report):
        group.add_command(command)
