"""A batch on a real Dask cluster (several local worker processes) grades like a local one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import journeys
from grader.errors import MedgradeError

distributed = pytest.importorskip("distributed", reason="pip install 'medgrade[cluster]'")


@pytest.fixture(scope="module")
def cluster():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


#: A graded run, a weaker one, two failures of their own kinds and a notebook (whose executed
#: notebook travels back from the worker): what the cluster changes (where a run happens, how
#: its files travel) touches each outcome alike; a timeout only takes longer, and is
#: batch-tested elsewhere.
CLASS = ("good", "weak", "crashes", "wrong-shape", "notebook")


def _class(folder: Path) -> Path:
    """Some of the bundled examples plus one of them again as a zip, under a second id."""
    folder.mkdir()
    for example in journeys.demo_submissions():
        if example.student_id in CLASS:
            shutil.copytree(example.path, folder / example.student_id)
    shutil.make_archive(str(folder / "zipped"), "zip", folder / "good")
    return folder


def _grade(submissions: Path, out: Path, cluster=None) -> journeys.BatchResult:
    return journeys.grade(
        submissions,
        "breast-cancer-wdbc",
        backend="local",
        unsafe_local=True,
        out=out,
        cluster=cluster,
    )


def test_a_dask_cluster_batch_gives_the_local_batch_gradebook(tmp_path, cluster):
    submissions = _class(tmp_path / "class")
    here = _grade(submissions, tmp_path / "a")
    there = _grade(submissions, tmp_path / "b", cluster)
    assert here.gradebook_path.read_bytes() == there.gradebook_path.read_bytes()
    assert len(there.evaluations) == len(CLASS) + 1
    assert {e.run.backend for e in there.evaluations if e.run is not None} == {"local"}
    by_student = {e.student_id: e for e in there.evaluations}
    assert by_student["zipped"].marks == by_student["good"].marks
    assert by_student["zipped"].submission_sha256 == by_student["good"].submission_sha256
    assert Path(by_student["good"].report_path).is_file()
    # the store names the marker's own files, not the workers' copies
    assert by_student["good"].submission_path == str(submissions / "good")
    # a second run on the cluster reuses every unchanged submission
    again = _grade(submissions, tmp_path / "b", cluster)
    assert sorted(again.reused) == sorted(by_student)
    assert again.gradebook_path.read_bytes() == there.gradebook_path.read_bytes()


def test_a_scheduler_that_does_not_answer_is_one_clear_error(tmp_path):
    import dask

    # Dask's connect timeout, which medgrade leaves to Dask's configuration (30 s by default).
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "3s"}),
        pytest.raises(MedgradeError, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1:9"),
    ):
        _grade(tmp_path, tmp_path / "out", "tcp://127.0.0.1:9")
