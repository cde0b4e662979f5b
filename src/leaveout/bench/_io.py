"""Benchmark file helpers: atomic writes (see ``leaveout._atomic``) of arrays, CSV and text."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from .._atomic import atomic_write_bytes


def atomic_write_with(path: Path, write) -> None:
    """Atomically write what ``write(fileobj)`` writes into a binary buffer."""
    buf = io.BytesIO()
    write(buf)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_savez(path: Path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_csv(path: Path, columns, rows) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
