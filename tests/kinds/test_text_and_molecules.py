"""Clinical text and molecules: PubMedQA-L and Tox21, their loaders, splits, kinds and reports.

On the real files from ``$MEDGRADE_DATA`` (skipped where absent): PubMedQA's official test set
and cross-validation folds, Tox21's scaffold split, text inputs that never carry the answer,
a molecule a submission cannot parse, and the worst-predicted scaffolds of a self-check.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from grader.bundle import export_student_bundle
from grader.data import Dataset, load_dataset, make_split
from grader.data._fetch import fetch
from grader.errors import DataError
from grader.evaluation import evaluate, prepare_split
from grader.kinds import LabelSummary, output_kind
from grader.report import render_report
from grader.tasks import load_task, recompute_split
from grader.tasks.spec import SplitSpec
from sandbox import LocalBackend
from tests.conftest import DATA, REPO

#: PubMedQA's task, kept among the test fixtures until its reference beats the majority floor.
PUBMEDQA_TASK = REPO / "tests" / "fixtures" / "tasks" / "pubmedqa-reasoning"


def _data(folder: str, *files: str) -> Path:
    if DATA is None or not all((DATA / folder / name).is_file() for name in files):
        pytest.skip(f"{folder} is not on this machine (set MEDGRADE_DATA to a folder holding it)")
    return DATA


@pytest.fixture(scope="module")
def pubmedqa_data() -> Path:
    return _data("pubmedqa", "ori_pqal.json", "test_ground_truth.json")


@pytest.fixture(scope="module")
def tox21_data() -> Path:
    pytest.importorskip("rdkit")
    return _data("tox21", "tox21.csv")


@pytest.fixture(scope="module")
def tox21_dataset(tox21_data: Path) -> Dataset:
    return load_dataset("tox21", {}, tox21_data)


# -- the scaffold split ---------------------------------------------------------------------


def test_the_scaffold_split_puts_whole_groups_largest_first_into_train_then_validation():
    # 15 cases in groups of 5, 3, 3, 2, 1, 1; train may hold 9, train and validation 12.
    # Train takes the 5 and a 3 (8), the other 3 overflows train and goes to validation
    # (11), the 2 fits neither (test), a singleton fills train (9), the other goes to test.
    # Ties between equal sizes go to the later first case first, as DeepChem's and Hu et
    # al.'s splitters sort them.
    groups = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 2 + ["e", "f"])
    order = np.random.default_rng(0).permutation(len(groups))
    dataset = Dataset(
        name="toy",
        case_ids=np.array([f"m{i:02d}" for i in range(len(groups))]),
        features=np.array(["C"] * len(groups)),
        feature_names=("smiles",),
        labels=np.zeros(len(groups)),
        attributes={"scaffold": groups[order]},
    )
    spec = SplitSpec(
        strategy="scaffold",
        group_key="scaffold",
        fractions={"train": 0.6, "validation": 0.2, "test": 0.2},
    )
    manifest = make_split(dataset, spec)
    by_split = {
        name: sorted(set(groups[order][dataset.rows(ids)].tolist()))
        for name, ids in manifest.case_ids.items()
    }
    first = {g: int(np.flatnonzero(groups[order] == g)[0]) for g in "bcef"}
    later_three, earlier_three = sorted("bc", key=first.__getitem__, reverse=True)
    later_one, earlier_one = sorted("ef", key=first.__getitem__, reverse=True)
    assert by_split["train"] == sorted(["a", later_three, later_one])
    assert by_split["validation"] == [earlier_three]
    assert by_split["test"] == sorted(["d", earlier_one])
    assert make_split(dataset, spec) == manifest  # no seed, no shuffle: the same every time


def test_a_scaffold_split_needs_its_group_key():
    with pytest.raises(ValueError, match="strategy 'scaffold' needs 'group_key'"):
        SplitSpec(strategy="scaffold", fractions={"train": 0.8, "validation": 0.1, "test": 0.1})


def test_tox21s_scaffold_split_puts_no_scaffold_in_two_splits(tox21_dataset, tox21_data):
    task = load_task("tox21-toxicity")
    manifest = task.split_manifest()
    assert recompute_split(task, tox21_data) == manifest  # the recorded split is the spec's
    assert {name: len(ids) for name, ids in manifest.case_ids.items()} == {
        "train": 6264,  # as in Hu et al.'s and MoleculeNet's scaffold split of Tox21
        "validation": 783,
        "test": 784,
    }
    scaffolds = tox21_dataset.attribute("scaffold")
    owner: dict[str, set[str]] = {}
    for name, ids in manifest.case_ids.items():
        for scaffold in scaffolds[tox21_dataset.rows(ids)].tolist():
            owner.setdefault(scaffold, set()).add(name)
    assert len(owner) > 2000 and all(len(splits) == 1 for splits in owner.values())
    assert owner[""] == {"train"}  # the acyclic molecules: the largest group


def test_tox21_gives_smiles_and_masks_the_assays_it_did_not_run(tox21_dataset):
    assert tox21_dataset.features.dtype.kind == "U" and tox21_dataset.features.shape == (7831,)
    labels = tox21_dataset.labels
    assert labels.shape == (7831, 12)
    assert np.isnan(labels).mean() == pytest.approx(1 - 0.829, abs=0.001)  # PROVENANCE.md
    assert int(np.nansum(labels[:, 0])) == 309 and int((~np.isnan(labels[:, 0])).sum()) == 7265


# -- PubMedQA --------------------------------------------------------------------------------


def test_pubmedqa_grades_on_the_official_test_set_and_validates_on_two_official_folds(
    pubmedqa_data,
):
    dataset = load_dataset("pubmedqa", {"validation_folds": [0, 1]}, pubmedqa_data)
    official = json.loads((pubmedqa_data / "pubmedqa" / "test_ground_truth.json").read_text())
    manifest = load_task(PUBMEDQA_TASK).split_manifest()
    assert {c.removeprefix("pmid-") for c in manifest.case_ids["test"]} == set(official)
    assert [len(manifest.case_ids[s]) for s in ("train", "validation", "test")] == [400, 100, 500]
    rows = dataset.rows(manifest.case_ids["test"])
    assert np.bincount(dataset.labels[rows]).tolist() == [276, 169, 55]  # yes, no, maybe
    # The script's ten folds of 50: folds 0 and 1 validate; another choice is another split.
    other = load_dataset("pubmedqa", {"validation_folds": [9]}, pubmedqa_data)
    assert int((other.official_split == "validation").sum()) == 50
    assert set(other.case_ids[other.official_split == "test"]) == set(manifest.case_ids["test"])
    with pytest.raises(DataError, match="validation_folds must be fold numbers 0-9"):
        load_dataset("pubmedqa", {"validation_folds": [10]}, pubmedqa_data)


def test_text_inputs_never_hold_the_long_answer_or_the_decision(pubmedqa_data, tmp_path):
    task = load_task(PUBMEDQA_TASK)
    originals = json.loads((pubmedqa_data / "pubmedqa" / "ori_pqal.json").read_text())
    for split in ("validation", "test"):
        prepared = prepare_split(task, split, data_dir=pubmedqa_data, workdir=tmp_path)
        sandbox_text = "\n".join(
            path.read_text(encoding="utf-8") for path in prepared.input_dir.iterdir()
        )
        records = json.loads((prepared.input_dir / prepared.inputs_file).read_text())
        assert len(records) == prepared.n_cases
        for case_id, record in zip(prepared.case_ids, records, strict=True):
            original = originals[case_id.removeprefix("pmid-")]
            assert set(record) == {"question", "contexts", "context_labels"}
            assert record["question"] == original["QUESTION"]
            assert record["contexts"] == original["CONTEXTS"]
            assert original["LONG_ANSWER"] not in sandbox_text
        for leak in ("LONG_ANSWER", "final_decision", "reasoning_required_pred", "MESHES"):
            assert leak not in sandbox_text


TEXT_SUBMISSION = """
import numpy as np


