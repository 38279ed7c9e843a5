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

Modules
-------
This module prepares one case (the foreground box and the voxel counts of every structure)
and computes the count-based metrics: :func:`dice_scores`, :func:`iou_scores` and
:func:`relative_volume_errors`. Beside it: :mod:`~grader.metrics._segmentation_surface`
(boundaries, surface distances, HD95 and surface Dice),
:mod:`~grader.metrics._segmentation_cases` (every metric of one case),
:mod:`~grader.metrics._segmentation_aggregate` (means over cases with bootstrap
intervals), :mod:`~grader.metrics._segmentation_evaluation` (a whole evaluation) and
:mod:`~grader.metrics._segmentation_checks` (input validation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._segmentation_checks import _check_labels, _check_pair, _show

# Up to this many structures, per-structure compare-and-count on the foreground box
# beats np.bincount (~2 ns per voxel, its increments serialise on runs of equal labels).
_MAX_COMPARE_LABELS = 6
# Larger label values are counted by comparison rather than through a look-up table.
_MAX_LOOKUP_LABEL = 2**20


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


# --- Per-case metrics from counts ---------------------------------------------------------


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
