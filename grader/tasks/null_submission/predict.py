"""The null model: predicts the training prevalence for every case.

``medgrade task validate`` runs it through the real pipeline to prove that a model which
learned nothing earns nothing.  ``prevalence.json`` is written beside this file.
"""

import json
from pathlib import Path

import numpy as np


def load_model(artifacts_dir: str) -> float:
    return json.loads((Path(artifacts_dir) / "prevalence.json").read_text())["prevalence"]


def predict(model: float, inputs: np.ndarray) -> np.ndarray:
    return np.full(len(inputs), model, dtype=np.float64)
