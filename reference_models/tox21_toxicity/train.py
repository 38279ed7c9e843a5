"""Train the tox21-toxicity reference GIN on the task's train split.

    python -m reference_models.tox21_toxicity.train [--out DIR] [--seed 0] [--data-dir DIR]

Masked binary cross-entropy with logits: an assay a molecule was not tested in is left out
of the loss, never counted as inactive.  AdamW with a one-cycle schedule; the epoch kept has
the best validation mean ROC AUC over the twelve assays, each on its labelled molecules (the
task's metric).  Seeded and deterministic on the CPU; CUDA when available.

The splits are the task's (its Bemis-Murcko scaffold split, recorded in the task folder);
a molecule RDKit cannot read is left out of the loss and predicted with the prevalence.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from reference_models._training import reference_arguments
from reference_models.tox21_toxicity.predict import (
    WEIGHTS_FILE,
    MoleculeGraph,
    ToxGIN,
    collate,
    device,
    molecule_graph,
    probabilities,
)

TASK_ID = "tox21-toxicity"
Split = tuple[np.ndarray, np.ndarray]  # SMILES (n,), labels (n, 12) with NaN for missing


def masked_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the labelled cells only (labels NaN where missing)."""
    known = ~torch.isnan(labels)
    losses = nn.functional.binary_cross_entropy_with_logits(
        logits, torch.nan_to_num(labels), reduction="none"
    )
    return (losses * known).sum() / known.sum().clamp_min(1)


def mean_roc_auc(labels: np.ndarray, predicted: np.ndarray) -> float:
    """The mean over assays of each one's ROC AUC on its labelled molecules (an assay with
    one class only among them is skipped, as it has no AUC)."""
    scores = []
    for column in range(labels.shape[1]):
        known = ~np.isnan(labels[:, column])
        if len(np.unique(labels[known, column])) == 2:
            scores.append(roc_auc_score(labels[known, column], predicted[known, column]))
    return float(np.mean(scores))


def train(
    train_split: Split,
    validation_split: Split,
    *,
    seed: int = 0,
    n_layers: int = 4,
    hidden: int = 128,
    dropout: float = 0.1,
    epochs: int = 30,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    weight_decay: float = 1e-4,
) -> tuple[ToxGIN, dict[str, Any]]:
    """Train on the molecules RDKit reads (the others are predicted with the prevalence);
    return the best validation epoch's model on the CPU.  The defaults were chosen on the
    development split's validation part, within a few minutes of a 2-core CPU."""
    torch.manual_seed(seed)
    # warn_only: CUDA lacks a deterministic kernel for some ops (the CPU run is repeatable)
    torch.use_deterministic_algorithms(True, warn_only=True)
    run_on = device()
    graphs, labels = _readable(train_split)
    validation_graphs = [molecule_graph(smiles) for smiles in validation_split[0].tolist()]
    model = ToxGIN(n_layers=n_layers, hidden=hidden, dropout=dropout)
    model.prevalence.copy_(torch.as_tensor(np.nanmean(train_split[1], axis=0)))
    model = model.to(run_on)
    targets = torch.as_tensor(labels, dtype=torch.float32, device=run_on)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    steps = epochs * math.ceil(len(graphs) / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=steps)
    best_score, best_state, best_epoch = -math.inf, copy.deepcopy(model.state_dict()), 0
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(graphs), generator=generator).split(batch_size):
            rows = batch.tolist()
            optimiser.zero_grad()
            logits = model(collate([graphs[row] for row in rows], run_on))
            masked_bce(logits, targets[batch.to(run_on)]).backward()
            optimiser.step()
            schedule.step()
        score = mean_roc_auc(validation_split[1], probabilities(model, validation_graphs))
        print(f"epoch {epoch:3d}: validation mean AUC {score:.4f}", flush=True)
        if score > best_score:
            best_score, best_state, best_epoch = score, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    return model.cpu().eval(), {
        "best_epoch": best_epoch,
        "validation_auc": best_score,
        "seconds": time.perf_counter() - started,
        "device": str(run_on),
    }


def _readable(split: Split) -> tuple[list[MoleculeGraph], np.ndarray]:
    """The graphs of the molecules RDKit reads, with their label rows."""
    graphs, rows = [], []
    for index, smiles in enumerate(split[0].tolist()):
        graph = molecule_graph(smiles)
        if graph is not None:
            graphs.append(graph)
            rows.append(index)
    return graphs, split[1][rows]


def main() -> None:
    from grader.tasks import load_task, public_split

    arguments = reference_arguments(__doc__.splitlines()[0], Path(__file__).resolve().parent)
    task = load_task(TASK_ID)
    splits = {
        name: public_split(task, name, data_dir=arguments.data_dir)
        for name in ("train", "validation")
    }
    print(", ".join(f"{name} {len(split[0])}" for name, split in splits.items()), "molecules")
    model, summary = train(splits["train"], splits["validation"], seed=arguments.seed)
    arguments.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), arguments.out / WEIGHTS_FILE)
    print(
        f"trained {TASK_ID} on {summary['device']} in {summary['seconds']:.1f} s; best epoch "
        f"{summary['best_epoch']}, validation mean AUC {summary['validation_auc']:.4f}; "
        f"wrote {arguments.out / WEIGHTS_FILE}"
    )


if __name__ == "__main__":
    main()
