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
    return _checked_positions(arr, n_samples, where)


#: Training sets up to this many rows have a set's positions checked by one ``bincount``
#: (n counts) rather than a sort: fewer calls for the small sets of cheap estimators.
BINCOUNT_ROWS = 1 << 16


def _checked_positions(arr: np.ndarray, n_samples: int, where: str) -> np.ndarray:
    """A non-empty 1-D integer or integral-float array of positions, range- and repeat-checked,
    as intp (a new array)."""
    if arr.dtype == np.intp and n_samples <= BINCOUNT_ROWS:
        try:
            counts = np.bincount(arr)
        except ValueError:  # a negative index: the checks below say which
            pass
        else:
            if counts.size <= n_samples and arr.size < n_samples and counts.max() <= 1:
                return arr.copy()
    srt = np.sort(arr)  # range-checked on its ends before the cast to intp (it could wrap)
    if srt[0] < 0 or srt[-1] >= n_samples:
        out = (arr < 0) | (arr >= n_samples)
        _raise_out_of_range(arr[out][0], n_samples, where)
    repeated = srt[1:] == srt[:-1]
    if repeated.any():
        raise ValueError(
            f"{where} repeats row index {int(srt[1:][repeated][0])}; each row can be removed "
            f"once. Deduplicate with np.unique."
        )
    if arr.size == n_samples:
        raise ValueError(
            f"{where} removes all {n_samples} training rows; nothing would be left to fit."
        )
    return arr.astype(np.intp)


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
    _reject_mixed_bools(values, where)
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


# -- rows by label ------------------------------------------------------------------------------
#: Accepted values of the ``by`` keyword of every method that takes rows.
BY = (None, "position", "label")


def check_by(by) -> None:
    if not (by is None or isinstance(by, str) and by in BY):
        raise ValueError(f"by must be None, 'position' or 'label'; got {by!r}.")


def _is_pandas(obj, *names: str) -> bool:
    return type(obj).__module__.split(".")[0] == "pandas" and type(obj).__name__ in names


