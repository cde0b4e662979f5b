"""The family abstraction: a per-row loss on the linear predictor.

A family supplies the loss ``ℓ(η, y)`` of one row and its first two derivatives with respect to
the linear predictor ``η``.  Everything else (gradients, Hessians, leverages of a linear model) is
built from these in :mod:`leaveout._linear`, once, for every family.

For the families here a row has a single linear predictor (``n_outputs == 1``): ``η`` has shape
``(n,)`` and so do ``ℓ'`` and ``ℓ''``.  A future multinomial family will have ``n_outputs == K``,
``η`` of shape ``(n, K)``, ``ℓ'`` of shape ``(n, K)`` and ``ℓ''`` of shape ``(n, K, K)``: code
outside this package must ask for :attr:`Family.n_outputs` rather than assume a row's curvature is a
scalar.
"""

from __future__ import annotations

import numpy as np


class Family:
    """Base class of a loss family; subclasses are stateless singletons.

    Attributes
    ----------
    name : str
        Registry name (``"logistic"``, ...).
    n_outputs : int
        Number of linear predictors per row (1 for every family so far).
    y_domain : str
        Human-readable description of the allowed labels, used in error messages.
    """

    name: str = ""
    n_outputs: int = 1
    y_domain: str = ""
    #: Whether ℓ ≥ 0 for every η and label: then Σ s_i|ℓ_i| (the objective's scale, the size
    #: of its rounding) is the data part of the objective itself, with no pass of its own.
    nonnegative_loss: bool = False

    def loss(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-row loss ``ℓ(η, y)``, array of shape (n,)."""
        raise NotImplementedError

    def d1(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        """First derivative ``ℓ'(η, y)`` with respect to ``η``, shape (n,)."""
        raise NotImplementedError

    def d2(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Second derivative ``ℓ''(η, y)``, shape (n,) (a (n, K, K) block when ``n_outputs > 1``)."""
        raise NotImplementedError

    def fused_labels(self, y: np.ndarray) -> tuple:
        """What :meth:`loss_and_d1` reads of the labels, made once per fit: a tuple of arrays of
        shape (n,), sliced by rows (default ``(y,)``)."""
        return (y,)

    def loss_and_d1(self, eta: np.ndarray, *labels: np.ndarray) -> tuple:
        """``(ℓ(η, y), ℓ'(η, y))``, each of shape (n,), in one pass over ``η``: the per-row
        terms of a fit's objective and gradient, as accurate as :meth:`loss` and :meth:`d1`
        (to rounding).  ``labels`` are the rows' slices of :meth:`fused_labels`.  Default:
        :meth:`loss` and :meth:`d1`."""
        (y,) = labels
        return self.loss(eta, y), self.d1(eta, y)

    def d1_fused(self, eta: np.ndarray, *labels: np.ndarray) -> np.ndarray:
        """``ℓ'(η, y)`` from the rows' slices of :meth:`fused_labels`, as accurate as :meth:`d1`
        (to rounding): the gradient terms of a fit's sweep that does not need the objective.
        Default: :meth:`d1`."""
        (y,) = labels
        return self.d1(eta, y)

    def d1_fast(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``ℓ'(η, y)`` to absolute rounding (ε times the terms of its difference) rather than
        relative: for sums of gradient terms, which round at that level anyway (the refreshes
        of refined Newton steps).  Default: :meth:`d1`."""
        return self.d1(eta, y)

    def weighted_d1_into(self, eta: np.ndarray, y: np.ndarray, s: np.ndarray,
                         sy: np.ndarray) -> np.ndarray:
        """Overwrite ``eta`` with ``s ∘ ℓ'(η, y)`` and return it, to the absolute rounding of
        :meth:`d1_fast` (the refreshes of refined Newton steps).  ``s`` are row weights and
        ``sy`` = s ∘ y, both broadcastable to ``eta`` (families whose ℓ' is a mean minus the
        label compute s ∘ mean − s ∘ y, in place).  Default: ``s ∘ d1_fast(η, y)``."""
        return np.multiply(self.d1_fast(eta, y), s, out=eta)

    def d1_scale(self, eta: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Size of the terms whose difference is ``ℓ'`` (its rounding error is ε times this).

        Default ``|ℓ'| + |y|``: ℓ' is a mean minus the label (squared, Poisson), which rounds
        relative to the larger of the two.
        """
        return np.abs(self.d1(eta, y)) + np.abs(y)

    def mean(self, eta: np.ndarray) -> np.ndarray:
        """Inverse link: the mean prediction ``μ(η)``."""
        raise NotImplementedError

    def mean_derivative(self, eta: np.ndarray) -> np.ndarray:
        """``dμ/dη``, shape (n,)."""
        raise NotImplementedError

    def loss_change(self, eta: np.ndarray, D: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``ℓ(η + D, y) − ℓ(η, y)`` elementwise (``η``, ``y`` broadcast against ``D``).

        Families override this with a form that does not subtract two nearly equal losses, so
        the change is accurate to rounding relative to itself even when ``D`` is tiny.
        """
        return self.loss(eta + D, y) - self.loss(eta, y)

    def mean_change(self, eta: np.ndarray, D: np.ndarray) -> np.ndarray:
        """``μ(η + D) − μ(η)`` elementwise, without cancellation where the family allows."""
        return self.mean(eta + D) - self.mean(eta)

    def invalid_labels(self, y: np.ndarray) -> np.ndarray:
        """Boolean mask of labels outside the family's domain."""
        raise NotImplementedError

    def initial_intercept(self, y: np.ndarray, weights: np.ndarray) -> float:
        """A starting intercept for the fit (the optimum of an intercept-only model when finite)."""
        return 0.0

    def __repr__(self) -> str:
        return f"<family {self.name!r}>"
