"""Train the mitbih-pvc reference 1D CNN on the DS1 train records.

    python -m reference_models.mitbih_pvc.train [--out DIR] [--seed 0] [--data-dir DIR]

Needs the MIT-BIH Arrhythmia Database (WFDB records, or the cached beats).  Uses CUDA when
available; the validation AUC (four held-out DS1 patients) picks the epoch kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from grader.tasks import load_task, public_split
from reference_models._training import train_binary_classifier
from reference_models.mitbih_pvc.predict import WEIGHTS_FILE, BeatCNN


def amplitude_and_shift(beats: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random gain (0.8-1.2) per beat and a shift of up to 3 samples: patients differ."""
    gain = 0.8 + 0.4 * torch.rand(len(beats), 1, generator=generator)
    shift = int(torch.randint(-3, 4, (1,), generator=generator))
    return torch.roll(beats * gain.to(beats.device), shift, dims=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None)
    arguments = parser.parse_args()
    task = load_task("mitbih-pvc")
    train = public_split(task, "train", data_dir=arguments.data_dir)
    validation = public_split(task, "validation", data_dir=arguments.data_dir)
    model, summary = train_binary_classifier(
        BeatCNN(), train, validation, seed=arguments.seed, epochs=8, batch_size=256,
        learning_rate=3e-3, weight_decay=1e-3, augment=amplitude_and_shift,
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
