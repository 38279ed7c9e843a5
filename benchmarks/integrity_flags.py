"""Integrity flags on a class of independently trained models, with planted copies.

    python benchmarks/integrity_flags.py [--students 300] [--seed 0]

Each synthetic student trains their own model on ``breast-cancer-wdbc``'s train split: a
model family (logistic regression, random forest, k-nearest neighbours, naive Bayes, SVM,
gradient boosting, an MLP), hyper-parameters, a feature subset and a seed of their own, and
predicts the test split's 114 cases (labels are never read).  Planted among them: an exact
copy of one student's predictions, a copy with noise a tenth of the size of its departures
from the class, a copy rounded to two decimals, and two pairs of model files, one saved
again and one converted to numpy.  It prints how many flags the clean students raise (the
false flags), whether each planted copy is flagged, and how long ``class_flags`` takes.

Code similarity's false-flag rate is not measured here: generated code is a template, not
a class's independent work (that needs a corpus of real submissions).  Its cost is: the
script also fingerprints ``class_scale.py``'s synthetic class of the same size (real
submission folders: code, pickles and weight files) and times ``class_flags`` on it, what
every batch's dashboard pays.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from grader.data import load_dataset
from grader.evaluation import Evaluation, fingerprint
from grader.integrity import class_flags, tensor_digests
from grader.reference import answer_files
from grader.rubric import Marks
from grader.tasks import load_task, public_split

TASK = "breast-cancer-wdbc"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from class_scale import make_class  # noqa: E402  (a sibling script, not a package)


def student_model(rng: np.random.Generator) -> object:
    family = rng.integers(7)
    seed = int(rng.integers(2**31))
    if family == 0:
        return LogisticRegression(C=float(10 ** rng.uniform(-2, 2)), max_iter=5000)
    if family == 1:
        return RandomForestClassifier(
            n_estimators=int(rng.integers(20, 120)), max_depth=int(rng.integers(2, 12)),
            random_state=seed,
        )  # fmt: skip
    if family == 2:
        return KNeighborsClassifier(n_neighbors=int(rng.integers(3, 30)))
    if family == 3:
        return GaussianNB(var_smoothing=float(10 ** rng.uniform(-11, -6)))
    if family == 4:
        return SVC(C=float(10 ** rng.uniform(-1, 2)), probability=True, random_state=seed)
    if family == 5:
        return GradientBoostingClassifier(
            n_estimators=int(rng.integers(20, 100)), max_depth=int(rng.integers(1, 4)),
            random_state=seed,
        )  # fmt: skip
    return MLPClassifier(
        hidden_layer_sizes=(int(rng.integers(8, 64)),), max_iter=2000, random_state=seed
    )


def evaluation(student: str, predictions: np.ndarray, **fields: object) -> Evaluation:
    values = np.round(predictions, 6)
    return Evaluation(
        student_id=student, submission_path=student, submission_sha256=None, task_id=TASK,
        task_version="1", split="test", labels_hidden=True, status="graded", failure=None,
        metrics={}, marks=Marks((), 0.0, 100.0), run=None, data_sha256="", split_sha256="",
        predictions_sha256=hashlib.sha256(values.tobytes()).hexdigest(),
        predictions_constant=bool(np.ptp(values) == 0), prediction_values=tuple(values.tolist()),
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def model_files(folder: Path, state: dict[str, torch.Tensor], how: str) -> dict[str, object]:
    folder.mkdir()
    if how == "torch":
        torch.save(state, folder / "model.pt")
    else:
        np.savez(folder / "weights.npz", **{k: v.numpy() for k, v in state.items()})
    files = tuple(answer_files(folder).items())
    return {"file_sha256": files, "tensor_sha256": tuple(tensor_digests(folder, files))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)
    task = load_task(TASK)
    features, labels = public_split(task, "train")
    dataset = load_dataset(task.spec.dataset.loader, task.spec.dataset.params, None)
    test = dataset.features[dataset.rows(task.split_manifest().case_ids["test"])]

    started = time.perf_counter()
    evaluations, predictions = [], []
    for number in range(arguments.students):
        columns = np.sort(rng.choice(features.shape[1], int(rng.integers(5, 31)), replace=False))
        model = make_pipeline(StandardScaler(), student_model(rng))
        model.fit(features[:, columns], labels)
        predicted = model.predict_proba(test[:, columns])[:, 1]
        predictions.append(predicted)
        evaluations.append(evaluation(f"student-{number:03d}", predicted))
    trained = time.perf_counter() - started

    departures = predictions[1] - np.median(predictions, axis=0)
    planted = {
        ("copy-exact", "student-000"): predictions[0],
        ("copy-noise", "student-001"): np.clip(
            predictions[1] + rng.normal(scale=departures.std() / 10, size=len(test)), 0, 1
        ),
        ("copy-rounded", "student-002"): np.round(predictions[2], 2),
    }
    evaluations += [evaluation(name, p) for (name, _), p in planted.items()]
    with tempfile.TemporaryDirectory() as scratch:
        network = torch.nn.Sequential(
            torch.nn.Linear(30, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1)
        )
        state = network.state_dict()
        for name, how in (
            ("weights-a", "torch"),
            ("weights-resaved", "torch"),
            ("weights-numpy", "npz"),
        ):
            fields = model_files(Path(scratch) / name, state, how)
            evaluations.append(evaluation(name, rng.uniform(size=len(test)), **fields))
    pairs = [*planted, ("weights-a", "weights-resaved"), ("weights-a", "weights-numpy")]

    started = time.perf_counter()
    flags = class_flags(evaluations)
    seconds = time.perf_counter() - started
    planted_names = {name for pair in pairs for name in pair if not name.startswith("student")}
    false = [f for f in flags if not set(f.students) & planted_names]
    print(f"{arguments.students} independent students trained in {trained:.1f} s; "
          f"class_flags over {len(evaluations)} runs took {seconds:.2f} s")  # fmt: skip
    print(f"false flags among the independent students: {len(false)}")
    for flag in false[:10]:
        print(f"  {flag.kind}: {', '.join(flag.students)}: {flag.evidence}")
    flagged = {tuple(sorted(f.students)): f for f in flags}
    for pair in pairs:
        flag = flagged.get(tuple(sorted(pair)))
        print(f"planted {pair[0]:>15} ~ {pair[1]:<15} "
              f"{'flagged: ' + flag.kind if flag else 'NOT FLAGGED'}")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "class"
        folder.mkdir()
        make_class(folder, arguments.students, hangs=1, seed=arguments.seed)
        started = time.perf_counter()
        fingerprinted = [
            fingerprint(path).on(evaluation(path.name, rng.uniform(size=len(test))))
            for path in sorted(folder.iterdir())
        ]
        read = time.perf_counter() - started
        started = time.perf_counter()
        flags = class_flags(fingerprinted)
        print(f"class_scale.py's class of {len(fingerprinted)}: fingerprints {read:.2f} s, "
              f"class_flags (code included) {time.perf_counter() - started:.2f} s, "
              f"{len(flags)} flags")  # fmt: skip
    print(f"load: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
