"""Input checks at the public boundary.  Everything inside leaveout trusts their output.

Every check raises a :class:`ValueError` or :class:`TypeError` whose message says what was wrong
and how to fix it.
"""

from __future__ import annotations

import numbers

import numpy as np

from .families import Family

#: Largest magnitude accepted in X and y: squares of larger values (and sums of them) overflow
#: float64 (max ≈ 1.8e308), so Hessians and squared losses would turn into inf.
MAX_ABS = 1e150


def _describe(obj) -> str:
    return type(obj).__name__


def _is_sparse(X) -> bool:
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def check_param_float(value, name: str, where: str, *, low: float = 0.0) -> float:
    """A real number in ``[low, inf)``, in scikit-learn's message format."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"The {name!r} parameter of {where} must be a float in [{low:g}, inf). "
            f"Got {value!r} ({_describe(value)}) instead."
        )
    value = float(value)
    if not np.isfinite(value) or value < low:
        raise ValueError(
            f"The {name!r} parameter of {where} must be a float in [{low:g}, inf). "
            f"Got {value!r} instead."
        )
    return value


def check_bool(value, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"The {name!r} parameter of {where} must be a bool. Got {value!r} "
            f"({_describe(value)}) instead."
        )
    return bool(value)


def _non_numeric_columns(X) -> list[str]:
    """Names of non-numeric columns of a DataFrame-like object (empty list otherwise)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return []
    bad = []
    for col, dt in dtypes.items():
        kind = getattr(np.dtype(dt) if not hasattr(dt, "kind") else dt, "kind", "O")
        if kind not in "biuf":
            bad.append(str(col))
    return bad


def _as_array(obj) -> np.ndarray:
    """``np.asarray``, except that numeric pandas objects go through ``to_numpy(float64)``.

    pandas nullable columns (``Int64``, ``Float64``, ``boolean``) and DataFrames mixing bool and
    float columns would otherwise become object arrays; ``pd.NA`` becomes NaN, so it is reported
    as a missing value by :func:`_report_nonfinite`.
    """
    dtypes = getattr(obj, "dtypes", None)
    kinds = ([getattr(dt, "kind", "O") for dt in dtypes] if hasattr(dtypes, "items")
             else [getattr(getattr(obj, "dtype", None), "kind", "O")])
    if hasattr(obj, "to_numpy") and kinds and all(k in "biuf" for k in kinds):
        return obj.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(obj)


def _locate(arr: np.ndarray, bad: np.ndarray) -> str:
    where = np.argwhere(bad)
    first = ", ".join(str(tuple(int(v) for v in w)) if w.size > 1 else str(int(w[0]))
                      for w in where[:5])
    return f"{'index' if arr.ndim == 1 else '(row, column)'} {first}"


def _report_nonfinite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} non-finite or missing value(s) (NaN, inf or "
            f"pandas.NA), first at {_locate(arr, bad)}. Remove or impute them before calling "
            f"leaveout."
        )


def _report_too_large(arr: np.ndarray, name: str) -> None:
    if arr.size == 0 or (arr.max() <= MAX_ABS and arr.min() >= -MAX_ABS):
        return  # the common case, without n × p temporaries
    bad = np.abs(arr) > MAX_ABS
    if bad.any():
        raise ValueError(
            f"{name} contains {int(bad.sum())} value(s) larger than {MAX_ABS:g} in magnitude, "
            f"first at {_locate(arr, bad)}; their squares overflow float64. Rescale {name} "
            f"(e.g. standardise it) before calling leaveout."
        )


def check_X(X, name: str = "X", *, allow_empty_columns: bool = False) -> np.ndarray:
    """Validate a design matrix; return a C-contiguous float64 array of shape (n, p)."""
    if X is None:
        raise TypeError(f"{name} must be an array-like of shape (n_samples, n_features); got None.")
    if _is_sparse(X):
        raise TypeError(
            f"{name} is a scipy.sparse matrix; this version of leaveout needs a dense array. "
            f"Pass {name}.toarray() if it fits in memory."
        )
    if type(X).__module__.startswith("dask"):
        raise TypeError(
            f"{name} is a dask array; this version of leaveout needs an in-memory array. "
            f"Pass {name}.compute()."
        )
    bad_cols = _non_numeric_columns(X)
    if bad_cols:
        raise TypeError(
            f"{name} has non-numeric column(s) {bad_cols[:10]}. Encode them as numbers first "
            f"(e.g. one-hot with pandas.get_dummies) or drop them."
        )
    try:
        arr = _as_array(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(
            f"{name} could not be converted to a numeric array ({exc}). Pass a 2-D array of "
            f"shape (n_samples, n_features)."
        ) from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} is complex-valued; leaveout needs real numbers.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold numbers; got an array of dtype {arr.dtype}. Encode strings or "
            f"categories as numbers first (e.g. one-hot) or drop those columns."
        )
    if arr.ndim != 2:
        hint = (" For a single feature use X.reshape(-1, 1)." if arr.ndim == 1 else "")
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_features); got {arr.ndim}-D with "
            f"shape {arr.shape}.{hint}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no rows (shape {arr.shape}); at least one row is needed.")
    if arr.shape[1] == 0 and not allow_empty_columns:
        raise ValueError(f"{name} has no columns (shape {arr.shape}).")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    _report_nonfinite(arr, name)
    _report_too_large(arr, name)
    return arr