class RowLabels:
    """The row labels of the training X (its pandas index), or None for an unlabelled X.

    Resolves ``remove`` in every form that names rows (DESIGN: one set, a list of sets) to
    positions, then hands them to :func:`check_indices` for the usual checks.  The rule:

    - a pandas ``Index`` or non-boolean ``Series`` holds **labels** of X's index (its values);
      a boolean ``Series`` is a mask aligned by label; strings are always labels;
    - plain integers (lists, NumPy arrays) are positions when X had no index or its index is
      the default 0..n-1 (then labels and positions agree);
    - plain integers on an X whose index is anything else are refused unless ``by`` says what
      they are: ``by="label"`` or ``by="position"``.  An error, not a warning: the mix-up
      (``remove=list(X_train.index[mask])`` after ``train_test_split``) gives a wrong answer of
      the right shape, and a warning can be filtered or scroll away; one keyword fixes it;
    - ``by="label"`` reads every value as a label, ``by="position"`` every value (also of an
      ``Index``) as a position.
    """

    def __init__(self, labels, n_samples: int):
        self.n = n_samples
        self.labels = None if labels is None else list(labels)
        self._index = None
        self.default = self.labels is None or self._pd_index().equals(_range_index(n_samples))

    def _pd_index(self):
        if self._index is None:
            import pandas as pd

            self._index = pd.Index(self.labels)
        return self._index

    def resolve(self, remove, by=None) -> tuple[list[np.ndarray], bool]:
        """``(sets, single)`` as :func:`check_indices` returns them, rows given in any form."""
        if by is not None:
            check_by(by)
        if by == "label" and self.labels is None:
            raise ValueError(
                "by='label' needs row labels, but X was not a pandas DataFrame when the "
                "Attributor was built. Pass positions (by='position' or no by), or build the "
                "Attributor from the DataFrame.")
        if type(remove) is np.ndarray and remove.ndim == 1 and remove.dtype.kind in "iu" \
                and remove.size and (by == "position" or by is None and self.default):
            return [_checked_positions(remove, self.n, "remove")], True  # the common case, fast
        if type(remove) is list and remove and (by == "position" or by is None and self.default) \
                and all(type(r) is np.ndarray and r.ndim == 1 and r.dtype.kind in "iu" and r.size
                        for r in remove):  # a list of integer arrays: as fast
            return [_checked_positions(r, self.n, f"remove[{k}]" if k else "remove")
                    for k, r in enumerate(remove)], False
        raw = _raw_sets(remove)
        if raw is None:  # a form check_indices refuses (or an empty list): its message
            return check_indices(remove, self.n)
        sets, single = raw
        where = ["remove" if single or k == 0 else f"remove[{k}]" for k in range(len(sets))]
        pos = [self._positions(s, by, w) for s, w in zip(sets, where)]
        return check_indices(pos[0] if single else pos, self.n)

    def _positions(self, s, by, where):
        if _is_pandas(s, "Series") and s.dtype.kind == "b":
            return self._aligned_mask(s, where)
        if _is_pandas(s, "Index", "Series", "RangeIndex"):
            values = s.to_numpy()
            if values.dtype == object:  # the checks of plain lists: missing values, bools
                _reject_missing(values.tolist(), where)
                _reject_mixed_bools(values.tolist(), where)
            return values if by == "position" else self._lookup(values, where, "a pandas "
                                                                f"{type(s).__name__}")
        try:
            kind = np.asarray(s).dtype.kind
        except (TypeError, ValueError):
            return s  # ragged: check_indices explains
        if kind == "O" and len(s) and all(isinstance(x, str) for x in s):
            kind = "U"
        if kind in "US":
            if by == "position":
                raise TypeError(f"{where} holds strings, which cannot be positions; drop "
                                f"by='position' to read them as labels of X's index.")
            return self._lookup(np.asarray(s, dtype=object), where, "strings")
        if kind in "iuf" and len(s):
            if by == "label":
                return self._lookup(np.asarray(s, dtype=object), where, "labels")
            if by is None and not self.default:
                raise ValueError(
                    f"{where} holds plain integers, but X's row index is not 0..n-1 (its first "
                    f"labels: {[_plain(x) for x in self.labels[:3]]}), so they could be "
                    f"positions or labels. Say "
                    f"which: by='label' for index labels (e.g. remove=list(X.index[mask]), or "
                    f"pass the Index itself: remove=X.index[mask]), or by='position' for rows "
                    f"counted from 0 (e.g. remove=np.flatnonzero(mask)).")
        return s

    def _lookup(self, values: np.ndarray, where: str, what: str) -> np.ndarray:
        if self.labels is None:
            raise ValueError(
                f"{where} gives row labels ({what}), but X was not a pandas DataFrame when the "
                f"Attributor was built, so its rows have no labels. Pass positions 0 .. "
                f"{self.n - 1} (for an Index of positions: by='position'), or build the "
                f"Attributor from the DataFrame whose index these labels come from.")
        index = self._pd_index()
        if not index.is_unique:
            dup = next(lab for lab, d in zip(self.labels, index.duplicated()) if d)
            raise ValueError(
                f"X's row index repeats the label {dup!r}, so {where} cannot name rows by "
                f"label. Use unique labels (X.reset_index(drop=True)) or pass positions with "
                f"by='position'.")
        _reject_missing(list(values), where)
        pos = index.get_indexer(values)
        if (pos < 0).any():
            missing = [_plain(values[i]) for i in np.flatnonzero(pos < 0)[:5]]
            raise ValueError(
                f"{where} contains label(s) {missing} that are not in X's row index "
                f"({(pos < 0).sum()} of {len(values)}; X's first labels: "
                f"{[_plain(x) for x in self.labels[:3]]}). "
                f"Pass labels of the training X's index, or positions 0 .. {self.n - 1} with "
                f"by='position'.")
        uniq, counts = np.unique(pos, return_counts=True)
        if (counts > 1).any():
            raise ValueError(f"{where} repeats the label "
                             f"{_plain(self.labels[uniq[counts > 1][0]])!r}; "
                             f"each row can be removed once.")
        return pos.astype(np.intp)

    def _aligned_mask(self, s, where: str) -> np.ndarray:
        if self.labels is None:
            if s.index.equals(_range_index(self.n)):
                return s.to_numpy()
            raise ValueError(
                f"{where} is a boolean Series with its own row index, but X had none to align "
                f"it with. Pass a NumPy mask (remove=mask.to_numpy()) if it is in X's row "
                f"order, or build the Attributor from the DataFrame.")
        pos = self._pd_index().get_indexer(s.index) if self._pd_index().is_unique else None
        if pos is None or len(s) != self.n or (pos < 0).any() or np.unique(pos).size != self.n:
            raise ValueError(
                f"{where} is a boolean Series whose index is not X's row index (it must have "
                f"every label of X once, in any order). Align it first: "
                f"remove=mask.reindex(X.index).")
        mask = np.zeros(self.n, dtype=bool)
        mask[pos] = s.to_numpy()
        return mask


def _plain(x):
    """A NumPy scalar as the Python scalar it holds (for messages: 5, not np.int64(5))."""
    return x.item() if isinstance(x, np.generic) else x


def _reject_mixed_bools(values: list, where: str) -> None:
    types = set(map(type, values))  # fast for long lists
    if types & {bool, np.bool_} and not types <= {bool, np.bool_}:
        raise TypeError(
            f"{where} mixes booleans and integers. Pass either row indices (e.g. remove=[0, 2]) "
            f"or a boolean mask with one entry per training row."
        )


def _range_index(n: int):
    import pandas as pd

    return pd.RangeIndex(n)


def _raw_sets(remove):
    """``(sets, single)`` of the structure of ``remove`` without checking values, or None for
    the forms :func:`check_indices` alone handles (refusals, 2-D arrays, the empty list)."""
    if _is_pandas(remove, "Index", "Series", "RangeIndex"):
        return [remove], True
    if remove is None or isinstance(remove, (str, bytes, set, frozenset, dict)) or (
            hasattr(remove, "columns") and hasattr(remove, "iloc")):
        return None
    if isinstance(remove, np.ndarray):
        if remove.ndim == 1:
            return [remove], True
        return (list(remove), False) if remove.ndim == 2 and len(remove) else None
    try:
        items = list(remove)
    except TypeError:
        return None
    if not items:
        return None
    if any(_is_missing(it) for it in items):
        return None  # check_indices names the missing entry
    scalar = [_is_scalar_index(it) or isinstance(it, str) for it in items]
    if all(scalar):
        return [remove], True
    if any(scalar):
        return None
    return items, False
