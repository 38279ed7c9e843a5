"""Segmentation metrics for 2-D and 3-D label maps with several structures.

A *label map* is an integer array with one label per pixel or voxel: 0 is background and
``1..K`` (any positive integers) are structures. Each metric compares, structure by
structure, the reference ``R = (reference == k)`` with the prediction ``P = (prediction == k)``:

=========================  =================================================  ===========
name                       per case and structure                             better
=========================  =================================================  ===========
``dice``                   ``2 |R & P| / (|R| + |P|)``                        higher
``iou``                    ``|R & P| / |R | P|`` (Jaccard)                    higher
``hausdorff95``            95th-percentile symmetric surface distance (mm)    lower
``surface_dice``           normalised surface distance at ``tolerance_mm``    higher
``relative_volume_error``  ``(V_pred - V_ref) / V_ref``, signed               lower ``|.|``
=========================  =================================================  ===========

Surfaces follow MONAI 1.6 (``monai.metrics.utils.get_mask_edges`` without subvoxels): the
boundary of a mask is the set of its voxels removed by ``scipy.ndimage.binary_erosion``
with *face connectivity* (``generate_binary_structure(ndim, 1)``, erosion's and MONAI's
default), voxels outside the image counting as background. Surface distances are exact
Euclidean distances in mm between boundary-voxel centres, voxel ``i`` lying at
``i * spacing``, found with ``scipy.spatial.KDTree`` as MONAI does on the CPU.
``hausdorff95`` equals ``compute_hausdorff_distance(percentile=95, spacing=...)`` and
``surface_dice`` equals ``compute_surface_dice(class_thresholds=[tolerance_mm],
spacing=...)`` whenever both masks are non-empty.

Edge-case policy
----------------
Besides the package-wide policy (see :mod:`grader.metrics`), for every function here:

Invalid input raises ``ValueError`` naming the argument:

- ``reference`` and ``prediction`` must have the same shape (the message gives both) and
  be 2-D or 3-D, non-empty label maps: integer or bool arrays, or float arrays holding
  whole numbers only, with no negative value. A 4-D array (a channel or batch axis left
  in, a one-hot encoding) is rejected with that hint.
- ``labels`` must be distinct positive integers; 0 is the background, never a structure.
  Label values present in a map but not listed are other structures and are ignored.
- ``spacing`` must hold one finite positive voxel size in mm per axis (default all 1.0);
  ``tolerance_mm`` must be finite and >= 0.

Empty structures get defined values, never NaN, so that a model which misses a structure,
or hallucinates one that is absent, is penalised rather than silently skipped:

=========================  ===================  =========================================
metric                     both masks empty     exactly one mask empty
=========================  ===================  =========================================
``dice``, ``iou``          1                    0
``surface_dice``           1                    0
``hausdorff95``            0                    the image diagonal in mm,
                                                ``sqrt(sum((shape_i * spacing_i)^2))``
``relative_volume_error``  NaN + reason         NaN + reason if the reference is empty;
                                                -1 if only the prediction is empty
=========================  ===================  =========================================

The diagonal is the worst value a distance inside the image can take, so the case counts
as maximally wrong without an infinity that would swamp every mean. Cases whose
reference lacks a structure are counted in :class:`SegmentationSummary` and reported.
MONAI differs on purpose: its ``compute_dice`` (``ignore_empty=True``) gives NaN for an
empty reference even when the prediction has false positives, ``compute_hausdorff_distance``
gives NaN or inf and ``compute_surface_dice`` NaN when both are empty; averaging with
``nanmean`` would then drop exactly the cases where a model hallucinates a structure.

Speed
-----
Dice, IoU and volumes need three voxel counts per structure. Bitwise-OR reductions over
the maps read as 64-bit words find, at memory speed, the box of rows and word columns
that holds every non-zero voxel; the counts are then taken on that box only, by a few
compare-and-count passes per structure (a joint ``np.bincount`` of ``(K+1)*ref + pred``
beyond six structures). Surface metrics crop each structure to its bounding box
(``scipy.ndimage.find_objects``) before eroding.

Aggregation
-----------
:func:`aggregate_cases` averages per-case values over cases and gives a percentile
bootstrap interval in which the cases of one patient (``groups``) are resampled together.
NaN values (relative volume error with an empty reference) are left out of the mean and
counted. The aggregate of ``relative_volume_error`` is the mean of ``|RVE|`` (lower is
better), since signed errors of opposite sign would cancel; per-case values stay signed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.spatial import KDTree

from grader.metrics._bootstrap import percentile_interval, resample_weights
from grader.metrics._result import MetricResult
from grader.metrics._validation import check_alpha, check_positive_int, percent

SEGMENTATION_METRICS: tuple[str, ...] = (
    "dice",
    "iou",
    "hausdorff95",
    "surface_dice",
    "relative_volume_error",
)
"""Names of the segmentation metrics, in report order."""

HIGHER_IS_BETTER: Mapping[str, bool] = MappingProxyType(
    {
        "dice": True,
        "iou": True,
        "hausdorff95": False,
        "surface_dice": True,
        # The aggregate is mean |RVE|: 0 is perfect.
        "relative_volume_error": False,
    }
)
"""Direction of each aggregated segmentation metric."""

_DEFINITIONS = {
    "dice": "Dice 2|R&P|/(|R|+|P|) per case (1 if both masks are empty, 0 if one is)",
    "iou": "IoU |R&P|/|R|P| per case (1 if both masks are empty, 0 if one is)",
    "hausdorff95": (
        "HD95 in mm per case: the larger of the two directed 95th percentiles of distances "
        "between face-connected boundary voxels, as MONAI compute_hausdorff_distance("
        "percentile=95) (0 if both masks are empty, the image diagonal if one is)"
    ),
    "surface_dice": (
        "normalised surface Dice per case at tolerance {tolerance:g} mm: share of the "
        "boundary voxels of both masks within the tolerance of the other boundary, as MONAI "
        "compute_surface_dice (1 if both masks are empty, 0 if one is)"
    ),
    "relative_volume_error": (
        "mean |RVE| with RVE = (V_pred - V_ref) / V_ref per case (undefined, and left out, "
        "when the reference is empty)"
    ),
}

# Boundary extraction: 2*ndim face neighbours, binary_erosion's default and MONAI's choice.
_FACE_CONNECTIVITY = {ndim: ndimage.generate_binary_structure(ndim, 1) for ndim in (2, 3)}

# Up to this many structures, per-structure compare-and-count on the foreground box
# beats np.bincount (~2 ns per voxel, its increments serialise on runs of equal labels).
_MAX_COMPARE_LABELS = 6
# Larger label values are counted by comparison rather than through a look-up table.
_MAX_LOOKUP_LABEL = 2**20
# find_objects allocates a box for every label up to the largest; beyond this, boxes come
# from one mask per structure instead.
_MAX_FIND_OBJECTS_LABEL = 2**12


# --- Validation ----------------------------------------------------------------------------


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


# --- Overlap counts ------------------------------------------------------------------------


def _common_dtype(
    ref: NDArray[np.integer], pred: NDArray[np.integer], ref_name: str, pred_name: str
) -> tuple[NDArray[np.integer], NDArray[np.integer]]:
    """Both maps in one integer dtype (rare: a uint8 reference with an int64 prediction)."""
    if ref.dtype == pred.dtype:
        return ref, pred
    for values, name in ((ref, ref_name), (pred, pred_name)):
        if values.dtype == np.uint64 and values.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name} holds labels above 2**63 - 1; use small label values")
    return ref.astype(np.int64), pred.astype(np.int64)


def _foreground(
    ref: NDArray[np.integer], pred: NDArray[np.integer]
) -> tuple[NDArray[np.integer], NDArray[np.integer], tuple[slice, ...] | None]:
    """Flat copies of ``ref`` and ``pred`` cut down to a box around every non-zero voxel.

    Every non-zero voxel of both maps is kept, each with its partner in the other map, so
    counts of structure voxels and overlaps are exact. Seen as a matrix (first axis by the
    rest, read as 64-bit words), the kept part is the rows with a non-zero word crossed
    with the word columns with one. Bitwise-OR reductions find both at memory speed, so a
    mostly-background volume costs about one read plus work on its foreground.

    Also returns the bounding box (slices) of all non-zero voxels of either map, None if
    there are none, so that surface metrics need not scan the background again.
    """
    transposed = ref.flags.f_contiguous and not ref.flags.c_contiguous and pred.flags.f_contiguous
    if transposed:
        # Counts do not depend on voxel order: read Fortran-ordered volumes (as nibabel
        # returns them) through their C-contiguous transpose instead of copying.
        ref, pred = ref.T, pred.T
    r = np.ascontiguousarray(ref).reshape(ref.shape[0], -1)
    p = np.ascontiguousarray(pred).reshape(pred.shape[0], -1)
    row_bytes = r.shape[1] * r.itemsize
    word = next(w for w in (8, 4, 2, 1) if row_bytes % w == 0)  # a whole number of voxels
    r_words, p_words = r.view(f"u{word}"), p.view(f"u{word}")
    rows = np.flatnonzero(
        np.bitwise_or.reduce(r_words, axis=1) | np.bitwise_or.reduce(p_words, axis=1)
    )
    if rows.size == 0:
        return r[:0].reshape(-1), p[:0].reshape(-1), None
    # A slice (no copy); background rows between the first and last are rare and harmless.
    r_words, p_words = r_words[rows[0] : rows[-1] + 1], p_words[rows[0] : rows[-1] + 1]
    columns = np.flatnonzero(
        np.bitwise_or.reduce(r_words, axis=0) | np.bitwise_or.reduce(p_words, axis=0)
    )
    r_kept = np.take(r_words, columns, axis=1).view(r.dtype).reshape(-1)
    p_kept = np.take(p_words, columns, axis=1).view(p.dtype).reshape(-1)

    # The kept word columns, back on the grid of the other axes, give the rest of the box.
    plane = np.zeros(r.shape[1], dtype=bool)
    plane.reshape(-1, word // r.itemsize)[columns] = True
    plane = plane.reshape(ref.shape[1:])
    box = [slice(int(rows[0]), int(rows[-1]) + 1)]
    for axis in range(plane.ndim):
        others = tuple(a for a in range(plane.ndim) if a != axis)
        hits = np.flatnonzero(plane.any(axis=others))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return r_kept, p_kept, tuple(box[::-1] if transposed else box)


def _overlap_counts(
    ref: NDArray[np.integer],
    pred: NDArray[np.integer],
    labels: tuple[int, ...],
    ref_name: str = "reference",
    pred_name: str = "prediction",
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], tuple[slice, ...] | None]:
    """Voxel counts ``|R|``, ``|P|`` and ``|R & P|`` of every structure, shape (K,) each.

    Also rejects negative labels (they are non-zero, so the foreground holds them all) and
    returns the foreground box of :func:`_foreground`.
    """
    r, p, box = _foreground(*_common_dtype(ref, pred, ref_name, pred_name))
    highest = 0
    for values, name in ((r, ref_name), (p, pred_name)):
        if values.size == 0:
            continue
        if values.dtype.kind == "i" and values.min() < 0:
            raise ValueError(
                f"{name} must hold non-negative integer labels (0 = background); got "
                f"minimum {_show(values.min())}"
            )
        highest = max(highest, int(values.max()))
    if highest < 256 and max(r.itemsize, p.itemsize) > 1:
        # Comparisons on the (small) foreground run fastest on single bytes.
        r, p = r.astype(np.uint8), p.astype(np.uint8)

    n_labels = len(labels)
    n_ref = np.zeros(n_labels, dtype=np.int64)
    n_pred = np.zeros(n_labels, dtype=np.int64)
    n_both = np.zeros(n_labels, dtype=np.int64)
    present = [j for j, label in enumerate(labels) if label <= highest]
    if not present or r.size == 0:
        return n_ref, n_pred, n_both, box
    if len(present) <= _MAX_COMPARE_LABELS or highest > _MAX_LOOKUP_LABEL:
        # A handful of SIMD compare-and-count passes over the foreground only.
        for j in present:
            in_ref = r == labels[j]
            in_pred = p == labels[j]
            n_ref[j] = np.count_nonzero(in_ref)
            n_pred[j] = np.count_nonzero(in_pred)
            n_both[j] = np.count_nonzero(np.logical_and(in_ref, in_pred, out=in_ref))
        return n_ref, n_pred, n_both, box
    # Many structures: one joint histogram of (structure in R, structure in P), with the
    # labels mapped to 1..K and everything else to 0.
    lookup = np.zeros(highest + 1, dtype=np.intp)
    lookup[[labels[j] for j in present]] = np.asarray(present) + 1
    width = n_labels + 1
    joint = np.bincount(lookup[r] * width + lookup[p], minlength=width * width)
    joint = joint.reshape(width, width)
    return joint.sum(axis=1)[1:], joint.sum(axis=0)[1:], np.diagonal(joint)[1:].copy(), box


def _dice_iou(
    n_ref: NDArray[np.int64], n_pred: NDArray[np.int64], n_both: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    total = n_ref + n_pred
    union = total - n_both
    # Both empty: 1 by the policy; exactly one empty: the formulas give 0 already.
    dice = np.divide(2.0 * n_both, total, out=np.ones(total.shape), where=total > 0)
    iou = np.divide(n_both.astype(np.float64), union, out=np.ones(union.shape), where=union > 0)
    return dice, iou


# --- Surfaces ------------------------------------------------------------------------------


def _boundary_points(mask: NDArray[np.bool_], spacing: NDArray[np.float64]) -> NDArray:
    """Coordinates in mm of the mask's boundary voxels (removed by a face erosion)."""
    # border_value=0 (the default) makes voxels on the image border boundary voxels, as
    # MONAI's crop-with-margin-and-zero-padding does.
    interior = ndimage.binary_erosion(mask, structure=_FACE_CONNECTIVITY[mask.ndim])
    return np.argwhere(mask & ~interior) * spacing