def check_y(y, n_samples: int, family: Family, name: str = "y") -> np.ndarray:
    """Validate labels for ``family``; return float64 array of shape (n_samples,)."""
    if y is None:
        raise TypeError(f"{name} must be an array-like of shape (n_samples,); got None.")
    try:
        arr = _as_array(y)
    except Exception as exc:
        raise TypeError(f"{name} could not be converted to an array ({exc}).") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D of shape (n_samples,); got shape {arr.shape}. leaveout fits "
            f"one response at a time."
        )
    if arr.dtype.kind not in "biuf":
        fix = (" Map the labels to 0/1 first, e.g. y = (y == positive_label)."
               if family.name == "logistic" else "")
        raise TypeError(f"{name} must be numeric; got dtype {arr.dtype}.{fix}")
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} entries but X has {n_samples} rows; they must match."
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    _report_nonfinite(arr, name)
    _report_too_large(arr, name)
    bad = family.invalid_labels(arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        extra = ""
        if family.name == "logistic":
            extra = (" Map the labels to 0/1 first (e.g. y = (y == positive_label)); "
                     "multiclass models are not supported yet.")
        raise ValueError(
            f"{name} has {idx.size} value(s) outside the domain of the {family.name!r} family "
            f"({family.y_domain}), e.g. {name}[{idx[0]}] = {float(arr[idx[0]])!r}.{extra}"
        )
    return arr


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray:
    """Validate sample weights; ``None`` → ones.  Returns float64 array (n_samples,)."""
    if sample_weight is None:
        return np.ones(n_samples)
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, float(sample_weight))
    arr = np.asarray(sample_weight)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric; got dtype {arr.dtype}.")
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) to match X; got shape {arr.shape}."
        )
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    _report_nonfinite(arr, "sample_weight")
    if (arr < 0).any():
        i = int(np.flatnonzero(arr < 0)[0])
        raise ValueError(
            f"sample_weight must be non-negative; sample_weight[{i}] = {float(arr[i])!r}. A "
            f"weight of 0 excludes a row; negative weights have no meaning for a loss."
        )
    if not (arr > 0).any():
        raise ValueError("sample_weight is zero for every row; at least one row needs weight > 0.")
    return arr


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
                f"{int(remove)!r}. Use remove=[{int(remove)!r}]."
            ) from None
        raise TypeError(
            f"remove must be a sequence of row indices or a list of such sequences; got "
            f"{_describe(remove)}."
        ) from None
    if len(items) == 0:
        return [np.zeros(0, dtype=np.intp)], True
    nested = [not _is_scalar_index(it) for it in items]
    if not any(nested):
        return [_check_one_set(np.asarray(items), n_samples, 0)], True
    if not all(nested):
        raise TypeError(
            "remove mixes integers and sequences. Pass one set as a flat list of row indices, "
            "or several sets as a list of lists, e.g. remove=[[0, 3], [5]]."
        )
    return [_check_one_set(it, n_samples, k) for k, it in enumerate(items)], False


def _is_scalar_index(x) -> bool:
    return isinstance(x, (numbers.Number, np.bool_, bool)) or (
        isinstance(x, np.ndarray) and x.ndim == 0
    )


def _check_one_set(indices, n_samples: int, k: int) -> np.ndarray:
    where = "remove" if k == 0 else f"remove[{k}]"
    if isinstance(indices, (set, frozenset, str, bytes, dict)):
        raise TypeError(f"{where} must be a list or array of row indices, not {_describe(indices)}.")
    arr = np.asarray(indices)
    if arr.ndim != 1:
        raise ValueError(f"{where} must be a flat sequence of row indices; got shape {arr.shape}.")
    if arr.dtype.kind == "b":
        if arr.shape[0] != n_samples:
            raise ValueError(
                f"{where} is a boolean mask of length {arr.shape[0]}, but there are {n_samples} "
                f"training rows; a mask must have one entry per row."
            )
        if arr.all():
            raise ValueError(
                f"{where} is a boolean mask that removes all {n_samples} training rows; nothing "
                f"would be left to fit."
            )
        return np.flatnonzero(arr).astype(np.intp)
    if arr.size == 0:
        return np.zeros(0, dtype=np.intp)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise TypeError(f"{where} must hold integer row indices; got non-integer values.")
        if (np.abs(arr) >= n_samples + 1).any():  # before a cast that could wrap around
            i = float(arr[np.abs(arr) >= n_samples + 1][0])
            raise ValueError(
                f"{where} contains row index {i:g}, out of range for {n_samples} training rows "
                f"(valid: 0 .. {n_samples - 1})."
            )
        arr = arr.astype(np.intp)
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{where} must hold integer row indices; got dtype {arr.dtype}.")
    arr = arr.astype(np.intp)
    if (arr < 0).any():
        i = int(arr[arr < 0][0])
        raise ValueError(
            f"{where} contains the negative index {i}. leaveout does not wrap negative indices "
            f"around; use {n_samples + i} for row {i} counted from the end."
        )
    if (arr >= n_samples).any():
        i = int(arr[arr >= n_samples][0])
        raise ValueError(
            f"{where} contains row index {i}, out of range for {n_samples} training rows "
            f"(valid: 0 .. {n_samples - 1})."
        )
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


def check_method(method, methods) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {list(methods)}; got {_describe(method)}.")
    if method not in methods:
        raise ValueError(f"Unknown method {method!r}. Valid methods are: {', '.join(methods)}.")
    return method
