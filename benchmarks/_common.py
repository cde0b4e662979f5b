"""Shared helpers of the benchmark scripts: synthetic data, BLAS threads, machine description.

Only the public API of leaveout is used by the benchmarks; this module does not import it.
"""

from __future__ import annotations

import datetime
import os
import platform

import numpy as np


def logistic_data(n: int, p: int, *, seed: int = 0, n_test: int = 0):
    """Synthetic logistic data with an isotropic Gaussian design.

    Rows x ~ N(0, I_p / p) (so ‖x‖ ≈ 1 whatever p); true coefficients scaled to ‖β‖² = p, so the
    true linear predictor x·β ~ N(0, 1); y ~ Bernoulli(σ(x·β)). Returns ``X, y, X_test, y_test``
    (C-contiguous float64).
    """
    rng = np.random.default_rng(seed)
    beta = rng.normal(size=p)
    beta *= np.sqrt(p) / np.linalg.norm(beta)

    def draw(m):
        X = rng.normal(size=(m, p)) / np.sqrt(p)
        y = (rng.random(m) < 1.0 / (1.0 + np.exp(-(X @ beta)))).astype(np.float64)
        return np.ascontiguousarray(X), y

    X, y = draw(n)
    X_test, y_test = draw(n_test)
    return X, y, X_test, y_test


def random_sets(n: int, k: int, count: int, *, seed: int) -> list[np.ndarray]:
    """``count`` removal sets of ``k`` distinct rows each, drawn uniformly."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n, size=k, replace=False)) for _ in range(count)]


def limit_blas_threads(threads: int):
    """Limit the BLAS/OpenMP thread pools to ``threads`` (0: leave them as they are).

    Returns a short description of the BLAS in use and its thread count.
    """
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return "BLAS threads: unknown (threadpoolctl not installed)"
    # threadpoolctl only limits the libraries already loaded: load every BLAS first (SciPy ships
    # its own OpenBLAS, distinct from NumPy's, and loads it on the first import of scipy.linalg).
    import scipy.linalg  # noqa: F401
    import leaveout  # noqa: F401
    try:
        import sklearn.linear_model  # noqa: F401
    except ImportError:  # pragma: no cover
        pass
    if threads > 0:
        # Kept alive for the life of the process on purpose.
        limit_blas_threads._limiter = threadpool_limits(limits=threads)
    info = [f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)"
            for d in threadpool_info() if d.get("user_api") == "blas"]
    return "BLAS: " + (", ".join(info) or "unknown")


def machine_line() -> str:
    """One line describing the machine, the date and the load."""
    try:
        load = "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        load = "load average unknown"
    import scipy
    import sklearn

    return (f"{datetime.date.today().isoformat()} | {platform.machine()} | {_cpu_model()} | "
            f"{os.cpu_count()} logical CPUs | {load} | Python {platform.python_version()}, "
            f"NumPy {np.__version__}, SciPy {scipy.__version__}, scikit-learn "
            f"{sklearn.__version__} | leaveout {_leaveout_version()}")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _leaveout_version() -> str:
    """leaveout's version and, in a git checkout, its commit (``+dirty`` for local changes)."""
    import subprocess

    import leaveout

    out = leaveout.__version__
    root = os.path.dirname(os.path.abspath(leaveout.__file__))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=10)
        if rev.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=root,
                                   capture_output=True, text=True, timeout=10)
            out += f" (git {rev.stdout.strip()}{'+dirty' if dirty.stdout.strip() else ''})"
    except (OSError, subprocess.SubprocessError):
        pass
    return out
