"""What a resumed run of the accuracy study may reuse: the checkpoint's record and its files.

Checkpoints: ``sets/<dataset>.json`` records everything that dataset's sets and results depend on
(:data:`~leaveout.bench.config.RECIPE_VERSION`, seed, quick, fractions, repeats, strategies, the
dataset's recipe version, its penalty and a hash of its design). A rerun into the same directory
reuses the finished sets only when that record equals the current one; otherwise it stops with an
error before computing anything ("DIR holds results of another configuration (seed 0 vs 1); ..."),
so ``results.csv`` never mixes two configurations. Every part is validated when read (header, one
row per method and target, the set it belongs to, finite numbers); a damaged part is recomputed,
and damaged ``sets/``/``data/`` files are rebuilt (the sets are a deterministic function of the
record). A checkpoint written before the record existed is reused only if its design and sets
equal the ones this configuration gives.

The output directory's layout is in :mod:`leaveout.bench.runner`, which decides what to do with
the states read here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import datasets as dsets
from .config import COLUMNS, METHODS, RECIPE_VERSION, TARGETS, BenchConfig, Job


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


_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)
_FLOAT_COLUMNS = ("predicted", "predicted_plugin", "actual", "seconds", "retrain_seconds",
                  "set_mean_leverage", "set_leverage")
_PAIRS = frozenset((m, t) for m in METHODS for t in TARGETS)


def _run_record(cfg: BenchConfig) -> dict:
    """The settings shared by every dataset of a run that its sets and results depend on."""
    return {"recipe": RECIPE_VERSION, "seed": cfg.seed, "quick": cfg.quick,
            "fractions": None if cfg.quick else list(cfg.fractions),
            "repeats": None if cfg.quick else cfg.repeats, "strategies": list(cfg.strategies)}


def _design_hash(design: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(design):
        a = np.ascontiguousarray(design[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _record(job: Job, cfg: BenchConfig, l2: float, heavy: bool, design: dict) -> dict:
    """Everything one dataset's sets and results depend on (stored in ``sets/<job>.json``)."""
    return {**_run_record(cfg), "dataset": job.dataset,
            "dataset_version": dsets.DATASETS[job.dataset].version, "l2": float(l2),
            "heavy": None if cfg.quick else bool(heavy), "design": _design_hash(design)}


def _show(v) -> str:
    return repr(tuple(v)) if isinstance(v, list) else repr(v)


def _mismatch(out: Path, job: Job, old: dict, new: dict) -> ValueError:
    diffs = []
    for key in dict.fromkeys([*new, *old]):
        if old.get(key) == new.get(key):
            continue
        if key in ("fractions", "repeats", "heavy") and old.get("quick") != new.get("quick"):
            continue  # implied by quick
        if key == "design":
            diffs.append(f"the data of {job.dataset} differ")
        else:
            diffs.append(f"{key} {_show(old.get(key))} vs {_show(new.get(key))}")
    return ValueError(
        f"{out} holds results of another configuration ({'; '.join(diffs)}; recorded in "
        f"sets/{job.name}.json); use a new output directory (--out) or delete {out}.")


def _read_plan(path: Path):
    """('missing' | 'damaged' | 'legacy' | 'ok', record, plan) of ``sets/<job>.json``."""
    if not path.exists():
        return "missing", None, None
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "damaged", None, None
    if isinstance(obj, list):  # written before the configuration was recorded
        return "legacy", None, obj
    if isinstance(obj, dict) and isinstance(obj.get("config"), dict) \
            and isinstance(obj.get("sets"), list):
        return "ok", obj["config"], obj["sets"]
    return "damaged", None, None


def _check_settings(out: Path, cfg: BenchConfig, jobs) -> None:
    """Refuse, before any work, a directory whose checkpoints have other run settings."""
    now = _run_record(cfg)
    for job in jobs:
        state, rec, _ = _read_plan(out / "sets" / f"{job.name}.json")
        if state == "ok":
            old = {k: rec.get(k) for k in now}
            if old != now:
                raise _mismatch(out, job, old, now)


def _data_file_state(path: Path, design: dict) -> str:
    """'ok', 'missing', 'damaged' (unreadable) or 'different' (another design)."""
    if not path.exists():
        return "missing"
    try:
        with np.load(path, allow_pickle=False) as z:
            if set(z.files) != set(design):
                return "different"
            for key, value in design.items():
                a = z[key]
                if a.shape != np.shape(value) or not np.array_equal(a, value):
                    return "different"
    except _READ_ERRORS:
        return "damaged"
    return "ok"


def _read_sets(path: Path, plan: list[dict], n: int):
    """The sets of ``plan`` from ``sets/<job>.npz``, or None when the file is missing or damaged."""
    try:
        with np.load(path, allow_pickle=False) as z:
            sets = [z[str(p["set_id"])] for p in plan]
    except _READ_ERRORS:
        return None
    for p, T in zip(plan, sets):
        if (T.ndim != 1 or T.dtype.kind not in "iu" or T.size != p["size"] or T.size == 0
                or T[0] < 0 or T[-1] >= n or np.any(np.diff(T) <= 0)):
            return None
    return [T.astype(np.int64) for T in sets]


def _read_part(path: Path, job_name: str, meta: dict, leverage: float):
    """(rows, "") of one finished set's part file, or (None, why) when it is damaged."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            table = list(csv.reader(fh))
    except (OSError, ValueError, csv.Error) as exc:
        return None, f"unreadable: {exc}"
    if not table or table[0] != list(COLUMNS):
        return None, "not the expected header"
    body = table[1:]
    if len(body) != len(_PAIRS):
        return None, f"{len(body)} rows instead of {len(_PAIRS)}"
    rows = []
    for r in body:
        if len(r) != len(COLUMNS):
            return None, "a row with a wrong number of fields"
        d = dict(zip(COLUMNS, r))
        if (d["dataset"], d["strategy"], d["set_id"], d["size"]) != (
                job_name, meta["strategy"], str(meta["set_id"]), str(meta["size"])):
            return None, "rows of another set"
        try:
            values = {c: float(d[c]) for c in _FLOAT_COLUMNS}
        except ValueError:
            return None, "a non-numeric value"
        if not all(map(math.isfinite, values.values())) or values["seconds"] < 0 \
                or values["retrain_seconds"] < 0:
            return None, "a non-finite or negative value"
        if not math.isclose(values["set_mean_leverage"], leverage, rel_tol=1e-4, abs_tol=1e-12):
            return None, "the mean leverage of another set"
        rows.append(d)
    if {(d["method"], d["target"]) for d in rows} != _PAIRS:
        return None, "missing or repeated method/target rows"
    return rows, ""
