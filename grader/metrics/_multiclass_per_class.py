"""One-vs-rest ROC AUC of every class of a multiclass prediction, each the binary
:func:`~grader.metrics._classification_ranking.roc_auc` with its DeLong interval."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike

from grader.metrics._classification_ranking import roc_auc
from grader.metrics._multiclass_inputs import _check_inputs, _Inputs
from grader.metrics._result import MetricResult
from grader.metrics._validation import check_alpha


def _per_class(inputs: _Inputs, alpha: float) -> dict[int, MetricResult]:
    assert inputs.probs is not None
    n = inputs.labels.shape[0]
    counts = np.bincount(inputs.labels, minlength=inputs.n_classes)
    results: dict[int, MetricResult] = {}
    # One binary roc_auc per class (K is small): ties and midranks follow one implementation.
    for k in range(inputs.n_classes):
        result = roc_auc(inputs.labels == k, inputs.probs[:, k], alpha=alpha)
        method = f"class {k} vs rest (one-vs-rest); {result.method}"
        if result.defined:
            results[k] = replace(result, method=method)
            continue
        if counts[k] == 0:
            reason = (
                f"class {k} is absent from y_true (0 of {n} cases): its one-vs-rest ROC AUC "
                f"needs at least one case of class {k} and one of another class"
            )
        else:
            reason = (
                f"every case in y_true is class {k} ({n} cases): its one-vs-rest ROC AUC needs "
                f"at least one case of another class"
            )
        results[k] = replace(result, method=method, reason=reason)
    return results


def per_class_roc_auc(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_classes: int | None = None,
    alpha: float = 0.05,
) -> dict[int, MetricResult]:
    """One-vs-rest ROC AUC of every class, each with a DeLong interval.

    Class ``k``'s AUC is :func:`grader.metrics.roc_auc` of ``y_true == k`` against
    ``y_prob[:, k]``; its result keeps the binary metric's name ``"roc_auc"`` and says
    which class in ``method``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels 0..K-1.
    y_prob : array-like of shape (n, K)
        Class probabilities: finite, in [0, 1], each row summing to 1 within 1e-6.
    n_classes : int, optional
        K; must equal ``y_prob.shape[1]`` when given.
    alpha : float, default=0.05
        Each interval is a ``1 - alpha`` DeLong interval.

    Returns
    -------
    dict of int to MetricResult
        Keyed by class, in class order. A class absent from ``y_true`` (or holding every
        case) has value NaN and a reason naming it.

    Examples
    --------
    >>> per = per_class_roc_auc([0, 1, 2, 2], [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3],
    ...                                         [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    >>> {k: r.value for k, r in per.items()}
    {0: 1.0, 1: 1.0, 2: 1.0}
    """
    alpha = check_alpha(alpha)
    inputs = _check_inputs(y_true, y_prob, n_classes, name="y_prob", labels_allowed=False)
    return _per_class(inputs, alpha)