def load_model(artifacts_dir):
    return None


def predict(model, inputs):
    assert isinstance(inputs, list) and all(isinstance(case, dict) for case in inputs)
    rows = []
    for case in inputs:
        text = " ".join(case["contexts"]).lower()
        # "no significant" evidence answers no; anything else yes, and never maybe.
        rows.append([0.2, 0.7, 0.1] if "no significant" in text else [0.7, 0.2, 0.1])
    return np.array(rows)
"""


def test_a_text_submission_reads_dicts_and_is_scored_by_accuracy_and_macro_f1(
    pubmedqa_data, tmp_path, make_submission
):
    task = load_task(PUBMEDQA_TASK)
    prepared = prepare_split(task, "validation", data_dir=pubmedqa_data, workdir=tmp_path)
    folder = make_submission(TEXT_SUBMISSION)
    evaluation = evaluate(folder, student_id="s", prepared=prepared, backend=LocalBackend())
    assert evaluation.status == "graded", evaluation.failure
    records = json.loads((prepared.input_dir / prepared.inputs_file).read_text())
    predicted = [1 if "no significant" in " ".join(r["contexts"]).lower() else 0 for r in records]
    accuracy = evaluation.metrics["accuracy"]
    assert accuracy.value == pytest.approx(accuracy_score(prepared.labels, predicted))
    assert accuracy.ci_low < accuracy.value < accuracy.ci_high
    expected_f1 = f1_score(prepared.labels, predicted, average="macro", labels=[0, 1, 2])
    assert evaluation.metrics["macro_f1"].value == pytest.approx(expected_f1)
    html = render_report(evaluation, task, n_cases=prepared.n_cases)
    assert all(f"<td>{k} {name}</td>" in html for k, name in enumerate(["yes", "no", "maybe"]))


def test_a_submission_over_the_tasks_size_limit_fails_before_it_runs(
    pubmedqa_data, tmp_path, make_submission
):
    task = load_task(PUBMEDQA_TASK)
    assert task.spec.limits.submission_mb == 500
    prepared = prepare_split(task, "validation", data_dir=pubmedqa_data, workdir=tmp_path)
    folder = make_submission(TEXT_SUBMISSION)
    with (folder / "model.safetensors").open("wb") as weights:
        weights.truncate(501 * 2**20)  # sparse: a 501 MiB file that takes no disk
    evaluation = evaluate(folder, student_id="s", prepared=prepared, backend=LocalBackend())
    assert evaluation.status == "failed" and evaluation.failure is not None
    assert evaluation.failure.kind == "invalid_submission"
    assert "exceed the 500 MiB it may have" in evaluation.failure.message
    assert evaluation.run is None  # refused before a sandbox started


# -- molecules -------------------------------------------------------------------------------


def test_the_tox21_reference_shows_its_worst_scaffolds_on_a_self_check_only(tox21_data, tmp_path):
    task = load_task("tox21-toxicity")
    shown = {}
    for split in ("validation", "test"):
        prepared = prepare_split(task, split, data_dir=tox21_data, workdir=tmp_path)
        evaluation = evaluate(
            task.reference_dir(), student_id="reference", prepared=prepared, backend=LocalBackend()
        )
        assert evaluation.status == "graded", evaluation.failure
        summary = evaluation.kind_results
        assert isinstance(summary, LabelSummary)
        shown[split] = (summary, render_report(evaluation, task, n_cases=prepared.n_cases))
    summary, html = shown["validation"]
    assert summary.group_key == "scaffold" and len(summary.worst_groups) == 10
    losses = [group.mean_log_loss for group in summary.worst_groups]
    assert losses == sorted(losses, reverse=True) and losses[-1] > 0
    # A scaffold split validates on the rarest scaffolds: most are one molecule each.
    assert sum(g.n_cases for g in summary.worst_groups) < 20
    assert 'id="worst-groups"' in html and summary.worst_groups[0].group in html
    hidden, hidden_html = shown["test"]
    assert hidden.worst_groups == () and 'id="worst-groups"' not in hidden_html


def test_predictions_where_an_assay_was_not_run_are_not_scored(tox21_data, tmp_path):
    task = load_task("tox21-toxicity")
    prepared = prepare_split(task, "validation", data_dir=tox21_data, workdir=tmp_path)
    missing = np.isnan(prepared.labels)
    rng = np.random.default_rng(0)
    predictions = rng.random(prepared.labels.shape)
    changed = np.where(missing, 1 - predictions, predictions)  # only the unscored cells differ
    kind = output_kind("multilabel_probabilities")
    first, second = kind.score(prepared, predictions), kind.score(prepared, changed)
    assert missing.any()
    assert {n: r.value for n, r in first.metrics.items()} == {
        n: r.value for n, r in second.metrics.items()
    }


def unparseable_molecules(*, data_dir: Path | None) -> Dataset:
    """Five molecules, one of them a SMILES no chemistry toolkit parses (an unclosed ring),
    which the dataset's own split puts in validation."""
    del data_dir
    return Dataset(
        name="five molecules",
        case_ids=np.array([f"m{i}" for i in range(5)]),
        features=np.array(["CCO", "c1ccccc1O", "C1CC", "CC(=O)O", "CCN"]),
        feature_names=("smiles",),
        labels=np.array([[0.0, 1.0], [1.0, np.nan], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]),
        official_split=np.array(["train", "validation", "validation", "validation", "test"]),
    )


