"""A good submission for breast-cancer-wdbc: a small PyTorch MLP.

Trained as the task's reference is, with another seed (``python -m
reference_models.breast_cancer_wdbc.train --seed 7``): the bundled examples never carry a
reference's own weights.

Follows the submission contract: ``load_model(artifacts_dir)`` and ``predict(model, inputs)``
returning one malignancy probability per case.  Standardisation statistics travel inside
the model as buffers, so the weights file is all the model needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS_FILE = "model.pt"


class WDBCNet(nn.Module):
    """Standardise, then two hidden layers; outputs one logit per case."""

    def __init__(self, n_features: int = 30, hidden: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers((features - self.mean) / self.std).squeeze(-1)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(artifacts_dir: str) -> WDBCNet:
    model = WDBCNet()
    state = torch.load(Path(artifacts_dir) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(device()).eval()


def predict(model: WDBCNet, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        features = torch.as_tensor(inputs, dtype=torch.float32, device=device())
        probabilities = torch.sigmoid(model(features))
    return probabilities.cpu().numpy().astype(np.float64)
