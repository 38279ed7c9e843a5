"""Task kinds as plug-ins: the registry's checks, and a kind from an installed package graded
end to end without a change to medgrade or its sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from grader.errors import PluginError
from grader.evaluation import Evaluation
from grader.kinds import (
    ClassSummary,
    InputKind,
    OutputContract,
    OutputKind,
    ReportSection,
    input_kind,
    input_kind_names,
    output_kind,
    output_kind_names,
    register_kind,
)
from grader.kinds._registry import _OUTPUT_KINDS
from grader.report import write_class_dashboard
from grader.rubric import Marks
from grader.store import ResultStore
from grader.tasks import load_task
from tests.conftest import REPO, medgrade


class _Contract(OutputContract):
    kind: Literal["ranking"]


def test_the_bundled_kinds_are_registered_with_their_wire_layouts():
    assert input_kind_names() == ["image", "molecules", "signal", "table", "text", "volume"]
    assert output_kind_names() == [
        "binary_probability",
        "class_probabilities",
        "label_map",
        "multilabel_probabilities",
    ]
    assert input_kind("volume").layout == "cases" and input_kind("text").layout == "records"
    assert output_kind("label_map").harness_manifest() == {
        "layout": "per_case",
        "shape_of": "image",
        "noun": "label map",
        "expected": "an integer label map",
    }
    assert "roc_auc" in output_kind("binary_probability").metric_names()
    assert "dice" in output_kind("label_map").metric_names()


def test_an_unknown_kind_is_named_with_the_known_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown output kind 'binary_probabilty' \(did you mean 'binary_probability'\?\)",
    ):
        output_kind("binary_probabilty")
    with pytest.raises(ValueError, match=r"known: image, molecules, signal, table, text, volume"):
        input_kind("audio")


def test_a_taken_name_is_refused_naming_its_owner():
    with pytest.raises(PluginError, match=r"'table' is already registered \(grader\.kinds"):

        @register_kind
        class Table(InputKind):
            name = "table"
            description = "mine"


def test_a_method_with_other_parameters_is_refused_when_it_registers():
    with pytest.raises(
        PluginError, match=r"write_inputs takes \(self, dataset, folder\); the kind"
    ):

        @register_kind
        class Words(InputKind):
            name = "words_bad_signature"
            description = "text"

            def write_inputs(self, dataset: Any, folder: Path) -> str:  # type: ignore[override]
                return "inputs.npy"


def test_a_layout_the_harness_does_not_know_is_refused():
    with pytest.raises(
        PluginError, match=r"layout 'stream'; the harness knows \['array', 'cases', 'records'\]"
    ):

        @register_kind
        class Stream(InputKind):
            name = "stream"
            description = "a stream"
            layout = "stream"


def test_an_output_kind_needs_a_contract_of_its_own_name():
    with pytest.raises(PluginError, match=r"needs a class attribute 'contract'"):

        @register_kind
        class NoContract(OutputKind):
            name = "no_contract"

    with pytest.raises(PluginError, match=r"must declare kind: Literal\['ranked'\]"):

        @register_kind
        class Ranked(OutputKind):
            name = "ranked"
            contract = _Contract


def test_a_per_case_kind_must_say_how_the_harness_checks_each_case():
    class _Maps(OutputContract):
        kind: Literal["heatmap"]

    with pytest.raises(PluginError, match=r"must say per_case_noun, per_case_expected"):

        @register_kind
        class Heatmap(OutputKind):
            name = "heatmap"
            contract = _Maps
            layout = "per_case"
            per_case_shape_of = "image"

    assert "heatmap" not in output_kind_names()


def test_something_else_is_not_a_kind():
    with pytest.raises(PluginError, match=r"is not a subclass of InputKind or OutputKind"):
        register_kind(dict)


#: A course's own output kind: a risk score per case, any real number (a Cox model's linear
#: predictor, a logit), scored by the binary metrics that rank cases and need no
#: probabilities.  Everything it does is public API of grader.kinds.
RISK_SCORE_KIND = """
from typing import Literal

import numpy as np
from pydantic import Field

from grader.kinds import (
    InvalidOutput, OutputContract, OutputKind, ReportSection, Scored, read_rows, score_metrics,
)
from grader.metrics import METRICS


class RiskScoreContract(OutputContract):
    kind: Literal["risk_score"] = Field(description="Any real number per case.")
    higher_means: str = Field(default="higher risk", description="What a higher score means.")

    def describe(self):
        return f"a float array of shape (n_cases,): any real number, higher means {self.higher_means}"

    def predicted(self):
        return self.higher_means


