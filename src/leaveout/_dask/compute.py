"""Running Dask graphs: deterministic reductions, and a clear error when the cluster goes away.

Reductions over row blocks are summed in a fixed tree over the blocks in their order (groups of
:data:`SPLIT_EVERY` adjacent partials, each group summed left to right), so the answer does not
depend on how many workers there are, which worker ran which block, or in which order the
blocks finished: the same graph gives the same bits.

:func:`compute` uses the current ``dask.distributed`` client when there is one and otherwise
Dask's default scheduler.  With a client it watches the cluster while it waits: a scheduler that
is unreachable, or a cluster left with no workers, for longer than the Dask configuration value
``leaveout.lost-cluster-timeout`` (seconds, default 30) ends the wait with
:class:`~leaveout.exceptions.DaskClusterError` instead of a hang.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import CancelledError

import dask
import numpy as np

from ..exceptions import DaskClusterError

logger = logging.getLogger(__name__)

#: Partials summed per node of the reduction tree.
SPLIT_EVERY = 8
#: Seconds between two looks at the cluster's health while waiting for results.
POLL = 0.5
#: Default for ``dask.config`` key ``leaveout.lost-cluster-timeout``.
LOST_CLUSTER_TIMEOUT = 30.0


def _sum_in_order(parts):
    """Σ of a list of equal-shaped NumPy partials (or tuples of them), left to right."""
    total = parts[0]
    for part in parts[1:]:
        if isinstance(total, tuple):
            total = tuple(a + b for a, b in zip(total, part))
        else:
            total = total + part
    return total


def tree_sum(parts: list):
    """One delayed object: the sum of ``parts`` (delayed partials) over a fixed tree."""
    if not parts:
        raise ValueError("nothing to sum")  # pragma: no cover - designs have >= 1 block
    while len(parts) > 1:
        parts = [dask.delayed(_sum_in_order, pure=True)(parts[i:i + SPLIT_EVERY])
                 for i in range(0, len(parts), SPLIT_EVERY)]
    return parts[0]


def current_client():
    """The ``dask.distributed`` client in use, or None (distributed missing or no client)."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask without distributed
        return None
    try:
        return Client.current()  # the client of ``with client.as_current():``, else the latest
    except ValueError:
        return None


def _lost(client) -> str | None:
    """Why the cluster cannot run tasks now, or None when it can."""
    status = getattr(client.status, "value", client.status)
    if status != "running":
        return f"the client lost its scheduler (client status {status!r})"
    # The client's own copy of the scheduler's identity, refreshed every few seconds: its count
    # "n_workers" (distributed ≥ 2025: the periodic refresh lists no workers individually, so
    # an empty "workers" there says nothing), else the workers it lists (older versions).
    info = getattr(client, "_scheduler_identity", None) or {}
    n = info.get("n_workers")
    if n is None and "workers" in info:
        n = len(info["workers"])
    if n == 0:
        return "the cluster has no workers left"
    return None


def compute(*collections, what: str = "the computation", optimize: bool = True):
    """``dask.compute(*collections)``; with a distributed client, fail clearly if it goes away.

    ``optimize=False`` skips Dask's graph optimisation, for graphs built from already optimised
    blocks (``to_delayed``), where it would only cost time.

    Raises
    ------
    DaskClusterError
        The scheduler has been unreachable, or the cluster without workers, for longer than
        ``leaveout.lost-cluster-timeout`` seconds; or a task was lost with its worker more often
        than the scheduler allows (``KilledWorker``: workers dying, typically of memory).
    """
    client = current_client()
    if client is None:
        return dask.compute(*collections, optimize_graph=optimize)
    from distributed import KilledWorker, wait

    timeout = float(dask.config.get("leaveout.lost-cluster-timeout", LOST_CLUSTER_TIMEOUT))
    futures = client.compute(list(collections), optimize_graph=optimize)
    lost_since = None
    try:
        while True:
            try:
                wait(futures, timeout=POLL)
                break
            except TimeoutError:
                pass
            why = _lost(client)
            if why is None:
                lost_since = None
                continue
            lost_since = lost_since or time.monotonic()
            if time.monotonic() - lost_since > timeout:
                raise DaskClusterError(
                    f"The Dask cluster went away during {what}: {why} for more than "
                    f"{timeout:g} s. No result was returned. Restart the cluster (or reconnect "
                    f"the client) and rerun; the answer does not depend on the cluster's size. "
                    f"The wait is set by dask.config key 'leaveout.lost-cluster-timeout'.")
        return tuple(client.gather(futures))
    except KilledWorker as exc:
        raise DaskClusterError(
            f"Dask workers died repeatedly while running {what} ({exc}); the scheduler gave "
            f"up on the task. Workers usually die of memory: use smaller row chunks "
            f"(X.rechunk({{0: rows}})) or give the workers more memory.") from None
    except CancelledError:
        # Nothing in leaveout cancels a running future: the cluster or the client was closed.
        why = _lost(client) or "its tasks were cancelled"
        raise DaskClusterError(
            f"The Dask cluster went away during {what}: {why}. No result was returned. "
            f"Restart the cluster (or reconnect the client) and rerun.") from None
    finally:
        for fut in futures:
            if not fut.done():
                fut.cancel()


def persist(array):
    """``array`` kept in the cluster's memory when there is a distributed client, else as is.

    For y and the weights (two numbers a row, 2/p of X): each Newton step then reads them
    without recomputing their graph.  X is never persisted by leaveout (``X = X.persist()`` is
    the user's choice: without it each pass recomputes X from its source).
    """
    client = current_client()
    return array if client is None else client.persist(array)


def compute_sum(parts: list, what: str):
    """The ordered sum of delayed partials, computed (see :func:`tree_sum`)."""
    (total,) = compute(tree_sum(parts), what=what, optimize=False)
    return total


def concat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.intp)
