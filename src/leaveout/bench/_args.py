"""Argument checks of the benchmark's entry points (:class:`~leaveout.bench.runner.BenchConfig`,
:func:`~leaveout.bench.runner.run_bench`, :func:`~leaveout.bench.poisoning.run_poisoning`) and of
the dataset registry (:func:`~leaveout.bench.datasets.load`,
:func:`~leaveout.bench.datasets.synthetic_gaussian`).

Each check raises a ``TypeError`` (wrong type) or ``ValueError`` (wrong value) in scikit-learn's
format, "The 'n' parameter of synthetic_gaussian must be an int in [1, 2**63). Got 1.5 (float)
instead.", followed by how to fix it where that is not obvious, before any work starts. They run
before any NumPy call, so a user mistake never surfaces as an error or a RuntimeWarning from
inside NumPy.

A leaf module: it imports nothing from :mod:`leaveout.bench`, so every part of the benchmark
(the dataset registry included) may import it.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: Exclusive upper bound of seeds and of the sizes n, p and n_test (NumPy's index range; it also
#: keeps cache file names and JSON records sane).
INT_LIMIT = 2**63

#: What ``cache_dir=None`` means, for the messages of :func:`check_cache_dir`.
_DEFAULT_CACHE = "the default cache directory ($LEAVEOUT_CACHE or ~/.cache/leaveout)"


def _type_name(value) -> str:
    return type(value).__name__


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _show(value) -> str:
    """A short text for a value the user passed (huge ints in scientific notation)."""
    if _is_int(value):
        v = int(value)
        if abs(v) < 10**30:
            return str(v)
        e = len(str(abs(v))) - 1
        return f"{'-' if v < 0 else ''}{int(str(abs(v))[:3]) / 100:g}e+{e}"
    if _is_real(value):
        try:
            return repr(float(value))
        except OverflowError:
            pass
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _as_float(value) -> float:
    """``float(value)`` of a real number, with a Python int beyond 1.8e308 as +-inf."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def check_int(value, name: str, where: str, *, low: int = 1,
              high: int | None = INT_LIMIT) -> int:
    """An integer (Python or NumPy, not a bool) in ``[low, high)`` (``high=None``: no upper
    bound), returned as a Python int."""
    bounds = f"[{low}, {'inf' if high is None else ('2**63' if high == INT_LIMIT else high)})"
    if not _is_int(value):
        hint = ""
        if _is_real(value):
            hint = " Pass a whole number (an int), e.g. int(round(x)), rather than a float."
        elif isinstance(value, str):
            hint = " Pass a number, e.g. int(s), rather than a string."
        raise TypeError(
            f"The {name!r} parameter of {where} must be an int in {bounds}. "
            f"Got {_show(value)} ({_type_name(value)}) instead.{hint}"
        )
    v = int(value)
    if v < low or (high is not None and v >= high):
        raise ValueError(
            f"The {name!r} parameter of {where} must be an int in {bounds}. "
            f"Got {_show(value)} instead."
        )
    return v


def check_seed(value, where: str) -> int:
    """A seed for ``np.random.default_rng``: an int in ``[0, 2**63)``."""
    return check_int(value, "seed", where, low=0, high=INT_LIMIT)


def check_float(value, name: str, where: str, *, low: float = -math.inf,
                high: float = math.inf) -> float:
    """A finite real number (Python or NumPy, not a bool) in ``[low, high]``, as a float."""
    lo = "(-inf" if low == -math.inf else f"[{low:g}"
    hi = "inf)" if high == math.inf else f"{high:g}]"
    bounds = f"a finite float in {lo}, {hi}"
    if not _is_real(value):
        hint = ""
        if isinstance(value, str):
            hint = " Pass a number, e.g. float(s), rather than a string."
        raise TypeError(
            f"The {name!r} parameter of {where} must be {bounds}. "
            f"Got {_show(value)} ({_type_name(value)}) instead.{hint}"
        )
    f = _as_float(value)
    if not (math.isfinite(f) and low <= f <= high):
        raise ValueError(
            f"The {name!r} parameter of {where} must be {bounds}. Got {_show(value)} instead."
        )
    return f


