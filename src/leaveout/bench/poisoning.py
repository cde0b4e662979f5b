"""Label-flip poisoning study (DESIGN.md §7 "Poisoning"; Figure 3 of the paper).

For a logistic dataset with training rows (X, y) and test rows, the *clean* model is

    θ̂ = argmin Σ_i ℓ(x̃_i·θ, y_i) + (l2/2)‖β‖²                     (leaveout.fit, family="logistic")

An *attack* on a test row (x_t, y_t) (the *target*) appends one poisoned row (x_p, 1 − y_t) to the
training set, as row index n, and refits exactly (warm-started at θ̂) to get the poisoned model
θ̂_p. Two variants of the poison:

``label_flip``
    x_p = x_t: the target itself with its label flipped.
``high_leverage``
    x_p = c·x_t with c = :data:`HIGH_LEVERAGE_SCALE` (= 2.0): the same direction pushed further
    out, so the poison has a higher leverage in the poisoned model. The target stays x_t.

Removing the poison from the poisoned training set gives back exactly the clean training set, so
the exact leave-{n}-out effect restores θ̂. Each estimator of leaveout's :class:`~leaveout.Attributor`
on the poisoned model predicts the change of the target's linear predictor (logit)
η_t = x̃_t·θ when the poison is removed::

    predicted = att.effects(method, remove=[n], target=targets.linear_predictor(x_t[None]))[0]

(first order ∇η_t·Δθ for ``if``, ``rif`` and ``newton`` — exact in Δθ since η_t is linear in θ —
and the exact refit for ``retrain``, which therefore equals ``actual`` up to rounding; this is
checked for every attack and logged when it fails). For a single removed row ``newton`` equals
``rif`` (Sherman–Morrison).

Columns of ``poisoning.csv`` (one row per dataset × variant × target × method)
------------------------------------------------------------------------------------
dataset, variant, target_id
    Registry name, poison variant, and the target's row index in the dataset's *test* rows.
method
    ``if``, ``rif``, ``newton`` or ``retrain``.
eta_clean, eta_poisoned
    The target's logit η_t under θ̂ and under θ̂_p.
actual
    η_clean − η_poisoned: the change of η_t when the poison is removed.
predicted
    The method's predicted change of η_t when the poison is removed.
margin
    (2y_t − 1)·η_clean: the clean model's signed margin on the target (> 0: correctly classified).
flipped
    sign(η_poisoned) ≠ sign(η_clean): the attack flipped the target's predicted class.
restores_actual
    sign(η_poisoned + actual) == sign(η_clean). True by construction (removing the poison restores
    the clean model); kept so that the agreement below is written out in full.
restores_predicted
    sign(η_poisoned + predicted) == sign(η_clean): the method predicts that removing the poison
    gives the target back its clean class. For a flipped attack this is the question "would this
    method identify the poison as the cause of the flip?".
leverage
    h = w_n x̃_nᵀ H⁻¹ x̃_n of the poison in the poisoned model.
seconds
    Wall time of that method's ``effects`` call (for ``retrain``: the exact refit). Shared work is
    in ``setup_seconds``: the poisoned fit, the Attributor and its leverages.

Summary (``poisoning_summary.csv``, one row per dataset × variant × method)
---------------------------------------------------------------------------
n_attacks, n_flipped; agree = fraction of attacks with restores_predicted == restores_actual,
agree_flipped = the same among flipped attacks (NaN when none flipped); median_ratio = median of
predicted / actual; median_ratio_flipped; mean_leverage and median_leverage of the poison.

Targets
-------
Up to ``n_targets`` test rows per dataset, drawn reproducibly from ``seed`` (and the dataset's
name): first the test rows the clean model classifies correctly, in random order, then — only if
there are too few — the misclassified ones. The same targets are attacked in both variants. The
datasets themselves are loaded with the registry's default split seed.

Checkpoints
-----------
Finished attacks are checkpointed per (dataset, variant) in ``<out_dir>/poisoning_parts/``; each part
is rewritten atomically (temporary file + ``os.replace``) after every attack, and its name carries a
fingerprint of everything its numbers depend on. A killed run, rerun with the same arguments,
reuses every finished attack and computes only the missing ones; a damaged part (unreadable, other
columns, non-finite numbers, another dataset's rows) is recomputed, with a logged warning. The final
CSV files and the figure are written atomically too.

Use::

    from leaveout.bench.poisoning import run_poisoning
    df = run_poisoning("results/", quick=True)

Only leaveout's public API is used.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp

import leaveout
from leaveout import targets

from . import _args
from . import datasets as _datasets
from .._atomic import remove_orphans
from ._io import atomic_write_bytes, atomic_write_text

logger = logging.getLogger(__name__)

__all__ = [
    "COLUMNS",
    "DEFAULT_DATASETS",
    "HIGH_LEVERAGE_SCALE",
    "METHODS",
    "PoisoningProgress",
    "SUMMARY_COLUMNS",
    "VARIANTS",
    "logistic_datasets",
    "plot_poisoning",
    "run_poisoning",
    "summarize_poisoning",
]

#: Scale c of the ``high_leverage`` poison x_p = c·x_t.
HIGH_LEVERAGE_SCALE = 2.0
#: Poison variants: name -> scale c of the poisoned row x_p = c·x_t.
VARIANTS: dict[str, float] = {"label_flip": 1.0, "high_leverage": HIGH_LEVERAGE_SCALE}
#: Estimators compared, in report order.
METHODS = ("if", "rif", "newton", "retrain")
#: Two real high-dimensional logistic sets (pd_speech: p/n ≈ 3.6; mnist_4v9: p/n ≈ 0.7), then the
#: synthetic p/n = 0.6 set. A default dataset whose optional package is missing is skipped (with a
#: log message), never fails the run. ``fine_food_minilm`` works too (pass it explicitly); its
#: first load computes sentence embeddings for minutes, so it is not a default.
DEFAULT_DATASETS = ("pd_speech", "mnist_4v9", "synthetic")
#: Targets per dataset by default (capped at the number of test rows). An attack costs about
#: three fits of the dataset's model (poisoned fit, the Attributor's factorisation, the refit).
DEFAULT_N_TARGETS = 40
#: Targets per dataset with ``quick=True``.
QUICK_N_TARGETS = 3
#: Tolerance of the retrain check |predicted_retrain − actual| <= tol · max(1, |actual|).
RETRAIN_TOL = 1e-6
#: Bumped when the study's recipe changes: part files of another version are not reused.
RECIPE_VERSION = 1

COLUMNS = (
    "dataset", "variant", "target_id", "method", "predicted", "actual", "margin",
    "restores_predicted", "restores_actual", "flipped", "leverage", "eta_clean",
    "eta_poisoned", "seconds", "setup_seconds",
)
SUMMARY_COLUMNS = (
    "dataset", "variant", "method", "n_attacks", "n_flipped", "agree", "agree_flipped",
    "median_ratio", "median_ratio_flipped", "mean_leverage", "median_leverage",
)

PARTS_DIR = "poisoning_parts"


@dataclass(frozen=True)
class PoisoningProgress:
    """Passed to the ``progress`` callback after each newly computed attack.

    Attributes
    ----------
    dataset, variant : str
    target_id : int
        Test-row index of the target just attacked.
    done, total : int
        Attacks of this (dataset, variant) finished so far (including resumed ones) and in all.
    """

    dataset: str
    variant: str
    target_id: int
    done: int
    total: int


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _pd():
    import pandas as pd

    return pd


def _write_csv(path: Path, df) -> None:
    atomic_write_text(path, df.to_csv(index=False, float_format="%.17g"))


def _read_csv(path: Path):
    pd = _pd()
    # Floats are written with 17 significant digits; read them back bit-exact (pandas >= 3
    # does by default and deprecates the argument).
    if int(pd.__version__.split(".")[0]) < 3:
        return pd.read_csv(path, float_precision="round_trip")
    return pd.read_csv(path)


def _design(a):
    """A dense float64 C-ordered array, or — for a scipy.sparse design (TF-IDF) — CSR float64:
    the study never densifies a sparse dataset (leaveout fits and attributes it sparse)."""
    if sp.issparse(a):
        return sp.csr_matrix(a, dtype=np.float64)
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))


def _digest(a) -> str:
    """Fingerprint of a design's numbers (dense: its bytes; CSR: its three arrays)."""
    h = hashlib.sha256()
    if sp.issparse(a):
        for part in (a.indptr, a.indices, a.data):
            h.update(np.ascontiguousarray(part).tobytes())
    else:
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _with_poison(X, y, x_p, y_p):
    """The training rows with the poison (x_p, y_p) appended as row n."""
    if sp.issparse(X):
        return sp.vstack([X, sp.csr_matrix(x_p)], format="csr"), np.append(y, y_p)
    return np.vstack([X, x_p]), np.append(y, y_p)


