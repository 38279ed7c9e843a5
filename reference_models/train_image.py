"""Train an image task's reference CNN on its official train split.

    python -m reference_models.train_image TASK [--out DIR] [--seed 0] [--data-dir DIR]

TASK is ``breastmnist``, ``pneumoniamnist`` or ``retinamnist-grade``; the weights go to that
reference's folder (``reference_models/<task id with underscores>``).  Needs the task's
MedMNIST file (``medgrade data fetch TASK``).  Uses CUDA when available; the validation
score (AUC, or QWK for the retinopathy grades) picks the epoch kept.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from reference_models._images import flip_and_shift, flip_and_shift_channels_last
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
    "retinamnist-grade": {
        "epochs": 30,
        "batch_size": 64,
        "learning_rate": 3e-3,
        "weight_decay": 5e-4,
        "augment": flip_and_shift_channels_last,
    },
}


def main() -> None:
    task_id = sys.argv.pop(1) if len(sys.argv) > 1 and sys.argv[1] in SETTINGS else None
    if task_id is None:
        sys.exit(
            f"usage: python -m reference_models.train_image {{{','.join(SETTINGS)}}} [options]"
        )
    reference = importlib.import_module(f"reference_models.{task_id.replace('-', '_')}.predict")
    arguments = reference_arguments(__doc__.splitlines()[0], Path(reference.__file__).parent)
    train_reference(
        task_id,
        lambda train: reference.SmallCNN(),
        weights=arguments.out / reference.WEIGHTS_FILE,
        seed=arguments.seed,
        data_dir=arguments.data_dir,
        **({"augment": flip_and_shift} | SETTINGS[task_id]),
    )


if __name__ == "__main__":
    main()