class RiskScore(OutputKind):
    name = "risk_score"
    contract = RiskScoreContract

    def metric_names(self):
        return [n for n, info in METRICS.items()
                if info.output == "binary_probability" and not info.needs_probabilities]

    def read(self, output_dir, prepared):
        scores = read_rows(output_dir, prepared.n_cases).astype(np.float64).reshape(-1)
        if scores.shape != (prepared.n_cases,):
            raise InvalidOutput(f"risk scores have shape {scores.shape}", "wrong_shape")
        if not np.isfinite(scores).all():
            raise InvalidOutput("every risk score must be a finite number", "non_finite")
        return scores

    def score(self, prepared, predictions):
        return Scored(metrics=score_metrics(prepared, predictions))

    def report_sections(self, evaluation, task):
        section = (
            '<h2 id="ranking">Ranking</h2><p>A case with a {{ higher }} score ranks above '
            'another {{ "%.*f"|format(d3, e.metrics["roc_auc"].value) }} of the time.</p>'
        )
        return [ReportSection(section, {"higher": task.spec.output.higher_means})]

    def starter(self, contract, task_id, inputs, null):
        return "def load_model(artifacts_dir):\\n    return None\\n"

    def bundle_labels(self, contract):
        return "`inputs`, `labels`"
"""

#: Mean radius (the first feature) ranks malignant masses well: a score far outside [0, 1].
RISK_SUBMISSION = """
import numpy as np

def load_model(artifacts_dir):
    return None

def predict(model, inputs):
    return 10.0 * inputs[:, 0] - 140.0
"""


def write_kind_package(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "course_kinds.py").write_text(RISK_SCORE_KIND)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "course-kinds"
            version = "1.0"

            [project.entry-points."medgrade.kinds"]
            risk_score = "course_kinds:RiskScore"
            """
        )
    )
    return root


