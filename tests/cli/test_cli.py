"""The medgrade command line, run as a user runs it (a real subprocess per command)."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from grader import journeys
from tests.conftest import EXAMPLES, REPO, TASK_ID, cpu_hog, medgrade, task_with_cpu_time

FAILING_EXAMPLES = {
    "crashes": "crashed",
    "nan-output": "non_finite",
    "too-slow": "timeout",
    "wrong-shape": "wrong_shape",
}


@pytest.fixture(scope="module")
def checks(tmp_path_factory) -> dict[str, tuple[int, dict]]:
    out = tmp_path_factory.mktemp("check")
    # too-slow uses up whatever CPU time it is given: a shorter limit ends it as surely.
    short = task_with_cpu_time(tmp_path_factory.mktemp("short"), 3)

    def check(name: str) -> tuple[str, tuple[int, dict]]:
        task = str(short) if name == "too-slow" else TASK_ID
        done = medgrade(
            "check", str(EXAMPLES / name), "--task", task, "--json", "--out", str(out / name)
        )
        assert done.stdout.startswith("{"), f"{name}: exit {done.returncode}\n{done.stderr}"
        return name, (done.returncode, json.loads(done.stdout))

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(check, ["good", "weak", *FAILING_EXAMPLES]))


def test_check_of_the_reference_is_graded_with_auc_and_its_confidence_interval(checks):
    code, document = checks["good"]
    assert code == 0
    assert document["status"] == "graded" and document["failure"] is None
    assert document["split"] == "validation" and document["labels_hidden"] is False
    auc = document["metrics"]["roc_auc"]
    assert auc["value"] > 0.95
    assert auc["ci_low"] < auc["value"] <= auc["ci_high"] <= 1
    assert set(document["marks"]) >= {"total", "max", "criteria"}
    assert document["marks"]["max"] == 100
    assert Path(document["report"]).is_file()


def test_check_of_each_broken_example_fails_with_its_own_kind(checks):
    kinds = {}
    for name, expected in FAILING_EXAMPLES.items():
        code, document = checks[name]
        assert code == 1, name
        assert document["status"] == "failed"
        assert document["failure"]["kind"] == expected, (name, document["failure"])
        assert document["failure"]["message"]
        assert document["metrics"] == {}
        kinds[name] = document["failure"]["kind"]
    assert len(set(kinds.values())) == len(kinds)


def test_the_weak_model_scores_below_the_reference(checks):
    weak, reference = checks["weak"][1], checks["good"][1]
    assert weak["status"] == "graded"
    assert weak["metrics"]["roc_auc"]["value"] < reference["metrics"]["roc_auc"]["value"] - 0.1
    assert weak["marks"]["total"] < reference["marks"]["total"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("demo") / "out"
    return medgrade("demo", "--out", str(out)), out


def test_the_demo_grades_every_example_and_writes_reports_store_and_gradebook(demo_run):
    done, out = demo_run
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in EXAMPLES.iterdir())
    assert sorted(p.stem for p in (out / "reports").glob("*.html")) == names
    with (out / "gradebook.csv").open() as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert sorted(rows) == names
    assert rows["good"]["status"] == "graded"
    assert float(rows["good"]["discrimination"]) == 50
    # The notebook version of the good example (same weights) earns the same marks.
    assert rows["notebook"]["status"] == "graded"
    assert rows["notebook"]["total"] == rows["good"]["total"]
    assert (out / "reports" / "notebook.ipynb").is_file()
    for name, kind in FAILING_EXAMPLES.items():
        assert (rows[name]["status"], rows[name]["failure_kind"]) == ("failed", kind)
        assert float(rows[name]["total"]) == 0
    assert rows["good"]["pending"] == "writeup"
    with sqlite3.connect(out / "medgrade.sqlite") as connection:
        assert connection.execute("SELECT COUNT(*) FROM runs WHERE split = 'test'").fetchone()[
            0
        ] == len(names)
        assert (
            connection.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 3 * 6
        )  # three graded examples, six metrics each
    assert "good.html" in done.stdout


def test_grade_takes_zips_turns_a_corrupt_one_into_a_failure_and_reads_manual_marks(tmp_path):
    submissions = tmp_path / "class"
    submissions.mkdir()
    with zipfile.ZipFile(submissions / "alice.zip", "w") as archive:
        for path in (EXAMPLES / "weak").iterdir():
            archive.write(path, f"weak/{path.name}")
    (submissions / "bob.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    shutil.copytree(EXAMPLES / "crashes", submissions / "carol")
    out = tmp_path / "out"
    first = medgrade("grade", str(submissions), "--task", TASK_ID, "--out", str(out), "--json")
    assert first.returncode == 0, first.stderr
    by_student = {e["student"]: e for e in json.loads(first.stdout)}
    assert by_student["alice"]["status"] == "graded"
    assert by_student["bob"]["failure"]["kind"] == "invalid_submission"
    assert by_student["carol"]["failure"]["kind"] == "crashed"
    assert by_student["alice"]["marks"]["pending"] == ["writeup"]

    sheet = out / "manual_marks.csv"
    rows = list(csv.DictReader(sheet.open()))
    assert [r["student_id"] for r in rows] == ["alice", "bob", "carol"]
    rows[0]["writeup"] = "17"
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["student_id", "writeup", "writeup_comment", "comment"]
        )
        writer.writeheader()
        writer.writerows(rows)
    second = medgrade("grade", str(submissions), "--task", TASK_ID, "--out", str(out), "--json")
    alice = next(e for e in json.loads(second.stdout) if e["student"] == "alice")
    assert alice["marks"]["pending"] == []
    assert alice["marks"]["total"] == pytest.approx(by_student["alice"]["marks"]["total"] + 17)
    gradebook = {r["student_id"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert gradebook["alice"]["writeup"] == "17"


def test_a_manual_mark_above_the_maximum_names_row_and_column(tmp_path):
    submissions = tmp_path / "class"
    shutil.copytree(EXAMPLES / "crashes", submissions / "carol")
    sheet = tmp_path / "marks.csv"
    sheet.write_text("student_id,writeup,comment\ncarol,25,too generous\n")
    done = medgrade(
        "grade",
        str(submissions),
        "--task",
        TASK_ID,
        "--out",
        str(tmp_path / "o"),
        "--manual-marks",
        str(sheet),
    )
    assert done.returncode == 2
    assert "row 2, column writeup: 25 is outside 0..20" in done.stderr


def test_task_validate_passes_for_the_bundled_task_while_the_machine_is_busy():
    with cpu_hog():
        done = medgrade("task", "validate", TASK_ID)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout
    assert done.stdout.count("pass") == 6
    assert f"task {TASK_ID} is valid" in done.stdout


def test_task_validate_of_a_broken_spec_names_the_field(tmp_path):
    folder = tmp_path / TASK_ID
    shutil.copytree(REPO / "tasks" / TASK_ID, folder)
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    spec["limits"]["memory_mb"] = "lots"
    (folder / "task.yaml").write_text(yaml.safe_dump(spec))
    done = medgrade("task", "validate", str(folder))
    assert done.returncode == 2
    assert (
        "task.yaml" in done.stderr and "limits.memory_mb" in done.stderr and "'lots'" in done.stderr
    )


def test_task_validate_fails_when_the_rubric_target_is_out_of_the_references_reach(tmp_path):
    folder = tmp_path / TASK_ID
    shutil.copytree(REPO / "tasks" / TASK_ID, folder)
    rubric = yaml.safe_load((REPO / "rubrics" / f"{TASK_ID}.yaml").read_text())
    rubric["criteria"][1]["scale"]["target"] = 0.001  # a Brier score no model reaches here
    (folder / "rubric.yaml").write_text(yaml.safe_dump(rubric))
    spec = yaml.safe_load((folder / "task.yaml").read_text())
    spec["rubric"] = "rubric.yaml"
    (folder / "task.yaml").write_text(yaml.safe_dump(spec))
    done = medgrade("task", "validate", str(folder))
    assert done.returncode == 1
    assert "FAIL  reference reaches full points (validation): calibration" in done.stdout


def test_task_list_show_and_schema():
    listed = medgrade("task", "list")
    assert listed.returncode == 0 and TASK_ID in listed.stdout
    shown = medgrade("task", "show", TASK_ID)
    assert shown.returncode == 0
    for text in (
        "load_model(artifacts_dir",
        "predict(model, inputs",
        "CC BY 4.0",
        "Wolberg",
        "20 s of CPU time",
        "torch 2.13.0+cpu",
    ):
        assert text in " ".join(shown.stdout.split())
    schema = json.loads(medgrade("task", "schema").stdout)
    assert schema["title"] == "TaskSpec"
    rubric_schema = json.loads(medgrade("task", "schema", "--rubric").stdout)
    assert rubric_schema["title"] == "Rubric"


def test_an_unknown_task_is_a_clear_error():
    done = medgrade("check", str(EXAMPLES / "weak"), "--task", "no-such-task")
    assert done.returncode == 2
    assert "no task 'no-such-task'; installed tasks: " in done.stderr
    assert "breast-cancer-wdbc" in done.stderr


def test_the_demo_writes_outside_the_working_directory_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert journeys.default_demo_out() == tmp_path / "medgrade" / "demo"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert journeys.default_demo_out() == Path.home() / ".local" / "share" / "medgrade" / "demo"
