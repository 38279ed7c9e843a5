"""Per-submission overhead of each sandbox backend, and a 50-submission batch per backend.

    python benchmarks/sandbox_overhead.py [--runs 15] [--batch 50] [--workers 2]

The baseline runs the harness as a plain subprocess (``python -I harness.py``) on the same
submission and inputs.  Each backend's overhead is its median wall time minus the
baseline's median (warm caches and, for Docker, a warm image).  The submission is the
numpy-only `weak` example, so the figures measure the sandbox, not the model.
Backends that cannot run here are reported as skipped.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from grader.evaluation import evaluate, prepare_split
from grader.journeys import grade
from grader.submission import Submission
from grader.tasks import load_task
from sandbox import SandboxJob, SandboxLimits, SandboxUnavailableError, get_backend

REPO = Path(__file__).resolve().parent.parent
SUBMISSION = REPO / "examples" / "submissions" / "weak"


def plain_subprocess(input_dir: Path, scratch: Path, runs: int) -> list[float]:
    """The harness in a plain subprocess (the local backend): the cost of no isolation."""
    limits = SandboxLimits(wall_time_s=60, memory_mb=3072)
    backend = get_backend("local")
    times = []
    for _ in range(runs):
        output = Path(tempfile.mkdtemp(prefix="plain-", dir=scratch))
        job = SandboxJob(SUBMISSION, input_dir, output, limits, nonce=secrets.token_hex(16))
        started = time.perf_counter()
        result = backend.run(job)
        times.append(time.perf_counter() - started)
        assert result.exit_code == 0, result.stderr_tail
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()

    task = load_task("breast-cancer-wdbc")
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        prepared = prepare_split(task, "test", data_dir=None, workdir=scratch)
        plain_subprocess(prepared.input_dir, scratch, 2)  # warm the page cache
        baseline = statistics.median(plain_subprocess(prepared.input_dir, scratch, options.runs))
        print(
            f"plain subprocess (python -I harness.py): median {baseline * 1000:.0f} ms over {options.runs} runs"
        )

        class_dir = scratch / "class"
        class_dir.mkdir()
        for index in range(options.batch):
            shutil.copytree(SUBMISSION, class_dir / f"student{index:03d}")
        students = [Submission(p.name, p) for p in sorted(class_dir.iterdir())]

        for name in ("local", "bwrap", "docker"):
            try:
                backend = get_backend(name)
            except SandboxUnavailableError as error:
                print(f"{name:>6}: skipped ({error})")
                continue
            try:
                evaluate(SUBMISSION, student_id="warm", prepared=prepared, backend=backend)
                times = []
                for _ in range(options.runs):
                    evaluation = evaluate(
                        SUBMISSION, student_id="bench", prepared=prepared, backend=backend
                    )
                    assert evaluation.status == "graded", evaluation.failure
                    times.append(evaluation.run.wall_time_s)
            finally:
                backend.close()
            median = statistics.median(times)
            started = time.perf_counter()
            result = grade(
                students,
                task,
                backend=name,
                unsafe_local=True,
                out=scratch / f"out-{name}",
                workers=options.workers,
            )
            batch = time.perf_counter() - started
            assert all(e.status == "graded" for e in result.evaluations)
            print(
                f"{name:>6}: median run {median * 1000:.0f} ms, overhead over plain subprocess "
                f"{(median - baseline) * 1000:+.0f} ms; {options.batch}-submission batch with "
                f"{options.workers} workers: {batch:.1f} s ({options.batch / batch * 60:.0f} per minute)"
            )


if __name__ == "__main__":
    main()
