"""Calibration metrics for predicted probabilities of the positive class.

All of them require ``y_prob`` in [0, 1] and reject anything else rather than clip it:
a submission that outputs logits must be told so, not silently graded on sigmoid(logit).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._result import MetricResult
from grader.metrics._validation import (
    check_alpha,
    check_binary_inputs,
    check_positive_int,
    normal_quantile,
    percent,
)


def brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> MetricResult:
    r"""Brier score: mean squared difference between predicted probability and outcome.

    .. math:: \mathrm{BS} = \frac{1}{N} \sum_{i=1}^{N} (p_i - y_i)^2

    The binary form (range [0, 1], not the doubled two-class form of Brier's paper); equals
    ``sklearn.metrics.brier_score_loss``. Lower is better. No confidence interval is given.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].

    Returns
    -------
    MetricResult
        Defined for any non-empty input, single-class labels included.

    References
    ----------
    .. [1] Brier GW. "Verification of forecasts expressed in terms of probability."
       Monthly Weather Review 78(1):1-3, 1950.

    Examples
    --------
    >>> round(brier_score([0, 1, 1], [0.1, 0.9, 0.6]).value, 4)  # (0.01 + 0.01 + 0.16) / 3
    0.06
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    return MetricResult(
        name="brier_score",
        value=float(np.mean(np.square(probs - labels))),
        ci_low=None,
        ci_high=None,
        higher_is_better=False,
        method="mean((y_prob - y_true)^2), binary (not doubled) form, range [0, 1]; no CI",
        n=labels.shape[0],
    )


