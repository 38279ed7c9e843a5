"""The training loop the image and signal references share (host side, never a submission).

Binary cross-entropy (or, for a multiclass task, cross-entropy over the classes) with AdamW
and a one-cycle schedule; the epoch with the best validation score is kept: the ROC AUC,
or for a multiclass task the quadratic weighted kappa of ordered grades (else the macro
ROC AUC).  Seeded; CUDA when available (``torch.backends.cudnn.deterministic`` keeps GPU
runs repeatable).
"""

from __future__ import annotations

import argparse
import copy
import math
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


#: The validation score that picks the epoch kept: (labels, logits) -> higher is better.
Score = Callable[[np.ndarray, np.ndarray], float]


def train_binary_classifier(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    seed: int = 0,
    positive_weight: float | None = None,
    **settings: Any,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``model`` (raw inputs in, one logit per case out); return it on the CPU."""
    device = training_device()
    weight = None if positive_weight is None else torch.tensor(positive_weight, device=device)
    return _fit(
        model,
        train,
        validation,
        loss_function=nn.BCEWithLogitsLoss(pos_weight=weight),
        target_dtype=torch.float32,
        score=lambda labels, logits: float(roc_auc_score(labels, logits)),
        score_name="AUC",
        seed=seed,
        **settings,
    )


def train_multiclass_classifier(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    n_classes: int,
    ordinal: bool,
    seed: int = 0,
    **settings: Any,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``model`` (raw inputs in, one logit per class out); return it on the CPU.

    The epoch kept has the best validation QWK of the argmax grade for ordered classes,
    else the best macro one-vs-rest ROC AUC: the metrics the task is marked on.
    """
    from grader.metrics import multiclass_roc_auc, quadratic_weighted_kappa

    def score(labels: np.ndarray, logits: np.ndarray) -> float:
        probabilities = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), 1).numpy()
        metric = quadratic_weighted_kappa if ordinal else multiclass_roc_auc
        value = metric(labels, probabilities, n_classes=n_classes).value
        return -1.0 if np.isnan(value) else float(value)

    return _fit(
        model,
        train,
        validation,
        loss_function=nn.CrossEntropyLoss(),
        target_dtype=torch.long,
        score=score,
        score_name="QWK" if ordinal else "macro AUC",
        seed=seed,
        **settings,
    )


def _fit(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    loss_function: nn.Module,
    target_dtype: torch.dtype,
    score: Score,
    score_name: str,
    seed: int = 0,
    epochs: int = 60,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-4,
    augment: Augment | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    device = training_device()
    model = model.to(device)
    loss_function = loss_function.to(device)
    x = torch.as_tensor(train[0], device=device)
    y = torch.as_tensor(train[1], dtype=target_dtype, device=device)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=steps)
    best_score, best_state, best_epoch = -math.inf, copy.deepcopy(model.state_dict()), 0
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
        value = score(validation[1], predict_logits(model, validation[0], device))
        if value > best_score:
            best_score, best_state, best_epoch = value, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    return model.cpu().eval(), {
        "best_epoch": best_epoch,
        "validation_score": best_score,
        "score_name": score_name,
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
    output = task.spec.output
    if output.n_classes is not None:
        model, summary = train_multiclass_classifier(
            make_model(train),
            train,
            validation,
            n_classes=output.n_classes,
            ordinal=output.ordinal,
            seed=seed,
            **settings,
        )
    else:
        model, summary = train_binary_classifier(
            make_model(train), train, validation, seed=seed, **settings
        )
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    print(
        f"trained {task_id} on {summary['device']} in {summary['seconds']:.1f} s; best epoch "
        f"{summary['best_epoch']}, validation {summary['score_name']} "
        f"{summary['validation_score']:.4f}; wrote {weights}"
    )
