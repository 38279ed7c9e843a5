"""A weak model: logistic regression on two of the thirty features.

Uses only mean texture and mean smoothness, so it discriminates far less well than a
model that uses the size and shape features too.  The weights in weights.json were fitted with fit.py.
"""

import json
from pathlib import Path

import numpy as np


def load_model(artifacts_dir):
    return json.loads((Path(artifacts_dir) / "weights.json").read_text())


def predict(model, inputs):
    features = inputs[:, model["columns"]]
    z = (features - np.array(model["mean"])) / np.array(model["std"])
    logits = z @ np.array(model["coef"]) + model["intercept"]
    return 1.0 / (1.0 + np.exp(-logits))