def scaled_brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> MetricResult:
    r"""Scaled Brier score (Brier skill score against the observed prevalence).

    .. math:: 1 - \frac{\mathrm{BS}}{\bar y (1 - \bar y)}

    where :math:`\bar y` is the prevalence of ``y_true`` and :math:`\bar y (1 - \bar y)` is
    the Brier score of always predicting it. 1 is perfect, 0 is no better than predicting
    the prevalence, negative is worse. The reference uses the prevalence of the evaluated
    set itself, so it slightly favours the constant predictor on small sets.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].

    Returns
    -------
    MetricResult
        ``value`` is NaN when ``y_true`` holds a single class (the reference Brier score is 0).

    References
    ----------
    .. [1] Steyerberg EW, Vickers AJ, Cook NR, et al. "Assessing the performance of
       prediction models: a framework for traditional and novel measures."
       Epidemiology 21(1):128-138, 2010.

    Examples
    --------
    >>> round(scaled_brier_score([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]).value, 4)
    0.9
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    n = labels.shape[0]
    n_pos = int(np.count_nonzero(labels))
    prevalence = n_pos / n
    method = (
        "1 - Brier / (prevalence * (1 - prevalence)): Brier skill score against always "
        "predicting the observed prevalence of y_true; no CI"
    )
    reference = prevalence * (1.0 - prevalence)
    if reference == 0.0:
        only = "negative" if n_pos == 0 else "positive"
        return MetricResult(
            name="scaled_brier_score",
            value=math.nan,
            ci_low=None,
            ci_high=None,
            higher_is_better=True,
            method=method,
            n=n,
            reason=(
                f"y_true has only {only} cases: the reference Brier score "
                f"prevalence * (1 - prevalence) is 0, so the scaled Brier score is undefined"
            ),
        )
    brier = float(np.mean(np.square(probs - labels)))
    return MetricResult(
        name="scaled_brier_score",
        value=1.0 - brier / reference,
        ci_low=None,
        ci_high=None,
        higher_is_better=True,
        method=method,
        n=n,
    )


def _bin_sums(
    labels: NDArray[np.bool_], probs: NDArray[np.float64], n_bins: int
) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]:
    """Per-bin case count, sum of probabilities and number of positives.

    Bin ``b`` is ``[b / n_bins, (b + 1) / n_bins)``, the last one closed so that p = 1.0
    is kept; p = 0.0 falls in bin 0.
    """
    # Truncation is floor for p >= 0, which validation guarantees.
    index = np.minimum((probs * n_bins).astype(np.intp), n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    prob_sums = np.bincount(index, weights=probs, minlength=n_bins)
    positives = np.bincount(index, weights=labels.astype(np.float64), minlength=n_bins)
    return counts, prob_sums, positives


def expected_calibration_error(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15
) -> MetricResult:
    r"""Expected calibration error of the positive-class probability, equal-width bins.

    .. math::

        \mathrm{ECE} = \sum_{b=1}^{B} \frac{n_b}{N}
        \left| \bar y_b - \bar p_b \right|

    where bin :math:`b` holds the cases with :math:`\min(\lfloor p B \rfloor, B - 1) = b-1`
    (so p = 0.0 is in the first bin and p = 1.0 in the last; no case is dropped),
    :math:`\bar y_b` is the fraction of positives and :math:`\bar p_b` the mean predicted
    probability in the bin. Empty bins contribute 0. This is the binary, positive-class
    form: it bins ``p`` itself, not the top-label confidence ``max(p, 1 - p)`` that Guo et
    al. use for multi-class models. The value depends on ``n_bins`` and is biased upwards
    on small sets (each bin's gap includes sampling noise). Lower is better; no interval.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].
    n_bins : int, default=15
        Number of equal-width bins on [0, 1].

    Returns
    -------
    MetricResult
        Defined for any non-empty input, single-class labels included.

    References
    ----------
    .. [1] Naeini MP, Cooper GF, Hauskrecht M. "Obtaining well calibrated probabilities
       using Bayesian binning." AAAI 2015.
    .. [2] Guo C, Pleiss G, Sun Y, Weinberger KQ. "On calibration of modern neural
       networks." ICML 2017.

    Examples
    --------
    >>> # bin [0, 0.5): 2 cases, mean p 0.2, 1 positive; bin [0.5, 1]: 2 cases, mean p 1.0
    >>> round(expected_calibration_error([0, 1, 1, 1], [0.2, 0.2, 1.0, 1.0], n_bins=2).value, 4)
    0.15
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    n_bins = check_positive_int(n_bins, "n_bins")
    _, prob_sums, positives = _bin_sums(labels, probs, n_bins)
    n = labels.shape[0]
    # (n_b / N) |positives_b / n_b - prob_sums_b / n_b| = |positives_b - prob_sums_b| / N,
    # which also makes empty bins contribute exactly 0 without a division by zero.
    value = float(np.abs(positives - prob_sums).sum() / n)
    return MetricResult(
        name="expected_calibration_error",
        value=value,
        ci_low=None,
        ci_high=None,
        higher_is_better=False,
        method=(
            f"{n_bins} equal-width bins, L1, weighted by bin count: sum over bins of "
            f"(n_b / n) * |fraction positive - mean y_prob| (positive-class probability, "
            f"p = 1.0 in the last bin); no CI"
        ),
        n=n,
    )


@dataclass(frozen=True, eq=False)
class ReliabilityCurve:
    """Per-bin calibration data for a reliability diagram (non-empty bins only).

    The binning is the one of :func:`expected_calibration_error`. Arrays are read-only and
    aligned: entry ``i`` describes the ``i``-th shown bin in increasing order of probability.

    Attributes
    ----------
    bin_lower, bin_upper : ndarray of float64
        Bin edges ``b / n_bins`` and ``(b + 1) / n_bins``.
    mean_predicted : ndarray of float64
        Mean of ``y_prob`` over the bin's cases.
    fraction_positive : ndarray of float64
        Fraction of the bin's cases with ``y_true == 1``.
    count : ndarray of int
        Number of cases in the bin.
    n_hidden_bins : int
        Non-empty bins left out because they held fewer than ``min_cases_per_bin`` cases.
    """

    bin_lower: NDArray[np.float64]
    bin_upper: NDArray[np.float64]
    mean_predicted: NDArray[np.float64]
    fraction_positive: NDArray[np.float64]
    count: NDArray[np.intp]
    n_hidden_bins: int


def reliability_curve(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15, min_cases_per_bin: int = 1
) -> ReliabilityCurve:
    """Fraction of positives against mean predicted probability, per equal-width bin.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].
    n_bins : int, default=15
        Number of equal-width bins on [0, 1], as in :func:`expected_calibration_error`.
    min_cases_per_bin : int, default=1
        Bins with fewer cases are left out and counted in ``n_hidden_bins``. On a
        hidden-label split a bin of one case would reveal that case's label; a larger
        minimum limits (but, for a bin whose cases share a label, does not remove) what
        a report discloses.

    Returns
    -------
    ReliabilityCurve

    Examples
    --------
    >>> curve = reliability_curve([0, 1, 1, 1, 0], [0.2, 0.2, 1.0, 1.0, 0.6], n_bins=4,
    ...                           min_cases_per_bin=2)
    >>> curve.bin_lower.tolist(), curve.fraction_positive.tolist(), curve.n_hidden_bins
    ([0.0, 0.75], [0.5, 1.0], 1)
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    n_bins = check_positive_int(n_bins, "n_bins")
    min_cases = check_positive_int(min_cases_per_bin, "min_cases_per_bin")
    counts, prob_sums, positives = _bin_sums(labels, probs, n_bins)
    shown = counts >= min_cases
    n_hidden = int(np.count_nonzero((counts > 0) & ~shown))
    bins = np.flatnonzero(shown)
    shown_counts = counts[bins]
    lower, upper = bins / n_bins, (bins + 1) / n_bins
    arrays = (
        lower,
        upper,
        # The mean of a bin's probabilities lies in the bin; a sum rounded one ulp low
        # (three times 0.7 is 2.0999999999999996) must not put it below the bin's edge.
        np.clip(prob_sums[bins] / shown_counts, lower, upper),
        positives[bins] / shown_counts,
        shown_counts,
    )
    for array in arrays:
        array.setflags(write=False)
    return ReliabilityCurve(*arrays, n_hidden_bins=n_hidden)


# --- Smooth ECE (Blasiok & Nakkiran) -----------------------------------------------------
#
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


# --- Calibration intercept and slope (logistic recalibration) ----------------------------
#
# Fitted by Newton-Raphson (IRLS) in numpy rather than statsmodels (not a dependency) or
# scikit-learn (whose LogisticRegression has no offset term and reports no covariance).
# The log-likelihood is concave, so Newton from the "perfectly calibrated" start converges
# in a handful of steps; step halving guards the rare overshoot.

_NEWTON_MAX_STEPS = 100
_NEWTON_TOLERANCE = 1e-12


def _expit(eta: NDArray[np.float64]) -> NDArray[np.float64]:
    # exp(-log(1 + e^-eta)) neither overflows nor warns for any finite eta.
    return np.exp(-np.logaddexp(0.0, -eta))


def _log_likelihood(y: NDArray[np.float64], eta: NDArray[np.float64]) -> float:
    return float(np.dot(y, eta) - np.logaddexp(0.0, eta).sum())


def _fit_logistic(
    design: NDArray[np.float64],
    offset: NDArray[np.float64],
    y: NDArray[np.float64],
    start: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Maximum likelihood ``beta`` of ``logit P(y=1) = design @ beta + offset`` and its
    inverse observed information; None if Newton does not converge.

    For the logit link the observed and expected information coincide:
    ``X^T diag(mu (1 - mu)) X``.
    """
    beta = start.astype(np.float64)
    eta = design @ beta + offset
    current = _log_likelihood(y, eta)
    for _ in range(_NEWTON_MAX_STEPS):
        mu = _expit(eta)
        information = design.T @ (design * (mu * (1.0 - mu))[:, None])
        try:
            step = np.linalg.solve(information, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            return None
        # Newton converges quadratically: a negligible full step means beta is the maximum
        # to rounding, and the information is already evaluated there.
        if np.max(np.abs(step)) <= _NEWTON_TOLERANCE * (1.0 + np.max(np.abs(beta))):
            try:
                return beta, np.linalg.inv(information)
            except np.linalg.LinAlgError:
                return None
        scale = 1.0
        while True:
            candidate = beta + scale * step
            eta_candidate = design @ candidate + offset
            value = _log_likelihood(y, eta_candidate)
            if value >= current - 1e-12 * abs(current) or scale < 1e-10:
                break
            scale /= 2.0
        beta, eta, current = candidate, eta_candidate, value
    return None


def calibration_intercept_slope(
    y_true: ArrayLike, y_prob: ArrayLike, *, alpha: float = 0.05
) -> tuple[MetricResult, MetricResult]:
    r"""Calibration intercept (calibration-in-the-large) and calibration slope.

    With :math:`\ell_i = \operatorname{logit}(p_i)` the logit of the predicted probability:

    - **slope** :math:`\beta`: the logistic regression
      :math:`\operatorname{logit} P(y_i = 1) = a + \beta\, \ell_i`. 1 is ideal; below 1
      the predictions are too extreme (typical of overfitting), above 1 too modest.
    - **intercept** :math:`\alpha`: the logistic regression with the slope fixed at 1,
      :math:`\operatorname{logit} P(y_i = 1) = \alpha + \ell_i` (:math:`\ell_i` an
      offset). 0 is ideal; negative means the predicted risks are too high on average,
      positive too low.

    Both are maximum-likelihood fits by Newton-Raphson (IRLS); the ``1 - alpha``
    intervals are Wald intervals from the observed information,
    :math:`\hat\theta \pm z_{1-\alpha/2} \sqrt{[I(\hat\theta)^{-1}]_{\theta\theta}}`.

    Neither is a score with a direction: the ideal values are 1 and 0, and a slope of
    1.3 is not better than 1. ``higher_is_better`` is set to False for both; read the
    values against their ideal (given in ``method``).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].
    alpha : float, default=0.05
        The intervals are ``1 - alpha`` intervals.

    Returns
    -------
    (intercept, slope) : tuple of MetricResult
        Named ``"calibration_intercept"`` and ``"calibration_slope"``. NaN with a reason
        (never a warning or an exception) when:

        - ``y_true`` holds a single class (both);
        - some ``y_prob`` is exactly 0 or 1: the logit is infinite and medgrade does not
          clip for you (both);
        - every ``y_prob`` is equal, so the slope is not identifiable (slope only);
        - ``logit(y_prob)`` separates the classes, so the slope's maximum-likelihood
          estimate is infinite (slope only; the intercept stays defined).

    References
    ----------
    .. [1] Cox DR. "Two further applications of a model for binary regression."
       Biometrika 45(3/4):562-565, 1958.
    .. [2] Van Calster B, Nieboer D, Vergouwe Y, De Cock B, Pencina MJ, Steyerberg EW.
       "A calibration hierarchy for risk models was defined: from utopia to empirical
       data." J Clin Epidemiol 74:167-176, 2016.
    .. [3] Van Calster B, McLernon DJ, van Smeden M, Wynants L, Steyerberg EW.
       "Calibration: the Achilles heel of predictive analytics." BMC Medicine 17:230, 2019.

    Examples
    --------
    >>> y = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1]
    >>> p = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.5, 0.35]
    >>> intercept, slope = calibration_intercept_slope(y, p)
    >>> round(intercept.value, 4), round(slope.value, 4)  # risks too low, too extreme
    (0.6148, 0.7279)
    >>> round(slope.ci_low, 3), round(slope.ci_high, 3)
    (-0.528, 1.983)
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    alpha = check_alpha(alpha)
    n = labels.shape[0]
    z = normal_quantile(alpha)
    level = percent(alpha)
    intercept_method = (
        f"calibration-in-the-large: logistic regression of y_true with offset "
        f"logit(y_prob), slope fixed at 1 (ideal 0; < 0: risks overestimated); Newton-Raphson "
        f"ML fit, {level} Wald CI from the observed information"
    )
    slope_method = (
        f"logistic regression of y_true on logit(y_prob) (ideal 1; < 1: predictions too "
        f"extreme); Newton-Raphson ML fit, {level} Wald CI from the observed information"
    )

    def result(name: str, method: str, estimate: float, variance: float) -> MetricResult:
        half_width = z * math.sqrt(variance)
        return MetricResult(
            name=name,
            value=estimate,
            ci_low=estimate - half_width,
            ci_high=estimate + half_width,
            higher_is_better=False,
            method=method,
            n=n,
            alpha=alpha,
        )

    def undefined(name: str, method: str, reason: str) -> MetricResult:
        return MetricResult(
            name=name,
            value=math.nan,
            ci_low=None,
            ci_high=None,
            higher_is_better=False,
            method=method,
            n=n,
            alpha=alpha,
            reason=reason,
        )

    n_pos = int(np.count_nonzero(labels))
    reason = None
    if n_pos in (0, n):
        only = "negative" if n_pos == 0 else "positive"
        reason = (
            f"y_true has only {only} cases ({n_pos} positive, {n - n_pos} negative): a "
            f"logistic recalibration needs both classes"
        )
    else:
        n_extreme = int(np.count_nonzero((probs == 0.0) | (probs == 1.0)))
        if n_extreme:
            reason = (
                f"y_prob has {n_extreme} values exactly 0 or 1, where logit(y_prob) is "
                f"infinite; clip is not done for you: a model should output probabilities "
                f"strictly between 0 and 1"
            )
    if reason is not None:
        return (
            undefined("calibration_intercept", intercept_method, reason),
            undefined("calibration_slope", slope_method, reason),
        )

    y = labels.astype(np.float64)
    logit = np.log(probs) - np.log1p(-probs)
    ones = np.ones((n, 1))
    fit = _fit_logistic(ones, logit, y, np.zeros(1))
    if fit is None:  # cannot happen with both classes present; kept as a guard
        intercept = undefined(
            "calibration_intercept", intercept_method, "the intercept fit did not converge"
        )
    else:
        intercept = result(
            "calibration_intercept", intercept_method, float(fit[0][0]), float(fit[1][0, 0])
        )

    pos_logit, neg_logit = logit[labels], logit[~labels]
    if logit.min() == logit.max():
        return intercept, undefined(
            "calibration_slope",
            slope_method,
            "every y_prob is the same, so logit(y_prob) has no spread and the calibration "
            "slope is not identifiable",
        )
    if neg_logit.max() <= pos_logit.min() or pos_logit.max() <= neg_logit.min():
        return intercept, undefined(
            "calibration_slope",
            slope_method,
            "y_prob separates the classes (every positive case is on one side of every "
            "negative case, ties at the boundary allowed), so the calibration slope's "
            "maximum-likelihood estimate is infinite",
        )
    fit = _fit_logistic(np.column_stack([np.ones(n), logit]), np.zeros(n), y, np.array([0, 1]))
    if fit is None:
        return intercept, undefined(
            "calibration_slope", slope_method, "the slope fit did not converge"
        )
    return intercept, result(
        "calibration_slope", slope_method, float(fit[0][1]), float(fit[1][1, 1])
    )
