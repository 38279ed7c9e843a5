"""What grading a notebook costs over the equivalent predict.py, per backend.

    python benchmarks/notebook_overhead.py [--runs 7]

Grades the reference (``predict.py``) and the good example notebook (the same model and
weights, training cell tagged ``skip-grading``) on the validation split, alternating, and
prints the median host-measured wall time of each and the harness's own breakdown for the
notebook (kernel start, cells, load_model + predict).  Backends that cannot run here are
reported as skipped.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from grader.evaluation import Evaluation, evaluate, prepare_split
from grader.tasks import load_task
from sandbox import SandboxUnavailableError, get_backend

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "reference_models" / "breast_cancer_wdbc"
NOTEBOOK = REPO / "examples" / "notebooks" / "good"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--backends", nargs="+", default=["local", "bwrap", "docker"])
    arguments = parser.parse_args()
    task = load_task("breast-cancer-wdbc")
    with tempfile.TemporaryDirectory() as scratch:
        prepared = prepare_split(task, "validation", data_dir=None, workdir=Path(scratch))
        print(f"{'backend':8} {'predict.py':>11} {'notebook':>9} {'extra':>7}   notebook breakdown")
        for name in arguments.backends:
            try:
                backend = get_backend(name)
            except SandboxUnavailableError as error:
                print(f"{name:8} skipped: {error}")
                continue
            runs: dict[str, list[Evaluation]] = {"script": [], "notebook": []}
            for _ in range(arguments.runs):
                for kind, path in (("script", SCRIPT), ("notebook", NOTEBOOK)):
                    evaluation = evaluate(path, student_id=kind, prepared=prepared, backend=backend)
                    assert evaluation.status == "graded", evaluation.failure
                    runs[kind].append(evaluation)
            backend.close()
            script = statistics.median(e.run.wall_time_s for e in runs["script"])
            notebook = statistics.median(e.run.wall_time_s for e in runs["notebook"])
            timings = [e.run.record["timings"] for e in runs["notebook"]]
            breakdown = ", ".join(
                f"{label} {statistics.median(t.get(key, 0.0) for t in timings):.2f} s"
                for key, label in (
                    ("kernel_start_s", "kernel start"),
                    ("cells_s", "cells"),
                    ("load_model_s", "load_model"),
                    ("predict_s", "predict"),
                )
            )
            print(
                f"{name:8} {script:10.2f}s {notebook:8.2f}s {notebook - script:+6.2f}s   {breakdown}"
            )
    print(f"(median of {arguments.runs} runs each, wall time measured by the host)")


if __name__ == "__main__":
    main()
