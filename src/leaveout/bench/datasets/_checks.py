"""Argument checks of the public functions of the dataset registry (:func:`load`,
:func:`synthetic_gaussian`).

Each check raises a ``TypeError`` (wrong type) or ``ValueError`` (wrong value) in scikit-learn's
format, "The 'n' parameter of synthetic_gaussian must be an int in [1, 2**63). Got 1.5 (float)
instead.", followed by how to fix it where that is not obvious. They run before any NumPy call,
so a user mistake never surfaces as an error or a RuntimeWarning from inside NumPy.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

#: Exclusive upper bound of seeds and of the sizes n, p and n_test (NumPy's index range).
INT_LIMIT = 2**63


def _type_name(value) -> str:
    return type(value).__name__


def _show(value) -> str:
    """A short text for a value the user passed (huge ints in scientific notation)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        v = int(value)
        if abs(v) < 10**30:
            return str(v)
        e = len(str(abs(v))) - 1
        return f"{'-' if v < 0 else ''}{int(str(abs(v))[:3]) / 100:g}e+{e}"
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        try:
            return repr(float(value))
        except OverflowError:
            pass
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_int(value, name: str, where: str, *, low: int = 1, high: int = INT_LIMIT) -> int:
    """An integer (Python or NumPy, not a bool) in ``[low, high)``, returned as a Python int."""
    bounds = f"[{low}, {'2**63' if high == INT_LIMIT else high})"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        hint = ""
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            hint = " Pass a whole number (an int), e.g. int(round(x)), rather than a float."
        elif isinstance(value, str):
            hint = " Pass a number, e.g. int(s), rather than a string."
        raise TypeError(
            f"The {name!r} parameter of {where} must be an int in {bounds}. "
            f"Got {_show(value)} ({_type_name(value)}) instead.{hint}"
        )
    v = int(value)
    if not low <= v < high:
        raise ValueError(
            f"The {name!r} parameter of {where} must be an int in {bounds}. "
            f"Got {_show(value)} instead."
        )
    return v


def check_seed(value, where: str) -> int:
    """A seed for ``np.random.default_rng``: an int in ``[0, 2**63)``."""
    return check_int(value, "seed", where, low=0)


def check_float(value, name: str, where: str, *, low: float = -math.inf,
                high: float = math.inf) -> float:
    """A finite real number (Python or NumPy, not a bool) in ``[low, high]``, as a float."""
    lo = "(-inf" if low == -math.inf else f"[{low:g}"
    hi = "inf)" if high == math.inf else f"{high:g}]"
    bounds = f"a finite float in {lo}, {hi}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        hint = ""
        if isinstance(value, str):
            hint = " Pass a number, e.g. float(s), rather than a string."
        raise TypeError(
            f"The {name!r} parameter of {where} must be {bounds}. "
            f"Got {_show(value)} ({_type_name(value)}) instead.{hint}"
        )
    try:
        f = float(value)
    except OverflowError:  # a Python int beyond 1.8e308
        f = math.inf if value > 0 else -math.inf
    if not (math.isfinite(f) and low <= f <= high):
        raise ValueError(
            f"The {name!r} parameter of {where} must be {bounds}. Got {_show(value)} instead."
        )
    return f


def check_bool(value, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"The {name!r} parameter of {where} must be a bool (True or False). "
            f"Got {_show(value)} ({_type_name(value)}) instead."
        )
    return bool(value)


def check_cache_dir(value, where: str):
    """``None``, or a non-empty ``str`` / ``os.PathLike`` naming a directory."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
    else:
        path = value
    if not isinstance(path, str):
        raise TypeError(
            f"The 'cache_dir' parameter of {where} must be None, a str or an os.PathLike "
            f"(e.g. pathlib.Path) naming a directory. Got {_show(value)} ({_type_name(value)}) "
            "instead."
        )
    if path == "":
        raise ValueError(
            f"The 'cache_dir' parameter of {where} must name a directory; got an empty path. "
            "Pass None for the default cache directory ($LEAVEOUT_CACHE or ~/.cache/leaveout), "
            "or '.' for the current directory."
        )
    return value
