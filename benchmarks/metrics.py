"""Speed of the metric engine on one run, as the metric-engine issue asks.

    python benchmarks/metrics.py

Prints: ROC AUC with its DeLong CI at n = 10k and 1M; a 1000-resample stratified
bootstrap AUC CI at n = 10k against the naive loop over scikit-learn (ratio); Dice on
8 x 128^3 label maps against the time numpy.count_nonzero takes to read the same bytes
(ratio); HD95 and NSD on a 256^3 volume; ECE and smooth ECE at n = 100k.  Each figure is
the best of several repeats (timeit), so other load on the machine inflates it least.
"""

from __future__ import annotations

import timeit

import numpy as np
from sklearn.metrics import roc_auc_score

from grader.metrics import (
    dice_scores,
    expected_calibration_error,
    hausdorff95_distances,
    roc_auc,
    smooth_ece,
    surface_dice_scores,
)


def best(statement, repeat: int = 5, number: int = 1) -> float:
    return min(timeit.repeat(statement, repeat=repeat, number=number)) / number


def binary(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.3
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)
    return labels.astype(np.int64), scores


def sphere(shape: tuple[int, ...], centre: tuple[float, ...], radius: float) -> np.ndarray:
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    return sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius**2


def main() -> None:
    for n in (10_000, 1_000_000):
        y, p = binary(n)
        seconds = best(lambda y=y, p=p: roc_auc(y, p), number=5 if n == 10_000 else 1)
        print(f"roc_auc + DeLong CI, n={n:>9,}: {seconds * 1000:8.2f} ms")

    y, p = binary(10_000)
    boot = best(lambda: roc_auc(y, p, ci="bootstrap", n_resamples=1000), repeat=3)
    rng = np.random.default_rng(0)
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)

    def naive() -> None:
        for _ in range(1000):
            index = np.concatenate(
                [rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))]
            )
            roc_auc_score(y[index], p[index])

    loop = best(naive, repeat=1)
    print(
        f"bootstrap AUC CI, 1000 resamples, n=10,000: {boot * 1000:8.1f} ms; naive sklearn loop "
        f"{loop:.2f} s; {loop / boot:.0f}x faster"
    )

    shape = (128, 128, 128)
    labels = np.zeros((8, *shape), dtype=np.uint8)
    predictions = np.zeros_like(labels)
    for case in range(8):
        labels[case][sphere(shape, (64, 64, 64), 30)] = 1
        labels[case][sphere(shape, (64, 64, 64), 12)] = 2
        predictions[case][sphere(shape, (65 + case % 3, 64, 63), 29)] = 1
        predictions[case][sphere(shape, (65, 64, 64), 12)] = 2
    dice = best(
        lambda: [dice_scores(labels[c], predictions[c], labels=[1, 2]) for c in range(8)], repeat=7
    )
    read = best(lambda: (np.count_nonzero(labels), np.count_nonzero(predictions)), repeat=7)
    print(
        f"Dice, 8 x 128^3 (2 structures): {dice * 1000:8.1f} ms; count_nonzero read of the same bytes "
        f"{read * 1000:.1f} ms; ratio {dice / read:.2f}x"
    )

    big = (256, 256, 256)
    reference = sphere(big, (128, 128, 128), 100).astype(np.uint8)
    prediction = sphere(big, (130, 127, 128), 98).astype(np.uint8)
    hd = best(
        lambda: hausdorff95_distances(reference, prediction, labels=[1], spacing=(1, 1, 1.5)),
        repeat=3,
    )
    nsd = best(
        lambda: surface_dice_scores(reference, prediction, labels=[1], spacing=(1, 1, 1.5)),
        repeat=3,
    )
    print(f"HD95, 256^3 sphere: {hd:.2f} s; NSD (1 mm): {nsd:.2f} s")

    y, p = binary(100_000)
    ece = best(lambda: expected_calibration_error(y, p), number=20)
    smooth = best(lambda: smooth_ece(y, p), number=3)
    print(f"ECE (15 bins), n=100,000: {ece * 1000:.2f} ms; smooth ECE: {smooth * 1000:.1f} ms")


if __name__ == "__main__":
    main()
