"""Wall time of the two things a new user runs first: `medgrade demo` and one `medgrade check`.

    python benchmarks/end_to_end.py [--repeats 3]

Each figure is the median of --repeats runs of the real console command in a subprocess
(interpreter start-up included).  The demo's wall time is bounded below by the `too-slow`
example, which is killed at the task's 20 s limit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "examples" / "submissions" / "reference"


def timed(arguments: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "grader", *arguments], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"medgrade {' '.join(arguments)} failed:\n{done.stderr}")
    return elapsed, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats

    check_times, sandbox_times, backends = [], [], set()
    demo_times = []
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(repeats):
            out = Path(scratch) / f"check-{index}"
            elapsed, done = timed(
                [
                    "check",
                    str(REFERENCE),
                    "--task",
                    "breast-cancer-wdbc",
                    "--json",
                    "--out",
                    str(out),
                ]
            )
            check_times.append(elapsed)
            run = json.loads(done.stdout)["run"]
            sandbox_times.append(run["wall_time_s"])
            backends.add(run["backend"])
        for index in range(repeats):
            elapsed, _ = timed(["demo", "--out", str(Path(scratch) / f"demo-{index}")])
            demo_times.append(elapsed)

    print(f"sandbox backend chosen by --backend auto: {', '.join(sorted(backends))}")
    print(
        f"medgrade check (reference MLP, validation split): median {statistics.median(check_times):.2f} s "
        f"over {repeats} runs; of which sandbox run {statistics.median(sandbox_times):.2f} s"
    )
    print(
        f"medgrade demo (6 examples, 2 workers):              median {statistics.median(demo_times):.2f} s "
        f"over {repeats} runs (min {min(demo_times):.2f} s, max {max(demo_times):.2f} s)"
    )


if __name__ == "__main__":
    main()
