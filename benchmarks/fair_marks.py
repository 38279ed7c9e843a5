"""CPU time versus wall time per run, idle and under load; and what building an environment costs.

    python benchmarks/fair_marks.py [--runs 5] [--backend bwrap] [--build]

Runs three submissions of ``breast-cancer-wdbc`` (the PyTorch ``good`` example, the ``good``
notebook, and one that burns 3 s of CPU time) on the chosen backend, first on an idle machine,
then while one busy process per core (and one more) competes with them.  For each it prints the
median CPU time (what limits and penalties count) and wall time, idle and loaded, and their ratios:
CPU time stays put while wall time grows.  With ``--build`` it also times building the task's
grading environment from scratch (fetching the lock's wheels, the virtual environment, the Docker
image where an engine answers), into a temporary folder.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from grader.environment import (
    build_image,
    build_venv,
    choose_task_backend,
    declared_environment,
    fetch_wheels,
)
from grader.evaluation import evaluate, prepare_split
from grader.tasks import load_task
from sandbox._docker import _client
from sandbox._image import LOCAL_BASE

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.conftest import cpu_hog, loadavg  # noqa: E402  (the tests' load, for the same figures)

EXAMPLES = REPO / "examples" / "submissions"
BURN = """
import time

import numpy as np

def load_model(artifacts_dir):
    return None

def predict(model, inputs):
    end = time.process_time() + 3.0
    while time.process_time() < end:
        sum(range(1000))
    return np.full(len(inputs), 0.5)
"""


def measure(backend_name: str, runs: int) -> None:
    task = load_task("breast-cancer-wdbc")
    choice = choose_task_backend(task, backend_name, purpose="check")
    for note in choice.notes:
        print(f"note: {note}")
    backend = choice.backend
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        burn = scratch / "burns-3s"
        burn.mkdir()
        (burn / "predict.py").write_text(BURN)
        submissions = {
            "good": EXAMPLES / "good",
            "notebook": EXAMPLES / "notebook",
            "burns-3s": burn,
        }
        prepared = prepare_split(task, "validation", data_dir=None, workdir=scratch)

        def timings(folder: Path) -> tuple[float, float]:
            cpu, wall = [], []
            for _ in range(runs):
                evaluation = evaluate(
                    folder, student_id="bench", prepared=prepared, backend=backend, workdir=scratch
                )
                assert evaluation.status == "graded", evaluation.failure
                cpu.append(evaluation.run.cpu_time_s)
                wall.append(evaluation.run.wall_time_s)
            return statistics.median(cpu), statistics.median(wall)

        for folder in submissions.values():  # warm the page cache
            evaluate(folder, student_id="warm", prepared=prepared, backend=backend, workdir=scratch)
        idle = {name: timings(folder) for name, folder in submissions.items()}
        idle_load = loadavg()
        with cpu_hog() as hogs:
            time.sleep(2)
            loaded = {name: timings(folder) for name, folder in submissions.items()}
            busy_load = loadavg()
    backend.close()
    print(f"backend {backend.name}, {runs} runs each; medians")
    print(f"idle:   loadavg {idle_load}")
    print(f"loaded: {hogs} busy processes, loadavg {busy_load}")
    print(
        f"{'submission':<10} {'cpu idle':>9} {'cpu loaded':>11} {'ratio':>6}"
        f" {'wall idle':>10} {'wall loaded':>12} {'ratio':>6}"
    )
    for name in submissions:
        (cpu_i, wall_i), (cpu_l, wall_l) = idle[name], loaded[name]
        print(
            f"{name:<10} {cpu_i:>8.3f}s {cpu_l:>10.3f}s {cpu_l / cpu_i:>6.2f}"
            f" {wall_i:>9.2f}s {wall_l:>11.2f}s {wall_l / wall_i:>6.2f}"
        )


def build() -> None:
    environment = declared_environment(load_task("breast-cancer-wdbc"))
    assert environment is not None
    print(f"environment {environment.digest}: {len(environment.packages())} packages")
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        started = time.perf_counter()
        fetch_wheels(environment, scratch / "wheels")
        fetched = time.perf_counter()
        size = sum(p.stat().st_size for p in (scratch / "wheels").iterdir()) / 2**20
        print(f"fetch wheels: {fetched - started:.1f} s ({size:.0f} MiB; loadavg {loadavg()})")
        python = build_venv(environment, scratch / "wheels", environments=scratch / "envs")
        built = time.perf_counter()
        venv_size = (
            sum(p.stat().st_size for p in python.parent.parent.rglob("*") if p.is_file()) / 2**20
        )
        print(f"virtual environment: {built - fetched:.1f} s ({venv_size:.0f} MiB)")
        try:
            _client().images.get(LOCAL_BASE)
        except Exception:
            print(f"docker image: skipped (no engine, or no {LOCAL_BASE}: medgrade image base)")
            return
        build_image(environment, scratch / "wheels", base_image=LOCAL_BASE)
        print(f"docker image {environment.image}: {time.perf_counter() - built:.1f} s")
        shutil.rmtree(scratch / "envs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", default="bwrap")
    parser.add_argument("--build", action="store_true")
    options = parser.parse_args()
    measure(options.backend, options.runs)
    if options.build:
        build()


if __name__ == "__main__":
    main()
