"""Wisconsin Diagnostic Breast Cancer, as scikit-learn bundles it (the demo's dataset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.data._dataset import Dataset
from grader.data._fetch import register_no_download
from grader.data._loaders import register_loader

register_no_download(
    "sklearn_breast_cancer", "WDBC ships with scikit-learn: there is nothing to download"
)


@register_loader("sklearn_breast_cancer")
def load_sklearn_breast_cancer(*, data_dir: Path | None) -> Dataset:
    """Wisconsin Diagnostic Breast Cancer (WDBC), as bundled with scikit-learn.

    569 fine-needle-aspirate cases, 30 nuclear features; label 1 = malignant (212 cases).
    scikit-learn codes malignant as 0, so the target is flipped to make malignancy the
    positive class, as clinical papers report it.
    """
    del data_dir  # bundled with scikit-learn: nothing to download
    from sklearn import datasets
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    source = Path(datasets.__file__).parent / "data" / str(bunch.filename)
    n = len(bunch.target)
    return Dataset(
        name="wdbc",
        case_ids=np.array([f"wdbc-{i:04d}" for i in range(n)]),
        features=np.asarray(bunch.data, dtype=np.float64),
        feature_names=tuple(str(name) for name in bunch.feature_names),
        labels=(bunch.target == 0).astype(np.int64),
        source_paths=(source,) if source.is_file() else (),
    )
