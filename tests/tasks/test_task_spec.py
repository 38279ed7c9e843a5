"""Task specs: the bundled task loads; every malformed spec names file, field and value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from grader.errors import SpecError, TaskNotFoundError
from grader.tasks import load_task, task_ids
from grader.tasks.spec import task_json_schema

BUNDLED = Path(__file__).resolve().parents[2] / "tasks" / "breast-cancer-wdbc"


def test_the_bundled_task_loads_with_its_rubric_and_reference(task):
    assert task.id == "breast-cancer-wdbc"
    assert "breast-cancer-wdbc" in task_ids()
    assert task.rubric.max_points == 100
    assert (task.reference_dir() / "predict.py").is_file()
    assert (task.reference_dir() / "model.pt").is_file()


def test_a_task_loads_from_its_folder_or_its_yaml(task):
    assert load_task(BUNDLED).spec == task.spec
    assert load_task(BUNDLED / "task.yaml").spec == task.spec


def test_an_unknown_task_lists_the_installed_ones():
    with pytest.raises(TaskNotFoundError, match="breast-cancer-wdbc"):
        load_task("breast-cancer-wbdc")


def write_variant(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "breast-cancer-wdbc"
    shutil.copytree(BUNDLED, folder)
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    edit(spec)
    (folder / "task.yaml").write_text(yaml.safe_dump(spec))
    return folder


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda s: s["split"]["fractions"].update(test=-0.2),
            "split.fractions.test: Input should be greater than 0; got -0.2",
        ),
        (
            lambda s: s["split"]["fractions"].update(test=0.3),
            "split.fractions: train + validation + test must add up to 1, they add up to 1.1",
        ),
        (lambda s: s.pop("limits"), "limits: required field is missing"),
        (
            lambda s: s["limits"].update(cpu_time_s="fast"),
            "limits.cpu_time_s: Input should be a valid number",
        ),
        (
            lambda s: s["metrics"].append({"name": "roc_acu"}),
            "metrics[6].name: unknown metric (did you mean 'roc_auc'?)",
        ),
        (
            lambda s: s["limits"].update(memroy_mb=1),
            "limits.memroy_mb: unknown field (did you mean 'memory_mb'?)",
        ),
        (
            lambda s: s["dataset"].update(loader="sklearn_breast"),
            "dataset.loader: unknown dataset loader 'sklearn_breast' (did you mean "
            "'sklearn_breast_cancer'?)",
        ),
        (
            lambda s: s["output"].update(kind="segmentation"),
            "output.kind: unknown output kind 'segmentation'; known: binary_probability, "
            "class_probabilities, label_map",
        ),
        (
            lambda s: s["split"].update(strategy="grouped"),
            "split: strategy 'grouped' needs 'group_key'",
        ),
        (
            lambda s: s["reference"].update(path="elsewhere"),
            "reference: give exactly one of 'package' or 'path'",
        ),
        (lambda s: s.update(id="Breast Cancer"), "id: String should match pattern"),
        (
            lambda s: s["limits"].update(notebook_time_s=65),
            "limits: notebook_time_s (65) must be below the hang guard (60 s)",
        ),
    ],
    ids=[
        "negative-fraction",
        "fractions-sum",
        "missing-limits",
        "bad-type",
        "unknown-metric",
        "misspelled-key",
        "unknown-loader",
        "unknown-output",
        "grouped-without-key",
        "two-references",
        "bad-id",
        "notebook-time",
    ],
)
def test_a_broken_spec_names_the_file_the_field_and_the_value(tmp_path, edit, expected):
    folder = write_variant(tmp_path, edit)
    with pytest.raises(SpecError) as caught:
        load_task(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'task.yaml'}:")
    assert expected in message


def test_invalid_yaml_names_the_line(tmp_path):
    folder = write_variant(tmp_path, lambda s: None)
    text = (folder / "task.yaml").read_text()
    (folder / "task.yaml").write_text(text.replace("title:", "title: [unclosed", 1))
    with pytest.raises(
        SpecError, match=r"task.yaml: 1 problem:\n  - line \d+, column \d+: invalid YAML"
    ):
        load_task(folder)


def test_a_rubric_criterion_on_a_metric_the_task_does_not_compute_names_the_rubric(tmp_path):
    folder = write_variant(tmp_path, lambda s: s.update(rubric="rubric.yaml"))
    rubric = yaml.safe_load(
        (BUNDLED.parent.parent / "rubrics" / "breast-cancer-wdbc.yaml").read_text()
    )
    rubric["criteria"][0]["metric"] = "ppv"
    (folder / "rubric.yaml").write_text(yaml.safe_dump(rubric))
    with pytest.raises(SpecError) as caught:
        load_task(folder)
    assert str(caught.value).startswith(str(folder / "rubric.yaml"))
    assert "criteria[0].metric: the task does not compute 'ppv'" in str(caught.value)


def test_a_rubric_with_a_loss_read_as_a_score_is_refused(tmp_path):
    folder = write_variant(tmp_path, lambda s: s.update(rubric="rubric.yaml"))
    rubric = yaml.safe_load(
        (BUNDLED.parent.parent / "rubrics" / "breast-cancer-wdbc.yaml").read_text()
    )
    rubric["criteria"][1]["scale"] = {"type": "linear", "floor": 0.06, "target": 0.23}
    (folder / "rubric.yaml").write_text(yaml.safe_dump(rubric))
    with pytest.raises(SpecError, match=r"criteria\[1\]: brier_score is better when lower"):
        load_task(folder)


def test_several_problems_are_reported_together(tmp_path):
    def edit(spec):
        spec["limits"]["memory_mb"] = 1
        spec["output"]["threshold"] = 2

    with pytest.raises(SpecError, match="2 problems") as caught:
        load_task(write_variant(tmp_path, edit))
    assert "limits.memory_mb" in str(caught.value)
    assert "output.threshold" in str(caught.value)


def test_the_exported_schema_describes_every_top_level_field():
    schema = task_json_schema()
    assert set(schema["required"]) >= {
        "id",
        "dataset",
        "split",
        "metrics",
        "limits",
        "rubric",
        "reference",
    }
    json.dumps(schema)  # serialisable
    assert "description" in schema["$defs"]["Limits"]["properties"]["cpu_time_s"]
    # Every kind's own fields, so that an editor completes output.classes or output.structures.
    contracts = [
        choice["$ref"].rsplit("/", 1)[1] for choice in schema["properties"]["output"]["oneOf"]
    ]
    assert {"BinaryProbabilityContract", "ClassProbabilitiesContract", "LabelMapContract"} <= set(
        contracts
    )
    assert "structures" in schema["$defs"]["LabelMapContract"]["properties"]
    assert {"table", "volume"} <= set(schema["$defs"]["InputSpec"]["properties"]["kind"]["enum"])
