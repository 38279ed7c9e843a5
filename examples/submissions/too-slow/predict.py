"""Never finishes in time: a training loop left in predict."""

import numpy as np


def load_model(artifacts_dir):
    return None


def predict(model, inputs):
    # Stands in for retraining at prediction time: far more CPU time than the task allows.
    weights = np.zeros(inputs.shape[1])
    for _ in range(10**9):
        weights -= 1e-9 * (inputs.T @ (inputs @ weights - 1.0))
    return np.full(len(inputs), 0.5)
