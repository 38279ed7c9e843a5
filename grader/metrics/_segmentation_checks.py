"""Input checks of the segmentation metrics: label maps, structure labels, voxel spacing,
tolerance, the lists of cases and per-case values.

Every message names the argument and says what was received and what is expected (see
the edge-case policy in :mod:`grader.metrics._segmentation`). Nothing is repaired: a
float map must hold whole numbers, and a 4-D array is rejected with a hint rather than
squeezed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _show(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _as_label_map(values: ArrayLike, name: str) -> NDArray[np.integer]:
    """Return a 2-D or 3-D integer label map; bool becomes uint8, whole floats int64.

    Negative integers are caught later, by :func:`_overlap_counts`, which reads the
    foreground anyway.
    """
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be read as a label map array: {exc}") from exc
    if array.ndim not in (2, 3):
        hint = ""
        if array.ndim == 4:
            hint = (
                " Remove a channel or batch axis (e.g. pass x[0]); for one-hot or "
                "probability maps pass x.argmax(axis=0)."
            )
        raise ValueError(
            f"{name} must be a 2-D or 3-D label map; got an array of shape {array.shape}.{hint}"
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); a label map needs voxels")
    kind = array.dtype.kind
    if kind == "b":
        return array.view(np.uint8)
    if kind in "iu":
        return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))
    if kind == "f":
        return _whole_float_labels(array, name)
    raise ValueError(f"{name} must be an integer label map; got dtype {array.dtype}")


def _whole_float_labels(array: NDArray[np.floating], name: str) -> NDArray[np.int64]:
    """A float label map (as e.g. nibabel's get_fdata() reads one) as integers, when every
    value is a whole, non-negative number."""
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf; a label map holds integer labels")
    if np.any(array != np.floor(array)):
        raise ValueError(
            f"{name} must hold integer labels; got non-integer values such as "
            f"{_show(array[array != np.floor(array)].flat[0])}. Threshold or argmax "
            f"probabilities before evaluating"
        )
    if array.min() < 0:
        raise ValueError(
            f"{name} must hold non-negative labels (0 = background); got minimum "
            f"{_show(array.min())}"
        )
    return array.astype(np.int64)


def _check_pair(
    reference: ArrayLike,
    prediction: ArrayLike,
    ref_name: str = "reference",
    pred_name: str = "prediction",
) -> tuple[NDArray[np.integer], NDArray[np.integer]]:
    ref = _as_label_map(reference, ref_name)
    pred = _as_label_map(prediction, pred_name)
    if ref.shape != pred.shape:
        raise ValueError(
            f"{ref_name} and {pred_name} must have the same shape; got {ref_name}.shape="
            f"{ref.shape} and {pred_name}.shape={pred.shape} (resample the prediction onto "
            f"the reference grid)"
        )
    return ref, pred


def _check_labels(labels: Sequence[int]) -> tuple[int, ...]:
    if isinstance(labels, (str, bytes)) or not isinstance(labels, (Sequence, np.ndarray)):
        raise ValueError(
            f"labels must be a sequence of structure labels, e.g. [1, 2, 3]; got {labels!r}"
        )
    checked: list[int] = []
    for label in labels:
        if (
            isinstance(label, (bool, np.bool_))
            or not isinstance(label, numbers.Integral)
            or label < 1
        ):
            hint = " (0 is the background)" if label == 0 else ""
            raise ValueError(
                f"labels must be positive integers{hint}; got {_show(label)} in {list(labels)!r}"
            )
        checked.append(int(label))
    if not checked:
        raise ValueError("labels is empty; list the structure labels to evaluate, e.g. [1]")
    if len(set(checked)) != len(checked):
        raise ValueError(f"labels must be distinct; got {checked!r}")
    return tuple(checked)


def _check_spacing(spacing: Sequence[float] | None, ndim: int, name: str) -> NDArray[np.float64]:
    if spacing is None:
        return np.ones(ndim)
    if isinstance(spacing, numbers.Real):
        raise ValueError(
            f"{name} must have one voxel size per axis ({ndim}), e.g. {(1.0,) * ndim}; "
            f"got the single number {_show(spacing)}"
        )
    try:
        values = np.asarray(spacing, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a tuple of {ndim} voxel sizes in mm: {exc}") from exc
    if values.shape != (ndim,):
        raise ValueError(
            f"{name} must have one voxel size in mm per axis of the {ndim}-D label maps; "
            f"got {tuple(values.ravel().tolist())} of length {values.size}"
        )
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise ValueError(f"{name} must be finite and positive (mm); got {tuple(values.tolist())}")
    return values


def _check_tolerance(tolerance_mm: float) -> float:
    if (
        isinstance(tolerance_mm, bool)
        or not isinstance(tolerance_mm, numbers.Real)
        or not math.isfinite(tolerance_mm)
        or tolerance_mm < 0
    ):
        raise ValueError(f"tolerance_mm must be a finite number >= 0 (mm); got {tolerance_mm!r}")
    return float(tolerance_mm)


def _check_cases(
    references: Sequence[ArrayLike], predictions: Sequence[ArrayLike]
) -> tuple[list[ArrayLike], list[ArrayLike]]:
    lists = []
    for values, name in ((references, "references"), (predictions, "predictions")):
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            raise ValueError(
                f"{name} must be a sequence of label maps, one per case; got {type(values).__name__}"
            )
        lists.append(list(values))
    refs, preds = lists
    if len(refs) != len(preds):
        raise ValueError(
            f"references and predictions must hold the same number of cases; got "
            f"len(references)={len(refs)} and len(predictions)={len(preds)}"
        )
    if not refs:
        raise ValueError("references is empty; the evaluation needs at least one case")
    return refs, preds


def _check_spacings(
    spacings: Sequence[Sequence[float]] | None, n_cases: int
) -> list[Sequence[float] | None]:
    if spacings is None:
        return [None] * n_cases
    if isinstance(spacings, (str, bytes)) or not isinstance(spacings, (Sequence, np.ndarray)):
        raise ValueError(f"spacings must be None or one spacing tuple per case; got {spacings!r}")
    listed = list(spacings)
    if listed and all(isinstance(s, numbers.Real) for s in listed):
        raise ValueError(
            f"spacings must hold one spacing tuple per case; got a single spacing "
            f"{tuple(listed)!r}. For the same spacing in every case pass [spacing] * n_cases"
        )
    if len(listed) != n_cases:
        raise ValueError(
            f"spacings must hold one spacing tuple per case; got {len(listed)} for {n_cases} cases"
        )
    return listed


def _check_case_values(values: NDArray[np.float64], name: str) -> None:
    if np.isinf(values).any():
        raise ValueError(
            f"{name} contains {int(np.isinf(values).sum())} infinite values; per-case values "
            f"must be finite numbers or NaN (undefined)"
        )
