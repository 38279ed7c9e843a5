"""Surface-distance metrics of segmentations: boundary voxels, exact surface distances by
KD-tree, the 95th-percentile Hausdorff distance and the normalised surface Dice.

Boundaries and distances follow MONAI 1.6, as the module docstring of
:mod:`grader.metrics._segmentation` describes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.spatial import KDTree

from grader.metrics._segmentation import _prepare, _Prepared
from grader.metrics._segmentation_checks import _check_spacing, _check_tolerance

# Boundary extraction: 2*ndim face neighbours, binary_erosion's default and MONAI's choice.
_FACE_CONNECTIVITY = {ndim: ndimage.generate_binary_structure(ndim, 1) for ndim in (2, 3)}

# find_objects allocates a box for every label up to the largest; beyond this, boxes come
# from one mask per structure instead.
_MAX_FIND_OBJECTS_LABEL = 2**12


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
