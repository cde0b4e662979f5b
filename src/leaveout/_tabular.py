"""Users' files for the command line: CSV or Parquet in, a numeric design out.

- :func:`read_table` reads CSV (``.csv``, ``.tsv``, ``.txt`` or any text file) or Parquet
  (``.parquet``/``.pq``, or any file starting with Parquet's magic bytes; needs pyarrow). Nothing
  is ever unpickled: pandas' CSV parser and pyarrow's Parquet reader only.
- :class:`Encoding` chooses the feature columns (``--features`` / ``--drop``), one-hot encodes
  the categorical ones (strings, categories) with the mapping shown, turns booleans into 0/1,
  maps the target to the family's domain, and refuses missing values naming the column.  The
  same fitted encoding is applied to query and test files.

One-hot coding: every level gets a column (``city=Oslo``) when ``l2 > 0`` (pandas' and
scikit-learn's default); with ``l2 = 0`` the first level (sorted) is dropped, since a full coding
next to the intercept would make the fit singular — predictions and their changes are the same
under any full-rank coding.

Every problem a user can fix raises :class:`UserError` (a ``ValueError``) with one line naming
the file, the column and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
#: Categorical columns with more levels than this get a warning (an identifier column?).
MANY_LEVELS = 50


class UserError(ValueError):
    """A mistake in the user's files or options; the CLI prints it on one line and exits 2."""


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise UserError('the command line reads files with pandas: pip install '
                        '"leaveout[cli]"') from None
    return pd


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_table(path, what: str = "TRAIN"):
    """Read a CSV or Parquet file into a DataFrame with unique string column names."""
    pd = _pandas()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path}: no such file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise UserError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES or head[:4] == b"PAR1":
        frame = _read_parquet(path, what)
    elif b"\x00" in head:
        raise UserError(f"{what} {path}: not a CSV or Parquet file (binary content)")
    else:
        sep = "\t" if suffix == ".tsv" else ","
        try:
            frame = pd.read_csv(path, sep=sep, encoding="utf-8")
            header = pd.read_csv(path, sep=sep, encoding="utf-8", nrows=1, header=None,
                                 dtype=str, keep_default_na=False).iloc[0].tolist()
        except UnicodeDecodeError:
            raise UserError(f"{what} {path}: not a CSV file in UTF-8 (save it as UTF-8 CSV)") \
                from None
        except pd.errors.EmptyDataError:
            raise UserError(f"{what} {path}: the file is empty") from None
        except (pd.errors.ParserError, ValueError, OverflowError, OSError) as exc:
            raise UserError(f"{what} {path}: cannot read it as CSV ({_first_line(exc)})") \
                from None
        seen = set()
        dupes = [n for n in header if n and (n in seen or seen.add(n))]
        if dupes:  # pandas would silently rename the second one "name.1"
            raise UserError(f"{what} {path}: duplicated column names {dupes[:3]}; rename them")
        if frame.shape[1] == 1 and sep != ";" and ";" in str(frame.columns[0]):
            raise UserError(f"{what} {path}: one column named {frame.columns[0]!r}: is the file "
                            f"separated by ';'? leaveout reads comma-separated CSV (or .tsv)")
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise UserError(f"{what} {path}: no data rows (it has {frame.shape[0]} rows and "
                        f"{frame.shape[1]} columns)")
    names = [str(c) for c in frame.columns]
    seen = set()
    dupes = [n for n in names if n in seen or seen.add(n)]
    if dupes:
        raise UserError(f"{what} {path}: duplicated column names {dupes[:3]}; rename them")
    frame.columns = names
    return frame.reset_index(drop=True)


def _read_parquet(path, what):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(f'{what} {path}: reading Parquet needs pyarrow: pip install '
                        f'"leaveout[parquet]"') from None
    try:
        table = pq.read_table(path)
        return table.to_pandas()
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ...
        raise UserError(f"{what} {path}: cannot read it as Parquet ({type(exc).__name__}: "
                        f"{_first_line(exc)})") from None


def split_names(text: str | None, option: str) -> list[str]:
    """Comma-separated column names of an option (``--drop a,b``), whitespace stripped."""
    if text is None:
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UserError(f"{option}: expected comma-separated column names, got {text!r}")
    return names


def _is_numeric(series) -> bool:
    return series.dtype.kind in "biuf"


