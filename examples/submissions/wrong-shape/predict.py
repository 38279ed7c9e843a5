"""Returns both class probabilities, shape (n, 2), instead of one probability per case."""

import numpy as np


def load_model(artifacts_dir):
    return None


def predict(model, inputs):
    p = 1.0 / (1.0 + np.exp(-(inputs[:, 0] - 15.0) / 2.0))
    return np.stack([1 - p, p], axis=1)
