"""Train the mitbih-pvc reference 1D CNN on the DS1 train records.

    python -m reference_models.mitbih_pvc.train [--out DIR] [--seed 0] [--data-dir DIR]

Needs the MIT-BIH Arrhythmia Database (WFDB records, or the cached beats).  Uses CUDA when
available; the validation AUC (four held-out DS1 patients) picks the epoch kept.
"""

from __future__ import annotations

from pathlib import Path

import torch

from reference_models._training import reference_arguments, train_reference
from reference_models.mitbih_pvc.predict import WEIGHTS_FILE, BeatCNN


def amplitude_and_shift(beats: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random gain (0.8-1.2) per beat and a shift of up to 3 samples: patients differ."""
    gain = 0.8 + 0.4 * torch.rand(len(beats), 1, generator=generator)
    shift = int(torch.randint(-3, 4, (1,), generator=generator))
    return torch.roll(beats * gain.to(beats.device), shift, dims=-1)


def main() -> None:
    arguments = reference_arguments(__doc__.splitlines()[0], Path(__file__).resolve().parent)
    train_reference(
        "mitbih-pvc", lambda train: BeatCNN(), weights=arguments.out / WEIGHTS_FILE,
        seed=arguments.seed, data_dir=arguments.data_dir,
        epochs=8, batch_size=256, learning_rate=3e-3, weight_decay=1e-3,
        augment=amplitude_and_shift,
    )  # fmt: skip


if __name__ == "__main__":
    main()
