"""Smooth ECE (Blasiok & Nakkiran) and the kernel-smoothed reliability diagram.

Like every calibration metric here they require ``y_prob`` in [0, 1] and never clip.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._result import MetricResult
from grader.metrics._validation import check_binary_inputs, check_positive_int

# Implemented here rather than by calling relplot: relplot is not a dependency of medgrade
# (it pulls in matplotlib, seaborn and pandas for its plots), and its metric is small. The
# discretisation below is relplot's own (relplot 0.1, kernels.py / metrics.py, default
# reflected Gaussian kernel), step by step, so that the values agree with relplot.smECE to
# rounding: probabilities are spread linearly onto a grid, smoothed by a Gaussian
# reflected at 0 and 1, interpolated onto an evaluation mesh, and the bandwidth is found
# by the same 10-step bisection for the fixed point sigma = smECE_sigma. The only change is
# that the convolution runs by FFT instead of np.convolve (same result to ~1e-13 relative).

_SMECE_MESH_POINTS = 200  # relplot.config.smECE_mesh_pts
_SMECE_MIN_BANDWIDTH = 1e-3  # relplot.smECE(eps=0.001)
_SMECE_BISECTION_STEPS = 10  # relplot.metrics.search_param(refine=10)
_SMOOTH_DENSITY_EPS = 1e-4  # relplot.kernels.BaseKernelMixin.smooth(eps=0.0001)


def _kernel_grid_size(bandwidth: float) -> int:
    # relplot GaussianKernel.apply: max(2000, round(20 / sigma)) // 2 + 1 grid points.
    return max(2000, round(20.0 / bandwidth)) // 2 + 1


def _to_grid(
    probs: NDArray[np.float64], values: NDArray[np.float64], size: int
) -> NDArray[np.float64]:
    """Spread each case's ``values`` (shape (k, n)) linearly onto ``size`` grid points."""
    position = probs * (size - 1)
    left = np.clip(position.astype(np.intp), 0, size - 2)
    frac = position - left
    out = np.empty((values.shape[0], size))
    for row, value in zip(out, values, strict=True):  # k <= 2 rows, not cases
        row[:] = np.bincount(left, weights=(1.0 - frac) * value, minlength=size)
        row += np.bincount(left + 1, weights=frac * value, minlength=size)
    return out


def _reflected_gaussian(grid_values: NDArray[np.float64], bandwidth: float) -> NDArray:
    """relplot ReflectedGaussianKernel.convolve on each row: reflect, convolve, crop."""
    size = grid_values.shape[1]
    t = np.linspace(0.0, 1.0, size)
    kernel = np.exp(-(t - 0.5) * (t - 0.5) / (2.0 * bandwidth**2))
    kernel /= math.sqrt(2.0 * math.pi) * bandwidth
    extended = np.concatenate(
        [grid_values[:, ::-1][:, :-1], grid_values, grid_values[:, ::-1][:, 1:]], axis=1
    )
    full_length = extended.shape[1] + size - 1
    n_fft = 1 << (full_length - 1).bit_length()
    full = np.fft.irfft(
        np.fft.rfft(extended, n_fft, axis=1) * np.fft.rfft(kernel, n_fft), n_fft, axis=1
    )
    # np.convolve(extended, kernel, "valid")[size // 2 : size // 2 + size]
    start = size - 1 + size // 2
    return full[:, start : start + size]


def _interpolate(mesh: NDArray[np.float64], grid_values: NDArray) -> NDArray[np.float64]:
    """relplot kernels.interpolate: piecewise-linear grid function evaluated on ``mesh``."""
    size = grid_values.shape[1]
    step = 1.0 / (size - 1)
    index = np.clip((mesh * (size - 1)).astype(np.intp), 0, size - 2)
    residual = (mesh - index * step) / step
    return grid_values[:, index] * (1.0 - residual) + grid_values[:, index + 1] * residual


