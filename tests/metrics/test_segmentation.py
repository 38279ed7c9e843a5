"""Segmentation metrics per case: geometric fixtures, agreement with MONAI and the edge-case
policy (the aggregation over cases and the report: test_segmentation_evaluation.py)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.metrics import (
    compute_dice,
    compute_hausdorff_distance,
    compute_iou,
    compute_surface_dice,
)
from monai.metrics.utils import get_edge_surface_distance

from grader.metrics import _segmentation
from grader.metrics._segmentation import dice_scores, iou_scores, relative_volume_errors
from grader.metrics._segmentation_cases import (
    SegmentationCase,
    segmentation_case,
)
from grader.metrics._segmentation_evaluation import segmentation_metrics
from grader.metrics._segmentation_surface import (
    _surface_distances,
    hausdorff95_distances,
    surface_dice_scores,
)

PROPERTY = settings(max_examples=25, deadline=None)

# Voxel sizes and tolerances are multiples of 1/4 mm, so squared distances are exact in
# float64 and never closer than 1/16 mm^2 to a squared tolerance: no distance lies within
# float32 rounding of the tolerance, and MONAI's float32 distances classify every boundary
# voxel exactly as ours do.
SPACINGS = [0.5, 0.75, 1.0, 1.25, 2.0, 3.0]
TOLERANCES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]


def box(shape, low, high, label=1, dtype=np.uint8):
    out = np.zeros(shape, dtype=dtype)
    out[tuple(slice(a, b) for a, b in zip(low, high, strict=True))] = label
    return out


def ball(shape, centre, radius, label=1, dtype=np.uint8):
    grid = np.indices(shape)
    inside = ((grid - np.reshape(centre, (-1,) + (1,) * len(shape))) ** 2).sum(0) <= radius**2
    return (inside * label).astype(dtype)


# --- MONAI as the reference --------------------------------------------------------------


def one_hot(label_map, labels):
    """MONAI's input: a float tensor (1, 1 + K, ...), channel 0 the background."""
    channels = [label_map == k for k in labels]
    background = ~np.any(channels, axis=0)
    return torch.from_numpy(np.stack([background, *channels])[None].astype(np.float32))


def monai_values(reference, prediction, labels, spacing, tolerance):
    y, y_pred = one_hot(reference, labels), one_hot(prediction, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI warns about empty masks and deprecations
        return {
            "dice": compute_dice(y_pred, y, include_background=False).numpy()[0],
            "iou": compute_iou(y_pred, y, include_background=False).numpy()[0],
            "hausdorff95": compute_hausdorff_distance(
                y_pred, y, percentile=95, spacing=[list(spacing)]
            ).numpy()[0],
            "surface_dice": compute_surface_dice(
                y_pred, y, class_thresholds=[tolerance] * len(labels), spacing=[list(spacing)]
            ).numpy()[0],
            "distances": [
                get_edge_surface_distance(
                    y_pred[0, c], y[0, c], spacing=list(spacing), symmetric=True
                )[1]
                for c in range(1, len(labels) + 1)
            ],
        }


@st.composite
def well_posed_cases(draw, max_side=24):
    """Random 2-D/3-D label maps in which every structure is present in both maps."""
    ndim = draw(st.sampled_from([2, 3]))
    side = max_side if ndim == 3 else 2 * max_side
    shape = tuple(draw(st.integers(6, side)) for _ in range(ndim))
    labels = draw(st.sampled_from([[1], [1, 2], [1, 2, 3], [2, 5]]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.sampled_from(["blobs", "noise"])) == "noise":
        reference = np.where(rng.random(shape) < 0.4, rng.choice(labels, size=shape), 0)
    else:
        reference = np.zeros(shape, dtype=np.int64)
        for label in labels:
            centre = rng.uniform(0, shape)
            radius = rng.uniform(1.0, max(shape) / 3)
            reference[ball(shape, centre, radius, dtype=bool)] = label
    # The prediction: the reference shifted, with some voxels relabelled at random.
    shift = tuple(int(s) for s in rng.integers(-2, 3, size=ndim))
    prediction = np.roll(reference, shift, axis=tuple(range(ndim)))
    flip = rng.random(shape) < draw(st.sampled_from([0.0, 0.02, 0.2]))
    prediction = np.where(flip, rng.choice([0, *labels], size=shape), prediction)
    for label_map in (reference, prediction):
        for label in labels:
            if not np.any(label_map == label):
                label_map[tuple(rng.integers(0, shape))] = label
    spacing = tuple(draw(st.sampled_from(SPACINGS)) for _ in range(ndim))
    tolerance = draw(st.sampled_from(TOLERANCES))
    return reference, prediction, labels, spacing, tolerance


@PROPERTY
@given(well_posed_cases())
def test_agrees_with_monai_on_well_posed_masks(case):
    reference, prediction, labels, spacing, tolerance = case
    ours = segmentation_case(
        reference, prediction, labels=labels, spacing=spacing, tolerance_mm=tolerance
    )
    theirs = monai_values(reference, prediction, labels, spacing, tolerance)
    # MONAI computes in float32: overlap ratios to float32 precision. Surface Dice counts
    # the same voxels (see SPACINGS), so it also agrees to float32 precision.
    for metric in ("dice", "iou", "surface_dice"):
        np.testing.assert_allclose([c.value(metric) for c in ours], theirs[metric], rtol=1e-6)

    for j, result in enumerate(ours):
        pred_to_ref, ref_to_pred = _surface_distances(
            reference == labels[j], prediction == labels[j], np.asarray(spacing, dtype=float)
        )
        monai_pred_to_ref, monai_ref_to_pred = (d.numpy() for d in theirs["distances"][j])
        # Same boundary voxels and the same distances (MONAI's rounded to float32) ...
        np.testing.assert_allclose(np.sort(pred_to_ref), np.sort(monai_pred_to_ref), rtol=1e-6)
        np.testing.assert_allclose(np.sort(ref_to_pred), np.sort(monai_ref_to_pred), rtol=1e-6)
        # ... so the same HD95, up to the float32 rounding of those distances ...
        from_monai_distances = max(
            np.quantile(monai_pred_to_ref.astype(np.float64), 0.95),
            np.quantile(monai_ref_to_pred.astype(np.float64), 0.95),
        )
        assert result.hausdorff95 == pytest.approx(from_monai_distances, rel=1e-6)
        # ... and compute_hausdorff_distance's value up to torch.quantile in float32: its
        # interpolation position 0.95 * (n - 1) is off by at most (n - 1) * 2**-22, which
        # moves the value by that fraction of the gap between neighbouring distances.
        n = max(pred_to_ref.size, ref_to_pred.size)
        gap = max(pred_to_ref.max(), ref_to_pred.max())
        assert result.hausdorff95 == pytest.approx(
            theirs["hausdorff95"][j], rel=1e-6, abs=n * 2.0**-22 * gap
        )


# --- Geometric fixtures ------------------------------------------------------------------


def test_two_cubes_offset_by_one_voxel():
    reference = box((16, 16, 16), (4, 4, 4), (12, 12, 12))
    prediction = box((16, 16, 16), (5, 4, 4), (13, 12, 12))
    (case,) = segmentation_case(reference, prediction, labels=[1], tolerance_mm=0.5)
    # 8^3 = 512 voxels each, 7 * 8 * 8 = 448 shared.
    assert case.dice == 2 * 448 / 1024
    assert case.iou == 448 / 576
    assert case.relative_volume_error == 0.0
    # Every boundary voxel of one cube has the other's boundary 1 voxel away or closer, and
    # 100 of the 296 boundary voxels (a shifted 8x8 face and a 6x6 face interior) are at
    # exactly 1 voxel, far more than 5%.
    assert case.hausdorff95 == 1.0
    assert case.surface_dice == (196 + 196) / (296 + 296)
    (within_one,) = surface_dice_scores(reference, prediction, labels=[1], tolerance_mm=1.0)
    assert within_one == 1.0


@pytest.mark.parametrize(
    ("spacing", "expected"), [((1.0, 1.0, 1.0), 1.0), ((2.5, 1.0, 1.0), 2.5), ((0.5, 3, 3), 0.5)]
)
def test_anisotropic_spacing_scales_hd95_along_the_shift(spacing, expected):
    reference = box((16, 16, 16), (4, 4, 4), (12, 12, 12))
    prediction = box((16, 16, 16), (5, 4, 4), (13, 12, 12))
    (hd95,) = hausdorff95_distances(reference, prediction, labels=[1], spacing=spacing)
    assert hd95 == expected


def test_two_spheres_one_voxel_apart_on_the_diagonal():
    # MONAI's own fixture: every boundary voxel moves by (1, 1, 1), sqrt(3) voxels.
    reference = ball((24, 24, 24), (11, 11, 11), 6)
    prediction = ball((24, 24, 24), (12, 12, 12), 6)
    (hd95,) = hausdorff95_distances(reference, prediction, labels=[1])
    assert hd95 == pytest.approx(math.sqrt(3), rel=1e-15)


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize(
    "spacing", [(1.0, 1.0, 1.0), (2.0, 1.0, 1.0), (1.0, 2.5, 1.0), (1.0, 1.0, 0.5)]
)
def test_spheres_shifted_one_voxel_have_hd95_of_that_voxel_size(axis, spacing):
    reference = ball((24, 24, 24), (11, 11, 11), 6)
    centre = [11, 11, 11]
    centre[axis] += 1
    prediction = ball((24, 24, 24), centre, 6)
    (hd95,) = hausdorff95_distances(reference, prediction, labels=[1], spacing=spacing)
    assert hd95 == spacing[axis]


def test_structures_are_evaluated_independently():
    reference = box((20, 20), (2, 2), (8, 8), label=1) + box((20, 20), (10, 10), (16, 16), label=2)
    prediction = reference.copy()
    prediction[prediction == 2] = 0
    prediction[11:15, 11:15] = 2  # structure 2 shrunk by one pixel on every side
    one, two = segmentation_case(reference, prediction, labels=[1, 2])
    assert (one.dice, one.hausdorff95, one.surface_dice) == (1.0, 0.0, 1.0)
    assert two.dice == 2 * 16 / (36 + 16)
    assert two.relative_volume_error == (16 - 36) / 36
    # The 4 corners of the 20-pixel reference boundary are sqrt(2) from the shrunk square,
    # the other 16 pixels (and all 12 of its boundary) 1 pixel: 20% at sqrt(2).
    assert two.hausdorff95 == math.sqrt(2)
    assert two.surface_dice == (12 + 16) / (12 + 20)


def test_volumes_are_in_cubic_millimetres():
    reference = box((10, 10, 10), (0, 0, 0), (2, 2, 2))
    (case,) = segmentation_case(reference, reference, labels=[1], spacing=(0.5, 1.0, 2.0))
    assert case.reference_volume_mm3 == case.prediction_volume_mm3 == 8.0


# --- The counting fast path --------------------------------------------------------------


def naive_counts(reference, prediction, labels):
    ref = np.asarray(reference)
    pred = np.asarray(prediction)
    n_ref = np.array([np.count_nonzero(ref == k) for k in labels])
    n_pred = np.array([np.count_nonzero(pred == k) for k in labels])
    n_both = np.array([np.count_nonzero((ref == k) & (pred == k)) for k in labels])
    return n_ref, n_pred, n_both


def naive_scores(reference, prediction, labels):
    n_ref, n_pred, n_both = naive_counts(reference, prediction, labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(n_ref + n_pred == 0, 1.0, 2 * n_both / (n_ref + n_pred))
        iou = np.where(n_ref + n_pred == 0, 1.0, n_both / (n_ref + n_pred - n_both))
        rve = np.where(n_ref == 0, np.nan, (n_pred - n_ref) / n_ref)
    return dice, iou, rve


DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32, np.int64, np.uint64]


@PROPERTY
@given(
    shape=st.sampled_from([(7, 13, 5), (16, 16, 16), (3, 250), (64, 9), (1, 1, 1), (33, 8, 17)]),
    dtype=st.sampled_from(DTYPES),
    pred_dtype=st.sampled_from([None, np.uint8, np.int64]),
    layout=st.sampled_from(["C", "F", "strided"]),
    labels=st.sampled_from([[1], [1, 2, 3], [2, 7], list(range(1, 10)), [3, 100]]),
    density=st.sampled_from([0.0, 0.01, 0.3, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_counts_match_naive_for_every_dtype_and_layout(
    shape, dtype, pred_dtype, layout, labels, density, seed
):
    rng = np.random.default_rng(seed)
    values = [0, *labels, max(labels) + 1]  # includes an unlisted label
    big = [2 * s for s in shape] if layout == "strided" else shape
    reference = np.where(rng.random(big) < density, rng.choice(values, size=big), 0)
    prediction = np.where(rng.random(big) < density, rng.choice(values, size=big), 0)
    reference = reference.astype(dtype)
    prediction = prediction.astype(pred_dtype or dtype)
    if layout == "F":
        reference, prediction = np.asfortranarray(reference), np.asfortranarray(prediction)
    elif layout == "strided":
        cut = tuple(slice(None, None, 2) for _ in shape)
        reference, prediction = reference[cut], prediction[cut]
    dice, iou, rve = naive_scores(reference, prediction, labels)
    np.testing.assert_array_equal(dice_scores(reference, prediction, labels=labels), dice)
    np.testing.assert_array_equal(iou_scores(reference, prediction, labels=labels), iou)
    np.testing.assert_array_equal(relative_volume_errors(reference, prediction, labels=labels), rve)


def test_many_structures_use_one_joint_histogram_with_the_same_counts():
    rng = np.random.default_rng(3)
    labels = list(range(1, 12))
    assert len(labels) > _segmentation._MAX_COMPARE_LABELS
    reference = rng.integers(0, 14, size=(20, 20, 20))
    prediction = np.where(
        rng.random((20, 20, 20)) < 0.3, rng.integers(0, 14, (20, 20, 20)), reference
    )
    expected = naive_scores(reference, prediction, labels)
    np.testing.assert_array_equal(dice_scores(reference, prediction, labels=labels), expected[0])
    np.testing.assert_array_equal(iou_scores(reference, prediction, labels=labels), expected[1])


def test_large_label_values_are_counted():
    reference = np.zeros((8, 8), dtype=np.int32)
    reference[:4] = 70_000
    reference[4:, :2] = 2**21 + 5  # beyond the look-up table
    prediction = reference.copy()
    prediction[0, 0] = 0
    labels = [70_000, 2**21 + 5, 9]
    np.testing.assert_array_equal(
        dice_scores(reference, prediction, labels=labels),
        naive_scores(reference, prediction, labels)[0],
    )
    # Surfaces too: boxes of such labels come from masks, not from find_objects.
    hd95 = hausdorff95_distances(reference, prediction, labels=labels)
    expected = hausdorff95_distances(
        np.searchsorted([0, *labels[:2]], reference),
        np.searchsorted([0, *labels[:2]], prediction),
        labels=[1, 2, 3],
    )
    np.testing.assert_array_equal(hd95, expected)
    assert hd95[0] > 0 and hd95[1] == 0


def test_layout_and_dtype_do_not_change_surface_metrics():
    reference = ball((20, 24, 28), (9, 12, 13), 6) + box((20, 24, 28), (1, 1, 1), (4, 5, 6), 2)
    prediction = ball((20, 24, 28), (10, 11, 13), 5) + box((20, 24, 28), (1, 2, 1), (4, 5, 7), 2)
    spacing = (0.5, 1.25, 2.0)
    expected = segmentation_case(reference, prediction, labels=[1, 2], spacing=spacing)
    variants = [
        (np.asfortranarray(reference), np.asfortranarray(prediction)),
        (reference.astype(np.int64), prediction.astype(np.int16)),
        (reference.astype(float), prediction.astype(float)),
        (np.pad(reference, 3)[3:-3, 3:-3, 3:-3], np.pad(prediction, 3)[3:-3, 3:-3, 3:-3]),
    ]
    variants += [(reference.astype(dtype), prediction.astype(dtype)) for dtype in DTYPES]
    for ref, pred in variants:
        assert segmentation_case(ref, pred, labels=[1, 2], spacing=spacing) == expected
    # A transposed pair is the same geometry with the axes (and spacing) reversed.
    transposed = segmentation_case(reference.T, prediction.T, labels=[1, 2], spacing=spacing[::-1])
    assert transposed == expected


def test_bool_masks_are_label_maps_of_structure_one():
    reference = box((10, 10), (2, 2), (6, 6)).astype(bool)
    prediction = box((10, 10), (2, 3), (6, 7)).astype(bool)
    assert dice_scores(reference, prediction, labels=[1]).tolist() == [0.75]


# --- Edge-case policy --------------------------------------------------------------------


def test_both_masks_empty_is_a_perfect_score():
    reference = box((8, 9, 10), (1, 1, 1), (3, 3, 3), label=1)
    (absent,) = segmentation_case(reference, reference, labels=[2], spacing=(1.0, 2.0, 3.0))
    assert (absent.dice, absent.iou, absent.surface_dice, absent.hausdorff95) == (1, 1, 1, 0)
    assert math.isnan(absent.relative_volume_error)
    assert "reference is empty" in absent.relative_volume_error_reason
    assert absent.reference_empty and absent.prediction_empty


def test_all_background_maps():
    zeros = np.zeros((5, 6), dtype=np.uint8)
    one, two = segmentation_case(zeros, zeros, labels=[1, 2])
    assert one.to_dict() == {**two.to_dict(), "label": 1}
    assert (one.dice, one.iou, one.surface_dice, one.hausdorff95) == (1.0, 1.0, 1.0, 0.0)


def test_empty_reference_with_false_positives_scores_zero_and_the_diagonal():
    reference = np.zeros((10, 20, 30), dtype=np.uint8)
    prediction = box((10, 20, 30), (2, 2, 2), (4, 4, 4))
    spacing = (3.0, 2.0, 0.5)
    (case,) = segmentation_case(reference, prediction, labels=[1], spacing=spacing)
    assert (case.dice, case.iou, case.surface_dice) == (0.0, 0.0, 0.0)
    assert case.hausdorff95 == math.sqrt(30.0**2 + 40.0**2 + 15.0**2)
    assert math.isnan(case.relative_volume_error)
    assert case.relative_volume_error_reason.startswith("the reference is empty")
    assert case.reference_empty and not case.prediction_empty


def test_empty_prediction_scores_zero_and_rve_minus_one():
    reference = box((12, 12), (2, 2), (5, 5))
    prediction = np.zeros((12, 12), dtype=np.uint8)
    (case,) = segmentation_case(reference, prediction, labels=[1], spacing=(1.0, 0.5))
    assert (case.dice, case.iou, case.surface_dice) == (0.0, 0.0, 0.0)
    assert case.hausdorff95 == math.hypot(12.0, 6.0)
    assert case.relative_volume_error == -1.0
    assert case.relative_volume_error_reason is None


def test_monai_default_gives_nan_where_we_give_zero():
    """Why medgrade does not call MONAI: a hallucinated structure would vanish from the mean.

    With an empty reference and false positives, MONAI's compute_dice (ignore_empty=True by
    default) returns NaN, and its Hausdorff distance inf, so a nanmean over cases silently
    drops the case. The policy here scores it Dice 0 and HD95 = the image diagonal.
    """
    reference = np.zeros((12, 12, 12), dtype=np.uint8)
    prediction = box((12, 12, 12), (3, 3, 3), (6, 6, 6))
    theirs = monai_values(reference, prediction, [1], (1.0, 1.0, 1.0), 1.0)
    assert math.isnan(theirs["dice"][0])
    assert not math.isfinite(theirs["hausdorff95"][0])
    (ours,) = segmentation_case(reference, prediction, labels=[1])
    assert ours.dice == 0.0
    assert ours.hausdorff95 == math.sqrt(3 * 12.0**2)
    # Both empty: MONAI NaN for Dice, HD and surface Dice; 1, 0 and 1 here.
    both_empty = monai_values(reference, reference, [1], (1.0, 1.0, 1.0), 1.0)
    assert all(math.isnan(both_empty[m][0]) for m in ("dice", "hausdorff95", "surface_dice"))
    (ours,) = segmentation_case(reference, reference, labels=[1])
    assert (ours.dice, ours.hausdorff95, ours.surface_dice) == (1.0, 0.0, 1.0)


def test_unlisted_labels_are_other_structures():
    reference = box((10, 10), (0, 0), (4, 4), 1) + box((10, 10), (5, 5), (9, 9), 3)
    prediction = box((10, 10), (0, 0), (4, 4), 1) + box((10, 10), (5, 5), (9, 9), 4)
    assert dice_scores(reference, prediction, labels=[1]).tolist() == [1.0]


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"reference\.shape=\(4, 5\).*prediction\.shape=\(5, 4\)"):
        dice_scores(np.zeros((4, 5), int), np.zeros((5, 4), int), labels=[1])
    with pytest.raises(ValueError, match=r"references\[1\]\.shape=.*predictions\[1\]\.shape="):
        segmentation_metrics(
            [np.zeros((4, 4), int)] * 2, [np.zeros((4, 4), int), np.zeros((4, 5), int)], labels=[1]
        )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.array([[0, -1], [1, 0]]), "non-negative integer labels .* minimum -1"),
        (np.array([[0, -1.0], [1, 0]]), "non-negative labels .* minimum -1.0"),
        (np.array([[0, 1.5], [1, 0]]), "integer labels; got non-integer values such as 1.5"),
        (np.array([[0, np.nan], [1, 0]]), "NaN or inf"),
        (np.array([["a", "b"], ["c", "d"]]), "integer label map; got dtype <U1"),
        (np.array([[0, 1j], [1, 0]]), "integer label map; got dtype complex128"),
        (np.zeros(5, dtype=int), "2-D or 3-D label map; got an array of shape \\(5,\\)"),
        (np.zeros((1, 4, 4, 4), dtype=int), "Remove a channel or batch axis"),
        (np.zeros((0, 4), dtype=int), "is empty"),
    ],
)
def test_invalid_label_maps_are_rejected(values, message):
    with pytest.raises(ValueError, match=message):
        segmentation_case(values, np.zeros(values.shape, dtype=np.uint8), labels=[1])


def test_negative_prediction_labels_are_named():
    with pytest.raises(ValueError, match="prediction must hold non-negative"):
        dice_scores(np.zeros((8, 70), int), -np.ones((8, 70), int), labels=[1])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 1], r"positive integers \(0 is the background\)"),
        ([-2], "positive integers"),
        ([1, 1], "distinct"),
        ([], "labels is empty"),
        ([True], "positive integers"),
        ([1.0], "positive integers"),
        ("12", "sequence of structure labels"),
        (3, "sequence of structure labels"),
    ],
)
def test_invalid_labels_are_rejected(labels, message):
    with pytest.raises(ValueError, match=message):
        dice_scores(np.zeros((3, 3), int), np.zeros((3, 3), int), labels=labels)


@pytest.mark.parametrize(
    ("spacing", "message"),
    [
        ((1.0, 1.0), "one voxel size in mm per axis of the 3-D"),
        ((1.0, 0.0, 1.0), "finite and positive"),
        ((1.0, -1.0, 1.0), "finite and positive"),
        ((1.0, math.inf, 1.0), "finite and positive"),
        (2.0, "single number 2.0"),
        (("a", 1, 1), "voxel sizes in mm"),
    ],
)
def test_invalid_spacing_is_rejected(spacing, message):
    volume = box((6, 6, 6), (1, 1, 1), (3, 3, 3))
    with pytest.raises(ValueError, match=message):
        hausdorff95_distances(volume, volume, labels=[1], spacing=spacing)


@pytest.mark.parametrize("tolerance", [-0.5, math.nan, math.inf, True, "1"])
def test_invalid_tolerance_is_rejected(tolerance):
    volume = box((6, 6), (1, 1), (3, 3))
    with pytest.raises(ValueError, match="tolerance_mm must be a finite number >= 0"):
        surface_dice_scores(volume, volume, labels=[1], tolerance_mm=tolerance)


def test_invalid_case_lists_are_rejected():
    volume = box((6, 6), (1, 1), (3, 3))
    with pytest.raises(ValueError, match=r"len\(references\)=2 and len\(predictions\)=1"):
        segmentation_metrics([volume, volume], [volume], labels=[1])
    with pytest.raises(ValueError, match="at least one case"):
        segmentation_metrics([], [], labels=[1])
    with pytest.raises(ValueError, match=r"single spacing \(1.0, 2.0\).*\[spacing\] \* n_cases"):
        segmentation_metrics([volume], [volume], labels=[1], spacings=(1.0, 2.0))
    with pytest.raises(ValueError, match="got 2 for 1 cases"):
        segmentation_metrics([volume], [volume], labels=[1], spacings=[(1, 1), (1, 1)])
    with pytest.raises(ValueError, match=r"spacings\[0\] must have one voxel size"):
        segmentation_metrics([volume], [volume], labels=[1], spacings=[(1, 1, 1)])


def test_segmentation_case_rejects_a_reason_without_nan():
    with pytest.raises(ValueError, match="reason must be set exactly when"):
        SegmentationCase(1, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, "why")
    with pytest.raises(ValueError, match="reason must be set exactly when"):
        SegmentationCase(1, 1.0, 1.0, 0.0, 1.0, math.nan, 0.0, 0.0)
