"""Ways of applying H⁻¹ (DESIGN.md §8), and the one function that chooses between them.

- ``"primal"`` — Cholesky of the p × p Hessian (:mod:`leaveout._solve`): O(np² + p³), p² memory;
- ``"kernel"`` — the bordered (n+1) × (n+1) kernel form (:mod:`.kernel`): O(n · nnz + n³),
  n² memory, needs l2 > 0;
- ``"cg"`` — conjugate gradients on Hessian–vector products (:mod:`.cg`): O(nnz) per
  iteration, no matrix at all; used by the fit for Newton steps on wide sparse designs, and by
  the Attributor (:mod:`.cg_state`) when neither n nor p is small.  Its answers are as accurate
  as its ``rtol`` (and, for leverages, its random probes) make them, and it says so.

:func:`choose` picks by estimated cost (primal while p ≤ n or p ≤ ``PRIMAL_MAX`` (500); otherwise the
cheaper of primal and kernel), checks the memory the choice needs against
:func:`memory_limit` before anything large is allocated, and says why (``Choice.reason``).
When neither the primal nor the kernel form fits in memory, "auto" takes ``"cg"``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from ..exceptions import ProblemTooLargeError

logger = logging.getLogger(__name__)

SOLVERS = ("auto", "primal", "kernel", "cg")
FIT_SOLVERS = ("auto", "primal", "kernel", "cg")
#: Up to this many parameters the primal form is always used (when it fits in memory).
PRIMAL_MAX = 500
#: Nominal CG iterations per Newton step, for the fit's cost comparison.
CG_ITERS = 300
#: Assumed sustained speed (float64 operations per second) behind the time estimates.
FLOPS = 1e10
#: Memory budget in bytes; None: 80 % of physical memory (override with the environment
#: variable LEAVEOUT_MEMORY_LIMIT, in bytes or with a suffix K/M/G).
MEMORY_LIMIT: int | None = None


def memory_limit() -> int:
    """Bytes a single computation may allocate."""
    if MEMORY_LIMIT is not None:
        return int(MEMORY_LIMIT)
    env = os.environ.get("LEAVEOUT_MEMORY_LIMIT")
    if env:
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(env[-1].upper(), 1)
        try:
            return int(float(env[:-1] if mult > 1 else env) * mult)
        except ValueError:
            logger.warning("LEAVEOUT_MEMORY_LIMIT=%r is not a size; ignored.", env)
    try:
        return int(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 << 30


def gib(nbytes: float) -> str:
    """A byte count for messages: GiB, or MiB below 1 GiB."""
    if nbytes >= 1 << 30:
        return f"{nbytes / (1 << 30):.2f} GiB"
    return f"{nbytes / (1 << 20):.2f} MiB"


@dataclass(frozen=True)
class Choice:
    """A solver choice: ``name``, why (``reason``), estimated peak bytes and seconds."""

    name: str
    reason: str
    memory: float
    seconds: float


def _costs(design) -> dict:
    n, p, nnz = design.n_samples, design.n_params, max(design.nnz, 1)
    sparse = design.nnz < design.n_samples * design.n_features
    # Building X̃ᵀWX̃: n p² dense, Σ_i nnz_i² ≈ nnz²/n sparse; then p³/3 for Cholesky.
    gram = (nnz * nnz / max(n, 1)) if sparse else n * p * p
    k_build = n * nnz if sparse else n * n * design.n_features
    return {
        "primal": (gram + p**3 / 3, 2.0 * 8 * p * p + 8 * p * 64),
        "kernel": (k_build + 2 * n**3 / 3, 3.0 * 8 * n * n),
        "kernel_step": n**3 / 3 + n * n,
        "primal_step": gram + p**3 / 3,
        "cg_step": CG_ITERS * (4.0 * nnz + 10 * p + 4 * n),
    }


def choose(design, l2: float, requested: str = "auto", *, purpose: str = "attribute") -> Choice:
    """The solver for ``design`` with penalty ``l2``: ``requested`` or, for "auto", by cost.

    ``purpose="fit"`` may also choose ``"cg"`` (Newton steps by conjugate gradients) when that
    is cheaper than factorising at every step.

    Raises
    ------
    ValueError
        ``"kernel"`` requested with l2 = 0.
    ProblemTooLargeError
        The chosen form would need more memory than :func:`memory_limit`.
    """
    n, p = design.n_samples, design.n_params
    c = _costs(design)
    limit = memory_limit()
    if requested == "kernel" and not l2 > 0.0:
        raise ValueError(
            f"solver='kernel' needs l2 > 0 (the kernel form divides by λ); got l2={l2:g}. "
            + (f"With p={p} > n={n} and l2=0 the optimum is not unique anyway: use l2 > 0."
               if p > n else "Use solver='primal' or 'auto'."))
    if requested == "auto":
        if not l2 > 0.0:
            name, why = "primal", "l2 = 0 (the kernel form needs l2 > 0)"
        elif (p <= PRIMAL_MAX or p <= n) and c["primal"][1] <= limit:
            name, why = "primal", (f"p = {p} <= {PRIMAL_MAX}" if p <= PRIMAL_MAX
                                   else f"p = {p} <= n = {n}")
        elif c["kernel"][1] <= limit and (c["kernel"][0] < c["primal"][0]
                                          or c["primal"][1] > limit):
            name, why = "kernel", (f"n = {n} < p = {p}: the kernel form needs ~"
                                   f"{c['kernel'][0]:.2g} operations, the primal ~"
                                   f"{c['primal'][0]:.2g}")
        else:
            name, why = "primal", (f"the primal form is cheaper (~{c['primal'][0]:.2g} vs "
                                   f"~{c['kernel'][0]:.2g} operations)")
        # (With l2 = 0 and p > n the Hessian is singular: no iteration would converge.)
        if name == "primal" and c["primal"][1] > limit and (c["kernel"][1] > limit
                                                            or not l2 > 0.0) \
                and (l2 > 0.0 or p <= n):
            name, why = "cg", (f"neither the primal form (~{gib(c['primal'][1])}) nor the "
                               f"kernel form (~{gib(c['kernel'][1])}"
                               + ("" if l2 > 0.0 else ", and it needs l2 > 0")
                               + f") fits in the memory budget of {gib(limit)}: conjugate "
                               f"gradients on Hessian-vector products (no matrix is formed)")
        if purpose == "fit" and name == "kernel" and c["cg_step"] < c["kernel_step"]:
            name, why = "cg", (f"{why}; Newton steps by conjugate gradients (~{c['cg_step']:.2g} "
                               f"operations each) are cheaper than factorising n x n ones "
                               f"(~{c['kernel_step']:.2g})")
    else:
        name, why = requested, "requested"
    if name == "cg":
        from .cg import BLOCK

        # The fit: ~10 Newton steps of one solve; an attribution: ~the leverage probes
        # (64 by default) and a few more.  Memory: X (its CSR arrays) and blocks of BLOCK
        # vectors of length n and p (the CG recursions, the probes).
        flops = c["cg_step"] * (10 if purpose == "fit" else 80)
        mem = 8.0 * (2 * design.nnz + 8 * BLOCK * (n + p))
    else:
        flops, mem = c[name]
    choice = Choice(name, why, mem, flops / FLOPS)
    if mem > limit:
        other = "kernel" if name == "primal" else "primal"
        alt_mem = c[other][1]
        cg_mem = 8.0 * (2 * design.nnz + 8 * 32 * (n + p))
        hint = (f"solver={other!r} would need ~{gib(alt_mem)}"
                + ("" if alt_mem <= limit else " (too much as well)")
                + ("" if other != "kernel" or l2 > 0 else " and l2 > 0")
                + ("" if name == "cg" else
                   f"; solver='cg' (conjugate gradients, to the accuracy it reports) ~"
                   f"{gib(cg_mem)}"))
        raise ProblemTooLargeError(
            f"The {name} form for n={n} rows and p={p} parameters needs ~{gib(mem)} of memory "
            f"(and ~{choice.seconds:.0f} s), more than the {gib(limit)} available "
            f"(leaveout.solvers.MEMORY_LIMIT or LEAVEOUT_MEMORY_LIMIT). {hint}. Reduce the "
            f"features (e.g. max_features of a vectoriser) or the rows.")
    logger.info("solver %s for n=%d, p=%d (%s); ~%s, ~%.1f s", name, n, p, why, gib(mem),
                choice.seconds)
    return choice


def check_output(n_rows: int, n_cols: int, what: str, instead: str) -> None:
    """Refuse to allocate an n_rows × n_cols float64 result larger than half the memory budget."""
    size = 8.0 * n_rows * n_cols
    if size > memory_limit() / 2:
        raise ProblemTooLargeError(
            f"{what} would be a dense {n_rows} x {n_cols} array of {gib(size)}, too large to "
            f"return (budget {gib(memory_limit() / 2)}). {instead}")


def hessian_factor(loss, theta: np.ndarray, eta: np.ndarray, name: str | None = None):
    """(H or None, a factor applying H⁻¹) at θ by the solver ``name`` (default ``loss.solver``).

    Only the primal form forms H (p × p); the kernel and CG factors work from the design and the
    row curvatures.
    """
    from .._solve import factorize

    name = name or getattr(loss, "solver", "primal")
    if name == "primal":
        H = loss.hessian(theta, eta)
        return H, factorize(H)
    w = loss.row_curvature(eta)
    if name == "kernel":
        from .kernel import KernelFactor

        return None, KernelFactor(loss.design, w, loss.l2)
    if name == "cg":
        from .cg import CGFactor

        return None, CGFactor(loss.design, w, loss.penalty)
    raise ValueError(f"Unknown solver {name!r}; valid solvers: {', '.join(FIT_SOLVERS)}.")
