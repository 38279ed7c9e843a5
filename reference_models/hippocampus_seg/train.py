"""Train the hippocampus-seg reference 3-D U-Net on the task's train split.

    python -m reference_models.hippocampus_seg.train [--out DIR] [--seed 0] [--data-dir DIR]

Needs MSD Task04_Hippocampus (``medgrade data fetch hippocampus-seg``).  Cross-entropy plus
soft Dice on random 40x56x40 crops with intensity jitter; AdamW with a one-cycle schedule;
the mean validation Dice (both structures) picks the epoch kept.  Seeded; CUDA when
available.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from reference_models._training import reference_arguments, training_device
from reference_models.hippocampus_seg.predict import (
    N_CLASSES,
    WEIGHTS_FILE,
    UNet3D,
    normalise,
    pad_to,
    segment,
)

#: Every training volume is padded to this (the largest case is 43x59x45).
CANVAS = (48, 64, 48)
PATCH = (40, 56, 40)


def stack(images: np.ndarray, label_maps: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.stack([pad_to(normalise(image), CANVAS) for image in images])[:, None]
    y = np.stack([pad_to(label_map.astype(np.int64), CANVAS) for label_map in label_maps])
    return torch.as_tensor(x), torch.as_tensor(y)


def random_crops(
    x: torch.Tensor, y: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random PATCH per volume, and a random gain and offset of its intensities."""
    starts = [
        torch.randint(0, c - p + 1, (len(x),), generator=generator).tolist()
        for c, p in zip(CANVAS, PATCH, strict=True)
    ]
    xs, ys = [], []
    for i, (a, b, c) in enumerate(zip(*starts, strict=True)):
        window = (slice(a, a + PATCH[0]), slice(b, b + PATCH[1]), slice(c, c + PATCH[2]))
        xs.append(x[i, :, *window])
        ys.append(y[i, *window])
    gain = 0.9 + 0.2 * torch.rand(len(x), 1, 1, 1, 1, generator=generator)
    offset = 0.2 * torch.rand(len(x), 1, 1, 1, 1, generator=generator) - 0.1
    return torch.stack(xs) * gain + offset, torch.stack(ys)


def dice_and_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy plus 1 - soft Dice of the structures (nnU-Net's default loss)."""
    probabilities = logits.softmax(1)[:, 1:]
    one_hot = F.one_hot(target, N_CLASSES).permute(0, 4, 1, 2, 3)[:, 1:].float()
    overlap = (probabilities * one_hot).sum((0, 2, 3, 4))
    total = probabilities.sum((0, 2, 3, 4)) + one_hot.sum((0, 2, 3, 4))
    soft_dice = ((2 * overlap + 1) / (total + 1)).mean()
    return F.cross_entropy(logits, target) + 1 - soft_dice


def mean_dice(
    model: UNet3D, images: np.ndarray, label_maps: np.ndarray, device: torch.device
) -> float:
    scores = []
    model.eval()
    for image, reference in zip(images, label_maps, strict=True):
        predicted = segment(model, image, device)
        for structure in range(1, N_CLASSES):
            p, r = predicted == structure, reference == structure
            scores.append(2 * np.sum(p & r) / max(np.sum(p) + np.sum(r), 1))
    return float(np.mean(scores))


def train(
    train_split: tuple[np.ndarray, np.ndarray],
    validation_split: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
    epochs: int = 60,
    batch_size: int = 4,
    learning_rate: float = 1e-2,
    weight_decay: float = 1e-4,
    validate_every: int = 4,
) -> tuple[UNet3D, dict[str, float]]:
    torch.manual_seed(seed)  # the initial weights too: the same command gives the same model
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    device = training_device()
    model = UNet3D().to(device)
    x, y = stack(*train_split)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=steps)
    best_dice, best_state, best_epoch = -1.0, copy.deepcopy(model.state_dict()), 0
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            inputs, targets = random_crops(x[batch], y[batch], generator)
            optimiser.zero_grad()
            dice_and_cross_entropy(model(inputs.to(device)), targets.to(device)).backward()
            optimiser.step()
            schedule.step()
        if (epoch + 1) % validate_every == 0 or epoch + 1 == epochs:
            dice = mean_dice(model, *validation_split, device)
            print(f"epoch {epoch + 1}: validation Dice {dice:.4f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
            if dice > best_dice:
                best_dice, best_state, best_epoch = dice, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    return model.cpu().eval(), {
        "best_epoch": best_epoch + 1,
        "validation_dice": best_dice,
        "seconds": time.perf_counter() - started,
        "device": str(device),
    }


def main() -> None:
    from grader.tasks import load_task, public_split

    arguments = reference_arguments(__doc__.splitlines()[0], Path(__file__).resolve().parent)
    task = load_task("hippocampus-seg")
    train_split = public_split(task, "train", data_dir=arguments.data_dir)
    validation_split = public_split(task, "validation", data_dir=arguments.data_dir)
    model, summary = train(train_split, validation_split, seed=arguments.seed)
    weights = arguments.out / WEIGHTS_FILE
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    print(
        f"trained hippocampus-seg on {summary['device']} in {summary['seconds']:.1f} s; best "
        f"epoch {summary['best_epoch']}, validation Dice {summary['validation_dice']:.4f}; "
        f"wrote {weights}"
    )


if __name__ == "__main__":
    main()