def _surface_distances(
    ref_mask: NDArray[np.bool_], pred_mask: NDArray[np.bool_], spacing: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Distances (mm) from each predicted boundary voxel to the reference boundary, and back.

    Both masks must be non-empty. A KD-tree over the boundary voxels, as MONAI uses on the
    CPU: boundaries are sparse, and a dense distance transform of the whole crop
    (``distance_transform_edt``) is an order of magnitude slower on 256^3 volumes.
    """
    ref_points = _boundary_points(ref_mask, spacing)
    pred_points = _boundary_points(pred_mask, spacing)
    # leafsize 32 as MONAI: one batched query per tree, so a shallower tree pays off.
    pred_to_ref = KDTree(ref_points, leafsize=32).query(pred_points, k=1)[0]
    ref_to_pred = KDTree(pred_points, leafsize=32).query(ref_points, k=1)[0]
    return pred_to_ref, ref_to_pred


def _union_box(a: tuple[slice, ...], b: tuple[slice, ...]) -> tuple[slice, ...]:
    return tuple(
        slice(min(s.start, t.start), max(s.stop, t.stop)) for s, t in zip(a, b, strict=True)
    )


def _mask_box(mask: NDArray[np.bool_]) -> tuple[slice, ...]:
    """Bounding box of a non-empty mask."""
    box = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=others))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def _image_diagonal(shape: tuple[int, ...], spacing: NDArray[np.float64]) -> float:
    return float(np.sqrt(np.sum(np.square(np.asarray(shape) * spacing))))


def _surface_metrics(
    prepared: _Prepared, spacing: NDArray[np.float64], tolerance_mm: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """HD95 and surface Dice of every structure, from one set of surface distances each."""
    n_ref, n_pred, labels = prepared.n_ref, prepared.n_pred, prepared.labels
    hd95 = np.where(n_ref + n_pred == 0, 0.0, _image_diagonal(prepared.ref.shape, spacing))
    nsd = np.where(n_ref + n_pred == 0, 1.0, 0.0)
    both = np.flatnonzero((n_ref > 0) & (n_pred > 0))
    if both.size == 0 or prepared.box is None:
        return hd95, nsd
    # Outside the union bounding box of a structure both masks are background, so cropping
    # to it changes no boundary (erosion treats the outside as background too). One
    # find_objects pass per map, inside the foreground box, gives every structure's box.
    ref = prepared.ref[prepared.box]
    pred = prepared.pred[prepared.box]
    highest = max(labels[j] for j in both)
    if highest <= _MAX_FIND_OBJECTS_LABEL:
        ref_boxes = ndimage.find_objects(ref, max_label=highest)
        pred_boxes = ndimage.find_objects(pred, max_label=highest)
    # A loop over structures: each needs its own masks, boundaries and KD-trees.
    for j in both:
        label = labels[j]
        if highest <= _MAX_FIND_OBJECTS_LABEL:
            box = _union_box(ref_boxes[label - 1], pred_boxes[label - 1])
        else:
            box = _mask_box((ref == label) | (pred == label))
        pred_to_ref, ref_to_pred = _surface_distances(
            ref[box] == label, pred[box] == label, spacing
        )
        # np.quantile's default (linear) interpolation is torch.quantile's, which MONAI uses.
        hd95[j] = max(np.quantile(pred_to_ref, 0.95), np.quantile(ref_to_pred, 0.95))
        within = np.count_nonzero(pred_to_ref <= tolerance_mm) + np.count_nonzero(
            ref_to_pred <= tolerance_mm
        )
        nsd[j] = within / (pred_to_ref.size + ref_to_pred.size)
    return hd95, nsd


# --- Per-case results ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentationCase:
    """All metrics of one structure in one case.

    Attributes
    ----------
    label : int
        The structure's label value.
    dice, iou, hausdorff95, surface_dice : float
        As defined in :mod:`grader.metrics._segmentation`; always defined (edge-case policy).
    relative_volume_error : float
        Signed ``(V_pred - V_ref) / V_ref``; NaN when the reference is empty.
    reference_volume_mm3, prediction_volume_mm3 : float
        Structure volumes: voxel count times voxel volume.
    relative_volume_error_reason : str or None
        Why ``relative_volume_error`` is NaN; None exactly when it is defined.
    """

    label: int
    dice: float
    iou: float
    hausdorff95: float
    surface_dice: float
    relative_volume_error: float
    reference_volume_mm3: float
    prediction_volume_mm3: float
    relative_volume_error_reason: str | None = None

    def __post_init__(self) -> None:
        if math.isnan(self.relative_volume_error) != (
            self.relative_volume_error_reason is not None
        ):
            raise ValueError(
                f"SegmentationCase label {self.label}: relative_volume_error_reason must be set "
                f"exactly when relative_volume_error is NaN"
            )

    @property
    def reference_empty(self) -> bool:
        """True when the reference has no voxel of this structure."""
        return self.reference_volume_mm3 == 0.0

    @property
    def prediction_empty(self) -> bool:
        """True when the prediction has no voxel of this structure."""
        return self.prediction_volume_mm3 == 0.0

    def value(self, metric: str) -> float:
        """The per-case value of ``metric``, one of :data:`SEGMENTATION_METRICS`."""
        if metric not in SEGMENTATION_METRICS:
            raise ValueError(
                f"metric must be one of {', '.join(SEGMENTATION_METRICS)}; got {metric!r}"
            )
        return float(getattr(self, metric))

    def to_dict(self) -> dict[str, object]:
        """The fields as a JSON-safe dict (NaN becomes None next to its reason)."""
        return {
            "label": self.label,
            **{m: _json_float(getattr(self, m)) for m in SEGMENTATION_METRICS},
            "reference_volume_mm3": self.reference_volume_mm3,
            "prediction_volume_mm3": self.prediction_volume_mm3,
            "relative_volume_error_reason": self.relative_volume_error_reason,
        }


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _rve(
    n_ref: NDArray[np.int64], n_pred: NDArray[np.int64]
) -> tuple[NDArray[np.float64], list[str | None]]:
    # The voxel volume cancels: RVE is a ratio of volumes on the same grid.
    rve = np.divide(
        (n_pred - n_ref).astype(np.float64),
        n_ref,
        out=np.full(n_ref.shape, np.nan),
        where=n_ref > 0,
    )
    reasons: list[str | None] = [
        None
        if count > 0
        else "the reference is empty: relative volume error (V_pred - V_ref) / V_ref is undefined"
        for count in n_ref.tolist()
    ]
    return rve, reasons


@dataclass(frozen=True, slots=True)
class _Prepared:
    ref: NDArray[np.integer]
    pred: NDArray[np.integer]
    labels: tuple[int, ...]
    n_ref: NDArray[np.int64]
    n_pred: NDArray[np.int64]
    n_both: NDArray[np.int64]
    box: tuple[slice, ...] | None  # around every non-zero voxel of either map


def _prepare(
    reference: ArrayLike,
    prediction: ArrayLike,
    labels: Sequence[int],
    ref_name: str = "reference",
    pred_name: str = "prediction",
) -> _Prepared:
    ref, pred = _check_pair(reference, prediction, ref_name, pred_name)
    checked = _check_labels(labels)
    n_ref, n_pred, n_both, box = _overlap_counts(ref, pred, checked, ref_name, pred_name)
    return _Prepared(ref, pred, checked, n_ref, n_pred, n_both, box)


def dice_scores(
    reference: ArrayLike, prediction: ArrayLike, *, labels: Sequence[int]
) -> NDArray[np.float64]:
    r"""Dice similarity coefficient of each structure in one case.

    .. math:: \mathrm{Dice}_k = \frac{2 |R_k \cap P_k|}{|R_k| + |P_k|}

    with :math:`R_k`, :math:`P_k` the voxels labelled ``k`` in reference and prediction;
    1 when both are empty, 0 when exactly one is. Voxel spacing does not matter.

    Parameters
    ----------
    reference, prediction : array-like of int, 2-D or 3-D, same shape
        Label maps, 0 = background.
    labels : sequence of int
        Structure labels to evaluate, e.g. ``[1, 2, 3]``.

    Returns
    -------
    ndarray of float64, shape (len(labels),)

    References
    ----------
    .. [1] Dice LR. "Measures of the amount of ecologic association between species."
       Ecology 26(3):297-302, 1945.

    Examples
    --------
    >>> ref = np.array([[1, 1, 0, 0], [2, 2, 0, 0]])
    >>> pred = np.array([[1, 0, 0, 0], [0, 0, 0, 2]])
    >>> dice_scores(ref, pred, labels=[1, 2, 3]).tolist()  # label 3 is absent from both
    [0.6666666666666666, 0.0, 1.0]
    """
    prepared = _prepare(reference, prediction, labels)
    return _dice_iou(prepared.n_ref, prepared.n_pred, prepared.n_both)[0]


def iou_scores(
    reference: ArrayLike, prediction: ArrayLike, *, labels: Sequence[int]
) -> NDArray[np.float64]:
    r"""Intersection over union (Jaccard index) of each structure in one case.

    .. math:: \mathrm{IoU}_k = \frac{|R_k \cap P_k|}{|R_k \cup P_k|} = \frac{D_k}{2 - D_k}

    (:math:`D_k` the Dice coefficient); 1 when both masks are empty, 0 when exactly one is.
    Parameters and returns are as for :func:`dice_scores`.

    Examples
    --------
    >>> ref = np.array([[1, 1, 0, 0], [2, 2, 0, 0]])
    >>> pred = np.array([[1, 0, 0, 0], [0, 0, 0, 2]])
    >>> iou_scores(ref, pred, labels=[1, 2]).tolist()
    [0.5, 0.0]
    """
    prepared = _prepare(reference, prediction, labels)
    return _dice_iou(prepared.n_ref, prepared.n_pred, prepared.n_both)[1]


def hausdorff95_distances(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    labels: Sequence[int],
    spacing: Sequence[float] | None = None,
) -> NDArray[np.float64]:
    r"""95th-percentile symmetric Hausdorff distance (HD95, mm) of each structure.

    With :math:`\partial R`, :math:`\partial P` the boundary voxels (face-connected
    erosion) and :math:`d(x, S) = \min_{y \in S} \lVert x - y \rVert` in mm:

    .. math::

        \mathrm{HD95} = \max\left( Q_{0.95}\{d(x, \partial R) : x \in \partial P\},\;
        Q_{0.95}\{d(y, \partial P) : y \in \partial R\} \right)

    :math:`Q_{0.95}` with linear interpolation, as
    ``monai.metrics.compute_hausdorff_distance(percentile=95, spacing=spacing)``. 0 when
    both masks are empty; the image diagonal in mm when exactly one is.

    Parameters
    ----------
    reference, prediction : array-like of int, 2-D or 3-D, same shape
        Label maps, 0 = background.
    labels : sequence of int
        Structure labels to evaluate.
    spacing : tuple of float, optional
        Voxel size in mm along each axis; default 1.0 for every axis.

    Returns
    -------
    ndarray of float64, shape (len(labels),)

    References
    ----------
    .. [1] Huttenlocher DP, Klanderman GA, Rucklidge WJ. "Comparing images using the
       Hausdorff distance." IEEE TPAMI 15(9):850-863, 1993.
    .. [2] Maier-Hein L, Reinke A, et al. "Metrics reloaded: recommendations for image
       analysis validation." Nature Methods 21:195-212, 2024.

    Examples
    --------
    >>> ref = np.zeros((8, 8), dtype=int); ref[2:5, 2:5] = 1
    >>> pred = np.zeros((8, 8), dtype=int); pred[2:5, 3:6] = 1  # shifted one column
    >>> hausdorff95_distances(ref, pred, labels=[1], spacing=(1.0, 2.0)).tolist()
    [2.0]
    """
    prepared = _prepare(reference, prediction, labels)
    spacing_mm = _check_spacing(spacing, prepared.ref.ndim, "spacing")
    return _surface_metrics(prepared, spacing_mm, 0.0)[0]


def surface_dice_scores(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    labels: Sequence[int],
    spacing: Sequence[float] | None = None,
    tolerance_mm: float = 1.0,
) -> NDArray[np.float64]:
    r"""Normalised surface Dice (NSD) of each structure at a tolerance in mm.

    .. math::

        \mathrm{NSD}_\tau = \frac{|\{x \in \partial P : d(x, \partial R) \le \tau\}| +
        |\{y \in \partial R : d(y, \partial P) \le \tau\}|}{|\partial P| + |\partial R|}

    counting boundary voxels (not surface areas), as ``monai.metrics.compute_surface_dice(
    class_thresholds=[tolerance_mm], spacing=spacing)`` with ``use_subvoxels=False``. 1 when
    both masks are empty, 0 when exactly one is.

    Parameters
    ----------
    reference, prediction : array-like of int, 2-D or 3-D, same shape
        Label maps, 0 = background.
    labels : sequence of int
        Structure labels to evaluate.
    spacing : tuple of float, optional
        Voxel size in mm along each axis; default 1.0 for every axis.
    tolerance_mm : float, default=1.0
        Largest boundary deviation, in mm, that still counts as correct.

    Returns
    -------
    ndarray of float64, shape (len(labels),)

    References
    ----------
    .. [1] Nikolov S, Blackwell S, et al. "Clinically applicable segmentation of head and
       neck anatomy for radiotherapy: deep learning algorithm development and validation
       study." J Med Internet Res 23(7):e26151, 2021.

    Examples
    --------
    >>> ref = np.zeros((8, 8), dtype=int); ref[2:5, 2:5] = 1
    >>> pred = np.zeros((8, 8), dtype=int); pred[2:5, 3:6] = 1
    >>> # 4 of the 8 boundary pixels of each square lie on the other boundary
    >>> surface_dice_scores(ref, pred, labels=[1], tolerance_mm=0.5).tolist()
    [0.5]
    """
    prepared = _prepare(reference, prediction, labels)
    spacing_mm = _check_spacing(spacing, prepared.ref.ndim, "spacing")
    tolerance = _check_tolerance(tolerance_mm)
    return _surface_metrics(prepared, spacing_mm, tolerance)[1]


def relative_volume_errors(
    reference: ArrayLike, prediction: ArrayLike, *, labels: Sequence[int]
) -> NDArray[np.float64]:
    r"""Signed relative volume error :math:`(V_P - V_R) / V_R` of each structure.

    -1 when the prediction misses the structure entirely, NaN when the reference is empty
    (:func:`segmentation_case` gives the reason with it). Voxel spacing cancels.
    Parameters are as for :func:`dice_scores`.

    Examples
    --------
    >>> ref = np.array([[1, 1, 0, 0], [2, 2, 0, 0]])
    >>> pred = np.array([[1, 1, 1, 0], [0, 0, 0, 0]])
    >>> relative_volume_errors(ref, pred, labels=[1, 2, 3]).tolist()
    [0.5, -1.0, nan]
    """
    prepared = _prepare(reference, prediction, labels)
    return _rve(prepared.n_ref, prepared.n_pred)[0]


def _case(
    prepared: _Prepared, spacing: NDArray[np.float64], tolerance: float
) -> tuple[SegmentationCase, ...]:
    dice, iou = _dice_iou(prepared.n_ref, prepared.n_pred, prepared.n_both)
    hd95, nsd = _surface_metrics(prepared, spacing, tolerance)
    rve, reasons = _rve(prepared.n_ref, prepared.n_pred)
    voxel_mm3 = float(np.prod(spacing))
    return tuple(
        SegmentationCase(
            label=label,
            dice=float(dice[j]),
            iou=float(iou[j]),
            hausdorff95=float(hd95[j]),
            surface_dice=float(nsd[j]),
            relative_volume_error=float(rve[j]),
            reference_volume_mm3=float(prepared.n_ref[j]) * voxel_mm3,
            prediction_volume_mm3=float(prepared.n_pred[j]) * voxel_mm3,
            relative_volume_error_reason=reasons[j],
        )
        for j, label in enumerate(prepared.labels)
    )


def segmentation_case(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    labels: Sequence[int],
    spacing: Sequence[float] | None = None,
    tolerance_mm: float = 1.0,
) -> tuple[SegmentationCase, ...]:
    """Every segmentation metric of every structure in one case.

    Counts are taken once for Dice, IoU and the volumes, and surface distances once for
    HD95 and surface Dice.

    Parameters
    ----------
    reference, prediction : array-like of int, 2-D or 3-D, same shape
        Label maps, 0 = background.
    labels : sequence of int
        Structure labels to evaluate.
    spacing : tuple of float, optional
        Voxel size in mm along each axis; default 1.0 for every axis.
    tolerance_mm : float, default=1.0
        Tolerance of the surface Dice, in mm.

    Returns
    -------
    tuple of SegmentationCase
        One per label, in the order of ``labels``.

    Examples
    --------
    >>> ref = np.zeros((6, 6), dtype=np.uint8); ref[1:4, 1:4] = 1
    >>> pred = np.zeros((6, 6), dtype=np.uint8); pred[1:4, 1:5] = 1; pred[5, 5] = 2
    >>> one, two = segmentation_case(ref, pred, labels=[1, 2], spacing=(0.5, 0.5))
    >>> round(one.dice, 4), one.hausdorff95, one.relative_volume_error
    (0.8571, 0.5, 0.3333333333333333)
    >>> two.dice, two.hausdorff95 == (2 * 3.0**2) ** 0.5, two.relative_volume_error_reason[:22]
    (0.0, True, 'the reference is empty')
    """
    prepared = _prepare(reference, prediction, labels)
    spacing_mm = _check_spacing(spacing, prepared.ref.ndim, "spacing")
    return _case(prepared, spacing_mm, _check_tolerance(tolerance_mm))


# --- Aggregation over cases ----------------------------------------------------------------


def _check_case_values(values: NDArray[np.float64], name: str) -> None:
    if np.isinf(values).any():
        raise ValueError(
            f"{name} contains {int(np.isinf(values).sum())} infinite values; per-case values "
            f"must be finite numbers or NaN (undefined)"
        )


def _aggregate_columns(
    values: NDArray[np.float64],
    *,
    names: Sequence[str],
    higher_is_better: Sequence[bool],
    definitions: Sequence[str],
    groups: ArrayLike | None,
    alpha: float,
    n_resamples: int,
    random_state: int | np.random.Generator | None,
) -> list[MetricResult]:
    """Mean over cases of each column of ``values`` (n_cases, m) with a bootstrap CI.

    One set of resamples serves every column, so intervals of different metrics come from
    the same resampled cohorts; all columns are resampled in one matrix product.
    """
    n_cases = values.shape[0]
    defined = ~np.isnan(values)
    weights = resample_weights(
        n_cases, n_resamples=n_resamples, random_state=random_state, groups=groups
    ).astype(np.float64)
    # Weighted mean over the defined cases of each resample: sum(w x) / sum(w), NaN cases
    # weighing nothing.
    sums = weights @ np.where(defined, values, 0.0)
    counts = weights @ defined.astype(np.float64)
    estimates = np.full(sums.shape, np.nan)
    np.divide(sums, counts, out=estimates, where=counts > 0)

    if groups is None:
        design = "case-level percentile bootstrap"
        group_codes = np.arange(n_cases)
    else:
        group_codes = np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
        design = (
            f"patient-level percentile bootstrap ({np.unique(group_codes).size} groups "
            f"resampled whole)"
        )
    seed = (
        "unseeded"
        if random_state is None
        else "caller's Generator"
        if isinstance(random_state, np.random.Generator)
        else f"random_state={random_state}"
    )

    results = []
    for column, name in enumerate(names):
        mask = defined[:, column]
        n_defined = int(np.count_nonzero(mask))
        n_undefined = n_cases - n_defined
        method = f"{definitions[column]}; mean over {n_defined} of {n_cases} cases"
        if n_undefined:
            method += f" ({n_undefined} undefined, left out)"
        if n_defined == 0:
            results.append(
                MetricResult(
                    name=name,
                    value=math.nan,
                    ci_low=None,
                    ci_high=None,
                    higher_is_better=higher_is_better[column],
                    method=method,
                    n=0,
                    alpha=alpha,
                    reason=f"all {n_cases} per-case values are undefined (NaN)",
                )
            )
            continue
        mean = float(np.mean(values[mask, column]))
        ci_low: float | None = None
        ci_high: float | None = None
        if np.unique(group_codes[mask]).size < 2:
            unit = "cases" if groups is None else "groups"
            method += f"; no CI: the bootstrap needs defined values in at least 2 {unit}"
        else:
            column_estimates = estimates[:, column]
            ci_low, ci_high = percentile_interval(column_estimates, alpha)
            n_nan = int(np.count_nonzero(np.isnan(column_estimates)))
            method += f"; {percent(alpha)} {design}, {n_resamples} resamples ({seed})" + (
                f", {n_nan} resamples without a defined case ignored" if n_nan else ""
            )
        results.append(
            MetricResult(
                name=name,
                value=mean,
                ci_low=ci_low,
                ci_high=ci_high,
                higher_is_better=higher_is_better[column],
                method=method,
                n=n_defined,
                alpha=alpha,
            )
        )
    return results


def aggregate_cases(
    per_case_values: ArrayLike,
    *,
    name: str,
    higher_is_better: bool,
    groups: ArrayLike | None = None,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: int | np.random.Generator | None = 0,
) -> MetricResult:
    r"""Mean of per-case values with a patient-level percentile bootstrap interval.

    The value is the mean over cases whose value is defined (not NaN). The interval is
    the ``alpha/2`` and ``1 - alpha/2`` quantiles of that mean over ``n_resamples``
    bootstrap resamples (Efron & Tibshirani 1993, ch. 13). With ``groups`` (patient ids)
    a resample draws patients with replacement and keeps all cases of a drawn patient, so
    the interval reflects that cases of one patient are not independent.

    Parameters
    ----------
    per_case_values : array-like of float, shape (n,)
        One value per case; NaN marks an undefined case, which is left out of the mean and
        of every resample (it is counted in ``method``).
    name : str
        ``MetricResult.name``, e.g. ``"dice"``.
    higher_is_better : bool
        Direction of the metric.
    groups : array-like of shape (n,), optional
        Patient (or other cluster) id of each case.
    alpha : float, default=0.05
        The interval is a ``1 - alpha`` interval.
    n_resamples : int, default=1000
        Number of bootstrap resamples.
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the resampling; an integer gives the same interval on every call.

    Returns
    -------
    MetricResult
        ``n`` is the number of defined cases. NaN with a reason when every value is NaN;
        no interval when the defined values come from fewer than 2 cases (groups).

    Raises
    ------
    ValueError
        If the values are not a non-empty 1-D array of real numbers, contain infinities,
        or ``groups``, ``alpha``, ``n_resamples`` or ``random_state`` are invalid.

    Examples
    --------
    >>> r = aggregate_cases([0.9, 0.8, 0.7, 0.95], name="dice", higher_is_better=True,
    ...                     groups=["p1", "p1", "p2", "p3"], n_resamples=200)
    >>> round(r.value, 4), r.n, r.ci_low <= r.value <= r.ci_high
    (0.8375, 4, True)
    """
    try:
        values = np.asarray(per_case_values, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"per_case_values must be real numbers: {exc}") from exc
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"per_case_values must be a non-empty 1-D array, one value per case; got shape "
            f"{values.shape}"
        )
    _check_case_values(values, "per_case_values")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise ValueError(f"higher_is_better must be True or False; got {higher_is_better!r}")
    alpha = check_alpha(alpha)
    n_resamples = check_positive_int(n_resamples, "n_resamples")
    return _aggregate_columns(
        values[:, None],
        names=[name],
        higher_is_better=[bool(higher_is_better)],
        definitions=[f"{name} per case"],
        groups=groups,
        alpha=alpha,
        n_resamples=n_resamples,
        random_state=random_state,
    )[0]


# --- Whole evaluation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentationSummary:
    """Aggregated metrics of one structure, or the mean over structures.

    Attributes
    ----------
    structure : int or None
        The structure's label; None for the mean over structures, where each case first
        contributes the mean of its structures' values (of ``|RVE|`` for the relative volume
        error, over the structures where it is defined).
    results : Mapping[str, MetricResult]
        One result per name in :data:`SEGMENTATION_METRICS`, in that order.
    n_cases : int
        Number of cases evaluated.
    n_empty_reference : int
        Cases whose reference lacks the structure; for the mean over structures, the number
        of (case, structure) pairs with an empty reference.
    """

    structure: int | None
    results: Mapping[str, MetricResult]
    n_cases: int
    n_empty_reference: int

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict: the structure, the counts and each result's ``to_dict()``."""
        return {
            "structure": self.structure,
            "n_cases": self.n_cases,
            "n_empty_reference": self.n_empty_reference,
            "results": {name: result.to_dict() for name, result in self.results.items()},
        }


