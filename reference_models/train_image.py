"""Train an image task's reference CNN on its official train split.

    python -m reference_models.train_image TASK [--out DIR] [--seed 0] [--data-dir DIR]

TASK is ``breastmnist`` or ``pneumoniamnist``; the weights go to that reference's folder.
Needs the task's MedMNIST file (``medgrade data fetch TASK``).  Uses CUDA when available;
the validation AUC picks the epoch kept.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

import torch

from grader.tasks import load_task, public_split
from reference_models._images import flip_and_shift
from reference_models._training import train_binary_classifier

#: Training settings per task: the small BreastMNIST gets more epochs and smaller batches.
SETTINGS: dict[str, dict[str, Any]] = {
    "breastmnist": {"epochs": 80, "batch_size": 32, "learning_rate": 3e-3, "weight_decay": 5e-4},
    "pneumoniamnist": {
        "epochs": 30,
        "batch_size": 128,
        "learning_rate": 3e-3,
        "weight_decay": 5e-4,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(SETTINGS))
    parser.add_argument("--out", type=Path, default=None, help="default: the reference's folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None)
    arguments = parser.parse_args()
    reference = importlib.import_module(f"reference_models.{arguments.task}.predict")
    out = arguments.out or Path(reference.__file__).parent
    task = load_task(arguments.task)
    train = public_split(task, "train", data_dir=arguments.data_dir)
    validation = public_split(task, "validation", data_dir=arguments.data_dir)
    model, summary = train_binary_classifier(
        reference.SmallCNN(),
        train,
        validation,
        seed=arguments.seed,
        augment=flip_and_shift,
        **SETTINGS[arguments.task],
    )
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / reference.WEIGHTS_FILE)
    print(
        f"trained {arguments.task} on {summary['device']} in {summary['seconds']:.1f} s; best "
        f"epoch {summary['best_epoch']}, validation AUC {summary['validation_auc']:.4f}; wrote "
        f"{out / reference.WEIGHTS_FILE}"
    )


if __name__ == "__main__":
    main()