def test_a_smiles_the_submission_cannot_parse_is_its_graded_failure(
    tmp_path, make_submission, monkeypatch
):
    pytest.importorskip("rdkit")
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent.parent))
    folder = tmp_path / "five-molecules"
    folder.mkdir()
    (folder / "task.yaml").write_text(
        json.dumps(
            {
                "id": "five-molecules",
                "version": "1",
                "title": "Five molecules",
                "description": "Two assays of five molecules.",
                "dataset": {
                    "loader": f"{__name__}:unparseable_molecules",
                    "licence": "test data",
                    "citation": "none",
                },
                "split": {"strategy": "official"},
                "inputs": {"kind": "molecules", "description": "SMILES strings"},
                "output": {"kind": "multilabel_probabilities", "labels": ["A", "B"]},
                "metrics": [{"name": "mean_roc_auc"}],
                "limits": {"cpu_time_s": 20, "memory_mb": 2048},
                "rubric": "rubric.yaml",
                "reference": {"path": "careful", "train_command": "none: it learns nothing"},
            }
        )
    )  # fmt: skip
    (folder / "rubric.yaml").write_text(
        json.dumps({"name": "five", "title": "Five", "criteria": [
            {"kind": "automatic", "id": "auc", "title": "AUC", "points": 1,
             "metric": "mean_roc_auc", "scale": {"type": "linear", "floor": 0.5, "target": 1}}]})
    )  # fmt: skip
    (folder / "careful").mkdir()
    task = load_task(folder)
    recompute_split(task, None).write(task.manifest_path)
    task = load_task(folder)
    every = prepare_split(task, "validation", data_dir=None, workdir=tmp_path / "work")
    assert np.load(every.input_dir / every.inputs_file).tolist() == ["c1ccccc1O", "C1CC", "CC(=O)O"]
    careless = make_submission(
        """
        import numpy as np
        from rdkit import Chem


        def load_model(artifacts_dir):
            return None


        def predict(model, inputs):
            atoms = [Chem.MolFromSmiles(str(s)).GetNumAtoms() for s in inputs]
            return np.tile(np.clip(np.array(atoms)[:, None] / 10, 0, 1), (1, 2))
        """,
        name="careless",
    )
    careful = make_submission(
        """
        import numpy as np
        from rdkit import Chem


        def load_model(artifacts_dir):
            return None


        def predict(model, inputs):
            molecules = [Chem.MolFromSmiles(str(s)) for s in inputs]
            atoms = [m.GetNumAtoms() if m is not None else 5 for m in molecules]
            return np.tile(np.clip(np.array(atoms)[:, None] / 10, 0, 1), (1, 2))
        """,
        name="careful",
    )
    failed = evaluate(careless, student_id="careless", prepared=every, backend=LocalBackend())
    assert failed.status == "failed" and failed.failure is not None
    assert failed.failure.kind == "crashed"
    assert failed.failure.message.startswith("AttributeError while")
    assert "GetNumAtoms" in failed.failure.message
    graded = evaluate(careful, student_id="careful", prepared=every, backend=LocalBackend())
    assert graded.status == "graded", graded.failure


