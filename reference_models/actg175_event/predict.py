"""Reference submission for actg175-event: a small PyTorch MLP on the baseline covariates.

``predict(model, inputs)`` takes the (n_cases, 18) float64 covariates and returns one
probability of an event per case.  Standardisation travels inside the model as buffers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS_FILE = "model.pt"


class RiskMLP(nn.Module):
    def __init__(self, n_features: int = 18, hidden: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers((features.float() - self.mean) / self.std).squeeze(-1)


def load_model(artifacts_dir: str) -> RiskMLP:
    model = RiskMLP()
    state = torch.load(Path(artifacts_dir) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def predict(model: RiskMLP, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model(torch.as_tensor(inputs))).double().numpy()
