"""Augmentations for the 28x28 image references (host side, used in training only)."""

from __future__ import annotations

import torch


def flip_and_shift(
    images: torch.Tensor, generator: torch.Generator, max_shift: int = 2
) -> torch.Tensor:
    """Random horizontal flips per image and a random shift of up to ``max_shift`` pixels
    (zero padding), drawn from ``generator`` so that training is repeatable.  The last two
    dimensions are height and width."""
    n = len(images)
    flip = torch.rand(n, generator=generator) < 0.5
    per_image = flip.to(images.device).view(n, *[1] * (images.dim() - 1))
    images = torch.where(per_image, images.flip(-1), images)
    padded = torch.nn.functional.pad(images, (max_shift,) * 4)
    height, width = images.shape[-2:]
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2,), generator=generator).tolist()
    return padded[..., dy : dy + height, dx : dx + width]


def flip_and_shift_channels_last(
    images: torch.Tensor, generator: torch.Generator, max_shift: int = 2
) -> torch.Tensor:
    """:func:`flip_and_shift` for colour images stored (n, height, width, channels), as
    the RGB MedMNIST sets are."""
    channels_first = images.permute(0, 3, 1, 2)
    return flip_and_shift(channels_first, generator, max_shift).permute(0, 2, 3, 1)
