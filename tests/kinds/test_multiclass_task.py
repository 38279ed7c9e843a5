"""retinamnist-grade end to end: RGB images in, one row of class probabilities per case out.

The contract checks and the spec errors run without data.  RetinaMNIST is not part of
the project; the tests that grade on it read it from ``$MEDGRADE_DATA`` or
``../shared/data`` and skip with the reason when it is absent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from grader.data import load_dataset
from grader.data._medmnist import medmnist_downloads
from grader.errors import SpecError
from grader.evaluation import PreparedSplit, evaluate, prepare_split
from grader.kinds import InvalidOutput, read_rows
from grader.kinds.outputs.class_probabilities import check_class_probabilities
from grader.report import write_report
from grader.store import decode_evaluation, encode_evaluation
from grader.tasks import Task, load_task
from tests.conftest import replaying
from tests.report.test_report import BROWSER, launch_browser, open_in_browser
from tests.tasks.test_task_catalog import DATA

TASK_ID = "retinamnist-grade"
GRADES = ["no DR", "mild NPDR", "moderate NPDR", "severe NPDR", "proliferative DR"]


def retinamnist_data() -> Path:
    if DATA is None or not (DATA / "retinamnist").is_dir():
        pytest.skip("retinamnist is not on this machine (set MEDGRADE_DATA)")
    return DATA


@pytest.fixture(scope="module")
def retina() -> Task:
    return load_task(TASK_ID)


@pytest.fixture(scope="module")
def validation_images(retina: Task, tmp_path_factory: pytest.TempPathFactory) -> PreparedSplit:
    data_dir = retinamnist_data()
    workdir = tmp_path_factory.mktemp("retina")
    return prepare_split(retina, "validation", data_dir=data_dir, workdir=workdir)


@pytest.fixture(scope="module")
def test_images(retina: Task, tmp_path_factory: pytest.TempPathFactory) -> PreparedSplit:
    data_dir = retinamnist_data()
    workdir = tmp_path_factory.mktemp("retina-test")
    return prepare_split(retina, "test", data_dir=data_dir, workdir=workdir)


# --- The contract, on the host --------------------------------------------------------------


def softmax_rows(n: int, k: int = 5, seed: int = 0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(n, k))
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def with_case(array: np.ndarray, case: int, row: list[float]) -> np.ndarray:
    array = array.copy()
    array[case] = row
    return array


CONTRACT_BREAKS = {
    "the grade, not probabilities": (
        np.zeros(6),
        "wrong_shape",
        "shape (6,); expected (6, 5)",
    ),
    "too few columns": (softmax_rows(6, k=4), "wrong_shape", "4 columns for the task's 5"),
    "too few rows": (softmax_rows(5), "wrong_shape", "5 rows for 6 cases"),
    "NaN": (
        with_case(softmax_rows(6), 3, [np.nan, 0.5, 0.5, 0, 0]),
        "non_finite",
        "first: case 3",
    ),
    "logits": (
        with_case(softmax_rows(6), 4, [2.5, -1.0, 0.3, 0.1, -2.0]),
        "out_of_range",
        "worst: case 4",
    ),
    "rows not summing to 1": (
        with_case(softmax_rows(6), 2, [0.9, 0.5, 0.1, 0.1, 0.1]),
        "out_of_range",
        "do not sum to 1 within 1e-06 (worst: case 2",
    ),
}


@pytest.mark.parametrize("case", sorted(CONTRACT_BREAKS))
def test_each_broken_probability_matrix_is_a_named_failure(retina, case):
    array, kind, message = CONTRACT_BREAKS[case]
    with pytest.raises(InvalidOutput) as caught:
        check_class_probabilities(array, retina.spec.output, 6)
    assert (caught.value.kind, message in str(caught.value)) == (kind, True), str(caught.value)


def test_probabilities_are_never_renormalised_or_softmaxed(retina):
    almost = softmax_rows(6)
    almost[0] *= 1 + 5e-7  # within the stated tolerance: accepted as it is
    accepted = check_class_probabilities(almost.astype(np.float32), retina.spec.output, 6)
    assert accepted.dtype == np.float64 and accepted.shape == (6, 5)
    np.testing.assert_allclose(accepted, almost.astype(np.float32), rtol=0)
    one_hot = np.eye(5, dtype=np.int64)[[0, 1, 2, 3, 4, 0]]  # certainties are probabilities
    assert check_class_probabilities(one_hot, retina.spec.output, 6).tolist() == one_hot.tolist()


def test_a_predictions_file_with_a_third_dimension_is_refused(retina, tmp_path):
    np.save(tmp_path / "predictions.npy", np.full((6, 5, 1), 0.2))
    with pytest.raises(InvalidOutput) as caught:
        read_rows(tmp_path, 6)
    assert caught.value.kind == "wrong_shape"


def test_the_contract_tells_the_student_the_columns_and_the_tolerance(retina):
    described = retina.spec.output.describe()
    assert "shape (n_cases, 5)" in described and "0 no DR" in described
    assert "4 proliferative DR" in described and "within 1e-06" in described


# --- The task spec ---------------------------------------------------------------------------


def spec_variant(retina: Task, tmp_path: Path, edit) -> Path:
    document = yaml.safe_load(retina.spec_path.read_text())
    edit(document)
    folder = tmp_path / TASK_ID
    folder.mkdir()
    shutil.copy(retina.manifest_path, folder / retina.manifest_path.name)
    (folder / "task.yaml").write_text(yaml.safe_dump(document))
    return folder / "task.yaml"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s["output"].pop("classes"),
            "output: kind 'class_probabilities' needs 'classes'",
        ),
        (
            lambda s: s["output"].update(classes={1: "mild", 2: "moderate"}),
            "output: classes: the labels must be 0..K-1 with K >= 2",
        ),
        (
            lambda s: s["output"].update(threshold=0.3),
            "output: 'threshold' is for kind 'binary_probability'",
        ),
        (
            lambda s: s["metrics"].append({"name": "roc_auc"}),
            "metrics: ['roc_auc'] do not score output kind 'class_probabilities'",
        ),
        (
            lambda s: s["metrics"].append({"name": "brier_score"}),
            "it takes ['macro_roc_auc', 'micro_roc_auc', 'accuracy', 'balanced_accuracy'",
        ),
        (
            lambda s: s["output"].update(ordinal=False),
            "metrics: quadratic_weighted_kappa weighs a miss by its distance in grades",
        ),
        (
            lambda s: s["metrics"].__setitem__(
                0, {"name": "macro_f1", "options": {"n_classes": 5}}
            ),
            "metric 'macro_f1' takes no option(s) ['n_classes']",
        ),
        (
            lambda s: s["metrics"].append({"name": "qwk"}),
            "unknown metric (did you mean 'quadratic_weighted_kappa'?)",
        ),
        (
            lambda s: s.update(subgroups=["sex"]),
            "subgroups: subgroup reports are for binary outputs only, not 'class_probabilities'",
        ),
        (
            lambda s: s["inputs"].update(kind="volume"),
            "inputs kind 'volume' goes with output kind 'label_map'",
        ),
    ],
    ids=[
        "no-classes",
        "classes-not-from-0",
        "threshold",
        "binary-metric",
        "lists-what-it-takes",
        "kappa-unordered",
        "task-filled-option",
        "alias",
        "subgroups",
        "volume-inputs",
    ],
)
def test_a_malformed_multiclass_spec_names_the_file_and_the_field(retina, tmp_path, edit, message):
    path = spec_variant(retina, tmp_path, edit)
    with pytest.raises(SpecError) as caught:
        load_task(str(path))
    assert str(caught.value).startswith(f"{path}:")
    assert message in str(caught.value)


def test_a_binary_task_refuses_classes_and_multiclass_metrics(tmp_path):
    bundled = load_task("breast-cancer-wdbc")
    for edit, message in [
        (
            lambda s: s["output"].update(classes={0: "benign", 1: "malignant"}),
            "output: 'classes' is for kind 'class_probabilities', not 'binary_probability'",
        ),
        (
            lambda s: s["metrics"].append({"name": "macro_roc_auc"}),
            "metrics: ['macro_roc_auc'] do not score output kind 'binary_probability'",
        ),
    ]:
        document = yaml.safe_load(bundled.spec_path.read_text())
        edit(document)
        folder = tmp_path / f"variant-{len(message)}" / "breast-cancer-wdbc"
        shutil.copytree(bundled.folder, folder)
        (folder / "task.yaml").write_text(yaml.safe_dump(document))
        with pytest.raises(SpecError) as caught:
            load_task(folder)
        assert str(caught.value).startswith(str(folder / "task.yaml"))
        assert message in str(caught.value)


# --- The data --------------------------------------------------------------------------------


def test_the_loader_keeps_the_five_grades_and_the_official_split():
    dataset = load_dataset("medmnist", {"flag": "retinamnist"}, retinamnist_data())
    assert dataset.features.shape == (1600, 28, 28, 3) and dataset.features.dtype == np.uint8
    counts = {
        split: np.bincount(dataset.labels[dataset.official_split == split], minlength=5).tolist()
        for split in ("train", "validation", "test")
    }
    # The counts PROVENANCE.md records for the official file.
    assert counts == {
        "train": [486, 128, 206, 194, 66],
        "validation": [54, 12, 28, 20, 6],
        "test": [174, 46, 92, 68, 20],
    }


def test_data_fetch_knows_where_retinamnist_lives(retina):
    (download,) = medmnist_downloads(**retina.spec.dataset.params)
    assert download.path == "retinamnist/retinamnist.npz"
    assert download.url.startswith("https://zenodo.org/records/10519652/files/retinamnist.npz")


def test_inputs_reach_the_sandbox_without_the_grades(validation_images):
    files = sorted(p.name for p in validation_images.input_dir.iterdir())
    assert files == ["inputs.npy", "manifest.json"]
    inputs = np.load(validation_images.input_dir / "inputs.npy", allow_pickle=False)
    assert inputs.shape == (120, 28, 28, 3) and inputs.dtype == np.uint8
    manifest = json.loads((validation_images.input_dir / "manifest.json").read_text())
    assert set(manifest) == {"task", "task_version", "split", "input", "output", "batch_size"}
    assert set(manifest["input"]) == {"kind", "layout", "file", "feature_names"}
    assert manifest["input"]["layout"] == "array"
    assert manifest["output"] == {"kind": "class_probabilities", "layout": "rows"}
    assert validation_images.labels.shape == (120,)


# --- Grading through the sandbox -------------------------------------------------------------


SANDBOX_BREAKS = {
    "predicted grade": ("return np.zeros(len(inputs))", "wrong_shape", "not the predicted class"),
    "one row short": ("return np.full((len(inputs) - 1, 5), 0.2)", "wrong_shape", "for a batch"),
    "sigmoid per class": (
        "return np.full((len(inputs), 5), 0.5)",
        "out_of_range",
        "do not sum to 1",
    ),
    "logits": ("return np.full((len(inputs), 5), -1.0)", "out_of_range", "outside [0, 1]"),
    "NaN": ("return np.full((len(inputs), 5), np.nan)", "non_finite", "case 0"),
}


@pytest.mark.parametrize("case", sorted(SANDBOX_BREAKS))
def test_a_submission_breaking_the_contract_fails_with_its_name(
    case, validation_images, backend, make_submission
):
    body, kind, message = SANDBOX_BREAKS[case]
    folder = make_submission(
        f"""
        import numpy as np

        def load_model(artifacts_dir):
            return None

        def predict(model, inputs):
            {body}
        """
    )
    evaluation = evaluate(folder, student_id="s", prepared=validation_images, backend=backend)
    assert evaluation.failure is not None
    assert (evaluation.failure.kind, message in evaluation.failure.message) == (kind, True), (
        evaluation.failure
    )
    assert evaluation.marks.total == 0


@pytest.fixture(scope="module")
def reference_on_validation(retina, validation_images, backend):
    return evaluate(
        retina.reference_dir(), student_id="reference", prepared=validation_images, backend=backend
    )


def test_the_reference_is_scored_per_class_with_intervals(retina, reference_on_validation):
    evaluation = reference_on_validation
    assert evaluation.status == "graded", evaluation.failure
    assert set(evaluation.metrics) == {
        "quadratic_weighted_kappa",
        "macro_roc_auc",
        "micro_roc_auc",
        "balanced_accuracy",
        "macro_f1",
    }
    for result in evaluation.metrics.values():
        assert result.ci_low < result.value < result.ci_high
        assert "stratified bootstrap" in result.method and result.n == 120
    summary = evaluation.kind_results
    assert [row.name for row in summary.rows] == GRADES
    assert [row.n_cases for row in summary.rows] == [54, 12, 28, 20, 6]
    assert sum(row.n_predicted for row in summary.rows) == 120
    assert sum(sum(row) for row in summary.confusion) == 120  # a self-check shows every cell
    assert all(row.roc_auc.defined and row.sensitivity.ci_low is not None for row in summary.rows)
    assert evaluation.marks.total == evaluation.marks.max_points - 20  # the manual write-up
    assert evaluation.to_dict()["classes"]["classes"][4]["name"] == "proliferative DR"


def test_a_stored_multiclass_evaluation_reads_back_whole(reference_on_validation):
    document = encode_evaluation(reference_on_validation)
    assert decode_evaluation(document) == reference_on_validation


def test_the_report_shows_the_classes_and_the_confusion_matrix(
    retina, reference_on_validation, tmp_path
):
    path = write_report(reference_on_validation, retina, tmp_path, n_cases=120)
    html = path.read_text()
    assert 'id="classes"' in html and 'id="confusion"' in html
    assert "4 proliferative DR" in html and "Quadratic weighted kappa (QWK)" in html
    assert "a miss by more grades" in html  # the classes are ordered grades
    assert "<svg" not in html  # no binary ROC or calibration charts


def test_the_hidden_split_hides_rarely_predicted_columns_of_the_confusion_matrix(
    retina, test_images, backend, make_submission, tmp_path
):
    # Grade 4 for three images only: that column's cells would tell their three grades.
    folder = make_submission(
        """
        import numpy as np

        def load_model(artifacts_dir):
            return None

        def predict(model, inputs):
            probabilities = np.tile([0.6, 0.1, 0.1, 0.1, 0.1], (len(inputs), 1))
            probabilities[:3] = [0.1, 0.1, 0.1, 0.1, 0.6]
            return probabilities
        """
    )
    evaluation = evaluate(folder, student_id="s", prepared=test_images, backend=backend)
    assert evaluation.status == "graded", evaluation.failure
    summary = evaluation.kind_results
    assert summary.min_predicted_shown == 10
    assert [row.n_predicted for row in summary.rows] == [397, 0, 0, 0, 3]
    # Never-predicted columns are zeros, which tell nothing; grade 4's column is hidden.
    assert [row[4] for row in summary.confusion] == [None] * 5
    assert [row[1:4] for row in summary.confusion] == [(0, 0, 0)] * 5
    assert sum(row[0] for row in summary.confusion) == 397
    html = write_report(evaluation, retina, tmp_path, n_cases=400).read_text()
    assert "fewer than 10 cases is not shown" in html and html.count("\u2014</td>") == 5
    assert not any(case_id in html for case_id in test_images.case_ids)


def test_the_null_model_earns_nothing(retina, validation_images, backend, tmp_path):
    from grader.journeys._validate import _make_null_submission

    folder = _make_null_submission(retina, tmp_path / "null", DATA)
    evaluation = evaluate(folder, student_id="null", prepared=validation_images, backend=backend)
    assert evaluation.status == "graded", evaluation.failure
    assert evaluation.metrics["quadratic_weighted_kappa"].value == 0
    assert evaluation.metrics["macro_roc_auc"].value == 0.5
    assert evaluation.metrics["balanced_accuracy"].value == pytest.approx(0.2)
    assert evaluation.marks.total == 0


def test_the_student_bundle_has_the_grades_and_a_working_starter(
    retina, validation_images, backend, tmp_path
):
    from grader.bundle import export_student_bundle

    out = tmp_path / "bundle"
    export_student_bundle(retina, out, data_dir=DATA)
    test_ids = set(retina.split_manifest().case_ids["test"])
    with np.load(out / "data" / "train.npz", allow_pickle=False) as train:
        assert train["inputs"].shape == (1080, 28, 28, 3)
        assert set(train["labels"].tolist()) == {0, 1, 2, 3, 4}
        assert not test_ids & set(train["case_ids"].tolist())
    readme = (out / "README.md").read_text()
    assert "(the class of each case: 0 no DR, 1 mild NPDR" in readme
    evaluation = evaluate(
        out / "starter", student_id="starter", prepared=validation_images, backend=backend
    )
    assert evaluation.status == "graded", evaluation.failure
    assert evaluation.marks.total == 0


@pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed (apt-get install chromium)")
def test_the_report_renders_in_a_real_browser_without_console_errors(
    retina, reference_on_validation, tmp_path
):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = write_report(reference_on_validation, retina, tmp_path, n_cases=120)
    with playwright.sync_playwright() as driver:
        browser = launch_browser(driver)
        try:
            page, errors = open_in_browser(browser, path)
            assert errors == []
            assert page.locator("#classes").is_visible() and page.locator("#confusion").is_visible()
            assert page.locator("#confusion tbody tr").count() == 5
            assert page.locator("#confusion td.diagonal").count() == 5
        finally:
            browser.close()


def test_a_class_is_graded_resumed_and_summarised_from_the_store(retina, make_submission, tmp_path):
    from grader import journeys
    from grader.output import OutputFolder
    from grader.submission import Submission

    data_dir = retinamnist_data()
    broken = make_submission(
        """
        import numpy as np

        def load_model(artifacts_dir):
            return None

        def predict(model, inputs):
            return np.full((len(inputs), 5), 0.5)
        """
    )
    submissions = [
        Submission("reference", retina.reference_dir()),
        Submission("sums-to-2.5", broken),
    ]
    out = tmp_path / "grades"
    first = journeys.grade(submissions, retina, backend=replaying(), out=out, data_dir=data_dir)
    again = journeys.grade(submissions, retina, backend=replaying(), out=out, data_dir=data_dir)
    assert {e.student_id: e.marks.total for e in first.evaluations} == {
        "reference": 80,
        "sums-to-2.5": 0,
    }
    # The second batch reads every run back from the store, per-class summary included.
    assert set(again.reused) == {"reference", "sums-to-2.5"}
    assert [e.kind_results for e in again.evaluations] == [
        e.kind_results for e in first.evaluations
    ]
    gradebook = OutputFolder(out).gradebook.read_text()
    assert "sums-to-2.5,failed,out_of_range" in gradebook
    assert "Quadratic weighted kappa (QWK)" in (out / "dashboard.html").read_text()