class _Smoother:
    """Kernel smoothing of (y_prob - y_true) and of case counts, cached per grid size."""

    def __init__(self, labels: NDArray[np.bool_], probs: NDArray[np.float64]) -> None:
        self._probs = probs
        self._values = np.stack([probs - labels, np.ones_like(probs)])
        self._grids: dict[int, NDArray[np.float64]] = {}

    def smooth(
        self, bandwidth: float, mesh: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Smoothed mean residual and (unnormalised) density on ``mesh``, as relplot."""
        size = _kernel_grid_size(bandwidth)
        if size not in self._grids:
            self._grids[size] = _to_grid(self._probs, self._values, size)
        residual, density = _interpolate(mesh, _reflected_gaussian(self._grids[size], bandwidth))
        density = density + _SMOOTH_DENSITY_EPS
        return residual / density, density

    def ece(self, bandwidth: float) -> float:
        """relplot.smECE_sigma: density-weighted mean |smoothed residual| on the mesh."""
        mesh = np.linspace(0.0, 1.0, max(round(10.0 / bandwidth), _SMECE_MESH_POINTS))
        residual, density = self.smooth(bandwidth, mesh)
        return float(np.sum(np.abs(residual) * density) / np.sum(density))


def _fixed_point_bandwidth(smoother: _Smoother) -> float:
    """relplot.metrics.search_param for the predicate sigma < smECE_sigma (or sigma < 1e-3).

    smECE_sigma decreases in sigma; the bisection returns the smallest bandwidth tried at
    which sigma >= smECE_sigma, to 2**-10.
    """

    def too_small(bandwidth: float) -> bool:
        return bandwidth < _SMECE_MIN_BANDWIDTH or bandwidth < smoother.ece(bandwidth)

    if too_small(1.0):
        return 1.0
    large, small = 1.0, 0.0
    for _ in range(_SMECE_BISECTION_STEPS):
        middle = (large + small) / 2.0
        if too_small(middle):
            small = middle
        else:
            large = middle
    return large


def _check_bandwidth(bandwidth: float | None) -> float | None:
    if bandwidth is None:
        return None
    if (
        isinstance(bandwidth, bool)
        or not isinstance(bandwidth, numbers.Real)
        or not 0.0 < bandwidth <= 1.0
    ):
        raise ValueError(f"bandwidth must be a number in (0, 1] or None; got {bandwidth!r}")
    return float(bandwidth)


def smooth_ece(
    y_true: ArrayLike, y_prob: ArrayLike, *, bandwidth: float | None = None
) -> MetricResult:
    r"""Smooth ECE (smECE): calibration error of a kernel-smoothed reliability diagram.

    The residuals :math:`r_i = p_i - y_i` are smoothed over :math:`p` with a Gaussian
    kernel of bandwidth :math:`\sigma` reflected at 0 and 1,

    .. math::

        \hat r_\sigma(t) = \frac{\sum_i K_\sigma(t, p_i)\, r_i}{\sum_i K_\sigma(t, p_i)},
        \qquad
        \mathrm{smECE}_\sigma = \int_0^1 |\hat r_\sigma(t)|\, \hat\delta_\sigma(t)\, dt

    with :math:`\hat\delta_\sigma` the kernel density of the predictions. The bandwidth is
    the fixed point :math:`\sigma^* = \mathrm{smECE}_{\sigma^*}` (found by bisection to
    :math:`2^{-10}`), which makes the measure consistent without a binning choice
    (Błasiok & Nakkiran 2023). No bins, so none of the ECE's sensitivity to ``n_bins``.
    Equals ``relplot.smECE(y_prob, y_true)`` (same grid discretisation, reimplemented
    here) to about 1e-12. Lower is better; no interval.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].
    bandwidth : float in (0, 1], optional
        Use this fixed :math:`\sigma` (``relplot.smECE_sigma``) instead of the fixed point.

    Returns
    -------
    MetricResult
        Defined for any non-empty input; ``method`` gives the bandwidth used.

    References
    ----------
    .. [1] Błasiok J, Nakkiran P. "Smooth ECE: Principled reliability diagrams via kernel
       smoothing." arXiv:2309.12236, 2023 (ICLR 2024). Reference code: apple/ml-calibration
       (``relplot``).

    Examples
    --------
    >>> r = smooth_ece([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9])
    >>> round(r.value, 4), r.higher_is_better
    (0.1623, False)
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    fixed = _check_bandwidth(bandwidth)
    smoother = _Smoother(labels, probs)
    sigma = _fixed_point_bandwidth(smoother) if fixed is None else fixed
    how = (
        f"fixed-point bandwidth sigma* = {sigma:.6g} (bisection to 2^-10, as relplot.smECE)"
        if fixed is None
        else f"fixed bandwidth sigma = {sigma:g} (as relplot.smECE_sigma)"
    )
    return MetricResult(
        name="smooth_ece",
        value=smoother.ece(sigma),
        ci_low=None,
        ci_high=None,
        higher_is_better=False,
        method=(
            f"smooth ECE (Blasiok & Nakkiran 2023): |kernel-smoothed y_prob - y_true| "
            f"weighted by the kernel density of y_prob, Gaussian kernel reflected at 0 and "
            f"1, {how}; no CI"
        ),
        n=labels.shape[0],
    )


