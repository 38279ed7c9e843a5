"""Reference submission: a logistic regression on the standardised features.

It proves the task can be done (``medgrade task validate``); replace it with the course's
own model if students should beat something stronger.  ``reference/train.py`` writes
``weights.json`` beside this file.
"""

import json
from pathlib import Path

import numpy as np


def load_model(artifacts_dir: str) -> dict[str, np.ndarray]:
    weights = json.loads((Path(artifacts_dir) / "weights.json").read_text())
    return {name: np.asarray(value, dtype=np.float64) for name, value in weights.items()}


def predict(model: dict[str, np.ndarray], inputs: np.ndarray) -> np.ndarray:
    # Missing values take the training mean, as in training.
    filled = np.where(np.isnan(inputs), model["mean"], inputs)
    scores = ((filled - model["mean"]) / model["scale"]) @ model["coef"] + model["intercept"]
    return 1 / (1 + np.exp(-scores))
