"""Returns NaN for some cases: standardising by a per-batch std that is zero for one column."""

import numpy as np


def load_model(artifacts_dir):
    return None


def predict(model, inputs):
    centred = inputs - inputs.mean(axis=0)
    centred[:, 0] = 0.0  # a constant column: its std is zero
    with np.errstate(invalid="ignore", divide="ignore"):
        z = centred / centred.std(axis=0)
    return 1.0 / (1.0 + np.exp(-z.sum(axis=1)))
