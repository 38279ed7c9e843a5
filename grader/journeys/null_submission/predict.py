"""The null model: predicts the training prevalence for every case (the training class
frequencies on a multiclass task, background for every voxel on a segmentation task).

``medgrade task validate`` runs it through the real pipeline to prove that a model which
learned nothing earns nothing.  ``prevalence.json`` is written beside this file.
"""

import json
from pathlib import Path

import numpy as np


def load_model(artifacts_dir: str) -> float | list[float]:
    return json.loads((Path(artifacts_dir) / "prevalence.json").read_text())["prevalence"]


def predict(
    model: float | list[float], inputs: np.ndarray | list[dict]
) -> np.ndarray | list[np.ndarray]:
    if isinstance(inputs, list):  # volumes
        return [np.zeros(case["image"].shape, dtype=np.uint8) for case in inputs]
    if isinstance(model, list):  # one row of class frequencies per case
        return np.tile(np.asarray(model, dtype=np.float64), (len(inputs), 1))
    return np.full(len(inputs), model, dtype=np.float64)
