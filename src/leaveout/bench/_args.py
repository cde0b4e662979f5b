"""Argument checks of the benchmark's entry points (:class:`~leaveout.bench.runner.BenchConfig`,
:func:`~leaveout.bench.runner.run_bench`, :func:`~leaveout.bench.poisoning.run_poisoning`).

Each check raises a ``TypeError`` (wrong type) or ``ValueError`` (wrong value) in scikit-learn's
format, "The 'seed' parameter of BenchConfig must be an int in [0, 2**63). Got -1 instead.",
followed by how to fix it where that is not obvious, before any work starts.
"""

from __future__ import annotations

import logging
import numbers
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: Exclusive upper bound of seeds (NumPy's SeedSequence takes any int >= 0; 2**63 keeps cache
#: file names and JSON records sane).
SEED_LIMIT = 2**63


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_int(value, name: str, where: str, *, low: int, high: int | None = None) -> int:
    """An int (Python or NumPy, not a bool) in ``[low, high)``, returned as a Python int."""
    bounds = f"[{low}, {'inf' if high is None else ('2**63' if high == SEED_LIMIT else high)})"
    if not _is_int(value):
        raise TypeError(f"The {name!r} parameter of {where} must be an int in {bounds}. "
                        f"Got {_show(value)} ({type(value).__name__}) instead.")
    v = int(value)
    if v < low or (high is not None and v >= high):
        raise ValueError(f"The {name!r} parameter of {where} must be an int in {bounds}. "
                         f"Got {_show(value)} instead.")
    return v


def check_seed(value, where: str) -> int:
    return check_int(value, "seed", where, low=0, high=SEED_LIMIT)


def check_bool(value, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"The {name!r} parameter of {where} must be a bool (True or False). "
                        f"Got {_show(value)} ({type(value).__name__}) instead.")
    return bool(value)


def check_names(value, name: str, where: str, valid, *, unknown_label: str | None = None) -> tuple:
    """A non-empty tuple of names from ``valid``; a bare str is one name; duplicates dropped
    (keeping the first, with a logged warning)."""
    if isinstance(value, str):
        value = (value,)
    if isinstance(value, (bytes, dict)) or not hasattr(value, "__iter__"):
        raise TypeError(f"The {name!r} parameter of {where} must be a tuple of names. "
                        f"Got {_show(value)} ({type(value).__name__}) instead; pass a tuple, "
                        f"e.g. ({next(iter(valid))!r},).")
    items = tuple(value)
    if not items:
        raise ValueError(f"The {name!r} parameter of {where} is empty; name at least one of: "
                         f"{', '.join(valid)}.")
    wrong = [v for v in items if not isinstance(v, str)]
    if wrong:
        raise TypeError(f"The {name!r} parameter of {where} must hold names (str). "
                        f"Got {_show(wrong[0])} ({type(wrong[0]).__name__}).")
    unknown = [v for v in items if v not in valid]
    if unknown:
        raise ValueError(f"Unknown {unknown_label or name} {unknown}; valid: {', '.join(valid)}.")
    return dedupe(items, name, where)


def dedupe(items, name: str, where: str, key=lambda v: v) -> tuple:
    """``items`` without repeats (by ``key``), in order; logs a warning when some were dropped."""
    seen, out = set(), []
    for v in items:
        k = key(v)
        if k not in seen:
            seen.add(k)
            out.append(v)
    if len(out) < len(items):
        twice = sorted({key(v) for v in items if [key(w) for w in items].count(key(v)) > 1})
        logger.warning("%s: %s names %s more than once; each is run once", where, name,
                       ", ".join(map(str, twice)))
    return tuple(out)


def check_fractions(value, where: str, *, high: float) -> tuple[float, ...]:
    msg = (f"The 'fractions' parameter of {where} must be a non-empty tuple of floats in "
           f"(0, {high:g}] (the sizes of the removal sets as fractions of n)")
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{msg}. Got {_show(value)} ({type(value).__name__}) instead; pass a "
                        f"tuple, e.g. (0.01, 0.05).")
    items = tuple(value)
    if not items:
        raise ValueError(f"{msg}. Got an empty {type(value).__name__} instead.")
    for f in items:
        if not _is_real(f):
            raise TypeError(f"{msg}. Got {_show(f)} ({type(f).__name__}) in it.")
    bad = [f for f in items if not 0 < float(f) <= high]
    if bad:
        why = (f" (removing more than {high:g} of the rows is not a small perturbation, and the "
               f"refit may have no finite optimum)" if float(bad[0]) > high else "")
        raise ValueError(f"{msg}. Got {_show(bad[0])} in it{why}.")
    return tuple(float(f) for f in items)


def check_positive(value, name: str, where: str) -> float:
    """A real number > 0 (inf allowed)."""
    if not _is_real(value):
        raise TypeError(f"The {name!r} parameter of {where} must be a positive number. "
                        f"Got {_show(value)} ({type(value).__name__}) instead.")
    v = float(value)
    if not v > 0:
        raise ValueError(f"The {name!r} parameter of {where} must be a positive number. "
                         f"Got {_show(value)} instead.")
    return v


def _as_path_text(value, name: str, where: str) -> str:
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if isinstance(text, str):
            if not text:
                raise ValueError(f"The {name!r} parameter of {where} is an empty path; "
                                 f"name a directory.")
            return text
    raise TypeError(f"The {name!r} parameter of {where} must be a directory path (str or "
                    f"os.PathLike). Got {_show(value)} ({type(value).__name__}) instead.")


def check_dir(value, name: str, where: str) -> Path:
    """A path (str or PathLike) that is a directory or can become one: neither it nor its
    nearest existing ancestor may be a file."""
    path = Path(_as_path_text(value, name, where))
    p = path
    while not p.exists() and p.parent != p:
        p = p.parent
    if p.exists() and not p.is_dir():
        what = "is a file" if p == path else f"is inside {p}, which is a file"
        raise ValueError(f"The {name!r} parameter of {where} must be a directory, but "
                         f"{str(path)!r} {what}; choose another directory.")
    return path


def check_cache_dir(value, where: str) -> str | None:
    """None (the default cache) or a directory path, returned as a str."""
    if value is None:
        return None
    return str(check_dir(value, "cache_dir", where))