@dataclass(frozen=True, eq=False)
class SmoothReliabilityCurve:
    """A kernel-smoothed reliability diagram (see :func:`smooth_reliability_curve`).

    Arrays are read-only and aligned with ``grid``.

    Attributes
    ----------
    grid : ndarray of float64
        Predicted probabilities at which the curve is evaluated, 0 to 1.
    fraction_positive : ndarray of float64
        Smoothed fraction of positive cases among predictions near each grid point,
        ``grid - smoothed(y_prob - y_true)``; not clipped, so it can leave [0, 1] slightly
        at the ends, and it returns to the diagonal where there are no predictions.
    density : ndarray of float64
        Kernel density of ``y_prob`` on the grid (integrates to about 1 over [0, 1]).
    bandwidth : float
        Kernel bandwidth used (the smooth-ECE fixed point unless given).
    """

    grid: NDArray[np.float64]
    fraction_positive: NDArray[np.float64]
    density: NDArray[np.float64]
    bandwidth: float


def smooth_reliability_curve(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_points: int = 200,
    bandwidth: float | None = None,
) -> SmoothReliabilityCurve:
    """Kernel-smoothed reliability diagram for plotting, with the density of predictions.

    The curve and density are those relplot's reliability diagram draws (its deterministic
    main line, without bagging): the smoothing of :func:`smooth_ece` at the same
    bandwidth, evaluated on ``n_points`` equally spaced probabilities. On a hidden-label
    split, keep in mind that where few predictions lie the curve is an average of few
    labels.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].
    n_points : int, default=200
        Number of grid points on [0, 1] (relplot's ``plot_mesh_pts``); at least 2.
    bandwidth : float in (0, 1], optional
        Kernel bandwidth; default the smooth-ECE fixed point.

    Returns
    -------
    SmoothReliabilityCurve

    Examples
    --------
    >>> curve = smooth_reliability_curve([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9], n_points=5)
    >>> curve.grid.tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> round(curve.bandwidth, 4)
    0.1631
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    n_points = check_positive_int(n_points, "n_points")
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2 (the grid runs from 0 to 1); got {n_points}")
    fixed = _check_bandwidth(bandwidth)
    smoother = _Smoother(labels, probs)
    sigma = _fixed_point_bandwidth(smoother) if fixed is None else fixed
    grid = np.linspace(0.0, 1.0, n_points)
    residual, counts = smoother.smooth(sigma, grid)
    # relplot's kde: the same smoothing of weights 1/n, without the density epsilon.
    density = (counts - _SMOOTH_DENSITY_EPS) / labels.shape[0]
    fraction_positive = grid - residual
    for array in (grid, fraction_positive, density):
        array.setflags(write=False)
    return SmoothReliabilityCurve(grid, fraction_positive, density, sigma)