def check_positive(value, name: str, where: str) -> float:
    """A real number > 0 (inf allowed)."""
    if not _is_real(value):
        raise TypeError(f"The {name!r} parameter of {where} must be a positive number. "
                        f"Got {_show(value)} ({_type_name(value)}) instead.")
    v = _as_float(value)
    if not v > 0:
        raise ValueError(f"The {name!r} parameter of {where} must be a positive number. "
                         f"Got {_show(value)} instead.")
    return v


def check_bool(value, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"The {name!r} parameter of {where} must be a bool (True or False). "
                        f"Got {_show(value)} ({_type_name(value)}) instead.")
    return bool(value)


def check_names(value, name: str, where: str, valid, *, unknown_label: str | None = None) -> tuple:
    """A non-empty tuple of names from ``valid``; a bare str is one name; duplicates dropped
    (keeping the first, with a logged warning)."""
    if isinstance(value, str):
        value = (value,)
    if isinstance(value, (bytes, dict)) or not hasattr(value, "__iter__"):
        raise TypeError(f"The {name!r} parameter of {where} must be a tuple of names. "
                        f"Got {_show(value)} ({_type_name(value)}) instead; pass a tuple, "
                        f"e.g. ({next(iter(valid))!r},).")
    items = tuple(value)
    if not items:
        raise ValueError(f"The {name!r} parameter of {where} is empty; name at least one of: "
                         f"{', '.join(valid)}.")
    wrong = [v for v in items if not isinstance(v, str)]
    if wrong:
        raise TypeError(f"The {name!r} parameter of {where} must hold names (str). "
                        f"Got {_show(wrong[0])} ({_type_name(wrong[0])}).")
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
        raise TypeError(f"{msg}. Got {_show(value)} ({_type_name(value)}) instead; pass a "
                        f"tuple, e.g. (0.01, 0.05).")
    items = tuple(value)
    if not items:
        raise ValueError(f"{msg}. Got an empty {_type_name(value)} instead.")
    for f in items:
        if not _is_real(f):
            raise TypeError(f"{msg}. Got {_show(f)} ({_type_name(f)}) in it.")
    bad = [f for f in items if not 0 < _as_float(f) <= high]
    if bad:
        why = (f" (removing more than {high:g} of the rows is not a small perturbation, and the "
               f"refit may have no finite optimum)" if _as_float(bad[0]) > high else "")
        raise ValueError(f"{msg}. Got {_show(bad[0])} in it{why}.")
    return tuple(float(f) for f in items)


def _path_text(value, name: str, where: str, *, none_means: str | None = None) -> str:
    """The text of a directory path: a non-empty str or ``os.PathLike``. ``none_means`` (what
    None stands for) is given where the parameter may also be None, for the messages."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str):
        what = ("None, a str or an os.PathLike (e.g. pathlib.Path) naming a directory"
                if none_means else "a directory path (str or os.PathLike)")
        raise TypeError(f"The {name!r} parameter of {where} must be {what}. "
                        f"Got {_show(value)} ({_type_name(value)}) instead.")
    if not text:
        fix = f"None for {none_means}, or '.'" if none_means else "'.'"
        raise ValueError(f"The {name!r} parameter of {where} must name a directory; got an "
                         f"empty path. Pass {fix} for the current directory.")
    return text


def check_dir(value, name: str, where: str, *, none_means: str | None = None) -> Path:
    """A path (str or PathLike) that is a directory or can become one: neither it nor its
    nearest existing ancestor may be a file."""
    path = Path(_path_text(value, name, where, none_means=none_means))
    p = path
    while not p.exists() and p.parent != p:
        p = p.parent
    if p.exists() and not p.is_dir():
        what = "is a file" if p == path else f"is inside {p}, which is a file"
        raise ValueError(f"The {name!r} parameter of {where} must be a directory, but "
                         f"{str(path)!r} {what}; choose another directory.")
    return path


def check_cache_dir(value, where: str, *, usable: bool = False) -> str | None:
    """None (the default cache) or a non-empty directory path, returned as a str.

    ``usable=True`` also refuses a path that is a file or lies inside one (:func:`check_dir`);
    without it, only the type and emptiness are checked (:class:`BenchConfig` and :func:`load`;
    ``run_bench`` checks the rest before it starts).
    """
    if value is None:
        return None
    if usable:
        return str(check_dir(value, "cache_dir", where, none_means=_DEFAULT_CACHE))
    return _path_text(value, "cache_dir", where, none_means=_DEFAULT_CACHE)
