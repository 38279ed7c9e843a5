"""The ``local`` backend: a plain subprocess with rlimits and a wall-clock timeout.

It isolates nothing (the submission can read any file this user can); it exists for
development and for a student's self-check on their own machine.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from sandbox._backend import (
    HARNESS_PATH,
    SandboxJob,
    SandboxResult,
    harness_arguments,
    register_backend,
)
from sandbox._process import kill_live_groups, minimal_environment, run_process_group


class LocalBackend:
    name = "local"
    isolating = False

    def __init__(self, python: str | Path = sys.executable) -> None:
        self.python = str(python)

    def run(self, job: SandboxJob) -> SandboxResult:
        with tempfile.TemporaryDirectory(prefix="medgrade-scratch-") as scratch:
            command = [
                self.python,
                "-I",
                str(HARNESS_PATH),
                *harness_arguments(
                    submission_dir=job.submission_dir,
                    input_dir=job.input_dir,
                    output_dir=job.output_dir,
                    limits=job.limits,
                ),
            ]
            result = run_process_group(
                command,
                stdin_data=(job.nonce + "\n").encode(),
                env=minimal_environment(home=Path(scratch), cpus=job.limits.cpus),
                cwd=Path(scratch),
                timeout_s=job.limits.wall_time_s,
                max_log_bytes=job.limits.max_log_bytes,
                backend=self.name,
            )
        return replace(result, details={"python": self.python})

    def close(self) -> None:
        """Kill every run still going (the grader is being stopped)."""
        kill_live_groups()


register_backend("local", LocalBackend)
