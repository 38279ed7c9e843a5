"""Augmentations for the 28x28 image references (host side, used in training only)."""

from __future__ import annotations

import torch


def flip_and_shift(
    images: torch.Tensor, generator: torch.Generator, max_shift: int = 2
) -> torch.Tensor:
    """Random horizontal flips per image and a random shift of up to ``max_shift`` pixels
    (zero padding), drawn from ``generator`` so that training is repeatable."""
    n = len(images)
    flip = torch.rand(n, generator=generator) < 0.5
    images = torch.where(flip.to(images.device)[:, None, None], images.flip(-1), images)
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)
    height, width = images.shape[-2:]
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2,), generator=generator).tolist()
    return padded[..., dy : dy + height, dx : dx + width]
