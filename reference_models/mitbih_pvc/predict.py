"""Reference submission for mitbih-pvc: a 1D CNN on single ECG beats.

``predict(model, inputs)`` takes the beats, float32 millivolts of shape (n_cases, 128)
(0.71 s of lead MLII at 180 Hz, the R peak at sample 64), and returns one probability of a
ventricular ectopic beat per case.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS_FILE = "model.pt"


class BeatCNN(nn.Module):
    """Four convolution blocks (128 -> 8 samples), global pooling, one logit."""

    def __init__(self, width: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for out in (width, width, 2 * width, 2 * width):
            layers += [
                nn.Conv1d(channels, out, 7, padding=3, bias=False),
                nn.BatchNorm1d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool1d(2),
            ]
            channels = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, 1))

    def forward(self, beats: torch.Tensor) -> torch.Tensor:
        # Each beat minus its median: baseline wander differs between patients.
        centred = beats.float() - beats.float().median(dim=-1, keepdim=True).values
        return self.head(self.features(centred.unsqueeze(1))).squeeze(-1)


def load_model(artifacts_dir: str) -> BeatCNN:
    model = BeatCNN()
    state = torch.load(Path(artifacts_dir) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def predict(model: BeatCNN, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        logits = [
            model(torch.as_tensor(chunk))
            for chunk in np.array_split(inputs, max(1, len(inputs) // 4096))
        ]
    return torch.sigmoid(torch.cat(logits)).double().numpy()
