"""Marks do not depend on how busy the machine is, nor on where a class is graded.

One class of 20 submissions (PyTorch scripts and notebooks, failures of every kind, one
that uses enough CPU time to lose the penalty's points, one that sleeps) is graded on an
idle machine with bubblewrap, then again while a CPU hog keeps every core busy: with
bubblewrap's warm pool (and, with ``-m slow``, bubblewrap cold, Docker and a local Dask
cluster).  Every gradebook is byte for byte the idle one.  Limits and penalties count the CPU time of the
submission's own processes, which waiting for a core does not add to.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from grader import journeys
from grader.environment import choose_task_backend
from grader.evaluation import Evaluation
from grader.tasks import load_task
from sandbox import SandboxUnavailableError
from tests.conftest import cpu_hog, loadavg

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "submissions"
# --- The class ---------------------------------------------------------------------------------

#: Burns a fixed amount of CPU time (not wall time: whatever the load, the same work).
_BURN = """
import time

def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(range(1000))
"""

_SCRIPTS = {
    # Far over the task's 4 s penalty threshold, within its 8 s limit: loses the points.
    "heavy": _BURN + "\nfrom weak_model import load_model, predict as _predict\n\n"
    "def predict(model, inputs):\n    burn(6)\n    return _predict(model, inputs)\n",
    # Sleeps (wall time, no CPU time): no penalty, however long a busy machine takes.
    "sleeper": "import time\nfrom weak_model import load_model, predict as _predict\n\n"
    "def predict(model, inputs):\n    time.sleep(4)\n    return _predict(model, inputs)\n",
    "exits": "import sys\n\ndef load_model(artifacts_dir):\n    return None\n\n"
    "def predict(model, inputs):\n    sys.exit(0)\n",
    "inverted": "from weak_model import load_model, predict as _predict\n\n"
    "def predict(model, inputs):\n    return 1.0 - _predict(model, inputs)\n",
    "absolute-path": "import json\n\ndef load_model(artifacts_dir):\n"
    "    return json.load(open('/home/student/project/weights.json'))\n\n"
    "def predict(model, inputs):\n    return inputs[:, 0]\n",
    "undeclared-package": "import polars\n\ndef load_model(artifacts_dir):\n    return None\n\n"
    "def predict(model, inputs):\n    return inputs[:, 0]\n",
}


def _torch_in_training_mode(folder: Path) -> None:
    """The good example with dropout left on: outputs vary from call to call, but every
    run starts from the task's seed, so each run gives the same ones."""
    shutil.copytree(EXAMPLES / "good", folder)
    source = (folder / "predict.py").read_text()
    assert ".eval()" in source and "nn.Dropout" in source
    source = source.replace(".eval()", ".train()")
    (folder / "predict.py").write_text(source)


def _failing_notebook(folder: Path) -> None:
    shutil.copytree(EXAMPLES / "notebook", folder)
    notebook = next(folder.glob("*.ipynb"))
    document = json.loads(notebook.read_text())
    code = [cell for cell in document["cells"] if cell["cell_type"] == "code"]
    code[0]["source"] = "raise RuntimeError('a cell that fails')\n"
    notebook.write_text(json.dumps(document))


def make_class(folder: Path) -> Path:
    folder.mkdir()
    for name, copies in (("good", 3), ("weak", 2), ("notebook", 3)):
        for index in range(copies):
            shutil.copytree(EXAMPLES / name, folder / f"{name}-{index}")
    for name in ("crashes", "nan-output", "wrong-shape", "too-slow"):
        shutil.copytree(EXAMPLES / name, folder / name)
    for name, source in _SCRIPTS.items():
        (folder / name).mkdir()
        (folder / name / "predict.py").write_text(textwrap.dedent(source))
        if "weak_model" in source:
            shutil.copy(EXAMPLES / "weak" / "predict.py", folder / name / "weak_model.py")
            shutil.copy(EXAMPLES / "weak" / "weights.json", folder / name)
    _torch_in_training_mode(folder / "training-mode")
    _failing_notebook(folder / "notebook-fails")
    assert len(list(folder.iterdir())) == 20
    return folder