@dataclass(frozen=True, slots=True)
class SegmentationReport:
    """Per-case values and aggregated results of a segmentation evaluation.

    Attributes
    ----------
    labels : tuple of int
        The structures evaluated, in order.
    cases : tuple of tuple of SegmentationCase
        ``cases[i][j]`` holds case ``i``, structure ``labels[j]``.
    summaries : tuple of SegmentationSummary
        One per structure in the order of ``labels``, then the mean over structures
        (``structure=None``).
    tolerance_mm : float
        Tolerance of the surface Dice.
    """

    labels: tuple[int, ...]
    cases: tuple[tuple[SegmentationCase, ...], ...]
    summaries: tuple[SegmentationSummary, ...]
    tolerance_mm: float

    def summary(self, structure: int | None = None) -> SegmentationSummary:
        """The summary of one structure label, or (None) the mean over structures."""
        for candidate in self.summaries:
            if candidate.structure == structure:
                return candidate
        raise ValueError(
            f"structure must be one of the evaluated labels {list(self.labels)} or None (the "
            f"mean over structures); got {structure!r}"
        )

    def result(self, metric: str, structure: int | None = None) -> MetricResult:
        """The aggregated ``metric`` of one structure, or (None) the mean over structures."""
        if metric not in SEGMENTATION_METRICS:
            raise ValueError(
                f"metric must be one of {', '.join(SEGMENTATION_METRICS)}; got {metric!r}"
            )
        return self.summary(structure).results[metric]

    def values(self, metric: str) -> NDArray[np.float64]:
        """Per-case values of ``metric``, shape (n_cases, n_structures); RVE signed."""
        if metric not in SEGMENTATION_METRICS:
            raise ValueError(
                f"metric must be one of {', '.join(SEGMENTATION_METRICS)}; got {metric!r}"
            )
        return np.array(
            [[getattr(c, metric) for c in case] for case in self.cases], dtype=np.float64
        ).reshape(len(self.cases), len(self.labels))

    @property
    def n_empty_reference(self) -> dict[int, int]:
        """Number of cases whose reference lacks each structure, by label."""
        return {s.structure: s.n_empty_reference for s in self.summaries if s.structure is not None}

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict of labels, tolerance, summaries and per-case values."""
        return {
            "labels": list(self.labels),
            "tolerance_mm": self.tolerance_mm,
            "summaries": [s.to_dict() for s in self.summaries],
            "cases": [[c.to_dict() for c in case] for case in self.cases],
        }


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


def _mean_over_structures(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row means over the defined (non-NaN) entries; NaN for a row with none."""
    defined = ~np.isnan(values)
    counts = defined.sum(axis=1)
    out = np.full(values.shape[0], np.nan)
    np.divide(np.where(defined, values, 0.0).sum(axis=1), counts, out=out, where=counts > 0)
    return out