def _same_sign(a: float, b: float) -> bool:
    return bool(np.sign(a) == np.sign(b))


# --------------------------------------------------------------------------------------------
# One dataset
# --------------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    name: str
    X: object  # ndarray or CSR
    y: np.ndarray
    X_test: object
    y_test: np.ndarray
    l2: float
    fit_intercept: bool
    theta: np.ndarray
    eta_test: np.ndarray
    quick: bool


def _prepare(ds, quick: bool) -> _Prepared:
    if ds.family != "logistic":
        raise ValueError(
            f"The poisoning study flips binary labels, so it needs a logistic dataset; "
            f"{ds.name!r} is {ds.family}. Choose a logistic dataset of the registry.")
    X, X_test = _design(ds.X), _design(ds.X_test)
    y, y_test = np.asarray(ds.y, dtype=np.float64), np.asarray(ds.y_test, dtype=np.float64)
    t0 = time.perf_counter()
    clean = leaveout.fit(X, y, family="logistic", l2=ds.l2, fit_intercept=ds.fit_intercept)
    logger.info("%s: clean fit (n=%d, p=%d, l2=%g) in %.2fs", ds.name, X.shape[0], X.shape[1],
                ds.l2, time.perf_counter() - t0)
    return _Prepared(ds.name, X, y, X_test, y_test, float(ds.l2), bool(ds.fit_intercept),
                     clean.params_.copy(), clean.decision_function(X_test), quick)


