"""A course's own dataset without editing medgrade: the ``table`` loader, ``task new``,
loader plug-ins (entry points and ``module:function``) and spec checks against the data."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from grader.data import PluginError, check_loader_params, load_dataset, register_loader
from grader.errors import DataError
from tests.conftest import DATA, medgrade

COVID_SHA256 = "d9189166faca8a4e7ea0c9eca6edb0f640ed1abaaa0181bb7f5b37fa9240af70"


@pytest.fixture
def clinic_csv(tmp_path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "patient": ["p1", "p1", "p2", "p3", "p4", "p5"],
            "age": [34, 34, None, 71, 12, 50],
            "sex": ["f", "f", "m", None, "m", "f"],
            "outcome": ["pos", "neg", "neg", "invalid", "pos", "neg"],
        }
    )
    path = tmp_path / "clinic" / "visits.csv"
    path.parent.mkdir()
    frame.to_csv(path, index=False)
    return path


TABLE = {
    "file": "clinic/visits.csv",
    "target": "outcome",
    "positive": "pos",
    "drop_rows": {"outcome": ["invalid"]},
    "features": ["age", "sex"],
    "categorical": ["sex"],
    "attributes": ["patient", "sex"],
    "bands": {"age": [18, 65]},
}


def test_the_table_loader_reads_features_labels_and_attributes(clinic_csv, tmp_path):
    dataset = load_dataset("table", TABLE, tmp_path)
    assert dataset.case_ids.tolist() == [
        "visits-000000", "visits-000001", "visits-000002", "visits-000004", "visits-000005"
    ]  # fmt: skip
    assert dataset.labels.tolist() == [1, 0, 0, 1, 0]
    assert dataset.feature_names == ("age", "sex=f", "sex=m")
    np.testing.assert_array_equal(
        dataset.features,
        [[34, 1, 0], [34, 1, 0], [np.nan, 0, 1], [12, 0, 1], [50, 1, 0]],
    )
    assert dataset.attributes["patient"].tolist() == ["p1", "p1", "p2", "p4", "p5"]
    assert dataset.attributes["age_band"].tolist() == [
        "18-65", "18-65", "missing", "under 18", "18-65"
    ]  # fmt: skip
    assert dataset.source_paths == (clinic_csv,)


def test_the_table_loader_reads_parquet_the_same(clinic_csv, tmp_path):
    pd.read_csv(clinic_csv).to_parquet(clinic_csv.with_suffix(".parquet"))
    from_csv = load_dataset("table", TABLE | {"name": "visits"}, tmp_path)
    from_parquet = load_dataset("table", TABLE | {"file": "clinic/visits.parquet"}, tmp_path)
    assert from_parquet.sha256 == from_csv.sha256
    assert from_parquet.attributes["sex"].tolist() == from_csv.attributes["sex"].tolist()


def test_multiclass_targets_follow_the_listed_classes(clinic_csv, tmp_path):
    params = {k: v for k, v in TABLE.items() if k != "positive"}
    dataset = load_dataset("table", params | {"classes": ["neg", "pos"]}, tmp_path)
    assert dataset.labels.tolist() == [1, 0, 0, 1, 0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target": "outcme"}, "has no column 'outcme' (did you mean 'outcome'?)"),
        ({"drop_rows": {}}, "'outcome' holds ['invalid', 'neg', 'pos']; positive is ['pos']"),
        ({"categorical": []}, "feature 'sex' is not numeric (e.g. 'f'); list it under"),
        ({"sha256": "0" * 64}, "is not the file the task was written for"),
        ({"file": "clinic/absent.csv"}, "absent.csv is not on this machine"),
        ({"classes": ["neg", "pos"]}, "give exactly one of 'positive'"),
    ],
)
def test_a_table_that_does_not_fit_the_params_is_named(clinic_csv, tmp_path, change, message):
    with pytest.raises(DataError) as raised:
        load_dataset("table", TABLE | change, tmp_path)
    assert message in str(raised.value)


def test_a_relative_table_without_a_data_folder_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("MEDGRADE_DATA", raising=False)
    with pytest.raises(DataError, match="pass --data-dir DIR or set MEDGRADE_DATA"):
        load_dataset("table", TABLE, None)


def test_loader_params_are_checked_against_the_loaders_signature():
    assert check_loader_params("table", TABLE) == []
    problems = check_loader_params("table", {**TABLE, "features": "age", "colour": 1})
    assert problems[0].startswith("loader 'table' takes no parameter(s) ['colour']")
    assert "params.features: Input should be a valid list; got 'age'" in problems[1]
    assert check_loader_params("table", {"file": "x.csv"}) == [
        "loader 'table' needs parameter(s) ['features', 'target']"
    ]


def test_a_loader_with_a_wrong_signature_or_a_taken_name_is_refused():
    with pytest.raises(PluginError, match="keyword-only parameter 'data_dir'"):
        register_loader("positional_for_tests")(lambda data_dir: None)
    with pytest.raises(PluginError, match="a dataset loader named 'table' is already registered"):
        register_loader("table")(lambda *, data_dir: None)


def write_plugin_package(root: Path) -> Path:
    """A tiny installable package whose loader reads a two-column text file."""
    (root / "course_loaders").mkdir(parents=True)
    (root / "course_loaders" / "__init__.py").write_text(
        textwrap.dedent(
            '''
            from pathlib import Path

            import numpy as np

            from grader.data import Dataset


            def load_scores(*, data_dir: Path | None, threshold: float = 0.5) -> Dataset:
                """Scores and outcomes from the course's own scores.txt."""
                rows = np.loadtxt(Path(data_dir) / "scores.txt", ndmin=2)
                return Dataset(
                    name="scores",
                    case_ids=np.array([f"s{i:03d}" for i in range(len(rows))]),
                    features=rows[:, :1],
                    feature_names=("score",),
                    labels=(rows[:, 1] > threshold).astype(np.int64),
                )
            '''
        )
    )
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "course-loaders"
            version = "1.0"

            [project.entry-points."medgrade.loaders"]
            course_scores = "course_loaders:load_scores"
            """
        )
    )
    return root


def test_a_loader_from_an_installed_package_registers_through_its_entry_point(tmp_path):
    source = write_plugin_package(tmp_path / "source")
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "scores.txt").write_text("0.1 0\n0.9 1\n0.4 1\n")
    script = (
        "from grader.data import load_dataset, loader_names\n"
        "assert 'course_scores' in loader_names(), loader_names()\n"
        f"d = load_dataset('course_scores', {{'threshold': 0.5}}, {str(tmp_path / 'data')!r})\n"
        "print(d.labels.tolist())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 1]"
    listed = medgrade("data", "loaders", PYTHONPATH=str(site), COLUMNS="200")
    assert "course_scores" in listed.stdout and "course_loaders" in listed.stdout


def test_a_module_function_loader_needs_no_package(tmp_path, monkeypatch):
    write_plugin_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "scores.txt").write_text("0.2 0\n0.8 1\n")
    dataset = load_dataset("course_loaders:load_scores", {}, tmp_path)
    assert dataset.labels.tolist() == [0, 1]
    with pytest.raises(DataError, match="module 'course_loaders' has no 'load_everything'"):
        load_dataset("course_loaders:load_everything", {}, tmp_path)


def covid_task(tmp_path: Path) -> Path:
    """What a course writes, from ``task new``, for SARS-CoV-2 PCR results at CHOP."""
    if DATA is None or not (DATA / "covid_testing_chop").is_dir():
        pytest.skip("covid_testing_chop is not on this machine (set MEDGRADE_DATA)")
    created = medgrade("task", "new", "covid-pcr", "--dir", str(tmp_path))
    assert created.returncode == 0, created.stderr
    folder = tmp_path / "covid-pcr"
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    spec["title"] = "Who tests positive for SARS-CoV-2 (CHOP, 2020)"
    spec["description"] = "Predict a PCR test's result from what is known when it is ordered."
    spec["dataset"] |= {
        "licence": "as stated by the medicaldata R package",
        "citation": "Higgins P. medicaldata (CRAN); data: Obstfeld A. E., CHOP (2020).",
        "params": {
            "file": "covid_testing_chop/covid_testing.csv",
            "sha256": COVID_SHA256,
            "target": "result",
            "positive": "positive",
            "drop_rows": {"result": ["invalid"]},
            # ct_result is measured by the test itself: it would leak the outcome.
            "features": ["age", "gender", "pan_day", "drive_thru_ind", "orderset",
                         "demo_group", "patient_class", "payor_group"],
            "categorical": ["gender", "demo_group", "patient_class", "payor_group"],
            "attributes": ["subject_id", "gender", "payor_group"],
        },
    }  # fmt: skip
    spec["split"] |= {"group_key": "subject_id", "seed": 2020}
    spec["inputs"]["description"] = "float64 (n, 30): the features, categorical ones one-hot."
    spec["output"]["positive_label"] = "positive"
    spec["subgroups"] = ["gender"]
    (folder / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    rubric = yaml.safe_load((folder / "rubric.yaml").read_text())
    rubric["criteria"][0]["scale"] = {"type": "linear", "floor": 0.5, "target": 0.6}
    (folder / "rubric.yaml").write_text(yaml.safe_dump(rubric, sort_keys=False))
    return folder


def test_a_course_csv_task_written_with_task_new_passes_task_validate(tmp_path):
    folder = covid_task(tmp_path)
    data = str(DATA)
    shown = medgrade("task", "show", str(folder), "--data-dir", data)
    assert shown.returncode == 0, shown.stderr
    assert "not checked against its data" not in shown.stderr
    split = medgrade("task", "split", str(folder), "--data-dir", data, "--write")
    assert split.returncode == 0, split.stderr
    assert (folder / "split.json").is_file()
    trained = subprocess.run(
        [sys.executable, str(folder / "reference" / "train.py"), "--data-dir", data],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    validated = medgrade("task", "validate", str(folder), "--data-dir", data, "--backend", "bwrap")
    if "bwrap unavailable" in validated.stderr or "bubblewrap" in validated.stderr:
        pytest.skip(validated.stderr)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "task covid-pcr is valid" in validated.stdout
    # No patient's tests are split across train, validation and test.
    manifest = json.loads((folder / "split.json").read_text())["splits"]
    dataset = load_dataset("table", yaml.safe_load((folder / "task.yaml").read_text())
                           ["dataset"]["params"], DATA)  # fmt: skip
    patient = dict(zip(dataset.case_ids.tolist(), dataset.attributes["subject_id"].tolist(),
                       strict=True))  # fmt: skip
    owners = [{patient[c] for c in manifest[s]["case_ids"]} for s in manifest]
    assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])


def test_a_misspelled_group_key_is_named_by_task_show_at_once(tmp_path):
    folder = covid_task(tmp_path)
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    spec["split"]["group_key"] = "subjectid"
    spec["subgroups"] = ["sex"]
    (folder / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    shown = medgrade("task", "show", str(folder), "--data-dir", str(DATA))
    assert shown.returncode == 2
    message = " ".join(shown.stdout.split() + shown.stderr.split())
    assert "task.yaml" in message
    assert "split.group_key: the dataset has no attribute 'subjectid' (did you mean" in message
    assert "subgroups[0]: the dataset has no attribute 'sex'" in message


def test_numeric_labels_match_however_the_file_writes_them(tmp_path):
    # A float column (1.0) once the rows with a missing grade are dropped; the spec says 1.
    (tmp_path / "grades.csv").write_text("x,grade\n0.5,1\n0.1,0\n0.7,\n0.9,2\n")
    params = {"file": "grades.csv", "target": "grade", "features": ["x"]}
    dropped = {"drop_rows": {"grade": [None]}}
    binary = load_dataset("table", params | dropped | {"positive": [1, 2]}, tmp_path)
    assert binary.labels.tolist() == [1, 0, 1]
    classes = load_dataset("table", params | dropped | {"classes": [0, 1, 2]}, tmp_path)
    assert classes.labels.tolist() == [1, 0, 2]
    # drop_rows values match the same way: 2 drops the row read as 2.0.
    two_dropped = {"drop_rows": {"grade": [None, 2]}, "positive": 1}
    assert load_dataset("table", params | two_dropped, tmp_path).labels.tolist() == [1, 0]
