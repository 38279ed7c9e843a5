"""Train the actg175-event reference MLP on the train split.

    python -m reference_models.actg175_event.train [--out DIR] [--seed 0] [--data-dir DIR]

Reads ACTG175.csv from an installed lifelines, else the data directory.  Uses CUDA when
available; the validation AUC picks the epoch kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from grader.tasks import load_task, public_split
from reference_models._training import train_binary_classifier
from reference_models.actg175_event.predict import WEIGHTS_FILE, RiskMLP

TASK_ID = "actg175-event"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None)
    arguments = parser.parse_args()
    task = load_task(TASK_ID)
    train = public_split(task, "train", data_dir=arguments.data_dir)
    validation = public_split(task, "validation", data_dir=arguments.data_dir)
    model = RiskMLP(n_features=train[0].shape[1])
    features = torch.as_tensor(train[0], dtype=torch.float32)
    model.mean.copy_(features.mean(dim=0))
    model.std.copy_(features.std(dim=0).clamp_min(1e-6))
    model, summary = train_binary_classifier(
        model, train, validation, seed=arguments.seed, epochs=60, batch_size=64,
        learning_rate=3e-3, weight_decay=1e-3,
    )  # fmt: skip
    arguments.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), arguments.out / WEIGHTS_FILE)
    print(
        f"trained on {summary['device']} in {summary['seconds']:.1f} s; best epoch "
        f"{summary['best_epoch']}, validation AUC {summary['validation_auc']:.4f}; wrote "
        f"{arguments.out / WEIGHTS_FILE}"
    )


if __name__ == "__main__":
    main()