def _choose_targets(prep: _Prepared, n_targets: int, seed: int) -> np.ndarray:
    """Test-row indices: correctly classified rows first (random order), then the others."""
    rng = np.random.default_rng([int(seed), zlib.crc32(prep.name.encode("utf-8"))])
    margin = (2.0 * prep.y_test - 1.0) * prep.eta_test
    correct = np.flatnonzero(margin > 0)
    wrong = np.flatnonzero(margin <= 0)
    order = np.concatenate([rng.permutation(correct), rng.permutation(wrong)]).astype(int)
    return order[: min(int(n_targets), order.size)]


def _fingerprint(prep: _Prepared, variant: str, seed: int) -> str:
    key = repr((RECIPE_VERSION, prep.name, prep.quick, int(seed), variant, VARIANTS[variant],
                prep.l2, prep.fit_intercept, prep.X.shape, prep.X_test.shape,
                _digest(prep.X), hashlib.sha256(prep.y.tobytes()).hexdigest()[:16],
                _digest(prep.X_test)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def _part_path(out_dir: Path, prep: _Prepared, variant: str, seed: int) -> Path:
    tag = "quick" if prep.quick else "full"
    return out_dir / PARTS_DIR / (
        f"{prep.name}-{tag}-seed{int(seed)}__{variant}__{_fingerprint(prep, variant, seed)}.csv")


_FLOAT_COLUMNS = ("predicted", "actual", "margin", "leverage", "eta_clean", "eta_poisoned",
                  "seconds", "setup_seconds")
_BOOL_COLUMNS = ("restores_predicted", "restores_actual", "flipped")


def _read_part(path: Path, name: str, variant: str):
    """The rows of a part file, or None (with a logged warning) when it is damaged."""
    pd = _pd()
    try:
        df = _read_csv(path)
        if list(df.columns) != list(COLUMNS):
            raise ValueError("not the expected columns")
        if not ((df["dataset"] == name).all() and (df["variant"] == variant).all()
                and df["method"].isin(METHODS).all()):
            raise ValueError("rows of another dataset, variant or method")
        if df.duplicated(["target_id", "method"]).any():
            raise ValueError("repeated rows")
        ids = pd.to_numeric(df["target_id"], errors="raise").to_numpy(dtype=float)
        if not (np.isfinite(ids).all() and (ids == np.round(ids)).all()):
            raise ValueError("a target_id that is not an integer")
        values = df[list(_FLOAT_COLUMNS)].apply(pd.to_numeric, errors="raise").to_numpy(float)
        if not np.isfinite(values).all():
            raise ValueError("a non-finite value")
        for col in _BOOL_COLUMNS:
            if not df[col].map(lambda v: isinstance(v, (bool, np.bool_))
                               or v in ("True", "False")).all():
                raise ValueError(f"a {col} that is not True or False")
    except (OSError, ValueError, TypeError, KeyError) as exc:
        logger.warning("%s is damaged (%s); recomputing its attacks", path, exc)
        return None
    return df.assign(target_id=ids.astype(int),
                     **{c: df[c].map(lambda v: v in (True, "True")).astype(bool)
                        for c in _BOOL_COLUMNS})


def _attack(prep: _Prepared, tid: int, variant: str) -> list[dict]:
    """One poisoning attack on test row ``tid``; returns one record per method."""
    n = prep.X.shape[0]
    xq = prep.X_test[tid:tid + 1]          # the target as a 1-row design (dense or CSR)
    y_t = float(prep.y_test[tid])
    Xp, yp = _with_poison(prep.X, prep.y, VARIANTS[variant] * xq, 1.0 - y_t)

    t0 = time.perf_counter()
    poisoned = leaveout.GLM(family="logistic", l2=prep.l2, fit_intercept=prep.fit_intercept).fit(
        Xp, yp, warm_start=prep.theta)
    att = leaveout.Attributor(poisoned, Xp, yp)
    h = float(att.leverage[n])  # also computes the shared per-row solves
    setup = time.perf_counter() - t0

    eta_clean = float(prep.eta_test[tid])
    eta_poisoned = float(att.model_.decision_function(xq)[0])
    actual = eta_clean - eta_poisoned
    margin = (2.0 * y_t - 1.0) * eta_clean
    flipped = not _same_sign(eta_poisoned, eta_clean)
    target = targets.linear_predictor(xq)

    out = []
    for method in METHODS:
        t1 = time.perf_counter()
        predicted = float(att.effects(method, remove=[n], target=target)[0])
        secs = time.perf_counter() - t1
        if method == "retrain" and not abs(predicted - actual) <= RETRAIN_TOL * max(1.0, abs(actual)):
            logger.warning(
                "%s/%s target %d: retrain's change %.17g differs from eta_clean - eta_poisoned "
                "%.17g by %.3g (removing the poison should restore the clean model)",
                prep.name, variant, tid, predicted, actual, abs(predicted - actual))
        out.append({
            "dataset": prep.name, "variant": variant, "target_id": int(tid), "method": method,
            "predicted": predicted, "actual": actual, "margin": margin,
            "restores_predicted": _same_sign(eta_poisoned + predicted, eta_clean),
            "restores_actual": _same_sign(eta_poisoned + actual, eta_clean),
            "flipped": flipped, "leverage": h, "eta_clean": eta_clean,
            "eta_poisoned": eta_poisoned, "seconds": secs, "setup_seconds": setup,
        })
    return out


def _run_variant(prep: _Prepared, tids: np.ndarray, variant: str, seed: int, out_dir: Path,
                 progress: Callable[[PoisoningProgress], None] | None):
    pd = _pd()
    path = _part_path(out_dir, prep, variant, seed)
    wanted = [int(t) for t in tids]
    records: list[dict] = []
    have: set[int] = set()
    old = _read_part(path, prep.name, variant) if path.is_file() else None
    if old is not None:
        old = old[old["target_id"].isin(wanted)]
        # Only complete attacks (all methods) are reused.
        counts = old.groupby("target_id")["method"].nunique()
        have = {int(t) for t, c in counts.items() if c == len(METHODS)}
        records = old[old["target_id"].isin(have)].to_dict("records")
        if have:
            logger.info("%s/%s: resuming, %d of %d attacks already in %s", prep.name, variant,
                        len(have), len(wanted), path.name)
    todo = [t for t in wanted if t not in have]
    if todo:
        t0 = time.perf_counter()
        for tid in todo:
            records.extend(_attack(prep, tid, variant))
            have.add(tid)
            _write_csv(path, pd.DataFrame.from_records(records, columns=list(COLUMNS)))
            if progress is not None:
                progress(PoisoningProgress(prep.name, variant, tid, len(have), len(wanted)))
        logger.info("%s/%s: %d attacks in %.1fs", prep.name, variant, len(todo),
                    time.perf_counter() - t0)
    df = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    # Targets in the chosen order, methods in METHODS order.
    rank = {t: i for i, t in enumerate(wanted)}
    df = df.assign(_t=df["target_id"].map(rank), _m=df["method"].map(METHODS.index))
    return df.sort_values(["_t", "_m"], kind="stable").drop(columns=["_t", "_m"])


# --------------------------------------------------------------------------------------------
# Summary and figure
# --------------------------------------------------------------------------------------------


def summarize_poisoning(df):
    """Summary per dataset × variant × method of a ``poisoning.csv`` frame.

    Returns a DataFrame with the columns of :data:`SUMMARY_COLUMNS` (see the module docstring).
    """
    pd = _pd()
    rows = []
    for (dsn, variant, method), g in df.groupby(["dataset", "variant", "method"], sort=False):
        agree = g["restores_predicted"].astype(bool) == g["restores_actual"].astype(bool)
        fl = g["flipped"].astype(bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (g["predicted"] / g["actual"]).to_numpy(dtype=float)
        ratio_f = ratio[fl.to_numpy()]
        rows.append({
            "dataset": dsn, "variant": variant, "method": method,
            "n_attacks": int(len(g)), "n_flipped": int(fl.sum()),
            "agree": float(agree.mean()),
            "agree_flipped": float(agree[fl].mean()) if fl.any() else math.nan,
            "median_ratio": float(np.nanmedian(ratio)) if np.isfinite(ratio).any() else math.nan,
            "median_ratio_flipped": (float(np.nanmedian(ratio_f))
                                     if np.isfinite(ratio_f).any() else math.nan),
            "mean_leverage": float(g["leverage"].mean()),
            "median_leverage": float(g["leverage"].median()),
        })
    return pd.DataFrame.from_records(rows, columns=list(SUMMARY_COLUMNS))


def plot_poisoning(df, path) -> Path:
    """Figure 3: predicted vs actual change of the target's logit, IF and RIF, with the diagonal.

    One panel per dataset (rows) and variant (columns); filled markers are flipped attacks.
    Saved as a PNG at ``path`` (atomically); matplotlib is imported here, with the Agg backend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    dsets = list(dict.fromkeys(df["dataset"]))
    variants = [v for v in VARIANTS if v in set(df["variant"])]
    nr, nc = max(1, len(dsets)), max(1, len(variants))
    fig, axes = plt.subplots(nr, nc, figsize=(4.2 * nc, 3.9 * nr), squeeze=False)
    style = {"if": ("tab:blue", "o", "IF"), "rif": ("tab:orange", "^", "RIF")}
    for i, dsn in enumerate(dsets):
        for j, variant in enumerate(variants):
            ax = axes[i, j]
            g = df[(df["dataset"] == dsn) & (df["variant"] == variant)]
            if g.empty:
                ax.set_visible(False)
                continue
            lo = hi = None
            for method, (color, marker, label) in style.items():
                m = g[g["method"] == method]
                fl = m["flipped"].astype(bool).to_numpy()
                a, pr = m["actual"].to_numpy(float), m["predicted"].to_numpy(float)
                ax.scatter(a[~fl], pr[~fl], s=16, marker=marker, facecolors="none",
                           edgecolors=color, linewidths=0.8, alpha=0.8)
                ax.scatter(a[fl], pr[fl], s=16, marker=marker, color=color, alpha=0.8,
                           label=label)
                vals = np.concatenate([a, pr])
                vals = vals[np.isfinite(vals)]
                if vals.size:
                    lo = vals.min() if lo is None else min(lo, vals.min())
                    hi = vals.max() if hi is None else max(hi, vals.max())
            if lo is not None:
                pad = 0.05 * (hi - lo or 1.0)
                ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", lw=0.8, ls="--")
            h = g[g["method"] == "rif"]["leverage"].mean()
            nfl = int(g[g["method"] == "rif"]["flipped"].astype(bool).sum())
            ntot = int((g["method"] == "rif").sum())
            ax.set_title(f"{dsn} — {variant}\nmean h = {h:.2f}, flipped {nfl}/{ntot}",
                         fontsize=9)
            ax.set_xlabel("actual change of η_t (exact refit)", fontsize=8)
            ax.set_ylabel("predicted change of η_t", fontsize=8)
            ax.tick_params(labelsize=7)
            if i == 0 and j == 0:
                ax.legend(fontsize=8, loc="upper left", title="filled: flipped", title_fontsize=7)
    fig.suptitle("Removing a label-flip poison: predicted vs actual change of the target's logit",
                 fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------


def logistic_datasets(names) -> tuple[list[str], list[str]]:
    """Split registry names into (logistic, others): the poisoning study takes only the first."""
    names = list(names)
    logistic = [n for n in names if _datasets.DATASETS[n].family == "logistic"]
    return logistic, [n for n in names if n not in logistic]


def _check_datasets(datasets) -> list:
    """Normalise ``run_poisoning``'s ``datasets`` (checked before any work)."""
    where = "run_poisoning"
    if isinstance(datasets, (str, _datasets.Dataset)):
        datasets = [datasets]
    if isinstance(datasets, (bytes, dict)) or not hasattr(datasets, "__iter__"):
        raise TypeError(f"The 'datasets' parameter of {where} must be a sequence of dataset "
                        f"names or Dataset objects. Got {type(datasets).__name__} instead.")
    items = list(datasets)
    if not items:
        raise ValueError(f"The 'datasets' parameter of {where} is empty; name at least one "
                         f"logistic dataset (e.g. 'synthetic'), or pass None for the defaults.")
    for d in items:
        if not isinstance(d, (str, _datasets.Dataset)):
            raise TypeError(f"The 'datasets' parameter of {where} must hold dataset names (str) "
                            f"or Dataset objects. Got {d!r:.60} ({type(d).__name__}).")
        if isinstance(d, str):
            if d not in _datasets.DATASETS:
                raise ValueError(f"Unknown dataset {d!r}; valid names: "
                                 f"{', '.join(_datasets.available())}.")
            _, other = logistic_datasets([d])
            if other:
                raise ValueError(
                    f"The poisoning study flips binary labels, so it needs a logistic dataset; "
                    f"{d!r} is {_datasets.DATASETS[d].family}. Logistic datasets: "
                    f"{', '.join(logistic_datasets(_datasets.available())[0])}.")
    key = lambda d: d if isinstance(d, str) else d.name  # noqa: E731
    by_name = {}
    for d in items:
        prev = by_name.setdefault(key(d), d)
        if prev is not d and not (isinstance(prev, str) and isinstance(d, str)):
            raise ValueError(f"The 'datasets' parameter of {where} holds two different datasets "
                             f"named {key(d)!r}; give them distinct names.")
        by_name.setdefault(key(d), d)
    return list(_args.dedupe(items, "datasets", where, key=key))


def _load(name, quick, cache_dir, explicit):
    if isinstance(name, _datasets.Dataset):
        return name
    try:
        t0 = time.perf_counter()
        ds = _datasets.load(name, quick=quick, cache_dir=cache_dir)
        logger.info("loaded %s in %.1fs: %s", name, time.perf_counter() - t0, ds.summary())
        return ds
    except ImportError as exc:
        if explicit:
            raise
        logger.warning("skipping dataset %s: %s", name, exc)
        return None


def run_poisoning(out_dir, *, datasets: Sequence[str] | None = None, quick: bool = False,
                  n_targets: int | None = None, seed: int = 0, cache_dir=None,
                  progress: Callable[[PoisoningProgress], None] | None = None,
                  figure: bool = True):
    """Run the label-flip poisoning study and write its results.

    Parameters
    ----------
    out_dir : path
        Where ``poisoning.csv``, ``poisoning_summary.csv``, ``fig_poisoning.png`` and the
        checkpoints (``poisoning_parts/``) are written.
    datasets : sequence of str or Dataset, optional
        Logistic datasets: names in :mod:`leaveout.bench.datasets` or ready
        :class:`~leaveout.bench.datasets.Dataset` objects (used as given, whatever ``quick``);
        a single name or Dataset is one dataset; repeated ones run once. A named dataset whose
        optional package is missing raises ImportError. Default :data:`DEFAULT_DATASETS` (those
        whose optional packages are missing are skipped, with a log message).
    quick : bool, default=False
        Use the datasets' quick subsamples and :data:`QUICK_N_TARGETS` targets (seconds).
    n_targets : int, optional
        Targets (test rows) per dataset, capped at the number of test rows. Default
        :data:`DEFAULT_N_TARGETS` (:data:`QUICK_N_TARGETS` when ``quick``).
    seed : int, default=0
        Drives the choice of targets.
    cache_dir : path, optional
        Dataset cache root, passed to :func:`leaveout.bench.datasets.load`.
    progress : callable, optional
        Called with a :class:`PoisoningProgress` after each newly computed attack.
    figure : bool, default=True
        Also draw ``fig_poisoning.png`` (needs matplotlib).

    Returns
    -------
    pandas.DataFrame
        The rows of ``poisoning.csv`` (columns :data:`COLUMNS`; see the module docstring).
    """
    pd = _pd()
    where = "run_poisoning"
    out = _args.check_dir(out_dir, "out_dir", where)
    explicit = datasets is not None
    names = list(DEFAULT_DATASETS) if datasets is None else _check_datasets(datasets)
    quick = _args.check_bool(quick, "quick", where)
    figure = _args.check_bool(figure, "figure", where)
    if n_targets is None:
        n_targets = QUICK_N_TARGETS if quick else DEFAULT_N_TARGETS
    n_targets = _args.check_int(n_targets, "n_targets", where, low=1, high=None)
    seed = _args.check_seed(seed, where)
    cache_dir = _args.check_cache_dir(cache_dir, where, usable=True)
    if progress is not None and not callable(progress):
        raise TypeError(f"The 'progress' parameter of {where} must be callable or None. Got "
                        f"{type(progress).__name__} instead.")
    out.mkdir(parents=True, exist_ok=True)
    remove_orphans(out)  # half-written files of a killed earlier run

    t_all = time.perf_counter()
    frames = []
    for name in names:
        ds = _load(name, quick, cache_dir, explicit)
        if ds is None:
            continue
        prep = _prepare(ds, quick)
        tids = _choose_targets(prep, n_targets, seed)
        logger.info("%s: %d targets (%d correctly classified by the clean model)", prep.name,
                    tids.size, int(((2 * prep.y_test[tids] - 1) * prep.eta_test[tids] > 0).sum()))
        for variant in VARIANTS:
            frames.append(_run_variant(prep, tids, variant, seed, out, progress))

    if not frames:
        raise ValueError(
            "No dataset could be run: every one was skipped for a missing optional package (see "
            "the log); install it, or pass datasets=('synthetic',), which needs none.")
    df = pd.concat(frames, ignore_index=True)
    for col in ("restores_predicted", "restores_actual", "flipped"):
        df[col] = df[col].astype(bool)
    df["target_id"] = df["target_id"].astype(int)
    _write_csv(out / "poisoning.csv", df)
    summary = summarize_poisoning(df)
    _write_csv(out / "poisoning_summary.csv", summary)
    if figure and len(df):
        plot_poisoning(df, out / "fig_poisoning.png")
    logger.info("poisoning study: %d attacks in %.1fs, results in %s",
                len(df) // len(METHODS), time.perf_counter() - t_all, out)
    return df