def _is_categorical(series) -> bool:
    return series.dtype.kind in "OSU" or str(series.dtype) in ("category", "string") \
        or str(series.dtype).startswith("string")


def _check_complete(frame, columns, what: str, fix: str = "") -> None:
    for col in columns:
        missing = frame[col].isna().to_numpy()
        if missing.any():
            first = int(np.flatnonzero(missing)[0])
            raise UserError(
                f"{what}: column {col!r} has {int(missing.sum())} missing value(s) (first in "
                f"data row {first}); {fix or f'fill them or leave the column out (--drop {col})'}")


def _numeric_values(frame, col: str, what: str) -> np.ndarray:
    series = frame[col]
    if series.dtype.kind == "b":
        return series.to_numpy(dtype=np.float64)
    values = series.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise UserError(f"{what}: column {col!r} has infinite values (first in data row "
                        f"{int(np.flatnonzero(bad)[0])}); replace or drop them")
    return values


def _not_a_number(series):
    """The first value of ``series`` that does not read as a number (for messages)."""
    for value in series:
        try:
            float(value)
        except (TypeError, ValueError):
            return value
    return series.iloc[0]


def _labels(series) -> np.ndarray:
    return series.astype(str).to_numpy(dtype=object)


@dataclass
class Encoding:
    """How a file's columns become the model's features and target (fitted on TRAIN)."""

    target: str
    family: str
    id_column: str | None
    numeric: list = field(default_factory=list)
    categorical: dict = field(default_factory=dict)  # column -> list of levels used
    dropped_level: dict = field(default_factory=dict)  # column -> level without a column
    classes: tuple | None = None  # logistic: (label of 0, label of 1)
    notes: list = field(default_factory=list)

    @property
    def raw_features(self) -> list:
        return self.numeric + list(self.categorical)

    @property
    def feature_names(self) -> list:
        names = list(self.numeric)
        for col, levels in self.categorical.items():
            names += [f"{col}={lev}" for lev in levels]
        return names

    # -- fitting ------------------------------------------------------------------------------
    @classmethod
    def fit(cls, frame, target: str, *, family: str = "auto", l2: float = 1.0,
            id_column: str | None = None, features=(), drop=(), what: str = "TRAIN"):
        columns = list(frame.columns)
        for option, names in (("--target", [target]), ("--id", [id_column] if id_column else []),
                              ("--features", list(features)), ("--drop", list(drop))):
            unknown = [c for c in names if c not in columns]
            if unknown:
                raise UserError(f"{option}: {what} has no column {unknown[0]!r} (columns: "
                                f"{', '.join(columns[:12])}{', ...' if len(columns) > 12 else ''})")
        special = {target} | ({id_column} if id_column else set())
        if features:
            clash = [c for c in features if c in special]
            if clash:
                raise UserError(f"--features: {clash[0]!r} is the target or id column; leave it "
                                f"out of --features")
            chosen = [c for c in dict.fromkeys(features) if c not in set(drop)]
        else:
            chosen = [c for c in columns if c not in special and c not in set(drop)]
        _check_complete(frame, [target], what, "fill them or remove those rows")
        _check_complete(frame, ([id_column] if id_column else []) + chosen, what)
        enc = cls(target=target, family=family, id_column=id_column)
        enc._fit_target(frame[target], what)
        for col in chosen:
            series = frame[col]
            if _is_numeric(series):
                enc.numeric.append(col)
            elif _is_categorical(series):
                levels = sorted(set(_labels(series)))
                if l2 == 0.0:
                    enc.dropped_level[col] = levels[0]
                    levels = levels[1:]
                enc.categorical[col] = levels
                if len(levels) > MANY_LEVELS:
                    enc.notes.append(
                        f"warning: column {col!r} has {len(levels)} levels, one-hot encoded as "
                        f"{len(levels)} columns; if it identifies rows, use --id or --drop {col}")
            else:
                raise UserError(f"{what}: column {col!r} has values of type {series.dtype}, "
                                f"neither numbers nor categories; convert it or --drop {col}")
        if not chosen:
            enc.notes.append("note: no feature columns: the model is an intercept only")
        return enc

    def _fit_target(self, series, what):
        col = self.target
        family = self.family
        numeric = _is_numeric(series)
        distinct = series.nunique()
        if family == "auto":
            family = "logistic" if distinct == 2 else "squared"
            self.notes.append(f"family: {family} (chosen from the target: "
                              f"{'two distinct values' if distinct == 2 else 'numbers'}; "
                              f"set --family to change it)")
        self.family = family
        if family == "logistic":
            if distinct != 2:
                raise UserError(f"--family logistic: target column {col!r} has {distinct} "
                                f"distinct value(s); it needs exactly two classes")
            values = sorted(series.unique().tolist(), key=lambda v: (str(type(v)), v))
            self.classes = (values[0], values[1])
            if not (numeric and set(values) == {0, 1}):
                self.notes.append(f"target {col!r}: {values[0]!r} -> 0, {values[1]!r} -> 1 "
                                  f"(effects on the log-odds of {values[1]!r})")
        elif not numeric:
            raise UserError(f"target column {col!r} is not numeric (e.g. {_not_a_number(series)!r}"
                            f"); for two classes use --family logistic")

    # -- applying -----------------------------------------------------------------------------
    def target_values(self, frame, what: str) -> np.ndarray:
        if self.target not in frame.columns:
            raise UserError(f"{what}: no target column {self.target!r}")
        _check_complete(frame, [self.target], what, "fill them or remove those rows")
        series = frame[self.target]
        if self.family == "logistic":
            zero, one = self.classes
            values = series.to_numpy(dtype=object)
            ok = (values == one) | (values == zero)
            if not ok.all():
                bad = values[~ok][0]
                raise UserError(f"{what}: target column {self.target!r} has the value {bad!r}, "
                                f"which is neither class of TRAIN ({zero!r}, {one!r})")
            return (values == one).astype(np.float64)
        if not _is_numeric(series):
            raise UserError(f"{what}: target column {self.target!r} is not numeric")
        values = _numeric_values(frame, self.target, what)
        if self.family == "poisson" and (values < 0).any():
            raise UserError(f"--family poisson: target column {self.target!r} has negative "
                            f"values (counts must be >= 0)")
        return values

    def design(self, frame, what: str):
        """The encoded features of ``frame`` as a float DataFrame (columns: feature_names)."""
        pd = _pandas()
        missing = [c for c in self.raw_features if c not in frame.columns]
        if missing:
            raise UserError(f"{what}: no column {missing[0]!r}, which TRAIN's model uses "
                            f"(it needs {', '.join(self.raw_features[:12])})")
        _check_complete(frame, self.raw_features, what)
        parts = {}
        for col in self.numeric:
            if not _is_numeric(frame[col]):
                example = _not_a_number(frame[col])
                raise UserError(f"{what}: column {col!r} is numeric in TRAIN but not here "
                                f"(e.g. {example!r})")
            parts[col] = _numeric_values(frame, col, what)
        for col, levels in self.categorical.items():
            values = _labels(frame[col])
            known = set(levels) | ({self.dropped_level[col]} if col in self.dropped_level
                                   else set())
            unseen = [v for v in dict.fromkeys(values) if v not in known]
            if unseen:
                raise UserError(f"{what}: column {col!r} has the value {unseen[0]!r}, which "
                                f"TRAIN does not have (its values: {', '.join(sorted(known)[:8])})")
            for lev in levels:
                parts[f"{col}={lev}"] = (values == lev).astype(np.float64)
        out = pd.DataFrame(parts, columns=self.feature_names, index=pd.RangeIndex(len(frame)))
        if self.id_column is not None and self.id_column in frame.columns:
            ids = frame[self.id_column]
            _check_complete(frame, [self.id_column], what)
            if ids.duplicated().any():
                raise UserError(f"{what}: --id column {self.id_column!r} has repeated values "
                                f"(e.g. {ids[ids.duplicated()].iloc[0]!r}); ids must be unique")
            out.index = pd.Index(ids.to_numpy(), name=self.id_column)
        return out

    def mapping_lines(self) -> list:
        """The encoding in words, one line per categorical column."""
        lines = []
        for col, levels in self.categorical.items():
            base = (f" ({self.dropped_level[col]!r} is the baseline, l2 = 0)"
                    if col in self.dropped_level else "")
            shown = ", ".join(f"{col}={lev}" for lev in levels[:8])
            more = f", ... ({len(levels)} columns)" if len(levels) > 8 else ""
            lines.append(f"one-hot {col!r}: {shown}{more}{base}")
        return lines
