"""The accuracy study of DESIGN.md §7: removal sets, estimators against retraining, auditable output.

Output directory layout::

    DIR/results.csv          one row per (dataset, set, method, target)
    DIR/summary.csv          per dataset × method × target: ratios, errors, correlations
    DIR/data/<dataset>.npz   the exact design: X (or X_data/X_indices/X_indptr/X_shape), y,
                             X_test, y_test, l2, fit_intercept, family
    DIR/sets/<dataset>.npz   the removed rows of each set, keyed by str(set_id)
    DIR/sets/<dataset>.json  the configuration the sets were planned for, and each set's
                             strategy, size and repeat
    DIR/parts/<dataset>/     one CSV per finished set (the checkpoint; a rerun skips them)
    DIR/fig_*.png, DIR/results.md, DIR/meta.json

The settings, jobs and removal sets are in :mod:`leaveout.bench.config`; what a rerun into the
same directory may reuse (the checkpoint's record and the validation of its files) is in
:mod:`leaveout.bench._resume`. This module runs the jobs: fits, first-order predictions, exact
refits (in parallel with ``n_jobs``), and the output files.

Definitions (also in results.md): targets ``test_loss`` = Σ_test ℓ(η, y) and ``test_prediction``
= Σ_test η (sum of linear predictors); ``predicted`` = ∇f(θ̂)·Δθ_method (first order, Δθ from
``if``/``rif``/``newton``/``newton5``, the last the Newton step refined by 4 gradient
refreshes); ``predicted_plugin`` = f(θ̂ + Δθ_method) − f(θ̂) (plug-in, the
default of ``Attributor.effects``; equal to ``predicted`` for the linear ``test_prediction``);
``actual`` = f(θ̂₋T) − f(θ̂) from the exact warm-started refit; ``set_leverage`` =
``Attributor.set_leverage(T)``.
Uses the public API of leaveout only.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np

import leaveout
from leaveout import targets

from . import datasets as dsets
from .._atomic import remove_orphans
from . import _args
from ._io import atomic_savez, atomic_write_csv, atomic_write_text
from ._resume import (_check_settings, _data_file_state, _design_arrays, _mismatch, _read_part,
                      _read_plan, _read_sets, _record)
from .config import (COLUMNS, DEFAULT_DATASETS, L2_SWEEP, MAX_FRACTION, METHOD_CALLS, METHODS,
                     P_OVER_N_SWEEP, QUICK_DATASETS, RECIPE_VERSION, TARGETS, BenchConfig, Job,
                     _plan_meta, _plan_sets, plan_jobs)
from .strategies import Scores

logger = logging.getLogger(__name__)

# The settings and constants of .config are importable from here too (patch them in .config).
__all__ = [
    "BenchConfig",
    "COLUMNS",
    "DEFAULT_DATASETS",
    "Job",
    "L2_SWEEP",
    "MAX_FRACTION",
    "METHODS",
    "P_OVER_N_SWEEP",
    "QUICK_DATASETS",
    "RECIPE_VERSION",
    "TARGETS",
    "plan_jobs",
    "run_bench",
    "run_job",
]


def _exact_changes(att, t_loss, t_pred, chunk):
    """Yield (set_id, Δ test loss, Δ test prediction, seconds) of exact refits, one set at a time."""
    base = (att.evaluate(t_loss), att.evaluate(t_pred))
    for set_id, T in chunk:
        t0 = time.perf_counter()
        th = att.retrain(T)
        dt = time.perf_counter() - t0
        yield (set_id, float(att.evaluate(t_loss, th) - base[0]),
               float(att.evaluate(t_pred, th) - base[1]), dt)


def _retrain_chunk(payload, chunk):
    """Exact refits for ``chunk`` = [(set_id, rows)] in a worker process.

    Only warm-started fits: no Hessian factorisation or Attributor is needed for retraining.
    """
    X, y, Xt, yt, family, l2, fit_intercept, theta = payload
    glm = leaveout.GLM(family=family, l2=l2, fit_intercept=fit_intercept)
    n = X.shape[0]

    def values(model):
        return float(model.loss(Xt, yt).sum()), float(model.decision_function(Xt).sum())

    base = values(glm.fit(X, y, warm_start=theta))
    out = []
    for set_id, T in chunk:
        keep = np.ones(n, dtype=bool)
        keep[T] = False
        t0 = time.perf_counter()
        model = glm.fit(X[keep], y[keep], warm_start=theta)
        dt = time.perf_counter() - t0
        vl, vp = values(model)
        out.append((set_id, vl - base[0], vp - base[1], dt))
    return out


def _predict(att, T, t_loss, t_pred):
    """Predictions of each method for one set: {(method, target): (first order, plug-in, s)}.

    First order ∇f(θ̂)·Δθ (``linearize=True``) and plug-in f(θ̂ + Δθ) − f(θ̂) (the default of
    :meth:`~leaveout.Attributor.effects`); ``s`` is the time of both.  Large sets draw a
    ``SetLeverageWarning`` for ``if``/``rif``: the study measures exactly that, so it is muted.
    """
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", leaveout.SetLeverageWarning)
        for m in METHODS:
            method, kw = METHOD_CALLS.get(m, (m, {}))
            for name, tgt in zip(TARGETS, (t_loss, t_pred)):
                t0 = time.perf_counter()
                lin = float(att.effects(method, remove=T, target=tgt, linearize=True, **kw))
                plug = float(att.effects(method, remove=T, target=tgt, linearize=False, **kw))
                out[(m, name)] = (lin, plug, time.perf_counter() - t0)
    return out


def run_job(job: Job, out: Path, cfg: BenchConfig, progress=None, workers: int = 1) -> list[dict]:
    """Run (or resume) one dataset of the study; return its result rows.

    ``workers`` is the number of retraining processes (1: in this process).
    """
    ds = dsets.load(job.dataset, quick=cfg.quick, cache_dir=cfg.cache_dir, seed=cfg.seed)
    l2 = ds.l2 if job.l2 is None else float(job.l2)
    X, Xt = ds.X, ds.X_test  # dense arrays or CSR: leaveout takes either, never densifying
    n = X.shape[0]
    heavy = n * (X.shape[1] + 1) ** 2 > cfg.heavy_flops
    design = _design_arrays(ds, l2)
    record = _record(job, cfg, l2, heavy, design)
    data_path = out / "data" / f"{job.name}.npz"
    sets_path, plan_path = out / "sets" / f"{job.name}.npz", out / "sets" / f"{job.name}.json"
    parts = out / "parts" / job.name
    have_parts = parts.is_dir() and any(parts.glob("*.csv"))

    # 1. The checkpoint must belong to this configuration (checked before any work).
    state, stored, plan = _read_plan(plan_path)
    legacy = state == "legacy" and have_parts
    if state == "ok":
        if stored != record:
            raise _mismatch(out, job, stored, record)
        if plan != _plan_meta(n, cfg, heavy):
            logger.warning("%s is damaged (its sets are not those of its configuration); "
                           "rebuilding it", plan_path)
            plan = None
    elif state in ("missing", "damaged") and have_parts:
        raise ValueError(
            f"{plan_path} is {state}, so the finished sets in {parts} cannot be checked against "
            f"this configuration; delete {parts} (those sets are then recomputed) and rerun.")
    elif not legacy:
        if state == "damaged":
            logger.warning("%s is damaged; planning the sets again", plan_path)
        plan = None
    legacy_error = ValueError(
        f"{out} holds results of an earlier leaveout version that did not record their "
        f"configuration ({plan_path}), and they are not this configuration's; use a new output "
        f"directory (--out) or delete {out}.")

    # 2. The exact design, for audits.
    data_state = _data_file_state(data_path, design)
    if legacy and data_state != "ok":
        raise legacy_error
    if data_state != "ok":
        if data_state != "missing":
            logger.warning("%s is %s; rewriting it", data_path,
                           "damaged" if data_state == "damaged" else "out of date")
        atomic_savez(data_path, **design)

    t0 = time.perf_counter()
    model = leaveout.fit(X, ds.y, family=ds.family, l2=l2, fit_intercept=ds.fit_intercept)
    att = leaveout.Attributor(model, X, ds.y)
    h = att.leverage
    fit_seconds = time.perf_counter() - t0
    t_loss = targets.loss(Xt, ds.y_test, reduce="sum")
    t_pred = targets.linear_predictor(Xt, reduce="sum")

    # 3. The removal sets: read back, or planned (deterministically from the record).
    sets = None if plan is None or legacy else _read_sets(sets_path, plan, n)
    if sets is None:
        if plan is not None and not legacy:
            logger.warning("%s is missing or damaged; rebuilding it", sets_path)
        scores = Scores(model.loss(X, ds.y), att.effects("if", target=t_loss, linearize=True),
                        att.effects("if", target=t_pred, linearize=True))  # IF scores, §7
        new_plan, sets = _plan_sets(job, cfg, X, scores, heavy)
        if legacy:
            old = _read_sets(sets_path, new_plan, n) if plan == new_plan else None
            if old is None or not all(map(np.array_equal, old, sets)):
                raise legacy_error
            logger.info("%s: the checkpoint of an earlier leaveout version has this "
                        "configuration's design and sets; reusing it", job.name)
        else:
            atomic_savez(sets_path, **{str(p["set_id"]): T for p, T in zip(new_plan, sets)})
        plan = new_plan
        atomic_write_text(plan_path, json.dumps({"config": record, "sets": plan}))

    # 4. Finished sets (validated) and the ones to compute.
    parts.mkdir(parents=True, exist_ok=True)
    finished: dict[int, list[dict]] = {}
    for p in plan:
        path = parts / f"{p['set_id']}.csv"
        if path.exists():
            rows, why = _read_part(path, job.name, p, float(h[sets[p["set_id"]]].mean()))
            if rows is None:
                logger.warning("%s is damaged (%s); recomputing that set", path, why)
            else:
                finished[p["set_id"]] = rows
    pending = [p for p in plan if p["set_id"] not in finished]
    logger.info("%s: n=%d p=%d l2=%g, fit+factor %.2fs, %d sets (%d to do)", job.name,
                n, X.shape[1], l2, fit_seconds, len(plan), len(pending))
    by_id = {p["set_id"]: p for p in plan}

    def finish(set_id, act_loss, act_pred, retrain_s):
        T = sets[set_id]
        pred = _predict(att, T, t_loss, t_pred)
        meta = by_id[set_id]
        rows = []
        lev = att.set_leverage(T)
        for (m, tgt), (val, plug, dt) in pred.items():
            act = act_loss if tgt == "test_loss" else act_pred
            if not (math.isfinite(val) and math.isfinite(plug) and math.isfinite(act)):
                raise ValueError(
                    f"{job.name}: set {set_id} ({meta['strategy']}, {meta['size']} rows) gave a "
                    f"non-finite change ({m}, {tgt}: predicted {val}, actual {act}); the refit "
                    f"without these rows may have no finite optimum. Use smaller fractions.")
            rows.append((job.name, meta["strategy"], str(set_id), str(meta["size"]), m, tgt,
                         repr(val), repr(plug), repr(act), f"{dt:.6g}", f"{retrain_s:.6g}",
                         f"{h[T].mean():.6g}", f"{lev:.6g}"))
        atomic_write_csv(parts / f"{set_id}.csv", COLUMNS, rows)
        finished[set_id] = [dict(zip(COLUMNS, r)) for r in rows]

    payload = (X, ds.y, Xt, ds.y_test, ds.family, l2, ds.fit_intercept, att.params_)
    todo = [(p["set_id"], sets[p["set_id"]]) for p in pending]
    done = len(plan) - len(pending)
    for set_id, al, ap, dt in _retrain_all(att, (t_loss, t_pred), payload, todo, workers):
        finish(set_id, al, ap, dt)
        done += 1
        if progress is not None:
            progress(job.name, done, len(plan))
        if done % max(1, len(plan) // 10) == 0 or done == len(plan):
            logger.info("%s: %d/%d sets retrained", job.name, done, len(plan))

    extra = dict(p_over_n=X.shape[1] / n, l2=l2, sweep=job.sweep,
                 mean_leverage=float(h.mean()), family=ds.family)
    return [dict(r, **extra) for p in plan for r in finished[p["set_id"]]]


def _workers(n_jobs: int) -> int:
    """Retraining processes for ``n_jobs`` (negative: all CPU cores but ``-n_jobs - 1``),
    capped at the number of CPU cores."""
    cpus = _cpu_count() or 1
    want = n_jobs if n_jobs > 0 else max(1, cpus + 1 + n_jobs)
    if want > cpus:
        logger.warning("n_jobs=%d is more than the %d CPU cores available; using %d processes",
                       n_jobs, cpus, cpus)
        want = cpus
    return want


def _retrain_all(att, tgts, payload, todo, workers):
    """Yield (set_id, Δ test loss, Δ test prediction, seconds) as refits finish."""
    if not todo:
        return
    if workers == 1:
        yield from _exact_changes(att, *tgts, todo)
        return
    from joblib import Parallel, delayed

    size = max(1, min(8, len(todo) // (4 * workers) or 1))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    n_proc = min(workers, len(chunks))
    if n_proc < workers:
        logger.info("%d chunks of sets to retrain: using %d processes", len(chunks), n_proc)
    par = Parallel(n_jobs=n_proc, return_as="generator_unordered")
    results = par(delayed(_retrain_chunk)(payload, c) for c in chunks)
    try:
        for res in results:
            yield from res
    finally:  # interrupted: cancel the queued refits without joblib's warning about them
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "[0-9]+ tasks which were still being processed")
            results.close()


def run_bench(out_dir, config: BenchConfig | None = None, *, progress=None):
    """Run (or resume) the accuracy study; write results, summary, figures and results.md.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output directory (created if needed). A rerun into the same directory with the same
        configuration resumes; with another configuration it raises ValueError.
    config : BenchConfig, optional
        The settings (default ``BenchConfig()``).
    progress : callable, optional
        Called as ``progress(job_name, done, total)`` after each newly finished set.

    Returns the results as a pandas DataFrame.

    Raises ValueError / TypeError for bad arguments, for an output directory holding another
    configuration's results, or when no dataset could be run; ImportError when a dataset named in
    ``config.datasets`` needs an optional package that is missing.
    """
    import pandas as pd

    from .report import write_report
    from .summary import summarise

    if config is None:
        config = BenchConfig()
    elif not isinstance(config, BenchConfig):
        raise TypeError(f"The 'config' parameter of run_bench must be a BenchConfig or None. Got "
                        f"{config!r:.60} ({type(config).__name__}) instead; build one with "
                        f"BenchConfig(datasets=..., quick=...).")
    if progress is not None and not callable(progress):
        raise TypeError(f"The 'progress' parameter of run_bench must be callable or None. Got "
                        f"{type(progress).__name__} instead.")
    cfg = config
    out = _args.check_dir(out_dir, "out_dir", "run_bench")
    if cfg.cache_dir is not None:
        _args.check_dir(cfg.cache_dir, "cache_dir", "run_bench")
    jobs = plan_jobs(cfg)
    out.mkdir(parents=True, exist_ok=True)
    remove_orphans(out)  # half-written files of a killed earlier run
    _check_settings(out, cfg, jobs)
    workers = _workers(cfg.n_jobs)
    t0 = time.perf_counter()
    rows, skipped = [], []
    named = set(cfg.datasets or ())
    for job in jobs:
        # A dataset the user named is run or fails loudly (ImportError saying what to install);
        # a default one whose optional package is missing is skipped with a log line.
        if not (job.sweep == "" and job.dataset in named) and dsets.missing_packages(job.dataset):
            try:
                dsets.load(job.dataset, quick=cfg.quick, cache_dir=cfg.cache_dir, seed=cfg.seed)
            except ImportError as exc:
                logger.warning("skipping %s: %s", job.name, exc)
                skipped.append((job.name, str(exc)))
                continue
        rows += run_job(job, out, cfg, progress, workers)
    if not rows:
        raise ValueError(
            "No dataset could be run: " + "; ".join(f"{n}: {why}" for n, why in skipped)
            + ". Install the missing packages, or name datasets that need none (e.g. "
              "breast_cancer, synthetic).")
    df = pd.DataFrame(rows)
    for c in ("set_id", "size"):
        df[c] = df[c].astype(int)
    for c in ("predicted", "predicted_plugin", "actual", "seconds", "retrain_seconds",
              "set_mean_leverage", "set_leverage"):
        df[c] = df[c].astype(float)
    cols = list(COLUMNS) + [c for c in df.columns if c not in COLUMNS]
    df = df[cols]
    atomic_write_text(out / "results.csv", df.to_csv(index=False))
    summary = summarise(df)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    seconds = time.perf_counter() - t0
    config = json.loads(json.dumps(asdict(cfg), default=str))
    total = seconds
    try:  # a resumed run: add the time of the earlier invocations
        previous = json.loads((out / "meta.json").read_text(encoding="utf-8"))
        if previous.get("config") == config:
            total += float(previous.get("seconds_total", previous.get("seconds", 0.0)))
    except (OSError, ValueError, TypeError, AttributeError):
        pass  # no (readable) meta.json: this invocation's time only
    meta = {"config": config, "seconds": seconds, "seconds_total": total,
            "skipped": skipped, "leaveout": leaveout.__version__,
            "numpy": np.__version__, "python": platform.python_version(),
            "machine": f"{platform.machine()}, {_cpu_count()} CPU cores, {platform.system()}"}
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2, default=str))
    write_report(out, df, summary, meta)
    return df


def _cpu_count():
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
