"""The null model: predicts the training prevalence for every case (background for every
voxel, on a segmentation task).

``medgrade task validate`` runs it through the real pipeline to prove that a model which
learned nothing earns nothing.  ``prevalence.json`` is written beside this file.
"""

import json
from pathlib import Path

import numpy as np


def load_model(artifacts_dir: str) -> float:
    return json.loads((Path(artifacts_dir) / "prevalence.json").read_text())["prevalence"]


def predict(model: float, inputs: np.ndarray | list[dict]) -> np.ndarray | list[np.ndarray]:
    if isinstance(inputs, list):  # volumes
        return [np.zeros(case["image"].shape, dtype=np.uint8) for case in inputs]
    return np.full(len(inputs), model, dtype=np.float64)
