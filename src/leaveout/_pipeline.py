"""Attributing a fitted scikit-learn ``Pipeline``: its transformers held fixed.

A ``Pipeline`` whose last step is a supported estimator is attributed in that estimator's
feature space.  The fitted transformers before it (scalers, ``ColumnTransformer``,
``OneHotEncoder``, ...) are treated as a fixed feature map φ: the effects are those of removing
rows from the final estimator's fit on φ(X), *not* of refitting the transformers too (a scaler
refitted without a row would move its mean and scale slightly; that change is not attributed).

Rows keep the names of the input X (its pandas index); the parameters are named by the
transformers' ``get_feature_names_out``.  A target's query rows are given *raw*, like X, and go
through the same fitted transformers.

scikit-learn is never imported here: a pipeline is recognised by class name and attributes.
"""

from __future__ import annotations

import logging

import numpy as np

from ._features import feature_names

logger = logging.getLogger(__name__)


def is_pipeline(model) -> bool:
    """True for a scikit-learn ``Pipeline`` (recognised without importing scikit-learn)."""
    return (type(model).__name__ == "Pipeline" and type(model).__module__.startswith("sklearn")
            and hasattr(model, "steps"))


def _dense(Z, what: str) -> np.ndarray:
    if hasattr(Z, "tocsr") and hasattr(Z, "nnz"):  # scipy.sparse: leaveout's design is dense
        logger.info("%s: the transformers returned a sparse matrix %s; densified", what, Z.shape)
        Z = Z.toarray()
    return np.asarray(Z)


class FixedTransform:
    """The fitted transformers of a pipeline, applied to X and to targets' query rows.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted; its last step is the estimator to attribute.
    """

    def __init__(self, pipeline):
        steps = pipeline.steps
        if len(steps) < 1:
            raise ValueError("The Pipeline has no steps.")
        final = steps[-1][1]
        if final is None or final == "passthrough":
            raise TypeError("The Pipeline's last step is 'passthrough'; its last step must be a "
                            "supported estimator (e.g. LogisticRegression, Ridge).")
        self.pipeline = pipeline
        self.final = final
        self.transformers = pipeline[:-1]
        self.n_transformers = len(steps) - 1
        names = getattr(pipeline, "feature_names_in_", None)
        if names is None and self.n_transformers:
            names = getattr(steps[0][1], "feature_names_in_", None)
        self.feature_names_in = None if names is None else np.asarray(names, dtype=object)
        self.feature_names_out = None  # known after the first transform

    def transform(self, X, what: str = "X") -> np.ndarray:
        """φ(X) as a dense float array of shape (n_rows, n_features_out)."""
        if not self.n_transformers:
            return X
        try:
            Z = self.transformers.transform(X)
        except Exception as exc:  # noqa: BLE001 - scikit-learn raises many types here
            kind = type(exc).__name__
            if kind == "NotFittedError":
                raise ValueError(f"The Pipeline's transformers are not fitted ({exc}); fit the "
                                 f"pipeline before attributing it.") from None
            raise ValueError(
                f"The Pipeline's fitted transformers could not transform {what} ({kind}: "
                f"{exc}). Pass raw rows with the columns the pipeline was fitted on.") from None
        if self.feature_names_out is None:
            self.feature_names_out = self._names_out(Z)
        return _dense(Z, what)

    def _names_out(self, Z):
        names = feature_names(Z)
        if names is not None:
            return names
        try:
            return np.asarray(self.transformers.get_feature_names_out(), dtype=object)
        except Exception:  # noqa: BLE001 - a transformer without get_feature_names_out
            logger.info("the pipeline's transformers do not name their output features")
            return None

    def transform_target(self, target):
        """The target with its query rows passed through the fitted transformers."""
        from .targets import Target

        if not self.n_transformers:
            return target
        raw = target.raw if target.raw is not None else target.X
        got = target.feature_names
        if (got is not None and self.feature_names_out is not None
                and self.feature_names_in is not None
                and len(got) == len(self.feature_names_out)
                and np.all(got == self.feature_names_out)
                and not (len(got) == len(self.feature_names_in)
                         and np.all(got == self.feature_names_in))):
            raise ValueError(
                "The target's query rows have the pipeline's transformed columns "
                f"({list(got[:3])}...). An Attributor of a Pipeline takes raw query rows, like "
                "X: they go through its fitted transformers. Pass the untransformed rows.")
        Z = self.transform(raw, "the target's query rows")
        out = Target(target.kind, Z, y=target._y_raw, reduce=target.reduce)
        out.index = target.index
        return out
