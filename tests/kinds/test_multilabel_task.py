"""The ``multilabel_probabilities`` output kind, end to end on Tox21's twelve assays.

The task here is a course's own: a ``module:function`` loader (this module's) reads
MoleculeNet's Tox21 file and gives each molecule a few counts from its SMILES string as
features, with the twelve assays as labels (NaN where an assay was not run). A submission is
graded in the local sandbox, each assay scored on the molecules it was measured for.
"""

from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from grader.data import Dataset
from grader.evaluation import evaluate, prepare_split
from grader.journeys import validate_task
from grader.kinds import LabelSummary, output_kind
from grader.report import render_report
from grader.store import ResultStore
from grader.tasks import load_task, public_split, recompute_split
from sandbox import LocalBackend
from tests.conftest import DATA

ASSAYS = [
    "NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD", "NR-PPAR-gamma",
    "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53",
]  # fmt: skip
#: What each molecule's features count in its SMILES string.
TOKENS = ["C", "c", "N", "n", "O", "o", "S", "Cl", "F", "Br", "=", "#", "(", "[", "+"]


def tox21_counts(*, data_dir: Path | None, file: str = "tox21/tox21.csv") -> Dataset:
    """Tox21 (MoleculeNet): SMILES token counts and length as features, the twelve assays
    as labels (NaN where an assay was not run)."""
    import pandas as pd

    assert data_dir is not None
    frame = pd.read_csv(data_dir / file)
    smiles = frame["smiles"].astype(str)
    features = np.column_stack(
        [smiles.str.count(token.replace("[", r"\[").replace("(", r"\(").replace("+", r"\+"))
         for token in TOKENS] + [smiles.str.len()]
    ).astype(np.float64)  # fmt: skip
    return Dataset(
        name="tox21",
        case_ids=frame["mol_id"].to_numpy(dtype=str),
        features=features,
        feature_names=(*TOKENS, "length"),
        labels=frame[ASSAYS].to_numpy(dtype=np.float64),
        source_paths=(data_dir / file,),
    )


def _tox21_task(folder: Path) -> Path:
    folder.mkdir()
    spec = {
        "id": "tox21-counts",
        "version": "1",
        "title": "Toxicity on twelve Tox21 assays from SMILES counts",
        "description": "Predict each assay's outcome; a missing assay result is not scored.",
        "dataset": {
            "loader": f"{__name__}:tox21_counts",
            "licence": "MoleculeNet's Tox21 (Wu et al. 2018)",
            "citation": "Tox21 Data Challenge 2014; Wu Z et al., Chem Sci 2018",
        },
        "split": {
            "strategy": "stratified",
            "stratify": False,
            "seed": 3,
            "fractions": {"train": 0.8, "validation": 0.1, "test": 0.1},
        },
        "inputs": {"kind": "table", "description": "SMILES token counts and length"},
        "output": {"kind": "multilabel_probabilities", "labels": ASSAYS},
        "metrics": [{"name": "mean_roc_auc"}, {"name": "macro_average_precision"}],
        "limits": {"cpu_time_s": 20, "memory_mb": 2048, "cpus": 1, "gpu": False},
        "rubric": "rubric.yaml",
        # One logistic regression per assay, trained by this module (_submission).
        "reference": {"path": "reference", "train_command": "pytest tests/kinds"},
    }
    rubric = {
        "name": "tox21-counts",
        "title": "Tox21",
        "criteria": [
            {"kind": "automatic", "id": "ranking", "title": "Mean ROC AUC", "points": 100,
             "metric": "mean_roc_auc", "scale": {"type": "linear", "floor": 0.5, "target": 0.7}},
        ],
    }  # fmt: skip
    (folder / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (folder / "rubric.yaml").write_text(yaml.safe_dump(rubric, sort_keys=False))
    (folder / "reference").mkdir()  # trained below, on the split recorded first
    task = load_task(folder)
    recompute_split(task, DATA).write(task.manifest_path)
    _submission(folder / "reference", load_task(folder))
    return folder


@pytest.fixture(scope="module")
def tox21(tmp_path_factory: pytest.TempPathFactory):
    if DATA is None or not (DATA / "tox21" / "tox21.csv").is_file():
        pytest.skip("tox21 is not on this machine (set MEDGRADE_DATA to a folder holding it)")
    return load_task(_tox21_task(tmp_path_factory.mktemp("tox21") / "tox21-counts"))


PREDICT = """
import json
from pathlib import Path

import numpy as np


def load_model(artifacts_dir):
    weights = json.loads((Path(artifacts_dir) / "weights.json").read_text())
    return {key: np.array(value) for key, value in weights.items()}


def predict(model, inputs):
    scaled = (inputs - model["mean"]) / model["scale"]
    probabilities = 1 / (1 + np.exp(-(scaled @ model["coef"].T + model["intercept"])))
    return RETURNED
"""


def _submission(folder: Path, task, returned: str = "probabilities") -> Path:
    """A logistic regression per assay, each trained on the molecules that assay measured."""
    features, labels = public_split(task, "train", data_dir=DATA)
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-9
    scaled = (features - mean) / scale
    models = []
    for j in range(labels.shape[1]):
        known = ~np.isnan(labels[:, j])
        models.append(LogisticRegression(max_iter=500).fit(scaled[known], labels[known, j]))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "predict.py").write_text(textwrap.dedent(PREDICT).replace("RETURNED", returned))
    weights = {
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": [m.coef_[0].tolist() for m in models],
        "intercept": [float(m.intercept_[0]) for m in models],
    }
    (folder / "weights.json").write_text(json.dumps(weights))
    return folder


