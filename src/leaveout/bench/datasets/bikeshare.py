"""Loader of ISLP's Bikeshare hourly rentals: bikeshare (poisson)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._dataset import Dataset, DatasetSpec
from ._prep import _MIN_COUNT, _finish, _one_hot, _quick_indices, _require, _split, _standardise


_BIKE_CATEGORICAL = ("hr", "mnth", "weathersit")
_BIKE_NUMERIC = ("workingday", "holiday", "temp", "atemp", "hum", "windspeed")


def _load_bikeshare(spec: DatasetSpec, *, quick: bool, seed: int, cache: Path) -> Dataset:
    islp = _require("ISLP", "ISLP", spec.name)
    df = islp.load_data("Bikeshare")
    y = df["bikers"].to_numpy(np.float64)
    tr, te = _split(len(df), seed)
    tr, te = _quick_indices(tr, te, quick, seed, None)
    blocks_tr = [df[list(_BIKE_NUMERIC)].to_numpy(np.float64)[tr]]
    blocks_te = [df[list(_BIKE_NUMERIC)].to_numpy(np.float64)[te]]
    names = list(_BIKE_NUMERIC)
    for col in _BIKE_CATEGORICAL:
        A, B, nm = _one_hot(df[col].to_numpy()[tr], df[col].to_numpy()[te], col)
        blocks_tr.append(A)
        blocks_te.append(B)
        names += nm
    Xtr, Xte, names = _standardise(np.hstack(blocks_tr), np.hstack(blocks_te), names)
    how = ("ISLP Bikeshare (Capital Bikeshare, hourly, 2011), y = bikers (count), 80/20 split, "
           "one-hot hr/mnth/weathersit (reference = most frequent level, levels < "
           f"{_MIN_COUNT} rows merged), workingday, holiday, temp, atemp, hum, windspeed; standardised")
    return _finish(spec, Xtr, y[tr], Xte, y[te], how, names, quick)
