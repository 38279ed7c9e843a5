"""The training loop the image and signal references share (host side, never a submission).

Binary cross-entropy with AdamW and a cosine schedule; the epoch with the best validation
ROC AUC is kept.  Seeded; CUDA when available (``torch.backends.cudnn.deterministic`` keeps
GPU runs repeatable).
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def training_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def train_binary_classifier(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
    epochs: int = 60,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-4,
    augment: Augment | None = None,
    positive_weight: float | None = None,
) -> tuple[nn.Module, dict[str, float]]:
    """Train ``model`` (raw inputs in, one logit per case out); return it on the CPU."""
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    device = training_device()
    model = model.to(device)
    x = torch.as_tensor(train[0], device=device)
    y = torch.as_tensor(train[1], dtype=torch.float32, device=device)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    weight = None if positive_weight is None else torch.tensor(positive_weight, device=device)
    loss_function = nn.BCEWithLogitsLoss(pos_weight=weight)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=steps)
    best_auc, best_state, best_epoch = -1.0, copy.deepcopy(model.state_dict()), 0
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            inputs = x[batch.to(device)]
            if augment is not None:
                inputs = augment(inputs, generator)
            optimiser.zero_grad()
            loss_function(model(inputs), y[batch.to(device)]).backward()
            optimiser.step()
            schedule.step()
        auc = float(roc_auc_score(validation[1], predict_logits(model, validation[0], device)))
        if auc > best_auc:
            best_auc, best_state, best_epoch = auc, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    return model.cpu().eval(), {
        "best_epoch": best_epoch,
        "validation_auc": best_auc,
        "seconds": time.perf_counter() - started,
        "device": str(device),
    }


@torch.no_grad()
def predict_logits(model: nn.Module, inputs: np.ndarray, device: torch.device) -> np.ndarray:
    model.eval()
    chunks = [
        model(torch.as_tensor(inputs[i : i + 1024], device=device)).float().cpu().numpy()
        for i in range(0, len(inputs), 1024)
    ]
    return np.concatenate(chunks)


def reference_arguments(description: str, default_out: Path | None = None) -> argparse.Namespace:
    """The options every reference's training command takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--out", type=Path, default=default_out, help="weights folder (default: the reference's)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None, help="default: $MEDGRADE_DATA")
    return parser.parse_args()


def train_reference(
    task_id: str,
    make_model: Callable[[tuple[np.ndarray, np.ndarray]], nn.Module],
    *,
    weights: Path,
    seed: int = 0,
    data_dir: Path | None = None,
    **settings: Any,
) -> None:
    """Train a reference on its task's train split (the validation split picks the epoch),
    save its weights and say how it went."""
    from grader.tasks import load_task, public_split

    task = load_task(task_id)
    train = public_split(task, "train", data_dir=data_dir)
    validation = public_split(task, "validation", data_dir=data_dir)
    torch.manual_seed(seed)  # the initial weights too: the same command gives the same model
    model, summary = train_binary_classifier(
        make_model(train), train, validation, seed=seed, **settings
    )
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    print(
        f"trained {task_id} on {summary['device']} in {summary['seconds']:.1f} s; best epoch "
        f"{summary['best_epoch']}, validation AUC {summary['validation_auc']:.4f}; wrote {weights}"
    )
