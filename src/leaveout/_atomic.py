"""Atomic file writes: a killed process leaves either the old file or the new one, never half.

The temporary file is named after the writing host and process, so that a later run can tell the
leftovers of a killed writer (its process is gone) from a file another live process is still
writing, and sweep only the former (:func:`remove_orphans`).
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

_HOST = socket.gethostname().replace(".", "_").replace("~", "_")


def _owner_tag() -> str:
    return f"{_HOST}~{os.getpid()}"


def atomic_write_bytes(path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_owner_tag()}~", suffix=".tmp",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp makes the file private; these are ordinary data files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(directory, recursive: bool = True) -> int:
    """Delete temporary files left by killed writers on this host; return how many.

    Files being written by a live process, or by another host, are left alone.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    found = directory.rglob(".*.tmp") if recursive else directory.glob(".*.tmp")
    removed = 0
    for tmp in found:
        parts = tmp.name.split("~")
        if len(parts) < 3 or parts[-3].rsplit(".", 1)[-1] != _HOST:
            continue
        try:
            pid = int(parts[-2])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            try:
                tmp.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed
