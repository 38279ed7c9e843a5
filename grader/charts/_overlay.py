"""A segmentation overlay: an image slice, embedded as a PNG, with the outlines of the
reference and the predicted mask."""

from __future__ import annotations

import base64
import math
import struct
import zlib

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.charts._canvas import _Canvas, _LegendItem, _text
from grader.charts._data import _plottable
from grader.charts._style import _MUTED, _ORANGE, _PAD, _SKY
from grader.charts._text import _escape, _plural

_MAX_IMAGE_SIDE = 256  # larger slices are block-averaged down to this many pixels a side


def _png_greyscale(pixels: NDArray[np.uint8]) -> bytes:
    """An 8-bit greyscale PNG: signature, IHDR, one zlib IDAT, IEND (PNG spec, ISO 15948)."""
    height, width = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    # Each scanline starts with its filter type; 0 (none) compresses well enough here.
    scanlines = np.hstack([np.zeros((height, 1), np.uint8), pixels]).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(scanlines, 9))
        + chunk(b"IEND", b"")
    )


def _block_mean(array: NDArray[np.float64], factor: int) -> NDArray[np.float64]:
    """Mean of the finite values in each ``factor`` x ``factor`` block; NaN where none."""
    height, width = array.shape
    pad = ((0, -height % factor), (0, -width % factor))
    finite = np.isfinite(array)
    sums = np.pad(np.where(finite, array, 0.0), pad)
    counts = np.pad(finite.astype(np.float64), pad)
    shape = (sums.shape[0] // factor, factor, sums.shape[1] // factor, factor)
    total, number = sums.reshape(shape).sum(axis=(1, 3)), counts.reshape(shape).sum(axis=(1, 3))
    return np.divide(total, number, out=np.full(total.shape, np.nan), where=number > 0)


def _downsample_mask(mask: NDArray[np.bool_], factor: int) -> NDArray[np.bool_]:
    """Majority vote per block, or any-vote if the majority would erase the whole mask."""
    share = _block_mean(mask.astype(np.float64), factor)
    majority = share >= 0.5
    return majority if majority.any() or not mask.any() else share > 0


def _greyscale(image: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Window the 1st-99th percentile of the finite pixels onto 0-255 (CT-style outliers)."""
    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros(image.shape, np.uint8)
    low, high = np.percentile(image[finite], [1, 99])
    if high <= low:
        low, high = float(image[finite].min()), float(image[finite].max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return np.round(np.clip(np.where(finite, scaled, 0.0), 0.0, 1.0) * 255).astype(np.uint8)


def _runs(edges: NDArray[np.bool_]) -> NDArray[np.intp]:
    """``(line, start, stop)`` of each run of True along the rows of ``edges``."""
    padded = np.pad(edges, ((0, 0), (1, 1))).astype(np.int8)
    change = np.diff(padded, axis=1)
    starts, stops = np.argwhere(change == 1), np.argwhere(change == -1)
    return np.column_stack([starts[:, 0], starts[:, 1], stops[:, 1]])


def _outline_path(mask: NDArray[np.bool_], *, x0: float, y0: float, scale: float) -> str:
    """Path data along every pixel edge between the mask and its outside.

    Edges are merged into straight runs, so a 256-px square costs four segments. They are
    not chained into closed loops, which is why the two outlines differ by width rather
    than by dashing (a dash pattern restarts on every segment).
    """
    padded = np.pad(mask, 1)
    horizontal = padded[1:, 1:-1] != padded[:-1, 1:-1]  # edge on top of row r, column c
    vertical = padded[1:-1, 1:] != padded[1:-1, :-1]  # edge left of column c, row r

    def fmt(values: NDArray[np.float64]) -> list[str]:
        return [f"{v:.2f}".rstrip("0").rstrip(".") for v in values.tolist()]

    parts = []
    runs = _runs(horizontal)
    if runs.size:
        ys, xs, xe = (fmt(base + runs[:, i] * scale) for i, base in ((0, y0), (1, x0), (2, x0)))
        parts += [f"M{a} {b}H{c}" for a, b, c in zip(xs, ys, xe, strict=True)]
    runs = _runs(vertical.T)
    if runs.size:
        xs, ys, ye = (fmt(base + runs[:, i] * scale) for i, base in ((0, x0), (1, y0), (2, y0)))
        parts += [f"M{a} {b}V{c}" for a, b, c in zip(xs, ys, ye, strict=True)]
    return "".join(parts)


def _image_2d(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 2-D array of numbers; {error}") from None
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D slice; got an array of shape {array.shape} "
            "(pick one slice, e.g. volume[:, :, k], and squeeze channel axes)"
        )
    return array


def segmentation_overlay(
    image_2d: ArrayLike, reference_2d: ArrayLike, prediction_2d: ArrayLike, *, title: str
) -> str:
    """An image slice with the outlines of the reference and the predicted mask.

    The slice is embedded as a greyscale PNG (windowed to its 1st-99th percentile) and
    each mask's boundary is drawn as an SVG path along pixel edges: the reference thick
    and sky blue, the prediction thin and orange on top, so both stay visible where they
    coincide. Slices larger than 256 px are block-averaged down to at most 256 px (masks
    by majority vote per block).

    Parameters
    ----------
    image_2d : array-like of shape (h, w)
        The image; non-finite pixels are drawn black.
    reference_2d, prediction_2d : array-like of shape (h, w)
        Masks; a pixel is inside where its value exceeds 0.5 (so bool, 0/1 labels and
        probabilities thresholded at 0.5 all work).
    title : str
        The chart's title, e.g. the case and slice shown.
    """
    image = _image_2d(image_2d, "image_2d")
    image = np.where(_plottable(image), image, np.nan)
    masks = {}
    for name, values in (("reference_2d", reference_2d), ("prediction_2d", prediction_2d)):
        mask = _image_2d(values, name)
        if mask.shape != image.shape:
            raise ValueError(
                f"{name} must have the shape of image_2d {image.shape}; got {mask.shape}"
            )
        masks[name] = np.nan_to_num(mask, nan=0.0) > 0.5
    reference, prediction = masks["reference_2d"], masks["prediction_2d"]
    notes = []
    if image.size and not np.isfinite(image).all():
        notes.append(
            f"{_plural(int((~np.isfinite(image)).sum()), 'pixel')} with no finite value drawn black."
        )
    height, width = image.shape
    factor = math.ceil(max(height, width) / _MAX_IMAGE_SIDE) if image.size else 1
    if factor > 1:
        image = _block_mean(image, factor)
        reference, prediction = (
            _downsample_mask(reference, factor),
            _downsample_mask(prediction, factor),
        )
        notes.append(
            f"Downsampled from {height} \u00d7 {width} to {image.shape[0]} \u00d7 {image.shape[1]} pixels."
        )
    shown_height, shown_width = image.shape
    scale = _MAX_IMAGE_SIDE / max(shown_height, shown_width, 1)
    box_width, box_height = shown_width * scale, shown_height * scale
    description = (
        f"{title}: a {height} \u00d7 {width} image slice with the reference outline (thick, sky "
        f"blue; {_plural(int(masks['reference_2d'].sum()), 'pixel')}) and the predicted outline "
        f"(thin, orange; {_plural(int(masks['prediction_2d'].sum()), 'pixel')})."
    )
    canvas = _Canvas(
        "overlay",
        title,
        description,
        left=_PAD,
        content_width=max(box_width, _MAX_IMAGE_SIDE),
        content_height=max(box_height, 1.0) if image.size else 120.0,
        right=_PAD,
        below=4.0,
    )
    x0 = canvas.left + (canvas.content_width - box_width) / 2
    y0 = canvas.top
    if not image.size:
        canvas.body.append(
            _text(
                canvas.left + canvas.content_width / 2,
                y0 + 60,
                "empty slice: nothing to draw",
                size=11,
                anchor="middle",
                fill=_MUTED,
                extra=' font-style="italic"',
            )
        )
    else:
        uri = base64.b64encode(_png_greyscale(_greyscale(image))).decode("ascii")
        canvas.body.append(
            f'<g class="series series-image"><title>{_escape(title)}</title>'
            f'<image x="{x0:.1f}" y="{y0:.1f}" width="{box_width:.1f}" height="{box_height:.1f}" '
            f'preserveAspectRatio="none" style="image-rendering:pixelated" '
            f'href="data:image/png;base64,{uri}"/></g>'
        )
    for label, mask, colour, stroke in (
        ("reference", reference, _SKY, 3.0),
        ("prediction", prediction, _ORANGE, 1.5),
    ):
        canvas.legend.append(_LegendItem(label, colour, width=stroke))
        if not mask.any():
            if image.size:
                notes.append(f"The {label} mask is empty on this slice.")
            continue
        canvas.body.append(
            f'<g class="series series-outline"><title>{label}</title><path d="'
            f'{_outline_path(mask, x0=x0, y0=y0, scale=scale)}" fill="none" stroke="{colour}" '
            f'stroke-width="{stroke:g}" stroke-linecap="square" stroke-opacity="0.95"/></g>'
        )
    canvas.notes += notes
    return canvas.render()