def segmentation_metrics(
    references: Sequence[ArrayLike],
    predictions: Sequence[ArrayLike],
    *,
    labels: Sequence[int],
    spacings: Sequence[Sequence[float]] | None = None,
    tolerance_mm: float = 1.0,
    groups: ArrayLike | None = None,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: int | np.random.Generator | None = 0,
) -> SegmentationReport:
    """Evaluate segmentations of several cases: every metric, structure and case, aggregated.

    Each case is evaluated by :func:`segmentation_case`; every (metric, structure) column
    and the per-case mean over structures is then aggregated by the rule of
    :func:`aggregate_cases`, all from one set of bootstrap resamples.

    Parameters
    ----------
    references, predictions : sequence of array-like
        One 2-D or 3-D label map per case (0 = background); the two maps of a case must
        have the same shape, different cases may differ.
    labels : sequence of int
        Structure labels to evaluate, e.g. ``[1, 2, 3]``.
    spacings : sequence of tuple of float, optional
        Voxel size in mm per axis for each case; default 1.0 everywhere. Pass
        ``[spacing] * n_cases`` for a common spacing.
    tolerance_mm : float, default=1.0
        Tolerance of the surface Dice, in mm.
    groups : array-like of shape (n_cases,), optional
        Patient id of each case: cases of one patient are resampled together.
    alpha : float, default=0.05
        The intervals are ``1 - alpha`` intervals.
    n_resamples : int, default=1000
        Number of bootstrap resamples.
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the resampling.

    Returns
    -------
    SegmentationReport
        ``report.result("dice", 2)`` is the mean Dice of structure 2, ``report.result(
        "dice")`` the mean over structures; ``relative_volume_error`` aggregates ``|RVE|``.

    Examples
    --------
    >>> ref = np.zeros((3, 10, 10), dtype=np.uint8); ref[:, 2:6, 2:6] = 1; ref[:, 7:9, 7:9] = 2
    >>> pred = ref.copy(); pred[:, 2:6, 6] = 1   # structure 1 one column too wide
    >>> report = segmentation_metrics([ref, ref], [pred, ref], labels=[1, 2],
    ...                               spacings=[(2.0, 1.0, 1.0)] * 2, n_resamples=200)
    >>> report.values("dice").round(4).tolist()
    [[0.8889, 1.0], [1.0, 1.0]]
    >>> r = report.result("dice", 1)
    >>> round(r.value, 4), r.higher_is_better, r.n
    (0.9444, True, 2)
    >>> round(report.result("relative_volume_error").value, 4)  # mean |RVE| over structures
    0.0625
    """
    refs, preds = _check_cases(references, predictions)
    checked_labels = _check_labels(labels)
    case_spacings = _check_spacings(spacings, len(refs))
    tolerance = _check_tolerance(tolerance_mm)
    alpha = check_alpha(alpha)
    n_resamples = check_positive_int(n_resamples, "n_resamples")

    # One case at a time: cases may differ in shape, and each needs its own boundaries and
    # KD-trees; the per-case work is whole-volume, so the loop itself costs nothing.
    cases = []
    for i, (ref, pred) in enumerate(zip(refs, preds, strict=True)):
        prepared = _prepare(ref, pred, checked_labels, f"references[{i}]", f"predictions[{i}]")
        spacing = _check_spacing(case_spacings[i], prepared.ref.ndim, f"spacings[{i}]")
        cases.append(_case(prepared, spacing, tolerance))

    n_cases, n_labels = len(cases), len(checked_labels)
    per_metric = {
        metric: np.array([[getattr(c, metric) for c in case] for case in cases]).reshape(
            n_cases, n_labels
        )
        for metric in SEGMENTATION_METRICS
    }
    per_metric["relative_volume_error"] = np.abs(per_metric["relative_volume_error"])

    columns, names, directions, definitions = [], [], [], []
    for structure in [*checked_labels, None]:
        for metric in SEGMENTATION_METRICS:
            definition = _DEFINITIONS[metric].format(tolerance=tolerance)
            if structure is None:
                columns.append(_mean_over_structures(per_metric[metric]))
                definition = (
                    f"per-case mean over structures {list(checked_labels)} of: {definition}"
                )
            else:
                columns.append(per_metric[metric][:, checked_labels.index(structure)])
                definition = f"structure {structure}: {definition}"
            names.append(metric)
            directions.append(HIGHER_IS_BETTER[metric])
            definitions.append(definition)
    results = _aggregate_columns(
        np.column_stack(columns),
        names=names,
        higher_is_better=directions,
        definitions=definitions,
        groups=groups,
        alpha=alpha,
        n_resamples=n_resamples,
        random_state=random_state,
    )

    empty_reference = np.array(
        [[c.reference_empty for c in case] for case in cases], dtype=bool
    ).reshape(n_cases, n_labels)
    summaries = []
    n_metrics = len(SEGMENTATION_METRICS)
    for index, structure in enumerate([*checked_labels, None]):
        block = results[index * n_metrics : (index + 1) * n_metrics]
        if structure is None:
            n_empty = int(empty_reference.sum())
            empty_reason = (
                f"every structure's reference is empty in all {n_cases} cases: relative volume "
                f"error is undefined"
            )
        else:
            n_empty = int(empty_reference[:, index].sum())
            empty_reason = (
                f"the reference of structure {structure} is empty in all {n_cases} cases: "
                f"relative volume error (V_pred - V_ref) / V_ref is undefined"
            )
        block = [
            replace(r, reason=empty_reason)
            if r.name == "relative_volume_error" and not r.defined
            else r
            for r in block
        ]
        summaries.append(
            SegmentationSummary(
                structure=structure,
                results=MappingProxyType({r.name: r for r in block}),
                n_cases=n_cases,
                n_empty_reference=n_empty,
            )
        )
    return SegmentationReport(
        labels=checked_labels,
        cases=tuple(cases),
        summaries=tuple(summaries),
        tolerance_mm=tolerance,
    )