def risk_task(parent: Path, **output: Any) -> Path:
    """The bundled breast-cancer task, its output a risk score instead of a probability."""
    folder = parent / "breast-cancer-risk"
    shutil.copytree(REPO / "tasks" / "breast-cancer-wdbc", folder)
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    spec["id"] = "breast-cancer-risk"
    spec["output"] = {"kind": "risk_score", "higher_means": "malignant"} | output
    spec["metrics"] = [{"name": "roc_auc"}]
    spec["rubric"] = "rubric.yaml"
    spec["reference"] = {"path": "reference", "train_command": "python reference/train.py"}
    (folder / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    # The logistic regression of `task new`'s skeleton, returning its logit, not a probability.
    skeleton = REPO / "grader" / "tasks" / "skeleton" / "reference"
    (folder / "reference").mkdir()
    shutil.copy(skeleton / "train.py", folder / "reference" / "train.py")
    predict = (skeleton / "predict.py").read_text()
    assert "    return 1 / (1 + np.exp(-scores))\n" in predict
    (folder / "reference" / "predict.py").write_text(
        predict.replace("    return 1 / (1 + np.exp(-scores))\n", "    return scores\n")
    )
    rubric = {
        "name": "breast-cancer-risk",
        "title": "Ranking malignant masses",
        "criteria": [
            {"kind": "automatic", "id": "ranking", "title": "ROC AUC", "points": 100,
             "metric": "roc_auc", "scale": {"type": "linear", "floor": 0.5, "target": 0.85}},
        ],
    }  # fmt: skip
    (folder / "rubric.yaml").write_text(yaml.safe_dump(rubric, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def kind_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``course-kinds`` installed with pip into a folder of its own, as a course would."""
    tmp = tmp_path_factory.mktemp("kinds")
    source = write_kind_package(tmp / "source")
    site = tmp / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return site


def test_an_installed_kind_is_in_the_schema_and_validates_its_own_fields(kind_site, tmp_path):
    schema = medgrade("task", "schema", PYTHONPATH=str(kind_site))
    assert schema.returncode == 0, schema.stderr
    document = json.loads(schema.stdout)
    assert {"$ref": "#/$defs/RiskScoreContract"} in document["properties"]["output"]["oneOf"]
    contract = document["$defs"]["RiskScoreContract"]["properties"]
    assert contract["kind"]["const"] == "risk_score" and "higher_means" in contract

    folder = risk_task(tmp_path, threshold=0.3)
    shown = medgrade("task", "show", str(folder), PYTHONPATH=str(kind_site))
    assert shown.returncode == 2
    assert "output: 'threshold' is for kind 'binary_probability', not 'risk_score'" in (
        shown.stderr
    )


def test_an_installed_kind_refuses_metrics_it_cannot_score(kind_site, tmp_path):
    folder = risk_task(tmp_path)
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    spec["metrics"] = [{"name": "roc_auc"}, {"name": "brier_score"}]
    (folder / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    shown = medgrade("task", "show", str(folder), PYTHONPATH=str(kind_site))
    assert shown.returncode == 2
    assert "brier_score" in shown.stderr and "risk_score" in shown.stderr


def test_without_its_package_the_kind_is_unknown(tmp_path):
    shown = medgrade("task", "show", str(risk_task(tmp_path)))
    assert shown.returncode == 2
    assert "output.kind: unknown output kind 'risk_score'" in shown.stderr
    assert "entry point group 'medgrade.kinds'" in shown.stderr


def test_an_installed_kind_grades_a_submission_in_the_sandbox(kind_site, tmp_path):
    """Self-check and ``task validate`` (the reference at full marks, a null model, which
    predicts the training prevalence, at the floor) run the plug-in's task in bubblewrap."""
    folder = risk_task(tmp_path)
    trained = subprocess.run(
        [sys.executable, str(folder / "reference" / "train.py")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(kind_site)},
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    validated = medgrade(
        "task", "validate", str(folder), "--backend", "bwrap", PYTHONPATH=str(kind_site)
    )
    if validated.returncode == 2 and "bwrap" in validated.stderr:
        pytest.skip(validated.stderr)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "null model stays at the floor (test): roc_auc 0.5000" in validated.stdout
    assert "task breast-cancer-risk is valid" in validated.stdout
    submission = tmp_path / "student"
    submission.mkdir()
    (submission / "predict.py").write_text(RISK_SUBMISSION)
    checked = medgrade(
        "check", str(submission), "--task", str(folder), "--backend", "bwrap", "--json",
        "--out", str(tmp_path / "out"), PYTHONPATH=str(kind_site),
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    evaluation = json.loads(checked.stdout)
    assert evaluation["failure"] is None
    assert 0.85 < evaluation["metrics"]["roc_auc"]["value"] <= 1.0
    report = Path(evaluation["report"]).read_text()
    auc = evaluation["metrics"]["roc_auc"]["value"]
    higher = yaml.safe_load((folder / "task.yaml").read_text())["output"]["higher_means"]
    assert f"A case with a {higher} score ranks above another {auc:.3f} of the time" in report
    assert report.index('id="metrics"') < report.index('id="ranking"'), "after the metrics"

    bounded = risk_task(tmp_path / "probability")
    spec = yaml.safe_load((bounded / "task.yaml").read_text())
    spec["output"] = {"kind": "binary_probability", "positive_label": "malignant"}
    (bounded / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    as_probability = medgrade(
        "check", str(submission), "--task", str(bounded), "--backend", "bwrap", "--json",
        "--out", str(tmp_path / "out2"),
    )  # fmt: skip
    assert as_probability.returncode == 1
    assert "outside [0, 1]" in json.loads(as_probability.stdout)["failure"]["message"]


# --- A kind's own results: kept by the store, shown on the class dashboard ------------------


@dataclass(frozen=True)
class ScoreRange:
    """What the ``score_range`` kind computes besides its metrics."""

    lowest: float
    highest: float

    def json_fields(self) -> dict[str, Any]:
        return {"score_range": [self.lowest, self.highest]}


class _ScoreRangeContract(OutputContract):
    kind: Literal["score_range"]


class ScoreRangeKind(OutputKind):
    name = "score_range"
    contract = _ScoreRangeContract
    results = ScoreRange

    def metric_names(self) -> list[str]:
        return ["roc_auc"]  # ranks cases; needs no probabilities

    def class_sections(self, results: Sequence[Any], task: Any) -> list[ReportSection]:
        section = '<h2 id="score-range">Scores</h2><p>{{ low }} to {{ high }} over {{ n }}</p>'
        low, high = min(r.lowest for r in results), max(r.highest for r in results)
        return [ReportSection(section, {"low": low, "high": high, "n": len(results)})]


@pytest.fixture
def score_range_kind() -> Iterator[None]:
    register_kind(ScoreRangeKind)
    yield
    _OUTPUT_KINDS.pop("score_range")  # the registry is the process's: leave it as it was


def test_a_kinds_results_are_stored_by_their_type_and_summarised_for_the_class(
    score_range_kind, tmp_path
):
    folder = risk_task(tmp_path)
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    spec["output"] = {"kind": "score_range"}
    (folder / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    task = load_task(folder)
    runs = {"ann": ScoreRange(-3.5, 2.0), "ben": ScoreRange(-1.0, 4.25)}
    with ResultStore(tmp_path / "out" / "medgrade.sqlite") as store:
        for student, results in runs.items():
            evaluation = Evaluation(
                student_id=student, submission_path=f"/class/{student}",
                submission_sha256="0" * 64, task_id=task.id, task_version=task.spec.version,
                split="test", labels_hidden=True, status="graded", failure=None, metrics={},
                marks=Marks((), 0.0, 0.0), run=None, data_sha256="d", split_sha256="s",
                kind_results=results,
            )  # fmt: skip
            assert evaluation.to_dict()["score_range"] == [results.lowest, results.highest]
            back = store.load_evaluation(store.add(evaluation, sandbox="bwrap"))
            assert back.kind_results == results
        html = write_class_dashboard(store, task, tmp_path / "out").read_text()
    assert '<h2 id="score-range">Scores</h2><p>-3.5 to 4.25 over 2</p>' in html


def test_a_kinds_results_must_be_a_dataclass_of_its_own_with_json_fields():
    class _Plain:
        def json_fields(self) -> dict[str, Any]:
            return {}

    @dataclass(frozen=True)
    class _Silent:
        value: float

    for results, message in (
        (_Plain, r"results must be a dataclass"),
        (_Silent, r"needs a method json_fields\(\)"),
        (ClassSummary, r"already the results of output kind 'class_probabilities'"),
    ):
        with pytest.raises(PluginError, match=message):
            register_kind(type("Ranged", (ScoreRangeKind,), {"results": results}))
    assert "score_range" not in output_kind_names()