@pytest.fixture(scope="module")
def graded(tox21, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    prepared = prepare_split(tox21, "validation", data_dir=DATA, workdir=work)
    reference = tox21.reference_dir()
    return prepared, evaluate(reference, student_id="s", prepared=prepared, backend=LocalBackend())


def test_task_validate_passes_a_null_model_at_the_floor_and_the_reference_at_the_target(tox21):
    report = validate_task(tox21, backend=LocalBackend(), data_dir=DATA)
    assert report.passed, [check for check in report.checks if not check[1]]
    null = [e for e in report.evaluations if e.student_id == "null-model"]
    assert all(e.metrics["mean_roc_auc"].value == 0.5 for e in null)  # constants rank nothing


def test_each_assay_is_scored_on_the_molecules_it_measured(graded, tox21):
    prepared, evaluation = graded
    assert evaluation.status == "graded", evaluation.failure
    summary = evaluation.kind_results
    assert isinstance(summary, LabelSummary)
    labels = prepared.labels
    known = ~np.isnan(labels)
    assert [row.name for row in summary.rows] == ASSAYS
    assert [row.n_known for row in summary.rows] == known.sum(axis=0).tolist()
    assert known.sum() < labels.size, "Tox21 leaves assays unmeasured"
    assert [row.n_positive for row in summary.rows] == [
        int(np.nansum(labels[:, j])) for j in range(len(ASSAYS))
    ]
    mean = evaluation.metrics["mean_roc_auc"]
    assert mean.value == pytest.approx(np.mean([row.roc_auc.value for row in summary.rows]))
    assert 0.6 < mean.value < 0.9 and mean.ci_low < mean.value < mean.ci_high
    assert "12 of 12 labels" in mean.method
    ap = evaluation.metrics["macro_average_precision"]
    prevalence = np.nanmean(labels, axis=0).mean()
    assert ap.value > prevalence  # better than ranking at random
    assert evaluation.marks.total == evaluation.marks.max_points  # the reference
    assert [row["name"] for row in evaluation.to_dict()["labels"]] == ASSAYS


def test_the_report_has_a_row_per_assay_and_the_store_reads_the_summary_back(
    graded, tox21, tmp_path
):
    prepared, evaluation = graded
    html = render_report(evaluation, tox21, n_cases=prepared.n_cases)
    assert 'id="labels"' in html and all(f"{j} {name}" in html for j, name in enumerate(ASSAYS))
    with ResultStore(tmp_path / "medgrade.sqlite") as store:
        back = store.load_evaluation(store.add(evaluation, sandbox="local"))
    assert back.kind_results == evaluation.kind_results
    assert render_report(back, tox21, n_cases=prepared.n_cases) == html


def test_a_hidden_split_counts_what_its_per_assay_table_tells(tox21, tmp_path):
    folder = tox21.reference_dir()
    prepared = prepare_split(tox21, "test", data_dir=DATA, workdir=tmp_path / "work")
    evaluation = evaluate(folder, student_id="s", prepared=prepared, backend=LocalBackend())
    assert evaluation.status == "graded", evaluation.failure
    channels = dict(evaluation.disclosure.channels)
    assert (
        channels["per-label table"] > 0 and evaluation.disclosure.bits > channels["per-label table"]
    )


@pytest.mark.parametrize(
    ("returned", "kind", "message"),
    [
        ("probabilities[:, :11]", "wrong_shape", r"shape \((\d+), 11\); expected \(\1, 12\)"),
        ("np.where(np.arange(12) == 3, np.nan, probabilities)", "non_finite",
         r"are NaN or infinite \(the first: case 0, label 3 NR-Aromatase\).*it is not scored"),
        ("probabilities * 2", "out_of_range", r"outside \[0, 1\].*a sigmoid to each label"),
    ],
)  # fmt: skip
def test_an_output_that_breaks_the_contract_is_a_named_failure(
    tox21, tmp_path, returned, kind, message
):
    folder = _submission(tmp_path / "broken", tox21, returned)
    prepared = prepare_split(tox21, "validation", data_dir=DATA, workdir=tmp_path / "work")
    evaluation = evaluate(folder, student_id="s", prepared=prepared, backend=LocalBackend())
    assert evaluation.failure is not None and evaluation.failure.kind == kind
    assert re.search(message, evaluation.failure.message), evaluation.failure.message


def test_the_null_model_predicts_each_assays_training_prevalence(tox21):
    _, labels = public_split(tox21, "train", data_dir=DATA)
    kind = output_kind("multilabel_probabilities")
    null = kind.null_model(tox21.spec.output, labels)
    assert null == pytest.approx(np.nanmean(labels, axis=0).tolist(), abs=1e-4)
    starter = kind.starter(tox21.spec.output, tox21.id, "a float array", null)
    assert "np.tile(model, (len(inputs), 1))" in starter and "(n_cases, 12)" in starter
    assert not any(math.isnan(p) for p in null)
