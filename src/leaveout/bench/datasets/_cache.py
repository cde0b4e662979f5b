"""The on-disk cache of loaded datasets.

A dataset is stored as ``<cache_dir>/datasets/<name>-<quick|full>-seed<seed>-v<version>.<format>.npz``,
written atomically and read back as a :class:`Dataset` (None when missing, damaged or stale).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._io import atomic_write_with
from ._dataset import Dataset, DatasetSpec

#: Bumped when the on-disk layout changes (each spec has its own recipe version too).
_CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    env = os.environ.get("LEAVEOUT_CACHE")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/leaveout").expanduser()


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _dataset_cache_path(root: Path, spec: DatasetSpec, quick: bool, seed: int) -> Path:
    tag = "quick" if quick else "full"
    if spec.own_split and not quick:
        seed = 0  # the full version does not depend on the seed
    return root / "datasets" / f"{spec.name}-{tag}-seed{seed}-v{spec.version}.{_CACHE_FORMAT}.npz"


def _save_dataset(path: Path, ds: Dataset) -> None:
    arrays: dict[str, np.ndarray] = {"y": ds.y, "y_test": ds.y_test}
    for nm in ("X", "X_test"):
        a = getattr(ds, nm)
        if sp.issparse(a):
            arrays[nm + "__data"] = a.data
            arrays[nm + "__indices"] = a.indices
            arrays[nm + "__indptr"] = a.indptr
            arrays[nm + "__shape"] = np.asarray(a.shape, dtype=np.int64)
        else:
            arrays[nm] = a
    if ds.feature_names is not None:
        arrays["feature_names"] = np.asarray(ds.feature_names, dtype=str)
    meta = {"name": ds.name, "family": ds.family, "l2": ds.l2,
            "fit_intercept": ds.fit_intercept, "description": ds.description}
    arrays["meta"] = np.asarray(json.dumps(meta))
    atomic_write_with(path, lambda fh: np.savez_compressed(fh, **arrays))


def _read_dataset(path: Path, spec: DatasetSpec) -> Dataset | None:
    """The cached dataset at ``path``, or None when it is missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))

            def mat(nm: str) -> Any:
                if nm in z.files:
                    return np.ascontiguousarray(z[nm])
                shape = tuple(int(s) for s in z[nm + "__shape"])
                parts = (z[nm + "__data"], z[nm + "__indices"], z[nm + "__indptr"])
                return sp.csr_matrix(parts, shape=shape)

            names = tuple(str(s) for s in z["feature_names"]) if "feature_names" in z.files else None
            ds = Dataset(
                name=meta["name"], X=mat("X"), y=z["y"], X_test=mat("X_test"), y_test=z["y_test"],
                family=meta["family"], l2=float(meta["l2"]), fit_intercept=bool(meta["fit_intercept"]),
                description=meta["description"], feature_names=names,
            )
    except Exception:  # a truncated or foreign file: rebuild it
        return None
    # l2 and the intercept are not preprocessing, but they are stored: a file written before the
    # registry changed them is stale
    if (ds.name, ds.family, ds.l2, ds.fit_intercept) != (
        spec.name, spec.family, float(spec.l2), spec.fit_intercept
    ):
        return None
    return ds
