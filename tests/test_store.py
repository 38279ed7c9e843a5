"""The results store's schema: a store of an earlier version is migrated when opened and
keeps every run readable; one of a newer medgrade is refused. (A version-1 store resumed by a
batch is in tests/journeys/test_batch_resume.py.)"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import zlib

import numpy as np
import pytest

from grader.errors import MedgradeError
from grader.evaluation import evaluate
from grader.kinds import ClassRow, ClassSummary, LabelMapResults, WorstCase
from grader.metrics import segmentation_metrics
from grader.store import (
    SCHEMA_VERSION,
    ResultStore,
    StoredEvaluationError,
    decode_evaluation,
    encode_evaluation,
)
from tests.conftest import EXAMPLES


def _as_version_2(document: dict) -> dict:
    """A version-3 evaluation document as version 2 wrote it: the kind's results as the
    evaluation's own fields ``curves``, ``classes``, ``structures`` and ``worst_cases``."""
    tagged = document.pop("kind_results")
    value = None if tagged is None else tagged["value"]
    kind = None if tagged is None else tagged["kind"]
    label_map = value if kind == "label_map" else {}
    return document | {
        "curves": value if kind == "binary_probability" else None,
        "structures": label_map.get("structures", []),
        "worst_cases": label_map.get("worst_cases", []),
        "classes": value if kind == "class_probabilities" else None,
    }


def test_a_version_2_store_keeps_every_kinds_results_when_migrated(tmp_path, test_split, backend):
    binary = evaluate(EXAMPLES / "weak", student_id="binary", prepared=test_split, backend=backend)
    failed = evaluate(
        EXAMPLES / "crashes", student_id="failed", prepared=test_split, backend=backend
    )
    references = [np.pad(np.ones((3, 3, 3), np.int64), 2), np.pad(np.full((2, 3, 3), 2), 2)]
    structures = segmentation_metrics(references, references, labels=[1, 2], n_resamples=10)
    worst = WorstCase(
        case=1, dice=0.5, axis=0, index=2, image=[[0.5]], reference=[[1]], prediction=[[0]]
    )
    runs = [
        binary,
        failed,
        dataclasses.replace(
            binary,
            student_id="segmentation",
            kind_results=LabelMapResults(structures.summaries, (worst,)),
        ),
        dataclasses.replace(
            binary,
            student_id="multiclass",
            kind_results=ClassSummary(
                rows=(
                    ClassRow(
                        0, "no DR", 5, 4, binary.metrics["roc_auc"], binary.metrics["sensitivity"]
                    ),
                ),
                confusion=((4, None),),
                min_predicted_shown=10,
            ),
        ),
    ]
    path = tmp_path / "medgrade.sqlite"
    with ResultStore(path) as store:
        run_ids = [store.add(run, sandbox="local") for run in runs]
    with sqlite3.connect(path) as connection:
        for run_id, blob in connection.execute("SELECT run_id, evaluation FROM run_documents"):
            document = _as_version_2(json.loads(zlib.decompress(blob)))
            connection.execute(
                "UPDATE run_documents SET evaluation = ? WHERE run_id = ?",
                (zlib.compress(json.dumps(document).encode()), run_id),
            )
        _without_comments(connection)
        connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with ResultStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        for run_id, run in zip(run_ids, runs, strict=True):
            back = store.load_evaluation(run_id)
            assert type(back.kind_results) is type(run.kind_results), run.student_id
            assert encode_evaluation(back) == encode_evaluation(run), run.student_id
    assert runs[1].kind_results is None and runs[0].kind_results is not None
    # Results of a plug-in kind no longer installed cannot be read: the run is graded again.
    document = json.loads(encode_evaluation(binary))
    document["kind_results"]["kind"] = "gone"
    with pytest.raises(StoredEvaluationError, match="unknown output kind 'gone'"):
        decode_evaluation(json.dumps(document))


def _without_comments(connection: sqlite3.Connection) -> None:
    """What version 4 added, taken away again: the store as version 3 wrote it."""
    connection.execute("ALTER TABLE marks DROP COLUMN comment")
    connection.execute("ALTER TABLE runs DROP COLUMN comment")
    connection.execute("DROP TABLE students")


def test_a_version_3_store_gains_the_markers_comments(tmp_path, test_split, backend):
    graded = evaluate(EXAMPLES / "weak", student_id="weak", prepared=test_split, backend=backend)
    path = tmp_path / "medgrade.sqlite"
    with ResultStore(path) as store:
        run_id = store.add(graded, sandbox="local")
    with sqlite3.connect(path) as connection:
        _without_comments(connection)
        connection.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    with ResultStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        (grade,) = store.latest_grades(graded.task_id, graded.task_version, graded.split)
        assert grade.comment == "" and all(m.comment == "" for m in grade.marks)
        commented = dataclasses.replace(
            graded,
            marks=dataclasses.replace(
                graded.marks,
                comment="Clear write-up.",
                marks=tuple(
                    dataclasses.replace(m, comment="Good figures.") if m.id == "writeup" else m
                    for m in graded.marks.marks
                ),
            ),
        )
        store.replace_marks(run_id, commented)
        (grade,) = store.latest_grades(graded.task_id, graded.task_version, graded.split)
        assert grade.comment == "Clear write-up."
        assert grade.mark("writeup").comment == "Good figures."
        assert store.load_evaluation(run_id).marks == commented.marks


def test_a_store_from_a_newer_medgrade_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "medgrade.sqlite"
    ResultStore(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    with pytest.raises(MedgradeError, match="schema version 9, written by a newer medgrade"):
        ResultStore(path)
