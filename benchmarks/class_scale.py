"""A marker's night: grade a synthetic class of ``breast-cancer-wdbc`` submissions.

    python benchmarks/class_scale.py [--students 300] [--workers 1,2,4] [--dask 2,4]
                                     [--backend bwrap] [--cold-students 40] [--hangs 1]

The class is made on the fly from the task's public train split and mixes what a real
class hands in:

- PyTorch MLPs like the reference (more than half): the reference weights with seeded
  noise, from faint (good) to heavy (weak);
- numpy logistic regressions on a few to all features (good to weak);
- scikit-learn pipelines, pickled: logistic regression, random forest, k-nearest neighbours;
- failing submissions: a crash while loading, a syntax error, a wrong output shape, NaN
  output, logits instead of probabilities, a missing ``predict``, and ``--hangs`` that loop
  until the task's 20 s limit kills them.

Each configuration runs the real ``medgrade grade`` command in a subprocess on a fresh
output folder (interpreter start, reports, store, gradebooks and dashboard included) and
prints the wall time, submissions per minute and the speed-up over one worker.  Local Dask
runs (``--dask``) start a ``distributed.LocalCluster`` of that many single-threaded worker
processes and pass its address with ``--cluster``.  Every configuration must produce the
same gradebook: the script checks that too.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "reference_models" / "breast_cancer_wdbc"
TASK = "breast-cancer-wdbc"

NUMPY_PREDICT = '''"""Logistic regression in numpy."""
import json
from pathlib import Path

import numpy as np


def load_model(artifacts_dir):
    return json.loads((Path(artifacts_dir) / "weights.json").read_text())


def predict(model, inputs):
    z = (inputs[:, model["columns"]] - np.array(model["mean"])) / np.array(model["std"])
    return 1.0 / (1.0 + np.exp(-(z @ np.array(model["coef"]) + model["intercept"])))
'''

SKLEARN_PREDICT = '''"""A pickled scikit-learn pipeline."""
import pickle
from pathlib import Path


def load_model(artifacts_dir):
    with open(Path(artifacts_dir) / "model.pkl", "rb") as handle:
        return pickle.load(handle)


def predict(model, inputs):
    return model.predict_proba(inputs)[:, 1]
'''

FAILING = {
    "crash-on-load": "def load_model(d):\n    raise FileNotFoundError('weights.pt')\n"
    "def predict(m, x):\n    return x[:, 0]\n",
    "syntax-error": "def load_model(d)\n    return None\n",
    "wrong-shape": "import numpy as np\ndef load_model(d):\n    return None\n"
    "def predict(m, x):\n    return np.full((len(x), 2), 0.5)\n",
    "nan-output": "import numpy as np\ndef load_model(d):\n    return None\n"
    "def predict(m, x):\n    return np.full(len(x), np.nan)\n",
    "logits": "def load_model(d):\n    return None\ndef predict(m, x):\n    return x[:, 0] - 14.0\n",
    "no-predict": "def load_model(d):\n    return None\n",
}
HANG = "def load_model(d):\n    while True:\n        pass\ndef predict(m, x):\n    return x[:, 0]\n"


def make_class(folder: Path, students: int, hangs: int, seed: int = 0) -> Counter[str]:
    """Write ``students`` submissions into ``folder``; returns how many of each kind."""
    import torch
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from grader.tasks import load_task, public_split

    features, labels = public_split(load_task(TASK), "train")
    rng = np.random.default_rng(seed)
    reference = torch.load(REFERENCE / "model.pt", weights_only=True)
    n_failing = max(len(FAILING), students // 12)
    n_torch = students // 2 + students // 20
    n_sklearn = students // 8
    n_numpy = students - n_torch - n_sklearn - n_failing - hangs
    kinds: Counter[str] = Counter()
    index = 0

    def new_folder(kind: str) -> Path:
        nonlocal index
        index += 1
        kinds[kind] += 1
        path = folder / f"student{index:03d}"
        path.mkdir()
        return path

    for position in range(n_torch):
        path = new_folder("pytorch")
        shutil.copy(REFERENCE / "predict.py", path / "predict.py")
        # Faint noise for most (good models), heavy for the last fifth (weak ones).
        scale = 0.02 if position < 0.8 * n_torch else 0.6
        state = {
            name: value + scale * torch.from_numpy(rng.standard_normal(value.shape)).float()
            if value.is_floating_point() and name.startswith("layers")
            else value
            for name, value in reference.items()
        }
        torch.save(state, path / "model.pt")
    for _ in range(n_numpy):
        path = new_folder("numpy")
        columns = sorted(rng.choice(30, size=int(rng.integers(2, 31)), replace=False).tolist())
        selected = features[:, columns]
        mean, std = selected.mean(axis=0), selected.std(axis=0)
        fitted = LogisticRegression(C=float(rng.choice([0.01, 0.1, 1.0]))).fit(
            (selected - mean) / std, labels
        )
        weights = {
            "columns": columns,
            "mean": mean.tolist(),
            "std": std.tolist(),
            "coef": fitted.coef_[0].tolist(),
            "intercept": float(fitted.intercept_[0]),
        }
        (path / "weights.json").write_text(json.dumps(weights))
        (path / "predict.py").write_text(NUMPY_PREDICT)
    estimators = [
        lambda: LogisticRegression(max_iter=500),
        lambda: RandomForestClassifier(n_estimators=25, random_state=int(rng.integers(1000))),
        lambda: KNeighborsClassifier(n_neighbors=int(rng.integers(3, 30))),
    ]
    for position in range(n_sklearn):
        path = new_folder("sklearn")
        model = make_pipeline(StandardScaler(), estimators[position % 3]()).fit(features, labels)
        (path / "model.pkl").write_bytes(pickle.dumps(model))
        (path / "predict.py").write_text(SKLEARN_PREDICT)
    failing = list(FAILING.values())
    for position in range(n_failing):
        path = new_folder("failing")
        (path / "predict.py").write_text(failing[position % len(failing)])
    for _ in range(hangs):
        path = new_folder("hangs")
        (path / "predict.py").write_text(HANG)
    return kinds


def grade(
    submissions: Path, out: Path, *, backend: str, workers: int, warm: bool, cluster: str | None
) -> tuple[float, Path]:
    command = [
        sys.executable, "-m", "grader", "grade", str(submissions), "--task", TASK,
        "--backend", backend, "--workers", str(workers), "--out", str(out),
        "--warm-pool" if warm else "--no-warm-pool",
    ]  # fmt: skip
    if cluster is not None:
        command += ["--cluster", cluster]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"medgrade grade failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, out / "gradebook.csv"


def statuses(gradebook: Path) -> Counter[str]:
    rows = csv.DictReader(io.StringIO(gradebook.read_text()))
    return Counter(row["status"] for row in rows)


def comparable(gradebook: Path) -> list[tuple[str, ...]]:
    """The gradebook without its run times, which differ from run to run."""
    rows = list(csv.reader(io.StringIO(gradebook.read_text())))
    keep = [i for i, name in enumerate(rows[0]) if "time" not in name]
    return [tuple(row[i] for i in keep) for row in rows]


def report(label: str, students: int, elapsed: float, base: float | None) -> None:
    speed_up = f"  speed-up x{base / elapsed:.2f}" if base else ""
    print(
        f"{label:<38} {elapsed:7.1f} s  {60 * students / elapsed:6.0f} submissions/min{speed_up}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--hangs", type=int, default=1)
    parser.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"])
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--dask", default="", help="local Dask worker counts, e.g. 2,4")
    parser.add_argument(
        "--cold-students",
        type=int,
        default=40,
        help="class size for the runs without the warm pool (0: skip them)",
    )
    arguments = parser.parse_args()
    workers = [int(w) for w in arguments.workers.split(",") if w]
    dask_workers = [int(w) for w in arguments.dask.split(",") if w]

    with tempfile.TemporaryDirectory(prefix="medgrade-class-") as scratch:
        root = Path(scratch)
        submissions = root / "class"
        submissions.mkdir()
        kinds = make_class(submissions, arguments.students, arguments.hangs)
        print(
            f"class of {arguments.students} {TASK} submissions: "
            + ", ".join(f"{n} {kind}" for kind, n in kinds.items()),
            flush=True,
        )
        print(
            f"backend {arguments.backend}; this machine has {len(os.sched_getaffinity(0))} cores",
            flush=True,
        )
        gradebooks: dict[str, Path] = {}
        base = None
        warm = arguments.backend == "bwrap"
        for count in workers:
            label = f"{count} worker(s){', warm pool' if warm else ''}"
            elapsed, gradebook = grade(
                submissions, root / f"out-{count}", backend=arguments.backend,
                workers=count, warm=warm, cluster=None,
            )  # fmt: skip
            base = base or elapsed
            report(label, arguments.students, elapsed, base)
            gradebooks[label] = gradebook
        print(f"statuses: {dict(statuses(next(iter(gradebooks.values()))))}", flush=True)
        dask_base = None
        for count in dask_workers:
            elapsed = _grade_on_dask(submissions, root, count, arguments.backend, gradebooks)
            dask_base = dask_base or elapsed
            report(
                f"local Dask, {count} worker process(es)", arguments.students, elapsed, dask_base
            )
        if warm and arguments.cold_students:
            _compare_cold(submissions, root, arguments, max(workers))
        reference = next(iter(gradebooks.values()))
        different = [k for k, g in gradebooks.items() if comparable(g) != comparable(reference)]
        if not different:
            print("gradebooks identical across configurations", flush=True)
            return
        expected = set(comparable(reference))
        for label in different:
            rows = [row for row in comparable(gradebooks[label]) if row not in expected]
            print(f"GRADEBOOK DIFFERS: {label}, rows {rows[:5]}", flush=True)
        raise SystemExit(1)


def _grade_on_dask(
    submissions: Path, root: Path, count: int, backend: str, gradebooks: dict[str, Path]
) -> float:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        elapsed, gradebook = grade(
            submissions, root / f"out-dask-{count}", backend=backend, workers=count,
            warm=True, cluster=cluster.scheduler_address,
        )  # fmt: skip
    gradebooks[f"dask-{count}"] = gradebook
    return elapsed


def _compare_cold(
    submissions: Path, root: Path, arguments: argparse.Namespace, workers: int
) -> None:
    """The same grading with every sandbox started from scratch, on the class's first
    ``--cold-students`` submissions (a cold class of 300 takes many minutes)."""
    subset = root / "cold-class"
    subset.mkdir()
    for folder in sorted(submissions.iterdir())[: arguments.cold_students]:
        shutil.copytree(folder, subset / folder.name)
    timings = {}
    for warm in (False, True):
        timings[warm], _ = grade(
            subset, root / f"out-subset-{warm}", backend=arguments.backend, workers=workers,
            warm=warm, cluster=None,
        )  # fmt: skip
    n = arguments.cold_students
    report(f"{n} submissions, {workers} workers, cold", n, timings[False], None)
    report(f"{n} submissions, {workers} workers, warm pool", n, timings[True], timings[False])


if __name__ == "__main__":
    main()
