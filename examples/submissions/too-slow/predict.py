"""Never finishes in time: a 'training loop' left in predict."""

import time

import numpy as np


def load_model(artifacts_dir):
    return None


def predict(model, inputs):
    time.sleep(3600)  # stands in for retraining at prediction time
    return np.full(len(inputs), 0.5)