# -- the student bundle and data fetch ------------------------------------------------------


@pytest.mark.parametrize(
    ("task_id", "data"), [(PUBMEDQA_TASK, "pubmedqa_data"), ("tox21-toxicity", "tox21_data")]
)
def test_the_bundle_holds_the_inputs_predict_gets_and_a_starter_that_self_checks(
    task_id, data, request, tmp_path
):
    data_dir = request.getfixturevalue(data)
    task = load_task(task_id)
    export_student_bundle(task, tmp_path / "bundle", data_dir=data_dir)
    with np.load(tmp_path / "bundle" / "data" / "validation.npz", allow_pickle=False) as archive:
        inputs, labels = archive["inputs"], archive["labels"]
    assert inputs.dtype.kind == "U" and len(inputs) == len(labels)
    if task.id == "pubmedqa-reasoning":
        assert set(json.loads(str(inputs[0]))) == {"question", "contexts", "context_labels"}
        assert not (tmp_path / "bundle" / "data" / "test.npz").exists()
    readme = (tmp_path / "bundle" / "README.md").read_text()
    assert f"at most\n{task.spec.limits.submission_mb} MiB for the whole submission" in readme
    from grader.bundle import bundle_dataset

    prepared = prepare_split(
        task,
        "validation",
        data_dir=None,
        workdir=tmp_path / "work",
        dataset=bundle_dataset(task, tmp_path / "bundle"),
    )
    evaluation = evaluate(
        tmp_path / "bundle" / "starter", student_id="s", prepared=prepared, backend=LocalBackend()
    )
    assert evaluation.status == "graded", evaluation.failure
    if task.id == "tox21-toxicity":  # the self-check from the bundle lists its worst scaffolds
        assert isinstance(evaluation.kind_results, LabelSummary)
        assert len(evaluation.kind_results.worst_groups) == 10


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    folder = tmp_path / "mirror"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_data_fetch_gets_pubmedqa_and_tox21_as_their_loaders_read_them(
    pubmedqa_data, tox21_data, tox21_dataset, mirror, tmp_path, monkeypatch
):
    folder, url = mirror
    shutil.copytree(pubmedqa_data / "pubmedqa", folder / "pubmedqa")
    (folder / "tox21").mkdir()
    csv = (tox21_data / "tox21" / "tox21.csv").read_bytes()
    (folder / "tox21" / "tox21.csv.gz").write_bytes(gzip.compress(csv))  # as DeepChem serves it
    monkeypatch.setenv("MEDGRADE_DOWNLOAD_MIRROR", url)
    target = tmp_path / "data"
    assert fetch("pubmedqa", {"validation_folds": [0, 1]}, target) == [
        target / "pubmedqa" / "ori_pqal.json",
        target / "pubmedqa" / "test_ground_truth.json",
    ]
    assert fetch("tox21", {}, target) == [target / "tox21" / "tox21.csv.gz"]
    assert load_dataset("tox21", {}, target).sha256 == tox21_dataset.sha256
    fetched = load_dataset("pubmedqa", {}, target)
    assert fetched.sha256 == load_dataset("pubmedqa", {}, pubmedqa_data).sha256
