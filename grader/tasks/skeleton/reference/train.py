"""Train the reference on the task's train split: python reference/train.py --data-dir DATA."""

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from grader.tasks import load_task, public_split

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None)
    arguments = parser.parse_args()
    task = load_task(HERE.parent)
    features, labels = public_split(task, "train", data_dir=arguments.data_dir)
    mean = np.nanmean(features, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)  # a column missing in every training case
    filled = np.where(np.isnan(features), mean, features)
    scale = filled.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    model = LogisticRegression(max_iter=5000).fit((filled - mean) / scale, labels)
    weights = {
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
    }
    (HERE / "weights.json").write_text(json.dumps(weights))
    print(f"trained on {len(labels)} cases; wrote {HERE / 'weights.json'}")


if __name__ == "__main__":
    main()
