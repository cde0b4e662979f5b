"""Removal sets: every form a user may pass as ``remove`` → a list of checked row-index arrays.

Accepted: a sequence of row indices, a boolean mask of length n_samples, a list of those, or a
2-D integer array (one set per row).  Everything else is refused with a message that says which
form to use; indices are range-checked before any cast that could wrap them around.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import _describe, _is_missing, _is_missing_type, _show, _unmasked


def check_indices(remove, n_samples: int) -> tuple[list[np.ndarray], bool]:
    """Normalise ``remove`` to a list of index arrays.

    Returns ``(sets, single)`` where ``single`` says whether the user passed one set (so the
    result loses its leading axis).  Accepted forms: a sequence of row indices, a boolean mask
    of length ``n_samples``, a sequence of those, or a 2-D integer array (one set per row).
    """
    if remove is None:
        raise TypeError("remove must be a sequence of row indices or a list of such sequences.")
    if isinstance(remove, (str, bytes)) or isinstance(remove, (set, frozenset, dict)):
        raise TypeError(
            f"remove must be an ordered sequence of row indices (a list or array), not "
            f"{_describe(remove)}; e.g. remove=[3, 17] or remove=[[3, 17], [5]]."
        )
    _reject_dataframe(remove)
    remove = _unmasked(remove, "remove")
    if isinstance(remove, np.ndarray):
        if remove.ndim == 1:
            return [_check_one_set(remove, n_samples, 0)], True
        if remove.ndim == 2:
            return [_check_one_set(r, n_samples, k) for k, r in enumerate(remove)], False
        raise ValueError(f"remove must be 1-D or 2-D; got an array of shape {remove.shape}.")
    try:
        items = list(remove)
    except TypeError:
        if isinstance(remove, numbers.Integral):
            raise TypeError(
                f"remove must be a sequence of row indices; got the single integer "
                f"{_show(remove)}. Use remove=[{_show(remove)}]."
            ) from None
        raise TypeError(
            f"remove must be a sequence of row indices or a list of such sequences; got "
            f"{_describe(remove)}."
        ) from None
    if len(items) == 0:
        return [np.zeros(0, dtype=np.intp)], True
    _reject_missing(items, "remove")
    nested = [not _is_scalar_index(it) for it in items]
    if not any(nested):
        return [_check_one_set(items, n_samples, 0)], True
    if not all(nested):
        raise TypeError(
            "remove mixes integers and sequences. Pass one set as a flat list of row indices, "
            "or several sets as a list of lists, e.g. remove=[[0, 3], [5]]."
        )
    return [_check_one_set(it, n_samples, k) for k, it in enumerate(items)], False


def _reject_dataframe(remove) -> None:
    if hasattr(remove, "columns") and hasattr(remove, "iloc"):
        raise TypeError(
            "remove is a pandas DataFrame, which iterates over its column names, not rows. Pass "
            "row positions (0 .. n_samples - 1) as a list or array: a column "
            "(remove=df['col'].to_numpy()), one set per DataFrame row (remove=df.to_numpy()), "
            "or the positions of a subset's rows (remove=train.index.get_indexer(subset.index))."
        )


def _reject_missing(items: list, where: str) -> None:
    if not any(_is_missing_type(t) for t in set(map(type, items))):  # fast for long lists
        return
    i = next(i for i, it in enumerate(items) if _is_missing(it))
    raise ValueError(
        f"{where} contains a missing value ({items[i]!r}) at position {i}; every entry must be "
        f"a row index. Drop the missing entries first (e.g. .dropna() for a pandas Series)."
    )


def _is_scalar_index(x) -> bool:
    return isinstance(x, (numbers.Number, np.bool_, bool)) or (
        isinstance(x, np.ndarray) and x.ndim == 0
    )


def _check_one_set(indices, n_samples: int, k: int) -> np.ndarray:
    where = "remove" if k == 0 else f"remove[{k}]"
    if isinstance(indices, (set, frozenset, str, bytes, dict)):
        raise TypeError(f"{where} must be a list or array of row indices, not {_describe(indices)}.")
    arr = _index_array(_unmasked(indices, where), n_samples, where)
    if arr.dtype.kind == "b":
        return _mask_rows(arr, n_samples, where)
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise TypeError(f"{where} must hold integer row indices; got non-integer values, "
                            f"first {float(arr[i])!r} at position {i}.")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{where} must hold integer row indices; got dtype {arr.dtype}.")
    out = (arr < 0) | (arr >= n_samples)  # before the cast to intp, which could wrap around
    if out.any():
        _raise_out_of_range(arr[out][0], n_samples, where)
    arr = arr.astype(np.intp)
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"{where} repeats row index {int(uniq[counts > 1][0])}; each row can be removed once. "
            f"Deduplicate with np.unique."
        )
    if uniq.size == n_samples:
        raise ValueError(
            f"{where} removes all {n_samples} training rows; nothing would be left to fit."
        )
    return arr


def _index_array(indices, n_samples: int, where: str) -> np.ndarray:
    """One removal set as a 1-D bool, integer or float array (range-checked if it held objects).

    Python lists are scanned for booleans, which NumPy would silently turn into 0 and 1.
    """
    try:
        arr = np.asarray(indices)
    except (TypeError, ValueError):  # ragged nesting
        raise TypeError(f"{where} must be a flat sequence of row indices.") from None
    if arr.ndim != 1:
        raise ValueError(f"{where} must be a flat sequence of row indices; got shape {arr.shape}.")
    if arr.dtype == object:
        values = arr.tolist()
        _reject_missing(values, where)
    elif isinstance(indices, (list, tuple)) and arr.dtype.kind in "iuf":
        values = indices
    else:
        return arr
    types = set(map(type, values))  # fast for long lists
    if types & {bool, np.bool_} and not types <= {bool, np.bool_}:
        raise TypeError(
            f"{where} mixes booleans and integers. Pass either row indices (e.g. remove=[0, 2]) "
            f"or a boolean mask with one entry per training row."
        )
    return _object_indices(values, n_samples, where) if arr.dtype == object else arr


def _object_indices(values: list, n_samples: int, where: str) -> np.ndarray:
    """Python scalars (possibly integers beyond int64) → a bool, integer or float array."""
    if set(map(type, values)) <= {bool, np.bool_}:
        return np.array(values, dtype=bool)
    bad = next((x for x in values if not isinstance(x, numbers.Real)), None)
    if bad is not None:
        raise TypeError(f"{where} must hold integer row indices; got {bad!r} ({_describe(bad)}).")
    out = next((x for x in values if x < 0 or x >= n_samples), None)  # NaN passes, see caller
    if out is not None:
        _raise_out_of_range(out, n_samples, where)
    exact = all(isinstance(x, numbers.Integral) for x in values)
    return np.array(values, dtype=np.intp if exact else np.float64)


def _raise_out_of_range(value, n_samples: int, where: str):
    if isinstance(value, numbers.Integral):
        value, text = int(value), _show(value)
    else:
        value = float(value)
        text = str(int(value)) if abs(value) < 1e16 else f"{value:g}"
    if -n_samples <= value < 0:
        raise ValueError(
            f"{where} contains the negative index {text}. leaveout does not wrap negative indices "
            f"around; use {int(n_samples + value)} for row {text} counted from the end."
        )
    raise ValueError(
        f"{where} contains row index {text}, out of range for {n_samples} training rows "
        f"(valid: 0 .. {n_samples - 1})."
    )


def _mask_rows(mask: np.ndarray, n_samples: int, where: str) -> np.ndarray:
    if mask.shape[0] != n_samples:
        raise ValueError(
            f"{where} is a boolean mask of length {mask.shape[0]}, but there are {n_samples} "
            f"training rows; a mask must have one entry per row."
        )
    if mask.all():
        raise ValueError(
            f"{where} is a boolean mask that removes all {n_samples} training rows; nothing "
            f"would be left to fit."
        )
    return np.flatnonzero(mask).astype(np.intp)
