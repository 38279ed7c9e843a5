"""Reference submission for hippocampus-seg: a small 3-D U-Net.

``predict(model, inputs)`` takes the list of ``{"image", "spacing_mm"}`` cases and returns
one uint8 label map per case (0 background, 1 anterior, 2 posterior), of its image's shape.
Each volume is z-scored on its own (intensities differ by orders of magnitude between
cases), padded to a multiple of 8 for the three poolings, and cropped back.

The network is written out in plain PyTorch rather than taken from MONAI so that the
submission runs in any sandbox image that has torch, with no further dependency.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_FILE = "model.pt"
N_CLASSES = 3
#: Three poolings: every padded side is a multiple of 2**3.
DIVISOR = 8


def _block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(inputs, outputs, 3, padding=1, bias=False),
        nn.InstanceNorm3d(outputs, affine=True),
        nn.LeakyReLU(0.01, inplace=True),
        nn.Conv3d(outputs, outputs, 3, padding=1, bias=False),
        nn.InstanceNorm3d(outputs, affine=True),
        nn.LeakyReLU(0.01, inplace=True),
    )


class UNet3D(nn.Module):
    """A four-level U-Net (Çiçek et al. 2016) with instance norm, as nnU-Net configures it."""

    def __init__(self, width: int = 8, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.down = nn.ModuleList(
            [_block(1, widths[0])] + [_block(a, b) for a, b in itertools.pairwise(widths)]
        )
        self.up = nn.ModuleList(
            [nn.ConvTranspose3d(b, a, 2, stride=2) for a, b in itertools.pairwise(widths)]
        )
        self.merge = nn.ModuleList([_block(2 * a, a) for a in widths[:-1]])
        self.head = nn.Conv3d(widths[0], n_classes, 1)

    def forward(self, volumes: torch.Tensor) -> torch.Tensor:
        skips = []
        x = volumes
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else F.max_pool3d(x, 2))
            skips.append(x)
        for level in reversed(range(len(self.up))):
            x = self.merge[level](torch.cat([skips[level], self.up[level](x)], dim=1))
        return self.head(x)


def normalise(image: np.ndarray) -> np.ndarray:
    """Z-score one volume (float32)."""
    image = image.astype(np.float32)
    return (image - image.mean()) / max(float(image.std()), 1e-6)


def pad_to(volume: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-pad ``volume`` at the far end of each axis up to ``shape``."""
    return np.pad(volume, [(0, t - s) for s, t in zip(volume.shape, shape, strict=True)])


def padded_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(-(-side // DIVISOR) * DIVISOR for side in shape)


def load_model(artifacts_dir: str) -> UNet3D:
    model = UNet3D()
    state = torch.load(Path(artifacts_dir) / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def segment(model: UNet3D, image: np.ndarray, device: torch.device) -> np.ndarray:
    """The label map of one raw volume."""
    shape = image.shape
    padded = pad_to(normalise(image), padded_shape(shape))
    logits = model(torch.as_tensor(padded, device=device)[None, None])
    labels = logits[0].argmax(0)[: shape[0], : shape[1], : shape[2]]
    return labels.to(torch.uint8).cpu().numpy()


def predict(model: UNet3D, inputs: list[dict]) -> list[np.ndarray]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device)
    return [segment(model, case["image"], device) for case in inputs]
