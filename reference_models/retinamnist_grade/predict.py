"""Reference submission for retinamnist-grade: a small CNN on the 28x28 fundus photographs.

``predict(model, inputs)`` takes the uint8 RGB images, shape (n_cases, 28, 28, 3), and
returns the probabilities of the five retinopathy grades, shape (n_cases, 5), each row
summing to 1.  The pixel scaling travels inside the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS_FILE = "model.pt"
N_GRADES = 5


def _block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
        nn.Conv2d(outputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Three conv blocks (28 -> 14 -> 7) on the RGB image, global average pooling, one
    logit per grade."""

    def __init__(self, width: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(3, width),
            nn.MaxPool2d(2),
            _block(width, 2 * width),
            nn.MaxPool2d(2),
            _block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * width, N_GRADES))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # Channels last in the task's arrays, channels first for the convolutions.
        scaled = (images.float() / 255.0 - 0.5) / 0.25
        return self.head(self.features(scaled.permute(0, 3, 1, 2)))


def load_model(artifacts_dir: str) -> SmallCNN:
    model = SmallCNN()
    state = torch.load(Path(artifacts_dir) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def predict(model: SmallCNN, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        logits = torch.cat(
            [
                model(torch.as_tensor(chunk))
                for chunk in np.array_split(inputs, max(1, len(inputs) // 512))
            ]
        )
    # The softmax in float64, so that every row sums to 1 far within the grader's 1e-6.
    return torch.softmax(logits.double(), dim=1).numpy()
