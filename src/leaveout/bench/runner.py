"""The accuracy study of DESIGN.md §7: removal sets, estimators against retraining, auditable output.

Output directory layout::

    DIR/results.csv          one row per (dataset, set, method, target)
    DIR/summary.csv          per dataset × method × target: ratios, errors, correlations
    DIR/data/<dataset>.npz   the exact design: X (or X_data/X_indices/X_indptr/X_shape), y,
                             X_test, y_test, l2, fit_intercept, family
    DIR/sets/<dataset>.npz   the removed rows of each set, keyed by str(set_id)
    DIR/sets/<dataset>.json  each set's strategy, size and repeat
    DIR/parts/<dataset>/     one CSV per finished set (the checkpoint; a rerun skips them)
    DIR/fig_*.png, DIR/results.md, DIR/meta.json

Definitions (also in results.md): targets ``test_loss`` = Σ_test ℓ(η, y) and ``test_prediction``
= Σ_test η (sum of linear predictors); ``predicted`` = ∇f(θ̂)·Δθ_method (first order, Δθ from
``if``/``rif``/``newton``); ``actual`` = f(θ̂₋T) − f(θ̂) from the exact warm-started refit.
Uses the public API of leaveout only.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import leaveout
from leaveout import targets

from . import datasets as dsets
from .._atomic import remove_orphans
from ._io import atomic_savez, atomic_write_csv, atomic_write_text, read_csv_rows
from .strategies import RANDOMISED, STRATEGIES, Scores, pick, sizes_for

logger = logging.getLogger(__name__)

COLUMNS = ("dataset", "strategy", "set_id", "size", "method", "target", "predicted", "actual",
           "seconds", "retrain_seconds", "set_mean_leverage")
METHODS = ("if", "rif", "newton")
TARGETS = ("test_loss", "test_prediction")

#: Real datasets of the default run (those whose packages are missing are skipped with a log).
DEFAULT_DATASETS = ("breast_cancer", "digits_3v8", "mnist_4v9", "pd_speech", "grants",
                    "fine_food_minilm", "fine_food_tfidf", "bikeshare")
QUICK_DATASETS = ("breast_cancer", "pd_speech", "mnist_4v9")
P_OVER_N_SWEEP = ("synthetic_p0.1", "synthetic_p0.3", "synthetic_p0.6", "synthetic_p1.5")
L2_SWEEP = ("synthetic_p0.6", (0.1, 1.0, 10.0, 100.0))


@dataclass(frozen=True)
class Job:
    """One fit of the study: a dataset, possibly with its penalty overridden."""

    name: str
    dataset: str
    l2: float | None = None
    sweep: str = ""  # "", "p_over_n" or "l2"


@dataclass(frozen=True)
class BenchConfig:
    """Settings of a benchmark run (saved to meta.json next to the results).

    datasets : dataset names (None: the defaults, or the quick defaults with ``quick``)
    quick : small data, two set sizes, one repeat (a few minutes on 2 cores)
    fractions : set sizes as fractions of n (DESIGN.md §7: 0.1 %–5 %)
    repeats : sets per size for the randomised strategies
    sweeps : add the synthetic p/n and λ sweeps
    strategies : which removal strategies
    n_jobs : processes for retraining (joblib); 1 runs in-process
    heavy_flops : n·p² above which a dataset runs only two sizes and one repeat
    """

    datasets: tuple[str, ...] | None = None
    quick: bool = False
    fractions: tuple[float, ...] = (0.001, 0.005, 0.01, 0.02, 0.05)
    repeats: int = 3
    sweeps: bool = True
    strategies: tuple[str, ...] = STRATEGIES
    n_jobs: int = 1
    seed: int = 0
    cache_dir: str | None = None
    heavy_flops: float = 2e10

    def __post_init__(self):
        bad = [s for s in self.strategies if s not in STRATEGIES]
        if bad:
            raise ValueError(f"Unknown strategies {bad}; valid: {', '.join(STRATEGIES)}.")
        if self.datasets is not None:
            names = dsets.available()
            unknown = [d for d in self.datasets if d not in names]
            if unknown:
                raise ValueError(f"Unknown datasets {unknown}; valid: {', '.join(names)}.")
        if not self.fractions or any(not 0 < f < 1 for f in self.fractions):
            raise ValueError("fractions must be non-empty, each in (0, 1).")
        if self.repeats < 1 or self.n_jobs == 0:
            raise ValueError("repeats must be >= 1 and n_jobs != 0.")


def plan_jobs(cfg: BenchConfig) -> list[Job]:
    names = cfg.datasets if cfg.datasets is not None else (
        QUICK_DATASETS if cfg.quick else DEFAULT_DATASETS)
    jobs = [Job(n, n) for n in names]
    if cfg.sweeps:
        jobs += [Job(n, n, sweep="p_over_n") for n in P_OVER_N_SWEEP]
        base, l2s = L2_SWEEP
        jobs += [Job(f"{base}_l2={l2:g}", base, l2=l2, sweep="l2") for l2 in l2s]
    return jobs


def _dense(A):
    return A.toarray() if hasattr(A, "toarray") else np.asarray(A)


def _design_arrays(ds, l2) -> dict:
    out = dict(y=ds.y, y_test=ds.y_test, l2=np.float64(l2),
               fit_intercept=np.bool_(ds.fit_intercept), family=np.str_(ds.family))
    for key, A in (("X", ds.X), ("X_test", ds.X_test)):
        if hasattr(A, "tocsr"):
            A = A.tocsr()
            out.update({f"{key}_data": A.data, f"{key}_indices": A.indices,
                        f"{key}_indptr": A.indptr, f"{key}_shape": np.array(A.shape)})
        else:
            out[key] = A
    return out


def _plan_sets(job: Job, cfg: BenchConfig, X, scores: Scores, heavy: bool):
    n = X.shape[0]
    fractions = cfg.fractions
    repeats = cfg.repeats
    if cfg.quick or heavy:
        fractions = (0.01, 0.05)
        repeats = 1
    rng = np.random.default_rng([cfg.seed, sum(map(ord, job.name))])
    plan, sets = [], []
    for k in sizes_for(n, fractions):
        for strategy in cfg.strategies:
            for rep in range(repeats if strategy in RANDOMISED else 1):
                T = pick(strategy, k, X, scores, rng)
                plan.append({"set_id": len(sets), "strategy": strategy, "size": int(k),
                             "repeat": rep})
                sets.append(T.astype(np.int64))
    return plan, sets


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
    """First-order predictions of each method for one set: {(method, target): (value, s)}."""
    out = {}
    for m in METHODS:
        for name, tgt in zip(TARGETS, (t_loss, t_pred)):
            t0 = time.perf_counter()
            out[(m, name)] = (float(att.effects(m, remove=T, target=tgt)),
                              time.perf_counter() - t0)
    return out


def run_job(job: Job, out: Path, cfg: BenchConfig, progress=None) -> list[dict]:
    """Run (or resume) one dataset of the study; return its result rows."""
    ds = dsets.load(job.dataset, quick=cfg.quick, cache_dir=cfg.cache_dir, seed=cfg.seed)
    l2 = ds.l2 if job.l2 is None else float(job.l2)
    X, Xt = _dense(ds.X), _dense(ds.X_test)
    data_path = out / "data" / f"{job.name}.npz"
    if not data_path.exists():
        atomic_savez(data_path, **_design_arrays(ds, l2))
    t0 = time.perf_counter()
    model = leaveout.fit(X, ds.y, family=ds.family, l2=l2, fit_intercept=ds.fit_intercept)
    att = leaveout.Attributor(model, X, ds.y)
    h = att.leverage
    fit_seconds = time.perf_counter() - t0
    t_loss = targets.loss(Xt, ds.y_test, reduce="sum")
    t_pred = targets.linear_predictor(Xt, reduce="sum")

    sets_path, plan_path = out / "sets" / f"{job.name}.npz", out / "sets" / f"{job.name}.json"
    if sets_path.exists() and plan_path.exists():
        plan = json.loads(plan_path.read_text())
        with np.load(sets_path) as z:
            sets = [z[str(p["set_id"])] for p in plan]
    else:
        scores = Scores(model.loss(X, ds.y), att.effects("if", target=t_loss),
                        att.effects("if", target=t_pred))
        heavy = X.shape[0] * (X.shape[1] + 1) ** 2 > cfg.heavy_flops
        plan, sets = _plan_sets(job, cfg, X, scores, heavy)
        atomic_savez(sets_path, **{str(p["set_id"]): s for p, s in zip(plan, sets)})
        atomic_write_text(plan_path, json.dumps(plan))

    parts = out / "parts" / job.name
    parts.mkdir(parents=True, exist_ok=True)
    pending = [p for p in plan if not (parts / f"{p['set_id']}.csv").exists()]
    logger.info("%s: n=%d p=%d l2=%g, fit+factor %.2fs, %d sets (%d to do)", job.name,
                X.shape[0], X.shape[1], l2, fit_seconds, len(plan), len(pending))
    by_id = {p["set_id"]: p for p in plan}

    def finish(set_id, act_loss, act_pred, retrain_s):
        T = sets[set_id]
        pred = _predict(att, T, t_loss, t_pred)
        meta = by_id[set_id]
        rows = []
        for (m, tgt), (val, dt) in pred.items():
            act = act_loss if tgt == "test_loss" else act_pred
            rows.append((job.name, meta["strategy"], set_id, meta["size"], m, tgt, repr(val),
                         repr(act), f"{dt:.6g}", f"{retrain_s:.6g}", f"{h[T].mean():.6g}"))
        atomic_write_csv(parts / f"{set_id}.csv", COLUMNS, rows)

    payload = (X, ds.y, Xt, ds.y_test, ds.family, l2, ds.fit_intercept, att.params_)
    todo = [(p["set_id"], sets[p["set_id"]]) for p in pending]
    done = len(plan) - len(pending)
    for set_id, al, ap, dt in _retrain_all(att, (t_loss, t_pred), payload, todo,
                                               cfg.n_jobs):
        finish(set_id, al, ap, dt)
        done += 1
        if progress is not None:
            progress(job.name, done, len(plan))
        if done % max(1, len(plan) // 10) == 0 or done == len(plan):
            logger.info("%s: %d/%d sets retrained", job.name, done, len(plan))

    rows = []
    for p in plan:
        rows += read_csv_rows(parts / f"{p['set_id']}.csv")
    for r in rows:
        r.update(p_over_n=X.shape[1] / X.shape[0], l2=l2, sweep=job.sweep,
                 mean_leverage=float(h.mean()), family=ds.family)
    return rows


def _retrain_all(att, tgts, payload, todo, n_jobs):
    """Yield (set_id, Δ test loss, Δ test prediction, seconds) as refits finish."""
    if not todo:
        return
    if n_jobs == 1:
        yield from _exact_changes(att, *tgts, todo)
        return
    from joblib import Parallel, delayed

    size = max(1, min(8, len(todo) // (4 * abs(n_jobs)) or 1))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    par = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
    for res in par(delayed(_retrain_chunk)(payload, c) for c in chunks):
        yield from res


def run_bench(out_dir, config: BenchConfig | None = None, *, progress=None):
    """Run (or resume) the accuracy study; write results, summary, figures and results.md.

    Returns the results as a pandas DataFrame.
    """
    import pandas as pd

    from .report import write_report
    from .summary import summarise

    cfg = config or BenchConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_orphans(out)  # half-written files of a killed earlier run
    t0 = time.perf_counter()
    rows, skipped = [], []
    for job in plan_jobs(cfg):
        missing = dsets.missing_packages(job.dataset)
        if missing:
            try:
                dsets.load(job.dataset, quick=cfg.quick, cache_dir=cfg.cache_dir, seed=cfg.seed)
            except ImportError as exc:
                logger.warning("skipping %s: %s", job.name, exc)
                skipped.append((job.name, str(exc)))
                continue
        rows += run_job(job, out, cfg, progress)
    df = pd.DataFrame(rows)
    for c in ("set_id", "size"):
        df[c] = df[c].astype(int)
    for c in ("predicted", "actual", "seconds", "retrain_seconds", "set_mean_leverage"):
        df[c] = df[c].astype(float)
    cols = list(COLUMNS) + [c for c in df.columns if c not in COLUMNS]
    df = df[cols]
    atomic_write_text(out / "results.csv", df.to_csv(index=False))
    summary = summarise(df)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    seconds = time.perf_counter() - t0
    config = json.loads(json.dumps(asdict(cfg), default=str))
    total = seconds
    if (out / "meta.json").exists():  # a resumed run: add the time of the earlier invocations
        previous = json.loads((out / "meta.json").read_text())
        if previous.get("config") == config:
            total += float(previous.get("seconds_total", previous.get("seconds", 0.0)))
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
