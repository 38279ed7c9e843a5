"""Train an image task's reference CNN on its official train split.

    python -m reference_models.train_image TASK [--out DIR] [--seed 0] [--data-dir DIR]

TASK is ``breastmnist`` or ``pneumoniamnist``; the weights go to that reference's folder.
Needs the task's MedMNIST file (``medgrade data fetch TASK``).  Uses CUDA when available;
the validation AUC picks the epoch kept.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from reference_models._images import flip_and_shift
from reference_models._training import reference_arguments, train_reference

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
    task_id = sys.argv.pop(1) if len(sys.argv) > 1 and sys.argv[1] in SETTINGS else None
    if task_id is None:
        sys.exit(
            f"usage: python -m reference_models.train_image {{{','.join(SETTINGS)}}} [options]"
        )
    reference = importlib.import_module(f"reference_models.{task_id}.predict")
    arguments = reference_arguments(__doc__.splitlines()[0], Path(reference.__file__).parent)
    train_reference(
        task_id,
        lambda train: reference.SmallCNN(),
        weights=arguments.out / reference.WEIGHTS_FILE,
        seed=arguments.seed,
        data_dir=arguments.data_dir,
        augment=flip_and_shift,
        **SETTINGS[task_id],
    )


if __name__ == "__main__":
    main()