def fair_task(folder: Path) -> Path:
    """breast-cancer-wdbc with limits that keep the test short: 8 s of CPU time, and the
    penalty past 4 s."""
    task = folder / "breast-cancer-wdbc"
    shutil.copytree(REPO / "tasks" / "breast-cancer-wdbc", task)
    spec = yaml.safe_load((task / "task.yaml").read_text())
    spec["limits"]["cpu_time_s"] = 8
    rubric = yaml.safe_load((REPO / "rubrics" / "breast-cancer-wdbc.yaml").read_text())
    rubric["penalties"][0]["cpu_time_over_s"] = 4
    (task / "rubric.yaml").write_text(yaml.safe_dump(rubric, sort_keys=False))
    spec["rubric"] = "rubric.yaml"
    (task / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return task


def _penalty(evaluation: Evaluation) -> float:
    return sum(m.points or 0 for m in evaluation.marks.marks if m.status == "penalty")


@pytest.fixture(scope="module")
def graded_idle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    try:
        choose_task_backend(load_task("breast-cancer-wdbc"), "bwrap", purpose="grade")
    except SandboxUnavailableError as error:
        pytest.skip(f"bubblewrap unavailable here: {error}")
    root = tmp_path_factory.mktemp("fair")
    submissions = make_class(root / "class")
    task = fair_task(root)
    result = journeys.grade(submissions, task, backend="bwrap", warm_pool=False, out=root / "idle")
    by_student = {e.student_id: e for e in result.evaluations}
    # The class is what it says it is: every kind of outcome, marks that differ.
    assert _penalty(by_student["heavy"]) < 0
    assert _penalty(by_student["sleeper"]) == 0
    assert by_student["sleeper"].run.wall_time_s > 4
    assert by_student["too-slow"].failure.kind == "timeout"
    assert by_student["undeclared-package"].failure.kind == "crashed"
    assert by_student["notebook-fails"].status == "failed"
    assert by_student["notebook-0"].status == "graded"
    assert by_student["training-mode"].status == "graded"
    assert by_student["heavy"].marks.total == by_student["weak-0"].marks.total - 5
    assert len({e.marks.total for e in result.evaluations}) >= 4
    return submissions, task, result.gradebook_path.read_bytes()


@pytest.mark.parametrize(
    "where",
    [
        # The default run loads the pool a marker's batch runs in; the other backends'
        # equality with an unloaded batch is each tested on its own (test_sandbox_warm,
        # test_cluster, test_environments), and loaded here with -m slow.
        pytest.param("bwrap-cold", marks=pytest.mark.slow),
        "bwrap-warm",
        pytest.param("docker", marks=pytest.mark.slow),
        pytest.param("dask", marks=pytest.mark.slow),
    ],
    ids=lambda where: where,
)
def test_a_loaded_machine_gives_the_idle_gradebook(graded_idle, tmp_path, where):
    submissions, task, idle = graded_idle
    backend = "docker" if where == "docker" else "bwrap"
    if where == "docker":
        try:
            choose_task_backend(load_task(task), "docker", purpose="grade").backend.close()
        except SandboxUnavailableError as error:
            pytest.skip(f"docker unavailable here: {error}")
    with contextlib.ExitStack() as stack:
        cluster = None
        if where == "dask":
            distributed = pytest.importorskip("distributed")
            local = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
                )
            )
            cluster = stack.enter_context(distributed.Client(local))
        stack.enter_context(cpu_hog())
        result = journeys.grade(
            submissions,
            task,
            backend=backend,
            warm_pool=where == "bwrap-warm",
            out=tmp_path / "loaded",
            cluster=cluster,
        )
        load = loadavg()
    assert result.gradebook_path.read_bytes() == idle, f"load average {load}"
    assert {e.run.backend for e in result.evaluations if e.run is not None} == {backend}
