"""Input checks at the public boundary.  Everything inside leaveout trusts their output.

Every check raises a :class:`ValueError` or :class:`TypeError` whose message says what was wrong
and how to fix it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .families import Family

#: Largest magnitude accepted in X and y: squares of larger values (and sums of them) overflow
#: float64 (max ≈ 1.8e308), so Hessians and squared losses would turn into inf.
MAX_ABS = 1e150

#: Largest sample weight accepted: the bound of X and y.  Weights beyond it overflow float64 even
#: on ordinary data (a weight enters products of two weighted terms, e.g. ‖g‖² ∝ s², and the
#: Woodbury factors through √s_i·x̃_i); 1e200 gives an infinite gradient norm.  A worst-case
#: product bound (MAX_WEIGHT · MAX_ABS² ≤ 1.8e308, i.e. 1e8) would also cover features near
#: MAX_ABS, but it would reject weight ratios such as 1e14 that fit correctly (see
#: tests/test_robustness.py); only a check that sees X could rule out every overflow of s·x².
#: Larger weights are never needed: dividing ``sample_weight`` and ``l2`` by a common factor
#: leaves the optimum, the leverages and every removal effect unchanged.
MAX_WEIGHT = MAX_ABS

#: Smallest positive sample weight accepted, ``1 / MAX_WEIGHT``.  Its square (1e-300) is a normal
#: float, and so are its products with curvatures and squared features of ordinary size; weights
#: near the subnormal range (< 2.2e-308) underflow there, and a row of positive weight gets zero
#: curvature (all weights 1e-310: leverage inf, NaN effects).  Zero weights stay allowed: they
#: exclude a row.  Multiplying ``sample_weight`` and ``l2`` by a common factor leaves the optimum
#: unchanged.
MIN_POSITIVE_WEIGHT = 1.0 / MAX_WEIGHT

_DIVIDE_WEIGHTS = ("Divide sample_weight and l2 by a common factor (e.g. both by "
                   "sample_weight.max()): that leaves the optimum and the removal effects "
                   "unchanged")


def _describe(obj) -> str:
    return type(obj).__name__


def _show(value) -> str:
    """A short text for a number the user passed, even one too large for a float."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        v = int(value)
        if abs(v) < 10**30:
            return str(v)
        e = int(math.log10(abs(v)))
        return f"≈{'-' if v < 0 else ''}{abs(v) / 10**e:.3g}e+{e}"
    if isinstance(value, np.floating) and value.dtype.itemsize > 8:
        return np.format_float_scientific(value, precision=6, trim="-")
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return repr(value)


def _to_float(value) -> float | None:
    """``float(value)``, or ``None`` when ``value`` is finite but too large for a float64."""
    try:
        f = float(value)
    except OverflowError:  # Python ints (and Fractions) beyond 1.8e308
        return None
    if math.isinf(f) and isinstance(value, np.floating) and np.isfinite(value):
        return None  # np.longdouble beyond 1.8e308
    return f


