"""Train the breast-cancer-wdbc reference MLP on the task's train split.

    python -m reference_models.breast_cancer_wdbc.train [--out DIR] [--seed 0]

BCEWithLogitsLoss and Adam, early stopping on the validation loss (the best epoch's
weights are kept).  Uses CUDA when available; with the same seed on the same device the
result is the same.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch
from torch import nn

from grader.tasks import load_task, public_split
from reference_models.breast_cancer_wdbc.predict import WEIGHTS_FILE, WDBCNet, device

TASK_ID = "breast-cancer-wdbc"


def train(
    *, seed: int = 0, max_epochs: int = 500, patience: int = 30, batch_size: int = 32
) -> tuple[WDBCNet, dict[str, float]]:
    torch.manual_seed(seed)
    task = load_task(TASK_ID)
    train_x, train_y = public_split(task, "train")
    valid_x, valid_y = public_split(task, "validation")
    run_on = device()
    x = torch.as_tensor(train_x, dtype=torch.float32, device=run_on)
    y = torch.as_tensor(train_y, dtype=torch.float32, device=run_on)
    vx = torch.as_tensor(valid_x, dtype=torch.float32, device=run_on)
    vy = torch.as_tensor(valid_y, dtype=torch.float32, device=run_on)

    model = WDBCNet(n_features=x.shape[1]).to(run_on)
    model.mean.copy_(x.mean(dim=0))
    model.std.copy_(x.std(dim=0).clamp_min(1e-6))
    loss_function = nn.BCEWithLogitsLoss()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    generator = torch.Generator(device="cpu").manual_seed(seed)

    best_loss, best_state, best_epoch, waited = float("inf"), None, 0, 0
    started = time.perf_counter()
    for epoch in range(max_epochs):
        model.train()
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            optimiser.zero_grad()
            loss = loss_function(model(x[batch]), y[batch])
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            validation_loss = loss_function(model(vx), vy).item()
        if validation_loss < best_loss - 1e-5:
            best_loss, best_state, best_epoch, waited = (
                validation_loss,
                copy.deepcopy(model.state_dict()),
                epoch,
                0,
            )
        else:
            waited += 1
            if waited >= patience:
                break
    assert best_state is not None
    model.load_state_dict(best_state)
    return model.cpu().eval(), {
        "best_epoch": best_epoch,
        "validation_loss": best_loss,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to write model.pt to (default: this package)",
    )
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    model, summary = train(seed=arguments.seed)
    arguments.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), arguments.out / WEIGHTS_FILE)
    print(
        f"trained on {device()} in {summary['seconds']:.1f} s; best epoch {summary['best_epoch']}, "
        f"validation loss {summary['validation_loss']:.4f}; wrote {arguments.out / WEIGHTS_FILE}"
    )


if __name__ == "__main__":
    main()
