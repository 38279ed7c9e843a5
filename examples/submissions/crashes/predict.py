"""Crashes in predict: the weight matrix was saved for 10 features, the task gives 30."""

import numpy as np


def load_model(artifacts_dir):
    rng = np.random.default_rng(0)
    return rng.normal(size=(10, 1))


def predict(model, inputs):
    logits = inputs @ model  # ValueError: shapes (n, 30) and (10, 1) not aligned
    return 1.0 / (1.0 + np.exp(-logits[:, 0]))
