"""hippocampus-seg end to end: volumes in, one label map per case out, scored on the host.

The MSD Task04 volumes are not part of the project; the tests that need them read them
from ``$MEDGRADE_DATA`` or ``../shared/data`` and skip with the reason when absent.  The
contract and spec tests run on synthetic volumes.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from grader.data import load_dataset
from grader.errors import DataError, SpecError
from grader.evaluation import evaluate, prepare_split
from grader.report import write_report
from grader.tasks import Task, load_task
from tests.tasks.test_task_catalog import DATA

MSD_PARAMS = {"task": "Task04_Hippocampus", "labels": [1, 2]}
SOURCE = None if DATA is None else DATA / "msd_task04_hippocampus"


def msd_source() -> Path:
    if SOURCE is None or not (SOURCE / "imagesTr").is_dir():
        pytest.skip("msd_task04_hippocampus is not on this machine (set MEDGRADE_DATA)")
    return SOURCE


@pytest.fixture(scope="module")
def hippocampus() -> Task:
    return load_task("hippocampus-seg")


@pytest.fixture(scope="module")
def validation_volumes(hippocampus, tmp_path_factory):
    msd_source()
    return prepare_split(
        hippocampus, "validation", data_dir=DATA, workdir=tmp_path_factory.mktemp("volumes")
    )


def test_the_loader_reads_every_labelled_case_with_its_spacing():
    dataset = load_dataset("msd", MSD_PARAMS, msd_source().parent)
    assert len(dataset.case_ids) == 180 and dataset.volumetric
    first = dataset.case_ids.tolist().index("hippocampus_001")
    assert dataset.features[first].shape == dataset.labels[first].shape == (35, 51, 35)
    assert dataset.features[first].dtype == np.float32
    assert set(np.unique(dataset.labels[first]).tolist()) == {0, 1, 2}
    assert dataset.spacings.shape == (180, 3) and np.all(dataset.spacings == 1.0)
    # the recorded checksum covers every volume, so two copies that differ never match
    assert dataset.sha256 == load_dataset("msd", MSD_PARAMS, msd_source().parent).sha256


def _small_copy(folder: Path, cases: list[str]) -> Path:
    for part in ("imagesTr", "labelsTr"):
        (folder / part).mkdir(parents=True)
        for case in cases:
            shutil.copy(msd_source() / part / f"{case}.nii.gz", folder / part)
    return folder


def test_the_official_layout_is_read_and_macos_resource_files_are_skipped(tmp_path):
    folder = _small_copy(tmp_path / "Task04_Hippocampus", ["hippocampus_001", "hippocampus_003"])
    (folder / "imagesTr" / "._hippocampus_001.nii.gz").write_bytes(b"\x00\x05\x16\x07")
    dataset = load_dataset("msd", MSD_PARAMS, tmp_path)
    assert dataset.case_ids.tolist() == ["hippocampus_001", "hippocampus_003"]
    assert dataset.labels[1].dtype == np.uint8  # stored as float32 in the file


def test_a_case_without_its_label_map_is_named(tmp_path):
    folder = _small_copy(tmp_path / "Task04_Hippocampus", ["hippocampus_001", "hippocampus_003"])
    (folder / "labelsTr" / "hippocampus_003.nii.gz").unlink()
    with pytest.raises(DataError, match=r"lacks the label maps of \['hippocampus_003'\]"):
        load_dataset("msd", MSD_PARAMS, tmp_path)


def test_a_missing_msd_dataset_says_what_to_download_and_where(tmp_path):
    with pytest.raises(DataError) as caught:
        load_dataset("msd", MSD_PARAMS, tmp_path)
    message = str(caught.value)
    assert "msd-for-monai.s3-us-west-2.amazonaws.com/Task04_Hippocampus.tar" in message
    assert "imagesTr/ and labelsTr/" in message and "medgrade data fetch" in message


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_data_fetch_unpacks_the_msd_archive_whole(tmp_path, monkeypatch):
    from grader.data._fetch import fetch

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    source = msd_source()
    members = {
        f"Task04_Hippocampus/{part}/hippocampus_001.nii.gz": (
            source / part / "hippocampus_001.nii.gz"
        ).read_bytes()
        for part in ("imagesTr", "labelsTr")
    }
    _tar(mirror / "Task04_Hippocampus.tar", members)
    monkeypatch.setenv("MEDGRADE_DOWNLOAD_MIRROR", mirror.as_uri())
    data_dir = tmp_path / "data"
    written = fetch("msd", MSD_PARAMS, data_dir)
    assert written == [data_dir / "Task04_Hippocampus"]
    assert sorted(p.name for p in data_dir.iterdir()) == ["Task04_Hippocampus"]  # no tar left
    assert load_dataset("msd", MSD_PARAMS, data_dir).case_ids.tolist() == ["hippocampus_001"]
    assert fetch("msd", MSD_PARAMS, data_dir) == []  # already there


def test_data_fetch_refuses_an_archive_that_writes_outside_its_folder(tmp_path, monkeypatch):
    from grader.data._fetch import fetch

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _tar(mirror / "Task04_Hippocampus.tar", {"Task04_Hippocampus/a": b"1", "../escape": b"2"})
    monkeypatch.setenv("MEDGRADE_DOWNLOAD_MIRROR", mirror.as_uri())
    with pytest.raises(DataError, match="besides Task04_Hippocampus/"):
        fetch("msd", MSD_PARAMS, tmp_path / "data")
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "data" / "Task04_Hippocampus").exists()


def test_a_task_with_cases_recorded_ignores_further_cases_of_a_full_archive(hippocampus, tmp_path):
    from grader.journeys._validate import ValidationReport, _check_split

    recorded = [c for ids in hippocampus.split_manifest().case_ids.values() for c in ids]
    extra = tmp_path / "Task04_Hippocampus"
    shutil.copytree(msd_source(), extra)
    for part in ("imagesTr", "labelsTr"):  # a case of the full archive that is not recorded
        shutil.copy(
            extra / part / "hippocampus_001.nii.gz", extra / part / "hippocampus_999.nii.gz"
        )
    assert "hippocampus_999" not in recorded
    report = ValidationReport(hippocampus.id)
    _check_split(hippocampus, report, tmp_path)
    assert report.passed, report.checks


def _spec_with(hippocampus: Task, tmp_path: Path, **changes: object) -> Path:
    document = yaml.safe_load(hippocampus.spec_path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = document
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    folder = tmp_path / "task"
    folder.mkdir()
    shutil.copy(hippocampus.manifest_path, folder / hippocampus.manifest_path.name)
    (folder / "task.yaml").write_text(yaml.safe_dump(document))
    return folder / "task.yaml"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"output__structures": None}, "needs 'structures'"),
        ({"metrics": [{"name": "roc_auc"}]}, "do not score output kind 'label_map'"),
        ({"metrics": [{"name": "dice", "options": {"tolerance_mm": 2}}]}, "takes no option"),
        ({"split__stratify": True}, "set stratify: false"),
        ({"inputs__kind": "image"}, "goes with inputs kind 'volume'"),
    ],
)
def test_a_malformed_segmentation_spec_names_the_problem(hippocampus, tmp_path, changes, message):
    path = _spec_with(hippocampus, tmp_path, **changes)
    with pytest.raises(SpecError, match=message) as caught:
        load_task(str(path))
    assert str(path) in str(caught.value)


LABEL_MAP_SUBMISSIONS = {
    "wrong shape": (
        "return [np.zeros(c['image'].shape[:2], np.uint8) for c in inputs]",
        "wrong_shape",
        "has shape",
    ),
    "too few": ("return [np.zeros(inputs[0]['image'].shape, np.uint8)]", "wrong_shape", "1 label"),
    "probabilities": (
        "return [np.full(c['image'].shape, 0.5) for c in inputs]",
        "out_of_range",
        "fractional values",
    ),
    "unknown label": (
        "return [np.full(c['image'].shape, 7) for c in inputs]",
        "out_of_range",
        "labels [7]",
    ),
    "not numbers": ("return ['a' for c in inputs]", "invalid_output", "must return numbers"),
}


@pytest.mark.parametrize("case", sorted(LABEL_MAP_SUBMISSIONS))
def test_label_maps_that_break_the_contract_become_named_failures(
    case, validation_volumes, backend, make_submission
):
    body, kind, message = LABEL_MAP_SUBMISSIONS[case]
    folder = make_submission(
        f"""
        import numpy as np

        def load_model(artifacts_dir):
            return None

        def predict(model, inputs):
            {body}
        """
    )
    evaluation = evaluate(folder, student_id="s", prepared=validation_volumes, backend=backend)
    assert evaluation.failure is not None
    assert (evaluation.failure.kind, message in evaluation.failure.message) == (kind, True), (
        evaluation.failure
    )


def test_the_reference_label_maps_are_scored_per_structure_and_reported(
    hippocampus, validation_volumes, backend, tmp_path
):
    evaluation = evaluate(
        hippocampus.reference_dir(),
        student_id="reference",
        prepared=validation_volumes,
        backend=backend,
    )
    assert evaluation.status == "graded", evaluation.failure
    dice = evaluation.metrics["dice"]
    assert dice.value >= 0.8 and dice.ci_low < dice.value < dice.ci_high
    assert set(evaluation.metrics) == {
        "dice",
        "hausdorff95",
        "surface_dice",
        "relative_volume_error",
    }
    by_structure = {s.structure: s for s in evaluation.kind_results.structures}
    assert set(by_structure) == {1, 2, None}
    assert by_structure[None].results["dice"].value == pytest.approx(dice.value)
    assert all(s.n_cases == validation_volumes.n_cases for s in evaluation.kind_results.structures)
    assert evaluation.marks.total == evaluation.marks.max_points - 20  # the manual write-up
    html = write_report(evaluation, hippocampus, tmp_path, n_cases=36).read_text()
    assert 'id="structures"' in html and "1 anterior" in html and "2 posterior" in html
    # the self-check draws its three worst cases, the worst first
    worst = evaluation.kind_results.worst_cases
    assert len(worst) == 3 and worst[0].dice <= worst[1].dice <= worst[2].dice
    assert worst[0].dice < dice.value and 'id="worst-cases"' in html
    assert html.count("data:image/png;base64,") == 3
    assert evaluation.to_dict()["structures"][0]["structure"] == 1


def test_the_hidden_test_split_never_draws_a_case(hippocampus, backend, tmp_path):
    msd_source()
    prepared = prepare_split(hippocampus, "test", data_dir=DATA, workdir=tmp_path)
    evaluation = evaluate(
        hippocampus.reference_dir(), student_id="reference", prepared=prepared, backend=backend
    )
    assert evaluation.status == "graded" and evaluation.kind_results.worst_cases == ()
    html = write_report(evaluation, hippocampus, tmp_path / "reports", n_cases=36).read_text()
    assert 'id="structures"' in html and "worst-cases" not in html
    assert "data:image/png" not in html


def test_inputs_reach_the_sandbox_without_the_label_maps(validation_volumes):
    files = sorted(p.name for p in validation_volumes.input_dir.iterdir())
    assert files == ["inputs.npz", "manifest.json"]
    with np.load(validation_volumes.input_dir / "inputs.npz", allow_pickle=False) as archive:
        assert not [key for key in archive.files if key.startswith("label")]
        assert archive["spacings_mm"].shape == (36, 3)
        assert archive["image_00000"].shape == validation_volumes.labels[0].shape


def test_the_student_bundle_holds_volumes_with_labels_and_a_working_starter(
    hippocampus, validation_volumes, backend, tmp_path
):
    from grader.bundle import export_student_bundle

    out = tmp_path / "bundle"
    export_student_bundle(hippocampus, out, data_dir=DATA)
    with np.load(out / "data" / "train.npz", allow_pickle=False) as train:
        assert len(train["case_ids"]) == 108
        assert train["image_00000"].shape == train["label_00000"].shape
    assert "`label_00000`" in (out / "README.md").read_text()
    evaluation = evaluate(
        out / "starter", student_id="starter", prepared=validation_volumes, backend=backend
    )
    assert evaluation.status == "graded" and evaluation.marks.total == 0
    assert evaluation.metrics["dice"].value == 0
