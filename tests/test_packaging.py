"""A non-editable install carries tasks, rubrics, environments and examples (never a
reference's trained weights: those are a task's answers) and works anywhere."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.tasks import load_task
from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    return next(out.glob("medgrade-*.whl"))


def test_the_wheel_ships_everything_a_fresh_install_needs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "grader/_bundled/tasks/breast-cancer-wdbc/task.yaml",
        "grader/_bundled/tasks/breast-cancer-wdbc/split.json",
        "grader/_bundled/rubrics/breast-cancer-wdbc.yaml",
        "grader/_bundled/examples/submissions/good/predict.py",
        "grader/_bundled/examples/submissions/good/model.pt",
        "grader/_bundled/tasks/environments/pytorch-cpu.txt",
        "grader/_bundled/tasks/environments/pytorch-cpu.lock",
        "grader/_bundled/examples/submissions/too-slow/predict.py",
        "grader/_bundled/examples/submissions/notebook/breast_cancer.ipynb",
        "grader/_bundled/examples/submissions/notebook/model.pt",
        "grader/_bundled/examples/notebooks/too-slow.ipynb",
        "grader/report/templates/report.html.j2",
        "grader/report/templates/dashboard.html.j2",
        "grader/journeys/null_submission/predict.py",
        "reference_models/breast_cancer_wdbc/predict.py",
        *(
            f"{folder}/{name}"
            for task in (
                "breastmnist",
                "pneumoniamnist",
                "actg175-event",
                "mitbih-pvc",
                "retinamnist-grade",
            )
            for folder, name in (
                (f"grader/_bundled/tasks/{task}", "task.yaml"),
                (f"grader/_bundled/tasks/{task}", load_task(task).spec.split.manifest),
                ("grader/_bundled/rubrics", f"{task}.yaml"),
                (f"reference_models/{task.replace('-', '_')}", "predict.py"),
            )
        ),
        "sandbox/harness.py",
    }
    assert expected <= names
    assert not [n for n in names if n.endswith((".npz", ".nii.gz", ".pyc"))]


def test_the_wheel_holds_no_reference_weights(wheel):
    """Not by name, nor as a copy anywhere else in the wheel."""
    answers = {
        hashlib.sha256(path.read_bytes()).hexdigest(): path
        for path in (REPO / "reference_models").rglob("*")
        if path.suffix in {".pt", ".pth", ".npz"}
    }
    assert len(answers) == 8  # one weights file per bundled task with a trained reference
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        shipped = {hashlib.sha256(archive.read(name)).hexdigest(): name for name in names}
    assert not [
        name
        for name in names
        if name.startswith("reference_models/") and (name.endswith((".pt", ".pth", ".npz")))
    ]
    assert not set(answers) & set(shipped), [shipped[d] for d in set(answers) & set(shipped)]


@pytest.mark.slow
def test_the_installed_wheel_runs_the_demo_from_another_directory(wheel, tmp_path):
    # Install the wheel alone into a folder placed first on sys.path: it shadows the source
    # tree, while the dependencies come from this environment.
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = {**os.environ, "PYTHONPATH": str(target)}

    def medgrade(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "grader", *arguments],
            cwd=elsewhere,
            env=environment,
            capture_output=True,
            text=True,
        )

    located = subprocess.run(
        [sys.executable, "-c", "import grader._resources as r; print(r.bundled_dir('tasks'))"],
        cwd=elsewhere,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert located.stdout.startswith(str(target))
    demo = medgrade("demo", "--out", "out")
    assert demo.returncode == 0, demo.stderr
    examples = sorted(p.name for p in (REPO / "examples" / "submissions").iterdir())
    assert sorted(p.stem for p in (elsewhere / "out" / "reports").glob("*.html")) == examples
    assert (elsewhere / "out" / "reports" / "notebook.ipynb").is_file()
    # Without the weights (never in the wheel) validation says how to get them...
    refused = medgrade("task", "validate", "breast-cancer-wdbc")
    assert refused.returncode != 0
    assert "--references" in refused.stdout + refused.stderr
    shown = medgrade("task", "show", "breast-cancer-wdbc")
    assert "model.pt" not in shown.stdout and str(target) not in shown.stdout
    # ...and with a staff-only folder of them, it passes.
    staff = tmp_path / "staff" / "breast-cancer-wdbc"
    staff.mkdir(parents=True)
    shutil.copy(REPO / "reference_models" / "breast_cancer_wdbc" / "model.pt", staff)
    validated = medgrade(
        "task", "validate", "breast-cancer-wdbc", "--references", str(staff.parent)
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