def _is_sparse(X) -> bool:
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def _too_large_for_float(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and _to_float(x) is None


def _is_missing_type(t: type) -> bool:
    """The type of ``None``, ``pandas.NA`` or ``pandas.NaT`` (checked without importing pandas)."""
    return t is type(None) or t.__name__ in ("NAType", "NaTType")


def _is_missing(x) -> bool:
    return _is_missing_type(type(x))


def check_param_float(value, name: str, where: str, *, low: float = 0.0) -> float:
    """A real number in ``[low, inf)``, in scikit-learn's message format."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"The {name!r} parameter of {where} must be a float in [{low:g}, inf). "
            f"Got {value!r} ({_describe(value)}) instead."
        )
    f = _to_float(value)
    if f is None:
        raise ValueError(
            f"The {name!r} parameter of {where} must be a float in [{low:g}, inf). Got "
            f"{_show(value)} instead, which is too large for a float64 (max ≈ 1.8e308)."
        )
    if not np.isfinite(f) or f < low:
        raise ValueError(
            f"The {name!r} parameter of {where} must be a float in [{low:g}, inf). "
            f"Got {f!r} instead."
        )
    return f


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


def _unmasked(obj, name: str):
    """``obj``, or its data when it is a NumPy masked array with nothing masked."""
    if not isinstance(obj, np.ma.MaskedArray):
        return obj
    mask = np.ma.getmaskarray(obj)
    if mask.any():
        raise ValueError(
            f"{name} is a NumPy masked array with {int(mask.sum())} masked entr"
            f"{'y' if mask.sum() == 1 else 'ies'}, first at {_locate(mask, mask)}; leaveout "
            f"would ignore the mask. Fill the masked entries ({name}.filled(value)) or drop "
            f"their rows first."
        )
    return np.ma.getdata(obj)


def _as_array(obj, name: str, shape: str) -> np.ndarray:
    """``np.asarray``, except that numeric pandas objects go through ``to_numpy(float64)``.

    pandas nullable columns (``Int64``, ``Float64``, ``boolean``) and DataFrames mixing bool and
    float columns would otherwise become object arrays; ``pd.NA`` becomes NaN, so it is reported
    as a missing value by :func:`_report_nonfinite`.  ``shape`` describes what ``name`` should be
    ("a 2-D array of shape ...") for the message about inputs that cannot be converted.
    """
    dtypes = getattr(obj, "dtypes", None)
    kinds = ([getattr(dt, "kind", "O") for dt in dtypes] if hasattr(dtypes, "items")
             else [getattr(getattr(obj, "dtype", None), "kind", "O")])
    try:
        if hasattr(obj, "to_numpy") and kinds and all(k in "biuf" for k in kinds):
            return obj.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(obj)
    except Exception as exc:  # ragged lists and the like
        reason = ("it is ragged (nested sequences of different lengths)"
                  if "inhomogeneous" in str(exc) else str(exc))
        raise TypeError(
            f"{name} could not be converted to a numeric array: {reason}. {name} must be "
            f"{shape}."
        ) from None


def _report_objects(arr: np.ndarray, name: str, rescale: str = "") -> None:
    """Specific errors for an object array: missing values, integers too large for a float."""
    if arr.dtype != object:
        return
    for i, x in enumerate(arr.ravel()):
        if _is_missing(x):
            problem = f"a missing value ({x!r})"
            fix = "Remove or impute the missing values before calling leaveout"
        elif _too_large_for_float(x):
            problem = f"{_show(x)}, too large for a float64 (max ≈ 1.8e308),"
            fix = rescale or f"Rescale {name} before calling leaveout"
        else:
            continue
        where = _locate(arr, np.arange(arr.size).reshape(arr.shape) == i)
        raise ValueError(f"{name} contains {problem} at {where}. {fix}.")


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


def _all_small(arr: np.ndarray) -> bool:
    """True only if every entry of the C-contiguous float64 ``arr`` is finite and at most
    MAX_ABS in magnitude (False does not say that one is not: the caller then looks closely).

    One BLAS pass and no temporary: s = Σ x² (``ddot``) is NaN or inf when an entry is, and
    it is at least the largest rounded square, since adding non-negative terms never decreases
    a rounded sum; so s < MAX_ABS²/2 bounds every |x| below MAX_ABS.  Half the time of a min
    and a max (measured on one thread).
    """
    flat = arr.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        s = float(flat @ flat)
    return s < 0.5 * MAX_ABS * MAX_ABS


def _as_float64(arr: np.ndarray, name: str) -> np.ndarray:
    """C-contiguous float64 copy of a numeric array, checked for non-finite and huge values.

    Extended-precision input (``np.longdouble``) is checked before the cast, which would turn
    values beyond 1.8e308 into inf.
    """
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        _report_nonfinite(arr, name)
        _report_too_large(arr, name)
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    # The common case in one BLAS pass (else a min and a max) and no n × p temporary.
    if arr.size and (_all_small(arr) or (-MAX_ABS <= arr.min() and arr.max() <= MAX_ABS)):
        return arr
    _report_nonfinite(arr, name)
    _report_too_large(arr, name)
    return arr


def check_X(X, name: str = "X", *, allow_empty_columns: bool = False) -> np.ndarray:
    """Validate a design matrix; return a C-contiguous float64 array of shape (n, p)."""
    if X is None:
        raise TypeError(f"{name} must be an array-like of shape (n_samples, n_features); got None.")
    X = _unmasked(X, name)
    if _is_sparse(X):
        return check_sparse_X(X, name, allow_empty_columns=allow_empty_columns)
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
    arr = _as_array(X, name, "a 2-D array of shape (n_samples, n_features)")
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} is complex-valued; leaveout needs real numbers.")
    _report_objects(arr, name)
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
    return _as_float64(arr, name)


# -- sparse X ------------------------------------------------------------------------------------
def _sparse_entry(X, k: int) -> str:
    """(row, column) of the k-th stored entry of a CSR matrix."""
    row = int(np.searchsorted(X.indptr, k, side="right") - 1)
    return f"({row}, {int(X.indices[k])})"


def check_sparse_X(X, name: str = "X", *, allow_empty_columns: bool = False):
    """Validate a sparse design; return a new canonical float64 ``scipy.sparse.csr_matrix``.

    Conversions (documented in docs/edge-cases.md): any scipy.sparse format (CSC, COO, LIL, ...,
    matrix or array) and anything with ``tocsr()`` becomes CSR, once, on a copy; bool and integer
    values become float64; duplicate entries are summed and indices sorted (scipy's meaning of
    duplicates); explicitly stored zeros are dropped.  Refused: complex or non-numeric values,
    explicit NaN/inf, values above 1e150, no rows, no columns (unless allowed), and malformed
    index arrays (out-of-range column indices, inconsistent ``indptr``).  The caller's matrix is
    never modified.
    """
    import scipy.sparse as sp

    if not sp.issparse(X):
        try:
            X = X.tocsr()
        except Exception as exc:
            raise TypeError(f"{name} looks sparse but could not be converted to scipy.sparse CSR "
                            f"({exc}). Pass a scipy.sparse matrix or array.") from None
        if not sp.issparse(X):
            raise TypeError(f"{name}.tocsr() returned a {_describe(X)}, not a scipy.sparse "
                            f"matrix. Pass a scipy.sparse matrix or array.")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, n_features); got shape "
                         f"{X.shape}.")
    kind = X.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} is a complex-valued sparse matrix; leaveout needs real numbers.")
    if kind not in "biuf":
        raise TypeError(f"{name} must hold numbers; got a sparse matrix of dtype {X.dtype}.")
    n, p = X.shape
    if n == 0:
        raise ValueError(f"{name} has no rows (shape {X.shape}); at least one row is needed.")
    if p == 0 and not allow_empty_columns:
        raise ValueError(f"{name} has no columns (shape {X.shape}).")
    fmt = X.format
    if fmt in ("csr", "csc", "bsr"):
        _check_compressed_indices(X, name)
    try:
        # A new CSR matrix whose arrays share nothing with the caller's.
        Xc = sp.csr_matrix(X, dtype=np.float64, copy=True)
    except (ValueError, IndexError, OverflowError) as exc:
        raise ValueError(f"{name} is a malformed sparse matrix ({exc}). Rebuild it, e.g. with "
                         f"scipy.sparse.csr_matrix((data, (rows, cols)), shape=...).") from None
    if Xc.indptr is getattr(X, "indptr", None) or Xc.data is getattr(X, "data", None):
        Xc = Xc.copy()
    if not Xc.has_canonical_format:
        Xc.sum_duplicates()      # sorts the indices too
    bad = ~np.isfinite(Xc.data)
    if bad.any():
        k = np.flatnonzero(bad)
        raise ValueError(
            f"{name} contains {k.size} non-finite stored value(s) (NaN or inf), first at "
            f"(row, column) {_sparse_entry(Xc, int(k[0]))}. Remove or impute them before "
            f"calling leaveout.")
    big = np.abs(Xc.data) > MAX_ABS
    if big.any():
        k = np.flatnonzero(big)
        raise ValueError(
            f"{name} contains {k.size} value(s) larger than {MAX_ABS:g} in magnitude, first at "
            f"(row, column) {_sparse_entry(Xc, int(k[0]))}; their squares overflow float64. "
            f"Rescale {name} (e.g. divide each column by its largest magnitude) before calling "
            f"leaveout.")
    Xc.eliminate_zeros()
    return Xc


def _check_compressed_indices(X, name: str) -> None:
    """Malformed CSR/CSC index arrays, caught before scipy trips over them."""
    major, minor = (X.shape[0], X.shape[1]) if X.format in ("csr", "bsr") else \
        (X.shape[1], X.shape[0])
    indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
    what = "column" if X.format == "csr" else "row"
    if X.format == "bsr":
        return  # scipy's own conversion checks its block structure
    if indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        raise ValueError(f"{name}'s index arrays must be integers; got indptr {indptr.dtype}, "
                         f"indices {indices.dtype}.")
    if indptr.shape != (major + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0) or \
            indptr[-1] > indices.size or indptr[-1] > np.asarray(X.data).size:
        raise ValueError(
            f"{name} is a malformed {X.format.upper()} matrix: its indptr is not a "
            f"non-decreasing array of length {major + 1} starting at 0 and ending at its number "
            f"of stored values. Rebuild it, e.g. with scipy.sparse.csr_matrix((data, (rows, "
            f"cols)), shape=...).")
    used = indices[: int(indptr[-1])]
    if used.size and (int(used.min()) < 0 or int(used.max()) >= minor):
        raise ValueError(
            f"{name} is a malformed {X.format.upper()} matrix: {what} indices must lie in "
            f"[0, {minor}), got {int(used.min())}..{int(used.max())}. If they were built with "
            f"int32 arithmetic on a large matrix they may have overflowed: build the indices as "
            f"int64 (scipy.sparse accepts int64 indices).")


def check_y(y, n_samples: int, family: Family, name: str = "y") -> np.ndarray:
    """Validate labels for ``family``; return float64 array of shape (n_samples,)."""
    if y is None:
        raise TypeError(f"{name} must be an array-like of shape (n_samples,); got None.")
    arr = _as_array(_unmasked(y, name), name, "a 1-D array of numbers, one per row")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D of shape (n_samples,); got shape {arr.shape}. leaveout fits "
            f"one response at a time."
        )
    _report_objects(arr, name)
    if arr.dtype.kind not in "biuf":
        fix = (" Map the labels to 0/1 first, e.g. y = (y == positive_label)."
               if family.name == "logistic" else "")
        raise TypeError(f"{name} must be numeric; got dtype {arr.dtype}.{fix}")
    if arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} entries but X has {n_samples} rows; they must match."
        )
    arr = _as_float64(arr, name)
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
    """Validate sample weights; ``None`` → ones.  Returns float64 array (n_samples,).

    Weights must be 0 or in ``[MIN_POSITIVE_WEIGHT, MAX_WEIGHT]``.
    """
    if sample_weight is None:
        return np.ones(n_samples)
    arr = _as_array(_unmasked(sample_weight, "sample_weight"), "sample_weight",
                    "a 1-D array of numbers, one per row")
    if arr.ndim == 0 and isinstance(sample_weight, numbers.Real) \
            and not isinstance(sample_weight, bool):
        if _too_large_for_float(sample_weight):
            raise ValueError(f"sample_weight is {_show(sample_weight)}, too large for a float64 "
                             f"(max ≈ 1.8e308). {_DIVIDE_WEIGHTS}.")
        arr = np.full(n_samples, arr)  # one weight for every row
    _report_objects(arr, "sample_weight", _DIVIDE_WEIGHTS)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be numeric; got dtype {arr.dtype}.")
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) to match X; got shape {arr.shape}."
        )
    if arr.dtype.kind != "f" or arr.dtype.itemsize <= 8:  # long double: checked before its cast
        arr = arr.astype(np.float64)  # float32 could not even be compared with the bounds
    _report_nonfinite(arr, "sample_weight")
    if (arr < 0).any():
        i = int(np.flatnonzero(arr < 0)[0])
        raise ValueError(
            f"sample_weight must be non-negative; sample_weight[{i}] = {_show(arr[i])}. A "
            f"weight of 0 excludes a row; negative weights have no meaning for a loss."
        )
    _report_weight_range(arr)  # before a cast of long double, which could overflow or underflow
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not (arr > 0).any():
        raise ValueError("sample_weight is zero for every row; at least one row needs weight > 0.")
    return arr


def _report_weight_range(arr: np.ndarray) -> None:
    """Non-negative weights must be 0 or in ``[MIN_POSITIVE_WEIGHT, MAX_WEIGHT]``."""
    big = arr > MAX_WEIGHT
    if big.any():
        i = int(np.flatnonzero(big)[0])
        raise ValueError(
            f"sample_weight has {int(big.sum())} value(s) larger than {MAX_WEIGHT:g}, first "
            f"sample_weight[{i}] = {_show(arr[i])}; their products with squared values overflow "
            f"float64. {_DIVIDE_WEIGHTS}."
        )
    tiny = (arr > 0) & (arr < MIN_POSITIVE_WEIGHT)
    if tiny.any():
        i = int(np.flatnonzero(tiny)[0])
        raise ValueError(
            f"sample_weight has {int(tiny.sum())} positive value(s) smaller than "
            f"{MIN_POSITIVE_WEIGHT:g}, first sample_weight[{i}] = {_show(arr[i])}; such weights "
            f"underflow float64 in the curvature terms. Multiply sample_weight and l2 by a "
            f"common factor (that leaves the optimum unchanged), or set negligible weights to 0 "
            f"to exclude those rows."
        )


def check_choice(value, name: str, where: str, choices) -> str:
    """One of the strings ``choices``, in scikit-learn's message format."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"The {name!r} parameter of {where} must be one of "
                         f"{', '.join(map(repr, choices))}. Got {value!r} instead.")
    return value


def check_method(method, methods) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {list(methods)}; got {_describe(method)}.")
    if method not in methods:
        raise ValueError(f"Unknown method {method!r}. Valid methods are: {', '.join(methods)}.")
    return method
