"""Train the actg175-event reference MLP on the train split.

    python -m reference_models.actg175_event.train [--out DIR] [--seed 0] [--data-dir DIR]

Reads ACTG175.csv from an installed lifelines, else the data directory.  Uses CUDA when
available; the validation AUC picks the epoch kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reference_models._training import reference_arguments, train_reference
from reference_models.actg175_event.predict import WEIGHTS_FILE, RiskMLP


def standardised_mlp(train: tuple[np.ndarray, np.ndarray]) -> RiskMLP:
    model = RiskMLP(n_features=train[0].shape[1])
    features = torch.as_tensor(train[0], dtype=torch.float32)
    model.mean.copy_(features.mean(dim=0))
    model.std.copy_(features.std(dim=0).clamp_min(1e-6))
    return model


def main() -> None:
    arguments = reference_arguments(__doc__.splitlines()[0], Path(__file__).resolve().parent)
    train_reference(
        "actg175-event", standardised_mlp, weights=arguments.out / WEIGHTS_FILE,
        seed=arguments.seed, data_dir=arguments.data_dir,
        epochs=60, batch_size=64, learning_rate=3e-3, weight_decay=1e-3,
    )  # fmt: skip


if __name__ == "__main__":
    main()
