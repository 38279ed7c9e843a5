"""Integrity flags: planted copies in a really graded class are flagged, independent work is
not, and the flags reach the dashboard only."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import sqlite3
import struct
import textwrap
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from grader import journeys
from grader.evaluation import Evaluation
from grader.integrity import (
    FLAG_TITLES,
    REFERENCE,
    IntegrityFlag,
    class_flags,
    tensor_digests,
)
from grader.output import OutputFolder
from grader.reference import answer_files
from grader.rubric import Marks
from grader.store import ResultStore
from grader.submission import Submission, submission_code
from grader.tasks import load_task
from tests.conftest import EXAMPLES, TASK_ID, replaying
from tests.report.test_dashboard import read_page

#: Written independently of one another (the bundled examples), less the one that sleeps
#: until its time limit.
INDEPENDENT = ("crashes", "nan-output", "weak", "wrong-shape")


def rename(code: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        code = re.sub(rf"\b{old}\b", new, code)
    return code


@pytest.fixture(scope="module")
def flagged_class(tmp_path_factory) -> tuple[Path, list[IntegrityFlag]]:
    """The bundled examples and three planted copies, graded for real: ``twin`` is ``good``
    with its names changed and its model file; ``borrower`` is the reference's predict.py
    with its names changed, beside weights of its own."""
    root = tmp_path_factory.mktemp("integrity")
    twin = root / "twin"
    shutil.copytree(EXAMPLES / "good", twin)
    (twin / "predict.py").write_text(
        rename(
            (twin / "predict.py").read_text(),
            {"WDBCNet": "TumourNet", "hidden": "width", "features": "x", "network": "net"},
        )
    )
    task = load_task(TASK_ID)
    borrower = root / "borrower"
    borrower.mkdir()
    reference = task.reference_dir() / "predict.py"
    (borrower / "predict.py").write_text(
        rename(reference.read_text(), {"network": "my_net", "inputs": "rows", "model": "clf"})
    )
    shutil.copy(EXAMPLES / "good" / "model.pt", borrower / "model.pt")
    submissions = [
        *(s for s in journeys.demo_submissions() if s.student_id != "too-slow"),
        Submission("twin", twin),
        Submission("borrower", borrower),
    ]
    out = root / "grades"
    journeys.grade(submissions, task, backend=replaying(), out=out, workers=2)
    with ResultStore(OutputFolder(out).store) as store:
        grades = store.latest_grades(task.id, task.spec.version, "test")
        evaluations = [store.load_evaluation(grade.run_id) for grade in grades]
    assert {e.student_id: e.status for e in evaluations}["twin"] == "graded"
    return out, class_flags(evaluations, reference_code=submission_code(task.reference_dir()))


def by_kind(flags: list[IntegrityFlag], kind: str) -> dict[tuple[str, ...], IntegrityFlag]:
    return {flag.students: flag for flag in flags if flag.kind == kind}


def test_copied_model_files_and_predictions_are_flagged(flagged_class) -> None:
    _, flags = flagged_class
    # The notebook example ships good's model.pt too: the same model, rightly flagged.
    files = by_kind(flags, "same_files")
    assert set(files) == {("borrower", "good", "notebook", "twin")}
    assert "model.pt" in files["borrower", "good", "notebook", "twin"].evidence
    predictions = by_kind(flags, "same_predictions")
    assert ("good", "notebook", "twin") in predictions


def test_code_with_renamed_names_is_flagged_with_its_passages(flagged_class) -> None:
    _, flags = flagged_class
    code = by_kind(flags, "similar_code")
    twin = code["good", "twin"]
    assert twin.similarity == pytest.approx(1.0)
    assert {p.student_id for p in twin.passages} == {"good", "twin"}
    assert any("TumourNet" in p.text for p in twin.passages if p.student_id == "twin")
    assert ("borrower", REFERENCE) in code  # the reference's code, names changed
    # The example "good" is the reference's predict.py with other weights: so it says.
    assert ("good", REFERENCE) in code


def test_independent_work_is_not_flagged(flagged_class) -> None:
    _, flags = flagged_class
    for flag in flags:
        assert not set(flag.students) & set(INDEPENDENT), flag


def test_flags_are_on_the_dashboard_and_in_no_report(flagged_class) -> None:
    out, flags = flagged_class
    page = read_page(OutputFolder(out).dashboard)
    assert "Similar code: good, twin" in page.plain
    assert "names and strings aside" in page.plain
    linked = {text for _, text, ids in page.links if "integrity" in ids}
    assert {"good", "twin", "borrower", "notebook"} <= linked
    assert len(flags) == sum(page.plain.count(f"{title}:") for title in FLAG_TITLES.values())
    report = OutputFolder(out).report("twin").read_text()
    assert "borrower" not in report and "notebook" not in report
    assert "Similar code" not in report and "Identical model files" not in report


def evaluation(student: str, code: str | None = None, **fields: object) -> Evaluation:
    fields = {"status": "graded", "predictions_constant": False, **fields}
    return Evaluation(
        student_id=student,
        submission_path=f"/class/{student}",
        submission_sha256=None,
        task_id="t",
        task_version="1",
        split="test",
        labels_hidden=True,
        failure=None,
        metrics={},
        marks=Marks(marks=(), total=0.0, max_points=0.0),
        run=None,
        data_sha256="d",
        split_sha256="s",
        source_code=code,
        **fields,  # type: ignore[arg-type]
    )


SKELETON = '''
import numpy as np
from pathlib import Path


def load_model(artifacts_dir: str):
    """Load the weights saved next to this file and return the fitted model."""
    weights = np.load(Path(artifacts_dir) / "weights.npz")
    return {"coefficients": weights["coefficients"], "intercept": float(weights["intercept"])}


def _sigmoid(values):
    return 1.0 / (1.0 + np.exp(-values))


def predict(model, inputs):
    """One probability of malignancy per case."""
    scores = inputs @ model["coefficients"] + model["intercept"]
'''

BODIES = [
    "    return _sigmoid(scores)\n",
    "    clipped = np.clip(scores, -30, 30)\n    return _sigmoid(clipped)\n",
    "    return np.where(scores > 0, 0.9, 0.1)\n",
    "    ranks = scores.argsort().argsort()\n    return ranks / max(len(ranks) - 1, 1)\n",
    "    return 0.5 * (1 + np.tanh(scores / 2))\n",
]

LONG_BODY = textwrap.dedent(
    """
    def robust_scale(matrix, centre=None, spread=None):
        centre = np.median(matrix, axis=0) if centre is None else centre
        spread = np.subtract(*np.percentile(matrix, [75, 25], axis=0)) if spread is None else spread
        spread = np.where(spread == 0, 1.0, spread)
        return (matrix - centre) / spread, centre, spread

    def ensemble(models, matrix):
        outputs = [m["coefficients"] @ matrix.T + m["intercept"] for m in models]
        stacked = np.vstack(outputs)
        weights = np.exp(-np.arange(len(outputs)))
        return (weights[:, None] * stacked).sum(axis=0) / weights.sum()
    """
)


def test_a_shared_skeleton_is_boilerplate_but_a_shared_body_is_not() -> None:
    evaluations = [evaluation(f"s{i}", SKELETON + body) for i, body in enumerate(BODIES)]
    assert class_flags(evaluations) == []
    evaluations += [
        evaluation("copier-a", SKELETON + BODIES[0] + LONG_BODY),
        evaluation("copier-b", SKELETON + BODIES[1] + rename(LONG_BODY, {"matrix": "X"})),
    ]
    flags = class_flags(evaluations)
    assert [flag.students for flag in flags] == [("copier-a", "copier-b")]


EXTRA = textwrap.dedent(
    """
    def threshold_sweep(scores, labels, steps=50):
        best, best_value = 0.5, -1.0
        for cut in np.linspace(0.0, 1.0, steps):
            predicted = scores >= cut
            hits = np.sum(predicted & (labels == 1))
            misses = np.sum(~predicted & (labels == 1))
            alarms = np.sum(predicted & (labels == 0))
            value = hits / max(hits + misses, 1) - alarms / max(len(labels), 1)
            if value > best_value:
                best, best_value = cut, value
        return best

    def calibrate(scores, temperature=1.5, shift=0.0):
        logits = np.log(np.clip(scores, 1e-6, 1 - 1e-6)) - np.log1p(-np.clip(scores, 1e-6, 1 - 1e-6))
        return 1.0 / (1.0 + np.exp(-(logits - shift) / temperature))
    """
)


def test_a_group_of_copies_too_large_for_the_boilerplate_rule_is_still_flagged() -> None:
    ring = SKELETON + BODIES[0] + LONG_BODY + EXTRA
    evaluations = [evaluation(f"s{i}", SKELETON + body) for i, body in enumerate(BODIES)]
    evaluations += [
        evaluation(f"ring-{i}", rename(ring, {"scores": f"s{i}", "labels": f"y{i}"}))
        for i in range(5)
    ]
    flags = class_flags(evaluations)
    assert {f.students for f in flags} == {
        (f"ring-{i}", f"ring-{j}") for i in range(5) for j in range(i + 1, 5)
    }
    assert all("passages common in the class included" in f.evidence for f in flags)


def test_runs_that_predict_one_value_are_not_copies() -> None:
    same = {"predictions_sha256": "f" * 64}
    evaluations = [
        evaluation("prevalence-a", predictions_constant=True, **same),
        evaluation("prevalence-b", predictions_constant=True, **same),
    ]
    assert class_flags(evaluations) == []
    evaluations.append(evaluation("c", predictions_sha256="e" * 64))
    evaluations.append(evaluation("d", predictions_sha256="e" * 64))
    assert [f.students for f in class_flags(evaluations)] == [("c", "d")]


def test_failed_runs_still_share_files_but_not_predictions() -> None:
    shared = {"file_sha256": (("weights.pt", "a" * 64),), "predictions_sha256": "b" * 64}
    evaluations = [
        evaluation("a", **shared),
        evaluation("b", status="failed", **shared),
    ]
    flags = class_flags(evaluations)
    assert [(f.kind, f.students) for f in flags] == [("same_files", ("a", "b"))]


def test_submission_code_reads_scripts_and_notebook_cells(tmp_path: Path) -> None:
    folder = tmp_path / "submission"
    (folder / "helpers").mkdir(parents=True)
    (folder / "helpers" / "features.py").write_text("SCALE = 2\n")
    (folder / "predict.py").write_text("def predict(m, x):\n    return x\n")
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["# My model"]},
            {"cell_type": "code", "source": ["import numpy as np\n", "x = 1"]},
        ],
        "nbformat": 4,
    }
    (folder / "work.ipynb").write_text(json.dumps(notebook))
    (folder / "README.md").write_text("not code")
    os.symlink("/etc/hostname", folder / "linked.py")
    code = submission_code(folder)
    assert code is not None
    assert code.index("# file: predict.py") < code.index("# file: helpers/features.py")
    assert "import numpy as np\nx = 1" in code
    assert "My model" not in code and "not code" not in code and "linked.py" not in code
    empty = tmp_path / "weights-only"
    empty.mkdir()
    (empty / "model.pt").write_bytes(b"\0" * 2048)
    assert submission_code(empty) is None


def model_folder(root: Path, name: str, save: Callable[[Path], None]) -> Evaluation:
    folder = root / name
    folder.mkdir()
    save(folder)
    files = tuple(answer_files(folder).items())
    return evaluation(name, file_sha256=files, tensor_sha256=tuple(tensor_digests(folder, files)))


def safetensors_file(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors layout, written by hand: a JSON header of byte ranges, then bytes."""
    header, data, offset = {}, b"", 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        data, offset = data + raw, offset + len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def test_a_model_saved_again_or_in_another_format_shares_its_tensors(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(30, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    network.register_buffer("zeros", torch.zeros(512))  # everyone's: never evidence
    state = network.state_dict()
    torch.manual_seed(1)
    other = torch.nn.Sequential(torch.nn.Linear(30, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
    other.register_buffer("zeros", torch.zeros(512))
    evaluations = [
        model_folder(tmp_path, "original", lambda f: torch.save(state, f / "model.pt")),
        model_folder(
            tmp_path, "resaved", lambda f: torch.save({"state": state, "epoch": 9}, f / "best.pth")
        ),
        model_folder(
            tmp_path,
            "converted",
            lambda f: safetensors_file(
                f / "weights.safetensors", {k: v.numpy() for k, v in state.items()}
            ),
        ),
        model_folder(
            tmp_path, "as-numpy", lambda f: np.savez(f / "w.npz", w=state["0.weight"].numpy())
        ),
        model_folder(tmp_path, "independent", lambda f: torch.save(other.state_dict(), f / "m.pt")),
    ]
    flags = {f.students: f for f in class_flags(evaluations) if f.kind == "same_tensors"}
    assert set(flags) == {
        ("converted", "original"),
        ("converted", "resaved"),
        ("original", "resaved"),
        ("as-numpy", "converted"),
        ("as-numpy", "original"),
        ("as-numpy", "resaved"),
    }
    assert "byte for byte in model files that differ" in flags["original", "resaved"].evidence
    assert not [f for f in class_flags(evaluations) if f.kind == "same_files"]


def test_a_file_two_students_both_hold_is_flagged_once(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    state = torch.nn.Linear(30, 64).state_dict()
    evaluations = [
        model_folder(tmp_path, name, lambda f: torch.save(state, f / "model.pt"))
        for name in ("a", "b")
    ]
    copied = (tmp_path / "a" / "model.pt").read_bytes()
    (tmp_path / "b" / "model.pt").write_bytes(copied)
    evaluations[1] = model_folder(tmp_path, "c", lambda f: (f / "model.pt").write_bytes(copied))
    assert [f.kind for f in class_flags(evaluations)] == ["same_files"]


def test_a_pickle_is_never_unpickled(tmp_path: Path) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Exploit(str(marker)))
    (folder / "model.pkl").write_bytes(payload + b"\0" * 2048)
    with zipfile.ZipFile(folder / "model.pt", "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/data/0", os.urandom(4096))
    files = tuple(answer_files(folder).items())
    digests = tensor_digests(folder, files)
    assert len(digests) == 1 and not marker.exists()


class _Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_copy_with_noise_or_rounding_departs_from_the_class_with_its_source() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=300)
    own = [
        1 / (1 + np.exp(-(truth * rng.uniform(0.5, 2) + rng.normal(size=300)))) for _ in range(20)
    ]
    noisy = np.clip(own[0] + rng.normal(scale=0.01, size=300), 0, 1)
    rounded = np.round(own[1], 2)
    runs = {f"s{i:02d}": p for i, p in enumerate(own)} | {"noisy": noisy, "rounded": rounded}
    evaluations = [
        evaluation(
            student,
            prediction_values=tuple(np.round(p, 6).tolist()),
            predictions_sha256=hashlib.sha256(student.encode()).hexdigest(),
        )
        for student, p in runs.items()
    ]
    flags = [f for f in class_flags(evaluations) if f.kind == "correlated_predictions"]
    assert {f.students for f in flags} == {("noisy", "s00"), ("rounded", "s01")}
    assert all(f.similarity > 0.95 for f in flags)
    assert "the class's median pair is" in flags[0].evidence


def test_a_run_stored_before_the_flags_is_fingerprinted_when_reused(tmp_path: Path) -> None:
    for student in ("first", "second"):
        shutil.copytree(EXAMPLES / "good", tmp_path / "class" / student)
    out = tmp_path / "grades"
    journeys.grade(tmp_path / "class", TASK_ID, backend=replaying(), out=out)
    store_path = OutputFolder(out).store
    with sqlite3.connect(store_path) as connection:  # as an earlier medgrade stored them
        for run_id, blob in connection.execute("SELECT run_id, evaluation FROM run_documents"):
            document = json.loads(zlib.decompress(blob))
            for name in ("source_code", "tensor_sha256", "predictions_constant"):
                document.pop(name)
            connection.execute(
                "UPDATE run_documents SET evaluation = ? WHERE run_id = ?",
                (zlib.compress(json.dumps(document).encode()), run_id),
            )
    result = journeys.grade(tmp_path / "class", TASK_ID, backend=replaying(), out=out)
    assert sorted(result.reused) == ["first", "second"], "nothing ran again"
    page = read_page(OutputFolder(out).dashboard).plain
    assert "Similar code: first, second" in page
    assert "Identical predictions" not in page, "unknown until the runs run again"


def test_a_prior_row_for_every_case_is_a_constant_prediction() -> None:
    from grader.evaluation._scoring import _constant

    assert _constant(np.tile([0.2, 0.3, 0.5], (40, 1)))
    assert not _constant(np.array([[0.2, 0.8], [0.3, 0.7]]))
    assert _constant([np.zeros((4, 4)), np.ones((2, 2))]) and not _constant([np.eye(3)])


def test_hidden_labels_reproduced_with_certainty_are_flagged(test_split) -> None:
    from grader.evaluation import assess

    def flags(predictions: np.ndarray) -> tuple[str, ...]:
        return assess(
            test_split, student_id="s", submission_path=Path("s"), sha256=None,
            failure=None, predictions=predictions, run=None,
        ).flags  # fmt: skip

    labels = np.asarray(test_split.labels, dtype=np.float64)
    (flag,) = flags(labels)
    assert flag.startswith(f"Predicts 100% of the {len(labels)} hidden cases with certainty")
    assert flags(np.clip(labels, 0.01, 0.99)) == (), "confident is not certain"
    wrong = labels.copy()
    wrong[:2] = 1 - wrong[:2]
    assert flags(wrong) == (), "hard labels, 98 % right: a thresholded model, not a lookup"


def test_a_pretrained_layer_most_of_the_class_keeps_is_no_evidence(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    backbone = torch.nn.Linear(64, 64).state_dict()  # everyone's frozen starting point

    def fine_tuned(seed: int) -> Callable[[Path], None]:
        torch.manual_seed(seed)
        head = torch.nn.Linear(64, 8).state_dict()
        state = {f"backbone.{k}": v for k, v in backbone.items()} | {
            f"head.{k}": v for k, v in head.items()
        }
        return lambda folder: torch.save(state, folder / "model.pt")

    evaluations = [model_folder(tmp_path, f"s{i}", fine_tuned(i)) for i in range(6)]
    assert class_flags(evaluations) == []
