"""Confusion counts of multiclass labels: the K x K matrix for reports, and its diagonal
and margins, which are all the label metrics need."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._multiclass_inputs import _check_inputs, _Inputs


@dataclass(frozen=True, slots=True)
class _ClassCounts:
    cases: NDArray[np.intp]  # row sums of the confusion matrix
    predictions: NDArray[np.intp]  # column sums
    true_positives: NDArray[np.intp]  # diagonal


def _class_counts(inputs: _Inputs) -> _ClassCounts:
    """Diagonal and margins of the confusion matrix in O(n + K), by three bincounts.

    The per-class metrics need nothing else, and the K x K matrix itself would let a
    probability matrix with very many columns exhaust memory.
    """
    k = inputs.n_classes
    hits = inputs.labels[inputs.labels == inputs.predicted]
    return _ClassCounts(
        cases=np.bincount(inputs.labels, minlength=k),
        predictions=np.bincount(inputs.predicted, minlength=k),
        true_positives=np.bincount(hits, minlength=k),
    )


def multiclass_confusion_matrix(
    y_true: ArrayLike, y_pred_or_prob: ArrayLike, *, n_classes: int | None = None
) -> NDArray[np.int64]:
    """The K x K confusion matrix: ``C[i, j]`` cases of true class ``i`` predicted ``j``.

    Predictions are labels or a probability matrix read by its row-wise argmax, checked as
    for every metric here. Meant for reports, where K is the task's handful of classes.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels 0..K-1.
    y_pred_or_prob : array-like of shape (n,) or (n, K)
        Predicted labels, or class probabilities whose row-wise argmax is the prediction.
    n_classes : int, optional
        K; pass it so that a class nobody has or predicts still gets its row and column.

    Returns
    -------
    ndarray of int64, shape (K, K)
        Rows true classes, columns predicted classes, as ``sklearn.metrics.confusion_matrix``
        with ``labels=range(K)``.

    Examples
    --------
    >>> multiclass_confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1]).tolist()
    [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    """
    inputs = _check_inputs(
        y_true, y_pred_or_prob, n_classes, name="y_pred_or_prob", labels_allowed=True
    )
    k = inputs.n_classes
    cells = np.bincount(inputs.labels * k + inputs.predicted, minlength=k * k)
    return cells.reshape(k, k).astype(np.int64)
